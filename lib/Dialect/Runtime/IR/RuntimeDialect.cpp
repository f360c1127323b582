//===- RuntimeDialect.cpp - the pmcrt dialect -----------------------------===//
#include "pmc/Dialect/Runtime/IR/RuntimeDialect.h"
#include "pmc/Dialect/PMC/IR/PMCOps.h"
#include "pmc/Dialect/Runtime/IR/RuntimeOps.h"

using namespace mlir;
using namespace mlir::pmcrt;

#include "pmc/Dialect/Runtime/IR/RuntimeOpsDialect.cpp.inc"

void PMCRTDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "pmc/Dialect/Runtime/IR/RuntimeOps.cpp.inc"
      >();
}
