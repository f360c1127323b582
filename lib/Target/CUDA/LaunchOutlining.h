//===- LaunchOutlining.h - bufferized kernels to gpu.func launches -*- C++ -*-===//
#ifndef PMC_LIB_TARGET_CUDA_LAUNCHOUTLINING_H
#define PMC_LIB_TARGET_CUDA_LAUNCHOUTLINING_H

#include "pmc/Target/CUDA.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"

namespace pmc {

/// The name of the one gpu.module that holds every launch of the bundle.
inline constexpr llvm::StringLiteral kGPUModuleName = "pmc_kernels";
/// The kernel attribute: how many trailing parameters are scratch buffers.
inline constexpr llvm::StringLiteral kScratchParamsAttrName = "pmc.scratch_params";
/// The gpu.launch_func attribute: the kernel parameters the launch may write.
inline constexpr llvm::StringLiteral kWritesAttrName = "pmc.writes";

/// Replaces each top-level `memref.alloc` of `func` by a new trailing
/// parameter (a scratch buffer the runtime provides), drops the
/// deallocations and records their count in `pmc.scratch_params`. Fails,
/// naming the op, on an allocation that is not static or not at the top level.
mlir::LogicalResult allocsToScratch(mlir::func::FuncOp func);

/// Moves the work of `func` (after convert-linalg-to-parallel-loops) into
/// `gpu.func`s of `gpuModule`: each top-level scf.parallel becomes a 1-D grid
/// of `blockSize`-thread blocks over its linearized iterations, any other
/// top-level op that writes memory (a sequential loop nest) a 1-thread
/// launch. The work is replaced in `func` by gpu.launch_func ops with
/// `pmc.writes`. Pure ops the launches use are cloned into each gpu.func;
/// memref.globals they read are copied into `gpuModule`.
mlir::LogicalResult outlineLaunches(mlir::func::FuncOp func,
                                    mlir::gpu::GPUModuleOp gpuModule, int64_t blockSize);

/// What the kernels of `kernels` (after pmc-cuda-kernels) became, read from
/// the IR: parameter counts (`pmc.kernel_params`), scratch types (the
/// trailing `pmc.scratch_params` parameters) and the gpu.launch_func ops in
/// order (grid, block, arguments, `pmc.writes`).
mlir::FailureOr<std::map<std::string, GPUKernel>> collectKernels(mlir::ModuleOp kernels);

} // namespace pmc

#endif // PMC_LIB_TARGET_CUDA_LAUNCHOUTLINING_H
