//===- SessionState.cpp - a train step's state, kept on the ranks ---------===//
//
// The inputs a manifest marks `state` (a train step's parameters and
// optimizer state; docs/design/bundle.md, "State") live in the Session:
// every rank run here holds its own shard, fed to each run in place of a
// host feed, and the outputs that update them (`updates`) are moved over
// them after the run without leaving the rank. Nothing is assembled on the
// host unless getState() asks for it.
//
//===----------------------------------------------------------------------===//
#include "pmc/Runtime/Session.h"
#include "pmc/Runtime/RankExecutor.h"
#include "pmc/Bundle/Bundle.h"
#include "pmc/Runtime/Comm/Mesh.h"
#include "pmc/Runtime/Comm/Communicator.h"
#include "pmc/Runtime/Pipeline.h"

#include <algorithm>

namespace pmc::runtime {

bool Session::holdsState(int rank, size_t input) const {
  if (!info.pipeline)
    return true;
  // The stage whose ranks keep it: that of the output updating it.
  for (const TensorSpec &out : info.outputs)
    if (out.updates == static_cast<int64_t>(input))
      return info.stageOf(rank) == out.stage;
  return true;
}

std::vector<int> Session::holders(size_t input) const {
  std::vector<int> ranks;
  for (int r : localRanks())
    if (holdsState(r, input))
      ranks.push_back(r);
  return ranks;
}

std::vector<std::string> Session::stateNames() const {
  std::vector<std::string> names;
  for (const TensorSpec &spec : info.inputs)
    if (!spec.state.empty())
      names.push_back(spec.name);
  return names;
}

size_t Session::stateIndex(const std::string &name) const {
  for (size_t i = 0; i < info.inputs.size(); ++i)
    if (info.inputs[i].name == name && !info.inputs[i].state.empty())
      return i;
  std::string known;
  for (const std::string &n : stateNames())
    known += (known.empty() ? "" : ", ") + n;
  throw FeedError("'" + name + "' is no state input of " + filePath + " (its state: " +
                  (known.empty() ? "none, it is no train step" : known) + ")");
}

void Session::setState(const std::string &name, const TensorRef &value) {
  size_t i = stateIndex(name);
  const TensorSpec &spec = info.inputs[i];
  bool bf16Bits = spec.dtype == DType::BFloat16 && value.dtype == DType::UInt16;
  if ((value.dtype != spec.dtype && !bf16Bits) || value.shape != spec.shape ||
      value.bytes != spec.numBytes() || (!value.data && value.bytes))
    throw FeedError("state '" + name + "': expected " + spec.toString() + ", got " +
                    std::string(dtypeName(value.dtype)) + shapeToString(value.shape));
  std::lock_guard<std::mutex> lock(runMutex);
  std::vector<int64_t> local = spec.localShape(info.mesh);
  for (int r : holders(i)) {
    HostTensor &shard = stateShards[r][i];
    shard.dtype = spec.dtype;
    shard.shape = local;
    shard.data.resize(shard.numBytes());
    copyBlock(value.data, spec.shape, shardOffsets(spec.shape, spec.sharding, info.mesh, r),
              shard.data.data(), local, std::vector<int64_t>(local.size(), 0), local,
              dtypeSize(spec.dtype));
  }
}

HostTensor Session::getState(const std::string &name) const {
  size_t i = stateIndex(name);
  std::lock_guard<std::mutex> lock(runMutex); // not while a run moves the shards
  const TensorSpec &spec = info.inputs[i];
  std::vector<int64_t> local = spec.localShape(info.mesh);
  std::vector<int> ranks = holders(i);
  if (ranks.empty())
    throw RuntimeError(filePath + ": state '" + name + "' is held by no rank of this process "
                       "(another pipeline stage's; in distributed mode use gatherState)");
  size_t localBytes = dtypeSize(spec.dtype);
  for (int64_t d : local)
    localBytes *= static_cast<size_t>(d);
  for (int r : ranks)
    if (stateShards[r][i].shape != local || stateShards[r][i].data.size() != localBytes)
      throw RuntimeError(filePath + ": state '" + name + "' has no value yet");
  if (local == spec.shape)
    return stateShards[ranks.front()][i];
  if (distributed)
    throw RuntimeError(filePath + ": state '" + name + "' is sharded " +
                       shardingToString(spec.sharding) +
                       "; in distributed mode each process holds only its rank's shard");
  HostTensor full;
  full.dtype = spec.dtype;
  full.shape = spec.shape;
  full.data.resize(full.numBytes());
  for (int r : ranks)
    copyBlock(stateShards[r][i].data.data(), local, std::vector<int64_t>(local.size(), 0),
              full.data.data(), spec.shape,
              shardOffsets(spec.shape, spec.sharding, info.mesh, r), local,
              dtypeSize(spec.dtype));
  return full;
}

std::optional<HostTensor> Session::gatherState(const std::string &name) {
  if (!distributed)
    return getState(name);
  size_t i = stateIndex(name);
  const TensorSpec &spec = info.inputs[i];
  std::vector<int64_t> local = spec.localShape(info.mesh);
  // The block each holder has; the first holding a block sends it (in a
  // pipeline only the ranks of the stage reading the state hold it).
  auto holds = [&](int r) { return holdsState(r, i); };
  std::vector<std::vector<int64_t>> offsets(devices());
  for (int r = 0; r < devices(); ++r)
    offsets[r] = shardOffsets(spec.shape, spec.sharding, info.mesh, r);
  auto isSource = [&](int r) {
    if (!holds(r))
      return false;
    for (int q = 0; q < r; ++q)
      if (holds(q) && offsets[q] == offsets[r])
        return false;
    return true;
  };
  if (local == spec.shape && holds(0)) // replicated: rank 0 has it all
    return rankIndex == 0 ? std::optional<HostTensor>(getState(name)) : std::nullopt;
  std::lock_guard<std::mutex> lock(runMutex);
  const HostTensor &mine = stateShards[rankIndex][i];
  if (holds(rankIndex) && (mine.shape != local || mine.data.size() != mine.numBytes()))
    throw RuntimeError(filePath + ": state '" + name + "' has no value yet");
  // Below the pipeline tags and above the output tags of runDistributed.
  constexpr int kStateGatherTag = static_cast<int>(kPipelineTagBase) - 1;
  Communicator &comm = *comms[rankIndex];
  std::string label = "state '" + name + "' for the checkpoint";
  HostTensor full;
  try {
    if (rankIndex != 0) {
      if (isSource(rankIndex))
        comm.send(mine.data.data(), mine.data.size(), 0, kStateGatherTag, "send of " + label);
      return std::nullopt;
    }
    full.dtype = spec.dtype;
    full.shape = spec.shape;
    full.data.resize(full.numBytes());
    // Rank 0 may hold no block of it itself (another pipeline stage's).
    size_t shardBytes = dtypeSize(spec.dtype);
    for (int64_t d : local)
      shardBytes *= static_cast<size_t>(d);
    std::vector<uint8_t> shard(shardBytes);
    for (int r = 0; r < devices(); ++r) {
      if (!isSource(r))
        continue;
      const uint8_t *block = mine.data.data();
      if (r != 0) {
        comm.recv(shard.data(), shard.size(), r, kStateGatherTag,
                  "recv of " + label + " from rank " + std::to_string(r));
        block = shard.data();
      }
      copyBlock(block, local, std::vector<int64_t>(local.size(), 0), full.data.data(),
                spec.shape, offsets[r], local, dtypeSize(spec.dtype));
    }
  } catch (const std::exception &e) {
    comm.abort(e.what());
    throw RuntimeError(filePath + ": rank " + std::to_string(rankIndex) + ": " + e.what());
  }
  return full;
}

void Session::loadInitialState() {
  for (size_t i = 0; i < info.inputs.size(); ++i) {
    const TensorSpec &spec = info.inputs[i];
    if (spec.state == "optimizer_state") // starts at zeros
      for (int r : holders(i)) {
        HostTensor &shard = stateShards[r][i];
        shard.dtype = spec.dtype;
        shard.shape = spec.localShape(info.mesh);
        shard.data.assign(shard.numBytes(), 0);
      }
    if (spec.initial.empty())
      continue;
    std::string_view bytes = reader->section(spec.initial);
    if (bytes.size() != spec.numBytes())
      throw RuntimeError("section '" + spec.initial + "' (the initial value of '" + spec.name +
                         "', " + spec.toString() + ") holds " + std::to_string(bytes.size()) +
                         " bytes, expected " + std::to_string(spec.numBytes()));
    setState(spec.name, TensorRef{spec.dtype, spec.shape, bytes.data(), bytes.size()});
  }
}

void Session::prepareState(const std::map<std::string, TensorRef> &feeds) {
  residentThisRun.assign(info.inputs.size(), false);
  for (size_t i = 0; i < info.inputs.size(); ++i) {
    const TensorSpec &spec = info.inputs[i];
    if (spec.state.empty() || feeds.count(spec.name))
      continue;
    // A training pipeline runs one executor step per run; a state carried
    // over microbatch steps would need the updates between them.
    if (info.pipeline && info.pipeline->microbatches != 1)
      throw FeedError("state input '" + spec.name + "' of a pipeline bundle of " +
                      std::to_string(info.pipeline->microbatches) +
                      " microbatches must be fed");
    std::vector<int64_t> local = spec.localShape(info.mesh);
    for (int r : holders(i)) {
      HostTensor &shard = stateShards[r][i];
      if (shard.shape == local && !shard.data.empty())
        continue;
      if (spec.state != "optimizer_state")
        throw FeedError(spec.state + " '" + spec.name + "' (" + spec.toString() +
                        ") has no value: set it (Session::setState, "
                        "Executable.set_state) or feed it");
      shard.dtype = spec.dtype;
      shard.shape = local;
      shard.data.assign(shard.numBytes(), 0); // optimizer state starts at zeros
    }
    residentThisRun[i] = true;
  }
}

bool Session::staysResident(size_t o) const {
  int64_t in = info.outputs[o].updates;
  return in >= 0 && static_cast<size_t>(in) < residentThisRun.size() && residentThisRun[in];
}

void Session::keepState(int rank) {
  for (size_t o = 0; o < info.outputs.size(); ++o)
    if (staysResident(o) && (!info.pipeline || computesOutput(info, o, rank))) {
      HostTensor &shard = stateShards[rank][info.outputs[o].updates];
      executor(rank).copyOutput(o, shard.data.data(), shard.data.size());
    }
}

MemoryUse Session::memoryUse(int rank) const {
  std::lock_guard<std::mutex> lock(runMutex);
  const RankExecutor &e = executor(rank);
  MemoryUse use;
  use.arena = e.arenaBytes();
  use.other = e.otherBytes();
  std::vector<bool> isState(info.inputs.size());
  for (size_t i = 0; i < info.inputs.size(); ++i)
    isState[i] = !info.inputs[i].state.empty();
  use.inputs = e.inputBytes(isState);
  for (const HostTensor &shard : stateShards[rank])
    use.state += shard.data.capacity();
  return use;
}

} // namespace pmc::runtime
