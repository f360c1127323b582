//===- PMCDialect.h - the pmc dialect ---------------------------*- C++ -*-===//
#ifndef PMC_DIALECT_PMC_IR_PMCDIALECT_H
#define PMC_DIALECT_PMC_IR_PMCDIALECT_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Dialect.h"

#include "pmc/Dialect/PMC/IR/PMCOpsDialect.h.inc"

#endif // PMC_DIALECT_PMC_IR_PMCDIALECT_H
