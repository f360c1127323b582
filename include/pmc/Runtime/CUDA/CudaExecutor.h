//===- CudaExecutor.h - run one rank program on one GPU ---------*- C++ -*-===//
//
// Owns everything a rank needs on its device: the primary context, a compute
// and a communication stream, the PTX module of the device's chip, device
// memory from a CachingAllocator (the arena planned by liveness with temps
// and scratch, the weights uploaded once, one buffer per input), cuBLASLt
// and cuDNN handles with their plans, and optionally a CUDA graph of the
// whole program. run() copies the inputs in, enqueues (or replays) the
// program and copies the outputs out (docs/design/cuda-runtime.md).
//
//   CudaExecutor exe(*program, reader, {.device = 0}, &collectives, false);
//   std::vector<HostTensor> outs = exe.run(localInputs);
//
#ifndef PMC_RUNTIME_CUDA_CUDAEXECUTOR_H
#define PMC_RUNTIME_CUDA_CUDAEXECUTOR_H

#include "pmc/Runtime/CUDA/CudaAllocator.h"
#include "pmc/Runtime/CUDA/CudaPlanning.h"
#include "pmc/Runtime/Comm/FaultInjection.h"
#include "pmc/Support/HostTensor.h"

#include <memory>
#include <string>
#include <vector>

namespace pmc::bundle {
class BundleReader;
}

namespace pmc::runtime {
class Communicator;
}

namespace pmc::runtime::cuda {

class CudaProgram;
struct CudaStep;
class DeviceCollectives;

struct CudaExecutorOptions {
  /// The CUDA device ordinal.
  int device = 0;
  /// Capture the program as a CUDA graph on the second run and replay it
  /// afterwards, when decideGraphCapture() allows.
  bool graphs = true;
  /// Test hooks (FaultInjection.h) consulted before each step, as
  /// RankProgram does; a rank they target is never captured as a graph.
  FaultInjection faults;
  /// The rank's host communicator: PMC_TEST_STALL_RANK stalls on it (null:
  /// the stall hook fails the rank instead).
  Communicator *hostCommunicator = nullptr;
};

class CudaExecutor {
public:
  /// Sets up the device (see above). `collectives` may be null when the
  /// program has no collective; `collectivesCapturable` says whether its
  /// calls may be recorded in a graph (NCCL: yes; host-staged: no). Throws
  /// RuntimeError naming the device, module, function or command at fault.
  CudaExecutor(const CudaProgram &program, const bundle::BundleReader &reader,
               const CudaExecutorOptions &options, DeviceCollectives *collectives,
               bool collectivesCapturable);
  ~CudaExecutor();
  CudaExecutor(const CudaExecutor &) = delete;
  CudaExecutor &operator=(const CudaExecutor &) = delete;

  /// Runs the program: `inputs[i]` is this rank's local shard of manifest
  /// input i (host memory; a pipeline step: its block of `microbatch`, null
  /// for inputs the program does not read). Returns the local outputs in
  /// manifest order (empty tensors for outputs of other pipeline stages).
  /// send/recv carry wire tag pipelineWireTag(tag, microbatch, M). The end
  /// of the run waits through DeviceCollectives::synchronize (NCCL: aware
  /// of its watchdog). Call from one thread at a time (any thread: the
  /// context is made current).
  std::vector<HostTensor> run(const std::vector<const void *> &inputs, int64_t microbatch = 0);

  /// "NVIDIA H100 80GB HBM3 (device 0, compute capability 9.0)".
  const std::string &device() const { return deviceText; }
  /// The chip of the loaded PTX module (empty when nothing is launched).
  const std::string &ptxChip() const { return chip; }
  const GraphDecision &graphDecision() const { return graph; }
  /// Whether the last run replayed a captured graph.
  bool replayedGraph() const { return lastRunReplayed; }
  AllocatorStats allocatorStats() const;
  /// Makes this executor's context current on the calling thread.
  void activate();

private:
  struct State;
  /// Opens CUDA device `device` (context, streams); sets deviceText and the
  /// compute capability.
  void openDevice(int device, int &major, int &minor, std::string &name);
  /// Allocates the arena, uploads the weights and gives every buffer its
  /// device address.
  void placeBuffers(const CudaProgram &program, const bundle::BundleReader &reader);
  /// Loads the PTX module of the newest chip the device runs and resolves
  /// every launch's function and parameters.
  void loadKernels(const CudaProgram &program, const bundle::BundleReader &reader, int major,
                   int minor, const std::string &name);
  void enqueueProgram(int64_t microbatch);
  /// Fails or stalls before `step` when a test hook says so.
  void applyFaults(const CudaStep &step, int64_t microbatch);
  std::unique_ptr<State> state;
  std::string deviceText, chip;
  GraphDecision graph;
  FaultInjection faults;
  Communicator *hostCommunicator = nullptr;
  bool lastRunReplayed = false;
};

} // namespace pmc::runtime::cuda

#endif // PMC_RUNTIME_CUDA_CUDAEXECUTOR_H
