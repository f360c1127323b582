//===- CudaConv.h - the conv steps of a rank on cuDNN -----------*- C++ -*-===//
//
// Internal to the CUDA executor: one cuDNN handle (bound to the compute
// stream) and workspace per rank and one plan per `conv` step (NCHW
// descriptors, group count, the first forward algorithm that fits the
// workspace limit and keeps float32 in FMA math), made once when the
// executor is built and enqueued per run (docs/design/cuda-runtime.md,
// "cuDNN plans").
//
//   CudaConvs convs(program, allocator, computeStream);   // plans every conv
//   convs.enqueue(step, addresses);                        // conv + bias
//
#ifndef PMC_LIB_RUNTIME_CUDA_CUDACONV_H
#define PMC_LIB_RUNTIME_CUDA_CUDACONV_H

#include "pmc/Runtime/CUDA/CudaAllocator.h"
#include "pmc/Runtime/CUDA/CudaLibraries.h"
#include "pmc/Runtime/CUDA/CudaProgram.h"

#include <vector>

namespace pmc::runtime::cuda {

class CudaConvs {
public:
  /// Loads cuDNN (reported by the first conv step when missing), creates
  /// the handle on `stream` and plans every conv step of `program`, then
  /// allocates the largest workspace a plan needs. The rank's context is
  /// current. Throws RuntimeError naming the step.
  CudaConvs(const CudaProgram &program, CachingAllocator &allocator, CUstream stream);
  ~CudaConvs();
  CudaConvs(const CudaConvs &) = delete;
  CudaConvs &operator=(const CudaConvs &) = delete;

  /// Enqueues conv step `step` (and its bias) on the handle's stream;
  /// `address` is the device address of every buffer.
  void enqueue(const CudaStep &step, const std::vector<uint64_t> &address) const;

private:
  struct Plan {
    cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
    cudnnFilterDescriptor_t w = nullptr;
    cudnnConvolutionDescriptor_t conv = nullptr;
    cudnnConvolutionFwdAlgo_t algo{};
    size_t workspace = 0;
  };
  void plan(const CudaStep &step);
  void destroy();

  const CudnnApi *dnn = nullptr;
  cudnnHandle_t handle = nullptr;
  uint64_t workspace = 0;
  size_t workspaceBytes = 0;
  /// By step index (empty plans for other steps).
  std::vector<Plan> plans;
};

} // namespace pmc::runtime::cuda

#endif // PMC_LIB_RUNTIME_CUDA_CUDACONV_H
