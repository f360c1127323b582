//===- Common.cpp - shared helpers of the pmc -> linalg patterns -----------===//
#include "Common.h"

#include "mlir/Dialect/Utils/ReshapeOpsUtils.h"

using namespace mlir;
using namespace mlir::pmc;

static Type signless(Type t) {
  if (auto integer = dyn_cast<IntegerType>(t))
    if (!integer.isSignless())
      return IntegerType::get(t.getContext(), integer.getWidth());
  return t;
}

KernelTypeConverter::KernelTypeConverter() {
  addConversion([](Type t) { return t; });
  addConversion([](IntegerType t) -> Type { return signless(t); });
  addConversion([](RankedTensorType t) -> Type {
    return t.clone(signless(t.getElementType()));
  });
}

ElementKind ElementKind::of(Type pmcType) {
  ElementKind kind;
  kind.type = pmcType;
  kind.storage = signless(pmcType);
  kind.compute = kind.storage;
  kind.isFloat = isa<FloatType>(pmcType);
  if (pmcType.isF16() || pmcType.isBF16())
    kind.compute = Float32Type::get(pmcType.getContext());
  if (auto integer = dyn_cast<IntegerType>(pmcType)) {
    kind.isUnsigned = integer.isUnsigned();
    kind.isBool = integer.getWidth() == 1;
  }
  return kind;
}

ElementKind ElementKind::ofValue(Value pmcValue) {
  return of(cast<ShapedType>(pmcValue.getType()).getElementType());
}

Value mlir::pmc::toCompute(OpBuilder &b, Location loc, Value v,
                           const ElementKind &kind) {
  if (kind.compute == kind.storage)
    return v;
  return arith::ExtFOp::create(b, loc, kind.compute, v);
}

Value mlir::pmc::toStorage(OpBuilder &b, Location loc, Value v,
                           const ElementKind &kind) {
  if (v.getType() == kind.storage)
    return v;
  return arith::TruncFOp::create(b, loc, kind.storage, v);
}

Value mlir::pmc::scalarConstant(OpBuilder &b, Location loc, Type type,
                                double value) {
  if (auto f = dyn_cast<FloatType>(type))
    return arith::ConstantOp::create(b, loc, b.getFloatAttr(f, value));
  return arith::ConstantOp::create(b, loc,
                                   b.getIntegerAttr(type, (int64_t)value));
}

Value mlir::pmc::castScalar(OpBuilder &b, Location loc, Value v,
                            const ElementKind &from, const ElementKind &to) {
  if (from.type == to.type)
    return v;
  Type dst = to.storage;
  if (from.isFloat) {
    if (to.isBool) {
      Value zero = scalarConstant(b, loc, from.storage, 0.0);
      // NaN != 0 is true, as in numpy.
      return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNE, v, zero);
    }
    if (to.isFloat) {
      unsigned fw = from.storage.getIntOrFloatBitWidth();
      unsigned tw = dst.getIntOrFloatBitWidth();
      if (fw < tw)
        return arith::ExtFOp::create(b, loc, dst, v);
      if (fw > tw)
        return arith::TruncFOp::create(b, loc, dst, v);
      // f16 <-> bf16: through f32.
      Value wide = arith::ExtFOp::create(b, loc, b.getF32Type(), v);
      return arith::TruncFOp::create(b, loc, dst, wide);
    }
    Value wide = toCompute(b, loc, v, from);
    if (to.isUnsigned)
      return arith::FPToUIOp::create(b, loc, dst, wide);
    return arith::FPToSIOp::create(b, loc, dst, wide);
  }
  // Integer or bool source.
  bool srcUnsigned = from.isUnsigned || from.isBool;
  if (to.isBool) {
    Value zero = scalarConstant(b, loc, from.storage, 0);
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, v, zero);
  }
  if (to.isFloat) {
    if (srcUnsigned)
      return arith::UIToFPOp::create(b, loc, dst, v);
    return arith::SIToFPOp::create(b, loc, dst, v);
  }
  unsigned fw = from.storage.getIntOrFloatBitWidth();
  unsigned tw = dst.getIntOrFloatBitWidth();
  if (fw == tw)
    return v;
  if (fw > tw)
    return arith::TruncIOp::create(b, loc, dst, v);
  if (srcUnsigned)
    return arith::ExtUIOp::create(b, loc, dst, v);
  return arith::ExtSIOp::create(b, loc, dst, v);
}

AffineMap mlir::pmc::broadcastMap(MLIRContext *context,
                                  ArrayRef<int64_t> operandShape,
                                  ArrayRef<int64_t> resultShape) {
  int64_t rank = resultShape.size();
  int64_t offset = rank - (int64_t)operandShape.size();
  SmallVector<AffineExpr> exprs;
  for (int64_t i = 0, e = operandShape.size(); i < e; ++i) {
    if (operandShape[i] == 1 && resultShape[offset + i] != 1)
      exprs.push_back(getAffineConstantExpr(0, context));
    else
      exprs.push_back(getAffineDimExpr(offset + i, context));
  }
  return AffineMap::get(rank, 0, exprs, context);
}

Value mlir::pmc::emptyTensor(OpBuilder &b, Location loc, ArrayRef<int64_t> shape,
                             Type element) {
  return tensor::EmptyOp::create(b, loc, shape, element);
}

