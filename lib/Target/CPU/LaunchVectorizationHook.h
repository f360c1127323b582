//===- LaunchVectorizationHook.h - CUDA launch vectorization on the CPU ---===//
#ifndef PMC_LIB_TARGET_CPU_LAUNCHVECTORIZATIONHOOK_H
#define PMC_LIB_TARGET_CPU_LAUNCHVECTORIZATIONHOOK_H

#include "mlir/IR/BuiltinOps.h"

namespace pmc {

/// The test hook of `CPUTargetOptions::testLaunchVectorizationBytes`, on
/// kernels after convert-linalg-to-parallel-loops. First it gives each kernel
/// the shape the CUDA target vectorizes (allocsToScratch): the work of a
/// kernel with top-level static temporaries moves into a private
/// `@<kernel>_scratch` that takes them as trailing parameters, and the kernel
/// keeps only the allocations, one call and the deallocations (its signature
/// is unchanged). Then `vectorizeParallelLoops(func, maxBytes)` runs on every
/// function, and each kernel gets the remark "launch vectorization (cpu test
/// hook): N of M parallel loops vectorized in <function>".
void runLaunchVectorizationHook(mlir::ModuleOp module, int64_t maxBytes);

} // namespace pmc

#endif // PMC_LIB_TARGET_CPU_LAUNCHVECTORIZATIONHOOK_H
