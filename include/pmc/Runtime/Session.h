//===- Session.h - open a bundle and run it on host memory ------*- C++ -*-===//
//
// The runtime's entry point, used by pmc-run and the Python module:
//
//   auto session = pmc::runtime::Session::open("model.pmc");
//   std::map<std::string, pmc::HostTensor> feeds = {{"x", x}};
//   for (auto &[name, tensor] : session->run(feeds)) ...
//
// A bundle of N devices runs all N ranks: by default as threads of this
// process (LocalCommunicator); with SessionOptions::communicator (e.g. an
// MPICommunicator) only that communicator's rank. Full feeds are sliced into
// each rank's local shard and the full outputs assembled from the ranks'
// shards, following the manifest shardings (docs/design/parallel.md).
// A single-device bundle is the case N = 1 of the same path.
//
// A pipeline bundle (docs/design/pipeline.md) runs each rank's step once per
// microbatch in the order of its stage's Schedule, each step reading its
// microbatch's rows of the microbatched feeds; the outputs are assembled from
// the ranks of the stage that computes them. The same holds for a `target:
// cuda` bundle (docs/design/cuda-runtime.md), whose steps run on the GPU.
//
#ifndef PMC_RUNTIME_SESSION_H
#define PMC_RUNTIME_SESSION_H

#include "pmc/Runtime/Error.h"
#include "pmc/Runtime/Manifest.h"
#include "pmc/Support/CPUFeatures.h"
#include "pmc/Support/HostTensor.h"

#include <map>
#include <optional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace pmc::bundle {
class BundleReader;
}

namespace pmc::runtime {

class Communicator;
class KernelLibrary;
class LocalWorld;
class RankExecutor;
class RankProgram;

/// A borrowed dense row-major tensor (a feed that need not be copied).
struct TensorRef {
  DType dtype = DType::Float32;
  std::vector<int64_t> shape;
  const void *data = nullptr;
  /// Bytes at `data`; checked against dtype and shape.
  size_t bytes = 0;
};

/// Named outputs in manifest order.
using NamedOutputs = std::vector<std::pair<std::string, HostTensor>>;

/// How a Session runs its ranks.
struct SessionOptions {
  /// Null (default): every rank runs as a thread of this process. Otherwise
  /// this process runs only `communicator->rank()`, whose size must equal the
  /// bundle's devices; run() returns the assembled outputs on rank 0 (the
  /// other ranks send their shards there) and no outputs on other ranks.
  std::shared_ptr<Communicator> communicator;
  /// Seconds a collective may wait for the other ranks; <= 0 means
  /// defaultCollectiveTimeout() ($PMC_COLLECTIVE_TIMEOUT, else 60).
  double collectiveTimeout = 0;
  /// The rank that rank(), program(), arenaBytes() and tempBytes() describe.
  int rank = 0;
  /// cuda bundles (docs/design/cuda-runtime.md): run every rank as a thread
  /// on one GPU, collectives staged through host memory (`--virtual-ranks`).
  bool virtualRanks = false;
  /// cuda bundles: the CUDA device of rank 0 (ranks as threads: rank r on
  /// device + r, or all on it with virtualRanks); < 0: LOCAL_RANK under a
  /// communicator, else rank % device count, else 0.
  int device = -1;
  /// cuda bundles: capture each rank program as a CUDA graph for repeated runs.
  bool cudaGraphs = true;
  /// CUDA bundles over NCCL: how the ranks bootstrap ("auto", "mpi", "tcp";
  /// cuda::parseNcclBootstrap, cuda::createNcclCollectives).
  std::string bootstrap = "auto";
};

/// An opened, fully validated bundle, ready to run all its ranks.
/// run() may be called from several threads; calls are serialized.
/// Host memory one rank holds while it runs, by what it holds.
struct MemoryUse {
  /// The temp arena (activations, gradients, state updates).
  size_t arena = 0;
  /// Its shards of the train step's state (parameters, optimizer state).
  size_t state = 0;
  /// The local shards of its other inputs (read where they are fed, or from
  /// a copy when a feed is not 64-byte aligned).
  size_t inputs = 0;
  /// Weights and scratch.
  size_t other = 0;
  size_t total() const { return arena + state + inputs + other; }
};

class Session {
public:
  /// Opens `path`: validates the container, the manifest (mesh, shardings),
  /// the program of every rank run here, the weights they reference, and
  /// loads the kernel library (every kernel symbol resolved). Reads the test
  /// hooks of FaultInjection.h. Throws RuntimeError naming the file and the
  /// part at fault.
  static std::unique_ptr<Session> open(const std::string &path,
                                       const SessionOptions &options = {});
  /// open() with `options.rank = rank` (the rank described by program() etc.).
  static std::unique_ptr<Session> open(const std::string &path, int rank);
  ~Session();

  const Manifest &manifest() const { return info; }
  const std::vector<TensorSpec> &inputs() const { return info.inputs; }
  const std::vector<TensorSpec> &outputs() const { return info.outputs; }
  /// The number of ranks (the bundle's devices).
  int devices() const { return static_cast<int>(info.devices); }
  /// The rank described by program(), arenaBytes() and tempBytes().
  int rank() const { return rankIndex; }
  /// The ranks this process runs (all of them, or the communicator's rank).
  std::vector<int> localRanks() const;
  /// Bytes of the temp arena of rank() (after liveness reuse).
  size_t arenaBytes() const;
  /// Bytes of all temps of rank() if none shared memory.
  size_t tempBytes() const;
  /// The host memory rank `rank` (run here) holds: all of it is held at once
  /// while it runs (a CUDA rank's device memory is not counted).
  MemoryUse memoryUse(int rank) const;
  /// The program of rank() (or of `rank`, which must be run here).
  const RankProgram &program() const { return program(rankIndex); }
  const RankProgram &program(int rank) const;
  /// The CPU the kernel library was compiled for; null without one (cuda).
  const KernelTarget *kernelTarget() const;

