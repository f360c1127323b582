//===- Passes.h - sharding propagation and SPMD partitioning ----*- C++ -*-===//
#ifndef PMC_PARALLEL_PARTITION_PASSES_H
#define PMC_PARALLEL_PARTITION_PASSES_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir::pmc {

#define GEN_PASS_DECL
#include "pmc/Parallel/Partition/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "pmc/Parallel/Partition/Passes.h.inc"

} // namespace mlir::pmc

#endif // PMC_PARALLEL_PARTITION_PASSES_H
