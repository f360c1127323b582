//===- HostStagedCollectives.cpp - D2H, host collective, H2D ---------------===//

#include "pmc/Runtime/CUDA/HostStagedCollectives.h"
#include "pmc/Runtime/CUDA/CudaLibraries.h"

#include <algorithm>

namespace pmc::runtime::cuda {

HostStagedCollectives::HostStagedCollectives(Communicator &comm, const DriverApi &driver)
    : comm(comm), cu(driver) {}

HostStagedCollectives::~HostStagedCollectives() {
  for (void *p : pinned)
    if (p)
      cu.memFreeHost(p);
}

int HostStagedCollectives::rank() const { return comm.rank(); }
int HostStagedCollectives::size() const { return comm.size(); }

void *HostStagedCollectives::staging(int which, size_t bytes) {
  if (bytes > pinnedBytes[which]) {
    size_t size = std::max<size_t>(bytes, 2 * pinnedBytes[which]);
    if (pinned[which])
      checkCu(cu, cu.memFreeHost(pinned[which]), "cuMemFreeHost");
    pinned[which] = nullptr;
    pinnedBytes[which] = 0;
    checkCu(cu, cu.memAllocHost(&pinned[which], size),
            "cuMemAllocHost of " + std::to_string(size) + " bytes of staging memory");
    pinnedBytes[which] = size;
  }
  return pinned[which];
}

void HostStagedCollectives::collective(const CollectiveCall &call, void *stream) {
  CUstream s = static_cast<CUstream>(stream);
  const std::string what = call.site.describe();
  // Earlier copies out of the staging buffers must be done before reuse.
  checkCu(cu, cu.streamSynchronize(s), what + ": cuStreamSynchronize");
  size_t inBytes = call.inBytes(), outBytes = call.outBytes();
  void *hostIn = staging(0, inBytes), *hostOut = staging(1, outBytes);
  if (inBytes)
    checkCu(cu, cu.memcpyDtoHAsync(hostIn, reinterpret_cast<CUdeviceptr>(call.in), inBytes, s),
            what + ": cuMemcpyDtoHAsync");
  checkCu(cu, cu.streamSynchronize(s), what + ": cuStreamSynchronize");
  switch (call.kind) {
  case CollectiveKind::AllReduce:
    comm.allReduce(hostIn, hostOut, call.dtype, call.inShape, call.reduction, call.group,
                   call.site);
    break;
  case CollectiveKind::AllGather:
    comm.allGather(hostIn, hostOut, call.dtype, call.inShape, call.dim, call.group, call.site);
    break;
  case CollectiveKind::ReduceScatter:
    comm.reduceScatter(hostIn, hostOut, call.dtype, call.inShape, call.dim, call.reduction,
                       call.group, call.site);
    break;
  case CollectiveKind::AllToAll:
    comm.allToAll(hostIn, hostOut, call.dtype, call.inShape, call.splitDim, call.concatDim,
                  call.group, call.site);
    break;
  }
  if (outBytes)
    checkCu(cu, cu.memcpyHtoDAsync(reinterpret_cast<CUdeviceptr>(call.out), hostOut, outBytes, s),
            what + ": cuMemcpyHtoDAsync");
}

void HostStagedCollectives::send(const void *deviceData, size_t bytes, int dst, int tag,
                                 void *stream) {
  CUstream s = static_cast<CUstream>(stream);
  checkCu(cu, cu.streamSynchronize(s), "send: cuStreamSynchronize");
  void *host = staging(0, bytes);
  if (bytes)
    checkCu(cu, cu.memcpyDtoHAsync(host, reinterpret_cast<CUdeviceptr>(deviceData), bytes, s),
            "send: cuMemcpyDtoHAsync");
  checkCu(cu, cu.streamSynchronize(s), "send: cuStreamSynchronize");
  comm.send(host, bytes, dst, tag);
}

void HostStagedCollectives::recv(void *deviceData, size_t bytes, int src, int tag,
                                 void *stream) {
  CUstream s = static_cast<CUstream>(stream);
  checkCu(cu, cu.streamSynchronize(s), "recv: cuStreamSynchronize");
  void *host = staging(1, bytes);
  comm.recv(host, bytes, src, tag);
  if (bytes)
    checkCu(cu, cu.memcpyHtoDAsync(reinterpret_cast<CUdeviceptr>(deviceData), host, bytes, s),
            "recv: cuMemcpyHtoDAsync");
}

void HostStagedCollectives::abort(const std::string &reason) { comm.abort(reason); }

void HostStagedCollectives::synchronize(void *stream) {
  checkCu(cu, cu.streamSynchronize(static_cast<CUstream>(stream)), "cuStreamSynchronize");
  if (std::optional<std::string> failure = comm.failure())
    throw CollectiveError(*failure);
}

} // namespace pmc::runtime::cuda
