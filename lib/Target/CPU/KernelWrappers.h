//===- KernelWrappers.h - exported `void kernel_N(void **)` entry points ---===//
#ifndef PMC_LIB_TARGET_CPU_KERNELWRAPPERS_H
#define PMC_LIB_TARGET_CPU_KERNELWRAPPERS_H

#include "mlir/IR/BuiltinOps.h"

#include <string>
#include <utility>
#include <vector>

namespace pmc {

/// For each (inner, exported) pair, adds to the LLVM-dialect `module` a
/// function `void exported(void **args)` that loads one pointer per parameter
/// of `inner` (which must take only pointers and return nothing) and calls it;
/// `inner` becomes internal.
mlir::LogicalResult
addKernelWrappers(mlir::ModuleOp module,
                  const std::vector<std::pair<std::string, std::string>> &kernels);

} // namespace pmc

#endif // PMC_LIB_TARGET_CPU_KERNELWRAPPERS_H
