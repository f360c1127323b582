//===- DeviceCollectives.h - collectives on device memory -------*- C++ -*-===//
//
// The interface between the CUDA executor (which runs a rank program on a
// GPU) and whatever moves device memory between ranks: NCCL for one GPU per
// process, or staging through host memory and a host Communicator for
// `--virtual-ranks` (all ranks on one GPU). Calls are enqueued on `stream`
// (a CUstream) in program order; the data may be read or written only after
// the stream reaches them. Failures and timeouts follow parallel.md: the
// implementation aborts and throws CollectiveError naming the collective,
// the rank and the missing peer.
//
#ifndef PMC_RUNTIME_CUDA_DEVICECOLLECTIVES_H
#define PMC_RUNTIME_CUDA_DEVICECOLLECTIVES_H

#include "pmc/Runtime/Comm/Communicator.h"

#include <cstddef>

namespace pmc::runtime {
struct Mesh;
}

namespace pmc::runtime::cuda {

/// Collectives and point-to-point transfers on device memory.
class DeviceCollectives {
public:
  virtual ~DeviceCollectives() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// Builds whatever the groups of `mesh` need (e.g. one NCCL communicator
  /// per subset of axes). Called once, before the first call.
  virtual void prepare(const Mesh &mesh) = 0;
  /// `call.in` and `call.out` are device pointers; `call.group` lists world
  /// ranks in group order (Mesh::group).
  virtual void collective(const CollectiveCall &call, void *stream) = 0;
  virtual void send(const void *deviceData, size_t bytes, int dst, int tag, void *stream) = 0;
  virtual void recv(void *deviceData, size_t bytes, int src, int tag, void *stream) = 0;
  /// Waits on the calling thread until `stream` has run all its work (the
  /// executor's end of a run; the rank's CUDA context is current). Throws
  /// CollectiveError when a call enqueued through this object failed or
  /// timed out while waiting. The default is cuStreamSynchronize through the
  /// driver, which is right only when every call completes on the host
  /// before it returns (host-staged); NCCL overrides it with a wait that
  /// watches its timeouts, since a plain synchronize would hang on a dead peer.
  virtual void synchronize(void *stream);
  /// Makes every rank's pending and future calls fail with `reason`.
  virtual void abort(const std::string &reason) = 0;
};

} // namespace pmc::runtime::cuda

#endif // PMC_RUNTIME_CUDA_DEVICECOLLECTIVES_H
