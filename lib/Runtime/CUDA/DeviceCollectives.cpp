//===- DeviceCollectives.cpp - the default stream wait of DeviceCollectives -===//

#include "pmc/Runtime/CUDA/DeviceCollectives.h"
#include "pmc/Runtime/CUDA/CudaLibraries.h"

namespace pmc::runtime::cuda {

void DeviceCollectives::synchronize(void *stream) {
  const DriverApi &cu = CudaLibraries::driver();
  checkCu(cu, cu.streamSynchronize(static_cast<CUstream>(stream)), "cuStreamSynchronize");
}

} // namespace pmc::runtime::cuda
