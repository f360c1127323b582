//===- Gradient.h - reverse-mode derivatives of pmc ops ---------*- C++ -*-===//
//
// GradientOpInterface (PMCGradientInterface.td): each differentiable op
// declares how the gradient of the loss flows from its results to its
// operands. The rules live in lib/Dialect/PMC/IR/Gradients.cpp; the autodiff
// pass (lib/Dialect/PMC/Transforms/Autodiff.cpp) composes them.
//
//===----------------------------------------------------------------------===//
#ifndef PMC_DIALECT_PMC_IR_GRADIENT_H
#define PMC_DIALECT_PMC_IR_GRADIENT_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "llvm/ADT/SmallVector.h"

#include "pmc/Dialect/PMC/IR/PMCGradientInterface.h.inc"

namespace mlir::pmc {

/// True for a ranked tensor of floats: the values gradients flow through.
inline bool isFloatTensor(Value v) {
  auto t = llvm::dyn_cast<RankedTensorType>(v.getType());
  return t && llvm::isa<FloatType>(t.getElementType());
}

/// Attaches the gradient rules to the pmc ops (called by the dialect).
void registerGradientModels(MLIRContext *context);

/// `gradient` (of a broadcast result) summed down to `type`'s shape, numpy's
/// broadcasting in reverse: leading dims and dims of size 1 in `type` are
/// reduced.
Value sumToShape(OpBuilder &b, Location loc, Value gradient, RankedTensorType type);

} // namespace mlir::pmc

#endif // PMC_DIALECT_PMC_IR_GRADIENT_H
