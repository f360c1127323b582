//===- Session.cpp - open a bundle, shard feeds, run ranks, assemble -------===//

#include "pmc/Runtime/Session.h"
#include "pmc/Bundle/Bundle.h"
#include "pmc/Runtime/CUDA/CudaRanks.h"
#include "pmc/Runtime/Comm/Communicator.h"
#include "pmc/Runtime/Comm/FaultInjection.h"
#include "pmc/Runtime/KernelLibrary.h"
#include "pmc/Runtime/Comm/LocalCommunicator.h"
#include "pmc/Runtime/Pipeline.h"
#include "pmc/Runtime/RankExecutor.h"
#include "pmc/Runtime/RankProgram.h"
#include "pmc/Runtime/TransferCommands.h"

#include <cstring>
#include <thread>

namespace pmc::runtime {

Session::Session() = default;
Session::~Session() = default;

const KernelTarget *Session::kernelTarget() const {
  return kernels ? &kernels->cpuTarget() : nullptr;
}

std::unique_ptr<Session> Session::open(const std::string &path, int rank) {
  SessionOptions options;
  options.rank = rank;
  return open(path, options);
}

std::unique_ptr<Session> Session::open(const std::string &path, const SessionOptions &options) {
  std::unique_ptr<Session> s(new Session());
  s->filePath = path;
  s->rankIndex = options.rank;
  s->distributed = options.communicator != nullptr;
  try {
    s->reader = bundle::BundleReader::open(path);
    s->info = Manifest::parse(s->reader->section("manifest"));
    if (s->info.target != "cpu" && s->info.target != "cuda")
      throw RuntimeError("manifest: target '" + s->info.target +
                         "' is not supported by this runtime (supported: cpu, cuda)");
    const int n = s->devices();
    if (s->distributed) {
      if (options.communicator->size() != n)
        throw RuntimeError("the bundle runs on " + std::to_string(n) +
                           " devices but the communicator has " +
                           std::to_string(options.communicator->size()) +
                           " ranks (run it with mpirun -np " + std::to_string(n) + ")");
      if (options.rank == 0)
        s->rankIndex = options.communicator->rank();
    }
    if (s->rankIndex < 0 || s->rankIndex >= n)
      throw RuntimeError("rank " + std::to_string(s->rankIndex) +
                         " is out of range: the bundle has " + std::to_string(n) + " rank(s)");
    if (!s->info.kernelLibrary.empty())
      s->kernels = KernelLibrary::load(s->reader->section(s->info.kernelLibrary),
                                       s->info.kernelLibrary);
    double timeout =
        options.collectiveTimeout > 0 ? options.collectiveTimeout : defaultCollectiveTimeout();
    FaultInjection faults = FaultInjection::fromEnvironment();
    s->comms.resize(n);
    if (s->distributed) {
      int r = options.communicator->rank();
      if (s->rankIndex != r)
        throw RuntimeError("rank " + std::to_string(s->rankIndex) +
                           " is not run by this process (rank " + std::to_string(r) + ")");
      s->comms[r] = options.communicator;
      options.communicator->prepare(s->info.mesh);
    } else {
      s->world = std::make_shared<LocalWorld>(n);
      for (int r = 0; r < n; ++r)
        s->comms[r] = std::make_shared<LocalCommunicator>(s->world, r);
    }
    for (int r : s->localRanks())
      s->comms[r]->setTimeout(timeout);
    s->executors.resize(n);
    s->stateShards.assign(n, std::vector<HostTensor>(s->info.inputs.size()));
    if (s->info.target == "cuda") {
      std::shared_ptr<cuda::CudaRanks> ranks =
          cuda::CudaRanks::open(s->info, *s->reader, options, s->comms, faults);
      for (int r : s->localRanks())
        s->executors[r] = makeCudaExecutor(ranks, r);
    } else {
      std::vector<std::unique_ptr<RankProgram>> programs(n);
      std::vector<const RankProgram *> loaded(n, nullptr);
      for (int r : s->localRanks()) {
        programs[r] = RankProgram::load(s->info, *s->reader, r, s->kernels.get());
        programs[r]->setFaultInjection(faults);
        loaded[r] = programs[r].get();
      }
      if (s->info.pipeline)
        checkTransferPairs(s->info, loaded);
      for (int r : s->localRanks())
        s->executors[r] = makeHostExecutor(std::move(programs[r]), *s->comms[r]);
    }
    s->loadInitialState();
  } catch (const bundle::BundleError &e) {
    throw RuntimeError(e.what()); // already names the file
  } catch (const RuntimeError &e) {
    throw RuntimeError(path + ": " + e.what());
  }
  return s;
}

std::vector<int> Session::localRanks() const {
  std::vector<int> ranks;
  for (int r = 0; r < static_cast<int>(comms.size()); ++r)
    if (comms[r])
      ranks.push_back(r);
  return ranks;
}

RankExecutor &Session::executor(int rank) const {
  if (rank < 0 || rank >= devices() || !executors[rank])
    throw RuntimeError(filePath + ": rank " + std::to_string(rank) +
                       " is not run by this session");
  return *executors[rank];
}

const RankProgram &Session::program(int rank) const {
  const RankProgram *program = executor(rank).hostProgram();
  if (!program)
    throw RuntimeError(filePath + ": the rank programs of a cuda bundle run on the GPU (see "
                                  "`pmc-run --info` for their buffers and arena)");
  return *program;
}

size_t Session::arenaBytes() const { return executor(rankIndex).arenaBytes(); }

size_t Session::tempBytes() const { return executor(rankIndex).tempBytes(); }

NamedOutputs Session::run(const std::map<std::string, HostTensor> &feeds) {
  std::map<std::string, TensorRef> refs;
  for (const auto &[name, t] : feeds)
    refs[name] = TensorRef{t.dtype, t.shape, t.data.data(), t.data.size()};
  return run(refs);
}

std::vector<const void *>
Session::checkFeeds(const std::map<std::string, TensorRef> &feeds) const {
  for (const auto &[name, ref] : feeds) {
    bool known = false;
    for (const TensorSpec &spec : info.inputs)
      known = known || spec.name == name;
    if (!known) {
      std::string expected;
      for (const TensorSpec &spec : info.inputs)
        expected += (expected.empty() ? "" : ", ") + spec.toString();
      throw FeedError("unknown input '" + name + "' (the model's inputs are: " +
                      (expected.empty() ? "none" : expected) + ")");
    }
  }
  std::vector<const void *> data;
  for (const TensorSpec &spec : info.inputs) {
    auto it = feeds.find(spec.name);
    std::string expected = std::string(dtypeName(spec.dtype)) + shapeToString(spec.shape);
    if (it == feeds.end() && !spec.state.empty()) {
      data.push_back(nullptr); // read from the ranks' state (prepareState)
      continue;
    }
    if (it == feeds.end())
      throw FeedError("missing input '" + spec.name + "' (expected " + expected + ")");
    const TensorRef &ref = it->second;
    // bfloat16 has no numpy dtype: its inputs may come as uint16 bit patterns.
    bool bf16Bits = spec.dtype == DType::BFloat16 && ref.dtype == DType::UInt16;
    if (ref.dtype != spec.dtype && !bf16Bits)
      throw FeedError("input '" + spec.name + "': expected dtype " +
                      std::string(dtypeName(spec.dtype)) + ", got " +
                      std::string(dtypeName(ref.dtype)) + " (expected " + expected + ")");
    if (ref.shape != spec.shape)
      throw FeedError("input '" + spec.name + "': expected shape " +
                      shapeToString(spec.shape) + ", got " + shapeToString(ref.shape) +
                      " (expected " + expected + ")");
    if (ref.bytes != spec.numBytes() || (!ref.data && ref.bytes))
      throw FeedError("input '" + spec.name + "': holds " + std::to_string(ref.bytes) +
                      " bytes, expected " + std::to_string(spec.numBytes()) + " for " +
                      expected);
    data.push_back(ref.data);
  }
  return data;
}

NamedOutputs Session::run(const std::map<std::string, TensorRef> &feeds) {
  std::vector<const void *> data = checkFeeds(feeds);
  std::lock_guard<std::mutex> lock(runMutex);
  prepareState(feeds);
  return distributed ? runDistributed(data) : runThreads(data);
}

std::vector<const void *> Session::shardFeeds(const std::vector<const void *> &feeds, int rank,
                                              std::vector<HostTensor> &storage) const {
  std::vector<const void *> local(feeds.size(), nullptr);
  for (size_t i = 0; i < feeds.size(); ++i) {
    if (!executors[rank]->readsInput(i))
      continue; // the program has no buffer for it
    if (i < residentThisRun.size() && residentThisRun[i]) {
      local[i] = stateShards[rank][i].data.data(); // this rank's own shard
      continue;
    }
    const TensorSpec &spec = info.inputs[i];
    std::vector<int64_t> shape = spec.localShape(info.mesh);
    if (shape == spec.shape) {
      local[i] = feeds[i]; // replicated: every rank reads the feed itself
      continue;
    }
    HostTensor t;
    t.dtype = spec.dtype;
    t.shape = shape;
    t.data.resize(t.numBytes());
    copyBlock(feeds[i], spec.shape, shardOffsets(spec.shape, spec.sharding, info.mesh, rank),
              t.data.data(), shape, std::vector<int64_t>(shape.size(), 0), shape,
              dtypeSize(spec.dtype));
    storage.push_back(std::move(t));
    local[i] = storage.back().data.data();
  }
  return local;
}

std::vector<HostTensor> Session::runRank(const std::vector<const void *> &feeds, int rank) {
  if (info.pipeline)
    return runPipelineRank(feeds, rank);
  std::vector<HostTensor> storage;
  storage.reserve(feeds.size());
  std::vector<const void *> local = shardFeeds(feeds, rank, storage);
  // The state updates stay on the rank until every rank has finished.
  std::vector<bool> keep(info.outputs.size());
  for (size_t o = 0; o < keep.size(); ++o)
    keep[o] = staysResident(o);
  return executors[rank]->run(local, 0, keep);
}

std::vector<HostTensor> Session::runPipelineRank(const std::vector<const void *> &feeds,
                                                 int rank) {
  const PipelineSpec &p = *info.pipeline;
  // One slice buffer per input, refilled per microbatch (steps run in turn).
  std::vector<HostTensor> slices(feeds.size());
  auto stepFeeds = [&](int64_t microbatch) {
    std::vector<const void *> local(feeds.size(), nullptr);
    for (size_t i = 0; i < feeds.size(); ++i) {
      if (!executors[rank]->readsInput(i))
        continue; // another stage reads it
      if (i < residentThisRun.size() && residentThisRun[i]) {
        local[i] = stateShards[rank][i].data.data(); // the stage's own state
        continue;
      }
      const TensorSpec &spec = info.inputs[i];
      std::vector<int64_t> step = info.stepShape(spec);
      std::vector<int64_t> at = inputBlockOffsets(info, i, rank, microbatch);
      if (isContiguousBlock(info, i)) {
        // Rows [at[0], at[0] + step[0]) of the feed: read them in place.
        size_t row = dtypeSize(spec.dtype);
        for (size_t d = 1; d < spec.shape.size(); ++d)
          row *= static_cast<size_t>(spec.shape[d]);
        local[i] = static_cast<const char *>(feeds[i]) +
                   (spec.shape.empty() ? 0 : static_cast<size_t>(at[0]) * row);
        continue;
      }
      HostTensor &t = slices[i];
      bool fresh = t.data.empty();
      if (fresh) {
        t.dtype = spec.dtype;
        t.shape = step;
        t.data.resize(t.numBytes());
      }
      if (fresh || spec.microbatched)
        copyBlock(feeds[i], spec.shape, at, t.data.data(), step,
                  std::vector<int64_t>(step.size(), 0), step, dtypeSize(spec.dtype));
      local[i] = t.data.data();
    }
    return local;
  };
  schedule::PipelineSchedule order =
      schedule::PipelineSchedule::create(p.schedule, p.stages, p.microbatches, 1,
                                         /*training=*/false);
  std::vector<schedule::Action> steps = order.computeActions(info.stageOf(rank));
  // One executor run per step. Transfers are ordered per (edge, microbatch):
  // by wire tag on the host and host-staged on CUDA, by program order over
  // NCCL (every stage runs the microbatches in the same order,
  // cuda-runtime.md).
  std::vector<bool> microbatched;
  for (const TensorSpec &spec : info.outputs)
    microbatched.push_back(spec.microbatched);
  StackedOutputs stacked(microbatched, steps, info.rankPrograms[rank]);
  // State updates stay on the rank (one step per run: prepareState).
  std::vector<bool> keep(info.outputs.size());
  for (size_t o = 0; o < keep.size(); ++o)
    keep[o] = staysResident(o) && computesOutput(info, o, rank);
  for (const schedule::Action &step : steps) {
    std::vector<HostTensor> outs =
        executors[rank]->run(stepFeeds(step.microbatch), step.microbatch, keep);
    for (size_t o = 0; o < outs.size(); ++o)
      if (computesOutput(info, o, rank) && !keep[o])
        stacked.place(o, step.microbatch, outs[o].dtype, outs[o].shape, outs[o].data.data());
  }
  return stacked.take();
}

NamedOutputs Session::assemble(std::vector<std::vector<HostTensor>> &locals) const {
  NamedOutputs named;
  for (size_t o = 0; o < info.outputs.size(); ++o) {
    if (staysResident(o))
      continue; // copied into the ranks' state (keepState)
    const TensorSpec &spec = info.outputs[o];
    HostTensor full;
    if (rankOutputShape(info, o) == spec.shape) {
      // Whole on every rank computing it: take the one source.
      for (int r = 0; r < devices(); ++r)
        if (isOutputSource(info, o, r)) {
          full = std::move(locals[r][o]);
          break;
        }
    } else {
      full.dtype = spec.dtype;
      full.shape = spec.shape;
      full.data.resize(full.numBytes());
      for (int r = 0; r < devices(); ++r)
        if (isOutputSource(info, o, r))
          placeOutput(info, o, r, locals[r][o].data.data(), full.data.data());
    }
    named.emplace_back(spec.name, std::move(full));
  }
  return named;
}

NamedOutputs Session::runThreads(const std::vector<const void *> &feeds) {
  const int n = devices();
  world->reset();
  std::vector<std::vector<HostTensor>> locals(n);
  auto runRank = [&](int r) {
    try {
      locals[r] = this->runRank(feeds, r);
    } catch (const std::exception &e) {
      comms[r]->abort(e.what());
    } catch (...) {
      comms[r]->abort("unknown exception");
    }
  };
  // Rank 0 runs on the calling thread; N = 1 starts no thread at all.
  std::vector<std::thread> threads;
  threads.reserve(n - 1);
  for (int r = 1; r < n; ++r)
    threads.emplace_back(runRank, r);
  runRank(0);
  for (std::thread &t : threads)
    t.join();
  if (std::optional<std::string> failure = world->failure()) {
    if (n == 1 && failure->rfind("rank 0 failed: ", 0) == 0)
      throw RuntimeError(filePath + ": " + failure->substr(15)); // no rank to name
    throw CollectiveError(filePath + ": " + *failure);
  }
  // Only a run every rank finished updates the state.
  for (int r = 0; r < n; ++r)
    keepState(r);
  return assemble(locals);
}

NamedOutputs Session::runDistributed(const std::vector<const void *> &feeds) {
  const int me = rankIndex;
  Communicator &comm = *comms[me];
  std::vector<std::vector<HostTensor>> locals(devices());
  try {
    locals[me] = runRank(feeds, me);
    // Rank 0 collects the shards it needs for assembly; tag = output index.
    // Waiting here is not a collective of the program: give the ranks still
    // running twice the timeout, so that their own collectives report a
    // stalled peer first (the root cause, not this symptom).
    struct RestoreTimeout {
      Communicator &comm;
      double seconds;
      ~RestoreTimeout() { comm.setTimeout(seconds); }
    } restore{comm, comm.timeout()};
    comm.setTimeout(2 * restore.seconds + 1);
    // In a pipeline bundle the sources are ranks of the output's stage.
    for (size_t o = 0; o < info.outputs.size(); ++o) {
      if (staysResident(o))
        continue;
      const TensorSpec &spec = info.outputs[o];
      for (int r = 1; r < devices(); ++r) {
        if (!isOutputSource(info, o, r))
          continue;
        if (me == r) {
          const HostTensor &t = locals[me][o];
          comm.send(t.data.data(), t.data.size(), 0, static_cast<int>(o));
        } else if (me == 0) {
          if (locals[r].empty())
            locals[r].resize(info.outputs.size());
          HostTensor &t = locals[r][o];
          t.dtype = spec.dtype;
          t.shape = rankOutputShape(info, o);
          t.data.resize(t.numBytes());
          comm.recv(t.data.data(), t.data.size(), r, static_cast<int>(o));
        }
      }
    }
  } catch (const CollectiveError &e) {
    comm.abort(e.what());
    throw CollectiveError(filePath + ": " + e.what());
  } catch (const std::exception &e) {
    comm.abort(e.what());
    throw RuntimeError(filePath + ": rank " + std::to_string(me) + ": " + e.what());
  }
  keepState(me);
  if (me != 0)
    return {};
  return assemble(locals);
}

} // namespace pmc::runtime
