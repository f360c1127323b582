//===- CudaRanks.h - the ranks of a Session on CUDA devices -----*- C++ -*-===//
//
// What a Session (Session.cpp) calls for a `target: cuda` bundle: one
// CudaExecutor per rank run by this process, with its DeviceCollectives.
// Placement (docs/design/cuda-runtime.md):
//   - with a communicator (mpirun, torchrun): this process's rank on device
//     SessionOptions::device, else $LOCAL_RANK, else rank % device count;
//     collectives through the registered factory (NCCL), else host-staged;
//   - ranks as threads, `virtualRanks`: every rank on one device
//     (SessionOptions::device, default 0), host-staged collectives;
//   - ranks as threads otherwise: rank r on device (device + r), one GPU per
//     rank, host-staged collectives.
// This header needs no CUDA headers; without them CudaRanks::open() says
// "this pmc was built without CUDA support".
//
#ifndef PMC_RUNTIME_CUDA_CUDARANKS_H
#define PMC_RUNTIME_CUDA_CUDARANKS_H

#include "pmc/Support/HostTensor.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace pmc::bundle {
class BundleReader;
}

namespace pmc::runtime {
class Communicator;
struct FaultInjection;
struct Manifest;
struct SessionOptions;
} // namespace pmc::runtime

namespace pmc::runtime::cuda {

class DeviceCollectives;

/// Builds the DeviceCollectives of one process per GPU (rank `comm.rank()`
/// on CUDA device `device`); NCCL registers one. Its calls must be
/// capturable in a CUDA graph.
using DeviceCollectivesFactory =
    std::function<std::unique_ptr<DeviceCollectives>(Communicator &comm, int device)>;
/// Installs (or, with an empty function, removes) the factory.
void setDeviceCollectivesFactory(DeviceCollectivesFactory factory);

/// Validates rank `rank`'s program of a cuda bundle without touching a GPU
/// and summarises it for `pmc-run --info`: buffers, commands by kind, arena
/// bytes, PTX modules. Throws RuntimeError like CudaRanks::open.
std::string describeCudaProgram(const Manifest &manifest, const bundle::BundleReader &reader,
                                int rank);

class CudaRanks {
public:
  /// Validates the program of every rank in `comms` (non-null entries) and
  /// sets up its executor with the test hooks `faults` (FaultInjection.h).
  /// Pipeline bundles: the transfers of every rank are checked to pair up
  /// in program order (checkTransferOrder; NCCL has no tags). Throws RuntimeError; a missing driver reads
  /// "this bundle targets CUDA; no CUDA driver was found (...)".
  static std::unique_ptr<CudaRanks>
  open(const Manifest &manifest, const bundle::BundleReader &reader,
       const SessionOptions &options, const std::vector<std::shared_ptr<Communicator>> &comms,
       const FaultInjection &faults);
  ~CudaRanks();

  /// Runs rank `rank` (on the calling thread) on its local input shards;
  /// in a pipeline bundle one step: the blocks of `microbatch` (Session's
  /// microbatch loop stacks the outputs). Outputs of other stages are empty.
  std::vector<HostTensor> run(int rank, const std::vector<const void *> &inputs,
                              int64_t microbatch = 0);
  /// Whether rank `rank`'s program reads manifest input `input`.
  bool readsInput(int rank, size_t input) const;
  /// Bytes of rank `rank`'s device arena (after liveness reuse) and of all
  /// its temps without reuse; the rank must be run here.
  size_t arenaBytes(int rank) const;
  size_t tempBytes(int rank) const;
  /// One line per rank: device, PTX chip, graph decision.
  std::string describe() const;

private:
  CudaRanks();
  struct Impl;
  std::unique_ptr<Impl> impl;
};

} // namespace pmc::runtime::cuda

#endif // PMC_RUNTIME_CUDA_CUDARANKS_H
