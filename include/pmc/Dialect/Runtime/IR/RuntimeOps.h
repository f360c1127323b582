//===- RuntimeOps.h - buffers and commands of a rank program ----*- C++ -*-===//
#ifndef PMC_DIALECT_RUNTIME_IR_RUNTIMEOPS_H
#define PMC_DIALECT_RUNTIME_IR_RUNTIMEOPS_H

#include "pmc/Dialect/PMC/IR/PMCAttrs.h"
#include "pmc/Dialect/Runtime/IR/RuntimeDialect.h"

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"

namespace mlir::pmcrt {
class OutputsOp;
} // namespace mlir::pmcrt

#define GET_OP_CLASSES
#include "pmc/Dialect/Runtime/IR/RuntimeOps.h.inc"

#endif // PMC_DIALECT_RUNTIME_IR_RUNTIMEOPS_H
