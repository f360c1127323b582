//===- Passes.h - passes over the pmc dialect -------------------*- C++ -*-===//
#ifndef PMC_DIALECT_PMC_TRANSFORMS_PASSES_H
#define PMC_DIALECT_PMC_TRANSFORMS_PASSES_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir::pmc {

#define GEN_PASS_DECL
#include "pmc/Dialect/PMC/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "pmc/Dialect/PMC/Transforms/Passes.h.inc"

} // namespace mlir::pmc

#endif // PMC_DIALECT_PMC_TRANSFORMS_PASSES_H
