//===- CudaScalars.h - alpha/beta and dtype codes of library calls -*- C++ -*-===//
//
// Internal to the CUDA executor: the scalars cuBLASLt and cuDNN read
// through pointers (double for float64, float otherwise).
//
#ifndef PMC_LIB_RUNTIME_CUDA_CUDASCALARS_H
#define PMC_LIB_RUNTIME_CUDA_CUDASCALARS_H

#include "pmc/Support/HostTensor.h"

namespace pmc::runtime::cuda {

/// The alpha/beta scalars of a library call: double for float64, else float.
struct Scalars {
  float f[2];
  double d[2];
  const void *alpha(DType t) const { return t == DType::Float64 ? (const void *)&d[0] : &f[0]; }
  const void *beta(DType t) const { return t == DType::Float64 ? (const void *)&d[1] : &f[1]; }
};
/// alpha = 1, beta = 0: overwrite the result.
inline constexpr Scalars kOneZero{{1.0f, 0.0f}, {1.0, 0.0}};
/// alpha = 1, beta = 1: accumulate into the result.
inline constexpr Scalars kOneOne{{1.0f, 1.0f}, {1.0, 1.0}};

} // namespace pmc::runtime::cuda

#endif // PMC_LIB_RUNTIME_CUDA_CUDASCALARS_H
