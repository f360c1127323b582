//===- Passes.h - automatic parallelization passes --------------*- C++ -*-===//
#ifndef PMC_PARALLEL_PASSES_H
#define PMC_PARALLEL_PASSES_H

#include "pmc/Dialect/PMC/IR/PMCDialect.h"

#include "mlir/Pass/Pass.h"

namespace mlir::pmc {

#define GEN_PASS_DECL
#include "pmc/Parallel/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "pmc/Parallel/Passes.h.inc"

} // namespace mlir::pmc

#endif // PMC_PARALLEL_PASSES_H