  /// Runs with `feeds` keyed by graph-input name; every input must be fed with
  /// its exact dtype and full shape. Throws FeedError for bad feeds, and
  /// RuntimeError (CollectiveError for collective timeouts and failures of
  /// other ranks) when any rank fails; no partial outputs are returned.
  NamedOutputs run(const std::map<std::string, HostTensor> &feeds);
  /// The same with borrowed feeds (no copy of the input bytes).
  NamedOutputs run(const std::map<std::string, TensorRef> &feeds);

  /// A train step's state: the inputs with a TensorSpec::state. Each rank run
  /// here keeps its own shard of them across runs. run() reads a state input
  /// that is not fed from the shards and writes the output that updates it
  /// over them, rank by rank, without assembling it (that output is then not
  /// returned); a state input that is fed is read from the feed, and its
  /// update returned, as any other. Optimizer state starts at zeros; a
  /// parameter starts at its bundle's initial value (a train step compiled
  /// from ONNX has it), else must be set, or fed, before its first run.
  std::vector<std::string> stateNames() const;
  /// Slices the full `value` of state input `name` into the local ranks'
  /// shards. Throws FeedError for an unknown name or a wrong dtype or shape.
  void setState(const std::string &name, const TensorRef &value);
  /// The full value of state input `name`, assembled from the ranks' shards
  /// (in distributed mode only a replicated one: each process holds its
  /// rank's shard). Throws RuntimeError when it has no value yet.
  HostTensor getState(const std::string &name) const;
  /// getState() for every process of a distributed run: a collective (each
  /// process calls it for the same names in the same order, between runs).
  /// Rank 0 receives the shards it lacks from the ranks holding them and
  /// returns the full value; the other processes send theirs and return
  /// nothing. In thread mode the same as getState().
  std::optional<HostTensor> gatherState(const std::string &name);

private:
  Session();
  /// Whether rank `rank` keeps state input `input`: every rank, but in a
  /// pipeline only the ranks of the stage that updates it.
  bool holdsState(int rank, size_t input) const;
  /// The ranks run here that keep state input `input`.
  std::vector<int> holders(size_t input) const;
  std::vector<const void *> checkFeeds(const std::map<std::string, TensorRef> &feeds) const;
  NamedOutputs runThreads(const std::vector<const void *> &feeds);
  NamedOutputs runDistributed(const std::vector<const void *> &feeds);
  /// Rank `rank`'s local shards of the full `feeds`; slices are kept alive
  /// in `storage`.
  std::vector<const void *> shardFeeds(const std::vector<const void *> &feeds, int rank,
                                       std::vector<HostTensor> &storage) const;
  /// Runs rank `rank` on the full `feeds`: its local outputs (stacked over
  /// the microbatches in a pipeline bundle, Pipeline.h).
  std::vector<HostTensor> runRank(const std::vector<const void *> &feeds, int rank);
  /// The executor of rank `rank`, which must be run here.
  RankExecutor &executor(int rank) const;
  /// runRank() of a pipeline bundle: one executor run per entry of the
  /// schedule, the outputs stacked by StackedOutputs.
  std::vector<HostTensor> runPipelineRank(const std::vector<const void *> &feeds, int rank);
  /// The full outputs from the local outputs of every rank (`locals[r]`, empty
  /// for ranks not needed).
  NamedOutputs assemble(std::vector<std::vector<HostTensor>> &locals) const;

  std::string filePath;
  int rankIndex = 0;
  Manifest info;
  std::unique_ptr<bundle::BundleReader> reader;
  std::unique_ptr<KernelLibrary> kernels;
  /// Thread mode: the shared world and one communicator per rank.
  std::shared_ptr<LocalWorld> world;
  /// By rank; in distributed mode only the communicator's rank is set.
  std::vector<std::shared_ptr<Communicator>> comms;
  /// By rank; null for ranks not run in this process. The host or CUDA
  /// executor of each rank (only open() looks at the target); declared after
  /// `comms` so that they are destroyed first.
  std::vector<std::unique_ptr<RankExecutor>> executors;
  bool distributed = false;
  mutable std::mutex runMutex; // runs, and the state they update
  /// State (SessionState.cpp): per rank run here, per input, its shard
  /// (empty for inputs that are no state or have no value yet); which state
  /// inputs the current run reads from there.
  std::vector<std::vector<HostTensor>> stateShards;
  std::vector<bool> residentThisRun;
  /// open(): the parameters' initial values from their bundle sections.
  void loadInitialState();
  /// Index of state input `name`; throws FeedError naming the state inputs.
  size_t stateIndex(const std::string &name) const;
  /// Before a run: the state inputs not fed are read from the shards (zeros
  /// for optimizer state never set); fails for a parameter without a value.
  void prepareState(const std::map<std::string, TensorRef> &feeds);
  /// After every rank ran: rank `rank`'s outputs that update resident state
  /// are copied over its shards.
  void keepState(int rank);
  /// Whether output `o` stays on the ranks this run (not returned).
  bool staysResident(size_t o) const;
};

} // namespace pmc::runtime

#endif // PMC_RUNTIME_SESSION_H
