//===- RuntimeDialect.h - the pmcrt dialect of rank programs ----*- C++ -*-===//
#ifndef PMC_DIALECT_RUNTIME_IR_RUNTIMEDIALECT_H
#define PMC_DIALECT_RUNTIME_IR_RUNTIMEDIALECT_H

#include "pmc/Dialect/PMC/IR/PMCDialect.h"

#include "mlir/IR/Dialect.h"

#include "pmc/Dialect/Runtime/IR/RuntimeOpsDialect.h.inc"

#endif // PMC_DIALECT_RUNTIME_IR_RUNTIMEDIALECT_H