Value mlir::pmc::filledTensor(OpBuilder &b, Location loc, ArrayRef<int64_t> shape,
                              Value scalar) {
  Value empty = emptyTensor(b, loc, shape, scalar.getType());
  return linalg::FillOp::create(b, loc, scalar, empty).getResult(0);
}

Value mlir::pmc::buildElementwise(OpBuilder &b, Location loc,
                                  RankedTensorType resultType, ValueRange operands,
                                  const ScalarFn &body) {
  MLIRContext *context = b.getContext();
  ArrayRef<int64_t> shape = resultType.getShape();
  SmallVector<AffineMap> maps;
  for (Value operand : operands)
    maps.push_back(broadcastMap(
        context, cast<RankedTensorType>(operand.getType()).getShape(), shape));
  maps.push_back(b.getMultiDimIdentityMap(shape.size()));
  SmallVector<utils::IteratorType> iterators(shape.size(),
                                             utils::IteratorType::parallel);
  Value init = emptyTensor(b, loc, shape, resultType.getElementType());
  auto generic = linalg::GenericOp::create(
      b, loc, TypeRange{resultType}, operands, ValueRange{init}, maps, iterators,
      [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
        Value result = body(nested, nestedLoc, args.drop_back());
        linalg::YieldOp::create(nested, nestedLoc, result);
      });
  return generic.getResult(0);
}

Value mlir::pmc::reshapeTensor(OpBuilder &b, Location loc, Value input,
                               RankedTensorType to) {
  auto from = cast<RankedTensorType>(input.getType());
  if (from.getShape() == to.getShape())
    return input;
  Type element = from.getElementType();
  Value flat = input;
  int64_t count = from.getNumElements();
  auto flatType = RankedTensorType::get({count}, element);
  if (from.getRank() == 0) {
    flat = tensor::ExpandShapeOp::create(b, loc, flatType, input,
                                         ArrayRef<ReassociationIndices>{});
  } else if (from.getRank() > 1) {
    ReassociationIndices all;
    for (int64_t i = 0; i < from.getRank(); ++i)
      all.push_back(i);
    flat = tensor::CollapseShapeOp::create(b, loc, flatType, input,
                                           ArrayRef<ReassociationIndices>{all});
  }
  if (to.getRank() == 0)
    return tensor::CollapseShapeOp::create(b, loc, to, flat,
                                           ArrayRef<ReassociationIndices>{});
  if (to.getRank() == 1)
    return flat;
  ReassociationIndices all;
  for (int64_t i = 0; i < to.getRank(); ++i)
    all.push_back(i);
  return tensor::ExpandShapeOp::create(b, loc, to, flat,
                                       ArrayRef<ReassociationIndices>{all});
}

Value mlir::pmc::buildMappedGeneric(OpBuilder &b, Location loc,
                                    ArrayRef<int64_t> shape, Type element,
                                    ValueRange inputs, ArrayRef<AffineMap> inputMaps,
                                    const ScalarFn &body) {
  SmallVector<AffineMap> maps(inputMaps);
  maps.push_back(b.getMultiDimIdentityMap(shape.size()));
  SmallVector<utils::IteratorType> iterators(shape.size(),
                                             utils::IteratorType::parallel);
  Value init = emptyTensor(b, loc, shape, element);
  auto type = RankedTensorType::get(shape, element);
  return linalg::GenericOp::create(
             b, loc, TypeRange{type}, inputs, ValueRange{init}, maps, iterators,
             [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
               linalg::YieldOp::create(nested, nestedLoc,
                                       body(nested, nestedLoc, args.drop_back()));
             })
      .getResult(0);
}

AffineMap mlir::pmc::keptDimsMap(MLIRContext *context, ArrayRef<bool> dropped) {
  SmallVector<AffineExpr> exprs;
  for (auto [i, drop] : llvm::enumerate(dropped))
    if (!drop)
      exprs.push_back(getAffineDimExpr(i, context));
  return AffineMap::get(dropped.size(), 0, exprs, context);
}

Value mlir::pmc::buildReduction(OpBuilder &b, Location loc, Value input,
                                ArrayRef<bool> reduced, Value init,
                                const ScalarFn &combine) {
  auto type = cast<RankedTensorType>(input.getType());
  SmallVector<int64_t> kept;
  SmallVector<utils::IteratorType> iterators;
  for (auto [i, r] : llvm::enumerate(reduced)) {
    if (!r)
      kept.push_back(type.getDimSize(i));
    iterators.push_back(r ? utils::IteratorType::reduction
                          : utils::IteratorType::parallel);
  }
  Value acc = filledTensor(b, loc, kept, init);
  MLIRContext *context = b.getContext();
  SmallVector<AffineMap> maps = {b.getMultiDimIdentityMap(type.getRank()),
                                 keptDimsMap(context, reduced)};
  return linalg::GenericOp::create(
             b, loc, TypeRange{acc.getType()}, ValueRange{input}, ValueRange{acc},
             maps, iterators,
             [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
               linalg::YieldOp::create(nested, nestedLoc,
                                       combine(nested, nestedLoc, args));
             })
      .getResult(0);
}
