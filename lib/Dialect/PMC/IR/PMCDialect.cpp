//===- PMCDialect.cpp - the pmc dialect -----------------------------------===//
#include "pmc/Dialect/PMC/IR/PMCDialect.h"
#include "pmc/Dialect/PMC/IR/PMCOps.h"
#include "pmc/Dialect/PMC/IR/Gradient.h"

using namespace mlir;
using namespace mlir::pmc;

#include "pmc/Dialect/PMC/IR/PMCOpsDialect.cpp.inc"

void PMCDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "pmc/Dialect/PMC/IR/PMCOps.cpp.inc"
      >();
  registerAttributes();
  registerShardingRuleModels(getContext());
  registerCostModels(getContext());
  registerGradientModels(getContext());
}

Operation *PMCDialect::materializeConstant(OpBuilder &builder, Attribute value,
                                           Type type, Location loc) {
  auto elements = dyn_cast<ElementsAttr>(value);
  if (!elements || elements.getType() != type)
    return nullptr;
  return ConstantOp::create(builder, loc, elements);
}
