//===- CudaMatmul.h - the matmul steps of a rank on cuBLASLt ----*- C++ -*-===//
//
// Internal to the CUDA executor: one cuBLASLt handle and workspace per rank
// and one plan per `matmul` step (descriptors from CudaPlanning's
// LtMatmulPlan, the algorithm from cublasLtMatmulAlgoGetHeuristic), made
// once when the executor is built and enqueued on the compute stream per
// run (docs/design/cuda-runtime.md, "cuBLASLt plans").
//
//   CudaMatmuls matmuls(program, cu, allocator);      // plans every matmul
//   matmuls.enqueue(step, addresses, stream);          // one cublasLtMatmul
//
#ifndef PMC_LIB_RUNTIME_CUDA_CUDAMATMUL_H
#define PMC_LIB_RUNTIME_CUDA_CUDAMATMUL_H

#include "pmc/Runtime/CUDA/CudaAllocator.h"
#include "pmc/Runtime/CUDA/CudaLibraries.h"
#include "pmc/Runtime/CUDA/CudaProgram.h"

#include <vector>

namespace pmc::runtime::cuda {

class CudaMatmuls {
public:
  /// Loads cuBLASLt (reported by the first matmul step when missing),
  /// creates the handle and workspace and plans every matmul step of
  /// `program`. The rank's context is current. Throws RuntimeError naming
  /// the step; what was created is freed by the destructor.
  CudaMatmuls(const CudaProgram &program, const DriverApi &cu, CachingAllocator &allocator);
  ~CudaMatmuls();
  CudaMatmuls(const CudaMatmuls &) = delete;
  CudaMatmuls &operator=(const CudaMatmuls &) = delete;

  /// Enqueues matmul step `step` on `stream`; `address` is the device
  /// address of every buffer. `k = 0` clears `c`.
  void enqueue(const CudaStep &step, const std::vector<uint64_t> &address, CUstream stream) const;

private:
  struct Plan {
    cublasLtMatmulDesc_t desc = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
    cublasLtMatmulAlgo_t algo{};
  };
  void plan(const CudaStep &step);
  /// Destroys the plans and the handle (the workspace stays with the allocator).
  void destroy();

  const CudaProgram &program;
  const DriverApi &cu;
  const CublasLtApi *lt = nullptr;
  cublasLtHandle_t handle = nullptr;
  uint64_t workspace = 0;
  /// By step index (empty plans for other steps).
  std::vector<Plan> plans;
};

} // namespace pmc::runtime::cuda

#endif // PMC_LIB_RUNTIME_CUDA_CUDAMATMUL_H
