//===- PMCDialect.h - the pmc dialect ---------------------------*- C++ -*-===//
#ifndef PMC_DIALECT_PMC_IR_PMCDIALECT_H
#define PMC_DIALECT_PMC_IR_PMCDIALECT_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Dialect.h"

#include "pmc/Dialect/PMC/IR/PMCOpsDialect.h.inc"

namespace mlir::pmc {
/// The function a module runs: the imported ONNX graph, later each rank's
/// program (the stage functions of a pipeline are called from it).
inline constexpr llvm::StringLiteral kEntryFunctionName = "main";
} // namespace mlir::pmc

#endif // PMC_DIALECT_PMC_IR_PMCDIALECT_H
