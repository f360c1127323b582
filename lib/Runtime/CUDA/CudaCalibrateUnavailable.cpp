//===- CudaCalibrateUnavailable.cpp - calibrateCudaDevice without CUDA headers -===//
//
// Compiled instead of CudaCalibrate.cpp when CMake found no cuda.h.
//
#include "pmc/Runtime/CUDA/CudaCalibrate.h"
#include "pmc/Runtime/Error.h"

namespace pmc::runtime::cuda {

CudaDeviceCalibration calibrateCudaDevice(int, bool) {
  throw RuntimeError("measuring a GPU needs CUDA support; this pmc was built without it (the "
                     "CUDA toolkit headers were not found when it was configured)");
}

} // namespace pmc::runtime::cuda
