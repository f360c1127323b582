//===- PMCOps.h - pmc operators ---------------------------------*- C++ -*-===//
#ifndef PMC_DIALECT_PMC_IR_PMCOPS_H
#define PMC_DIALECT_PMC_IR_PMCOPS_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "pmc/Dialect/PMC/IR/PMCAttrs.h"
#include "pmc/Dialect/PMC/IR/PMCDialect.h"
#include "pmc/Dialect/PMC/IR/ShardingRule.h"
#include "pmc/Dialect/PMC/IR/PMCInterfaces.h.inc"

namespace mlir::pmc {

/// PMC_KeepsF32 (PMCInterfaces.td): the op computes in f32 under any --dtype.
template <typename ConcreteType>
class KeepsF32 : public ::mlir::OpTrait::TraitBase<ConcreteType, KeepsF32> {};

/// opFlops: the op's CostOpInterface formula, or one FLOP per element of
/// its first result for ops without one.
double opFlops(Operation *op, ArrayRef<SmallVector<int64_t>> operandShapes,
               ArrayRef<SmallVector<int64_t>> resultShapes);
/// opFlops on the op's own (static) types; dynamic dimensions count as 1.
double opFlops(Operation *op);
/// Attaches the CostOpInterface models (OpCosts.cpp); the dialect does.
void registerCostModels(MLIRContext *context);

/// Infers the numpy-broadcast shape of `operands` with element type
/// `elementType`; fails (with a message at `loc`) when two dimensions differ and
/// neither is 1.
LogicalResult inferBroadcastType(std::optional<Location> loc, TypeRange operands,
                                 Type elementType,
                                 SmallVectorImpl<Type> &inferredReturnTypes);

/// The numpy-broadcast shape of two static shapes, or failure.
FailureOr<SmallVector<int64_t>> broadcastShapes(ArrayRef<int64_t> lhs,
                                                ArrayRef<int64_t> rhs);

/// Fails with "axis N is out of range for rank R" unless 0 <= axis < rank.
LogicalResult verifyAxisInRange(Operation *op, int64_t axis, int64_t rank);

} // namespace mlir::pmc

#define GET_OP_CLASSES
#include "pmc/Dialect/PMC/IR/PMCOps.h.inc"

#endif // PMC_DIALECT_PMC_IR_PMCOPS_H
