//===- RuntimeOps.cpp - verifiers of the rank program ops ----------------===//
#include "pmc/Dialect/Runtime/IR/RuntimeOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/STLExtras.h"

using namespace mlir;
using namespace mlir::pmcrt;

OutputsOp ProgramOp::getOutputs() {
  return cast<OutputsOp>(getBody().front().getTerminator());
}

LogicalResult OutputsOp::verify() {
  if (getPositions().size() != getValues().size())
    return emitOpError() << "has " << getValues().size() << " buffers but "
                         << getPositions().size() << " positions";
  llvm::SmallDenseSet<int64_t> seen;
  for (int64_t position : getPositions())
    if (position < 0 || !seen.insert(position).second)
      return emitOpError() << "lists output " << position
                           << " twice or as a negative position";
  return success();
}

LogicalResult WeightOp::verify() {
  auto global = cast<ShapedType>(getValue().getType());
  MemRefType local = getBuffer().getType();
  if (global.getElementType() != local.getElementType() ||
      global.getRank() != local.getRank())
    return emitOpError() << "holds " << global << " in a buffer " << local;
  if (mlir::pmc::ShardingAttr sharding = getShardingAttr()) {
    if (sharding.getRank() != global.getRank())
      return emitOpError() << "has sharding " << sharding << " for " << global;
    for (auto [g, l] : llvm::zip(global.getShape(), local.getShape()))
      if (l <= 0 ? g != l : g % l != 0)
        return emitOpError() << "buffer " << local << " is not a block of " << global;
    return success();
  }
  if (global.getShape() != local.getShape())
    return emitOpError() << "holds " << global << " in a buffer " << local;
  return success();
}

LogicalResult ViewOp::verify() {
  MemRefType from = getSource().getType(), to = getBuffer().getType();
  if (from.getElementType() != to.getElementType() ||
      from.getNumElements() != to.getNumElements())
    return emitOpError() << "views " << from << " as " << to << " (other size or dtype)";
  if (getSource().getDefiningOp<ViewOp>())
    return emitOpError("views a view: name the root buffer instead");
  return success();
}

LogicalResult MatmulOp::verify() {
  if (!llvm::is_contained({"none", "relu", "gelu", "gelu_tanh"}, getActivation()))
    return emitOpError() << "has activation '" << getActivation()
                         << "' (none, relu, gelu or gelu_tanh)";
  Type element = getC().getType().getElementType();
  for (Value operand : getOperands()) {
    auto type = cast<MemRefType>(operand.getType());
    if (type.getElementType() != element)
      return emitOpError("operands must have one element type");
    if (operand != getBias() && type.getRank() < 2)
      return emitOpError("a, b and c must have rank >= 2");
  }
  return success();
}

#define GET_OP_CLASSES
#include "pmc/Dialect/Runtime/IR/RuntimeOps.cpp.inc"
