//===- LaunchOutlining.h - bufferized kernels to gpu.func launches -*- C++ -*-===//
#ifndef PMC_LIB_TARGET_CUDA_LAUNCHOUTLINING_H
#define PMC_LIB_TARGET_CUDA_LAUNCHOUTLINING_H

#include "pmc/Target/CUDA.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"

namespace pmc {

/// Replaces each top-level `memref.alloc` of `func` by a new trailing
/// parameter (a scratch buffer the runtime provides) and drops the
/// deallocations. Appends the scratch types to `kernel.scratch`. Fails, naming
/// the op, on an allocation that is not static or not at the top level.
mlir::LogicalResult allocsToScratch(mlir::func::FuncOp func, GPUKernel &kernel);

/// Moves the work of `func` (after convert-linalg-to-parallel-loops) into
/// `gpu.func`s of `gpuModule`: each top-level scf.parallel becomes a 1-D grid
/// of `blockSize`-thread blocks over its linearized iterations, any other
/// top-level op that writes memory (a sequential loop nest) a 1-thread
/// launch. The work is replaced in `func` by gpu.launch_func ops, and
/// `kernel.launches` records them. Pure ops the launches use are cloned into
/// each gpu.func; memref.globals they read are copied into `gpuModule`.
mlir::LogicalResult outlineLaunches(mlir::func::FuncOp func,
                                    mlir::gpu::GPUModuleOp gpuModule,
                                    int64_t blockSize, GPUKernel &kernel);

} // namespace pmc

#endif // PMC_LIB_TARGET_CUDA_LAUNCHOUTLINING_H
