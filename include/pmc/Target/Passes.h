//===- Passes.h - the steps of kernel code generation -----------*- C++ -*-===//
#ifndef PMC_TARGET_PASSES_H
#define PMC_TARGET_PASSES_H

#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassOptions.h"

namespace mlir {
namespace arith { class ArithDialect; }
namespace gpu { class GPUDialect; }
namespace linalg { class LinalgDialect; }
namespace LLVM { class LLVMDialect; }
namespace vector { class VectorDialect; }
namespace pmcrt { class PMCRTDialect; }
} // namespace mlir

namespace mlir::pmc {

#define GEN_PASS_DECL
#include "pmc/Target/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "pmc/Target/Passes.h.inc"

/// Options of pmc-test-cpu-vectorized-kernels.
struct TestVectorizedKernelsOptions
    : public PassPipelineOptions<TestVectorizedKernelsOptions> {
  Option<int64_t> bytes{*this, "bytes", llvm::cl::desc("Widest access in bytes"),
                        llvm::cl::init(16)};
};

/// pmc-bufferize-kernels: pmc-convert-to-linalg, elementwise fusion,
/// one-shot bufferization (function boundaries, identity layouts), results
/// to out-params, pmc-copies-to-linalg. Shared by the CPU and CUDA targets.
void buildKernelBufferizationPipeline(OpPassManager &pm);
/// pmc-cpu-kernels: an outlined module to the LLVM dialect of the kernel
/// library: pmc-prepare-kernels, pmc-bufferize-kernels,
/// pmc-expand-bf16-conversions, buffer deallocation, loops, the conversions
/// to LLVM (bare-pointer calls), pmc-add-kernel-wrappers.
void buildCPUKernelPipeline(OpPassManager &pm);
/// pmc-test-cpu-vectorized-kernels: as pmc-cpu-kernels, with the kernels
/// lowered to scf.parallel and run through pmc-test-launch-vectorization.
void buildTestVectorizedKernelPipeline(OpPassManager &pm,
                                       const TestVectorizedKernelsOptions &options);
/// Options of pmc-cuda-kernels.
struct CUDAKernelsOptions : public PassPipelineOptions<CUDAKernelsOptions> {
  Option<int64_t> blockSize{*this, "block-size",
                            llvm::cl::desc("Threads per block of an elementwise launch"),
                            llvm::cl::init(256)};
  Option<int64_t> vectorBytes{*this, "vector-bytes",
                              llvm::cl::desc("Widest global memory access in bytes"),
                              llvm::cl::init(16)};
};
/// pmc-cuda-kernels: an outlined module to host kernels of gpu.launch_func
/// ops and a gpu.module of their gpu.funcs: pmc-prepare-kernels{target=cuda},
/// pmc-bufferize-kernels, pmc-allocs-to-scratch, linalg -> scf.parallel,
/// pmc-vectorize-parallel-loops, pmc-outline-launches.
void buildCUDAKernelPipeline(OpPassManager &pm, const CUDAKernelsOptions &options);

/// Registers the passes of Passes.td (registerPMCTargetPasses) and the
/// pipelines above.
void registerPMCTargetPassesAndPipelines();

} // namespace mlir::pmc

#endif // PMC_TARGET_PASSES_H
