//===- HostStagedCollectives.h - device collectives through host memory -*- C++ -*-===//
//
// DeviceCollectives for ranks that share no NCCL communicator, above all
// `--virtual-ranks` (every rank a thread on one GPU): each call copies the
// device input to pinned host memory, runs the host Communicator's
// collective (LocalCommunicator or MPICommunicator) and copies the result
// back. The calling thread waits for the stream, so a program that uses it
// is never captured as a CUDA graph (capturesOnStream() is false).
//
#ifndef PMC_RUNTIME_CUDA_HOSTSTAGEDCOLLECTIVES_H
#define PMC_RUNTIME_CUDA_HOSTSTAGEDCOLLECTIVES_H

#include "pmc/Runtime/CUDA/DeviceCollectives.h"

#include <cstdint>

namespace pmc::runtime::cuda {

struct DriverApi;

class HostStagedCollectives : public DeviceCollectives {
public:
  /// `comm` must outlive this object; its timeout and failure handling apply.
  HostStagedCollectives(Communicator &comm, const DriverApi &driver);
  /// Frees the pinned buffers (the executor's context must be current).
  ~HostStagedCollectives() override;

  int rank() const override;
  int size() const override;
  /// The host communicator is prepared by the Session; nothing to build.
  void prepare(const Mesh &mesh) override {}
  void collective(const CollectiveCall &call, void *stream) override;
  void send(const void *deviceData, size_t bytes, int dst, int tag, void *stream) override;
  void recv(void *deviceData, size_t bytes, int src, int tag, void *stream) override;
  void abort(const std::string &reason) override;
  /// cuStreamSynchronize, then the host communicator's failure if another
  /// rank failed meanwhile (every call already completed on the host).
  void synchronize(void *stream) override;

private:
  /// Grows the pinned buffer `which` (0: in, 1: out) to `bytes`.
  void *staging(int which, size_t bytes);

  Communicator &comm;
  const DriverApi &cu;
  void *pinned[2] = {nullptr, nullptr};
  size_t pinnedBytes[2] = {0, 0};
};

} // namespace pmc::runtime::cuda

#endif // PMC_RUNTIME_CUDA_HOSTSTAGEDCOLLECTIVES_H
