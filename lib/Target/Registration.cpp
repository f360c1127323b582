//===- Registration.cpp - the target passes and pipelines for pmc-opt ------===//
#include "pmc/Target/Passes.h"

#include "mlir/Pass/PassRegistry.h"

using namespace mlir;

void mlir::pmc::registerPMCTargetPassesAndPipelines() {
  registerPMCTargetPasses();
  PassPipelineRegistration<>("pmc-bufferize-kernels",
                             "Kernels in the pmc dialect to functions on memrefs "
                             "(linalg, fusion, one-shot bufferization, out-params)",
                             buildKernelBufferizationPipeline);
  PassPipelineRegistration<>("pmc-cpu-kernels",
                             "An outlined module to the LLVM dialect of the CPU kernel "
                             "library (exported kernel_N(void **) entry points)",
                             buildCPUKernelPipeline);
  PassPipelineRegistration<TestVectorizedKernelsOptions>(
      "pmc-test-cpu-vectorized-kernels",
      "Test: pmc-cpu-kernels with the CUDA launch vectorization of scf.parallel loops",
      buildTestVectorizedKernelPipeline);
  PassPipelineRegistration<CUDAKernelsOptions>(
      "pmc-cuda-kernels",
      "An outlined module to gpu.launch_func host kernels and the gpu.module of "
      "their gpu.funcs (scratch parameters, vectorized elementwise launches)",
      buildCUDAKernelPipeline);
}
