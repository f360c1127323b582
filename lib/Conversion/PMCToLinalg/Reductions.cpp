//===- Reductions.cpp - pmc reductions and normalizations -> linalg --------===//
//
// Reductions are `linalg.generic`s with reduction iterators accumulating in the
// compute type (f32 for f16/bf16). Softmax, LogSoftmax and LayerNorm are built
// from reductions and elementwise generics; statistics are kept in f32 (f64
// for f64 inputs).
//
#include "Common.h"

#include "pmc/Dialect/PMC/IR/PMCOps.h"

#include <limits>

using namespace mlir;
using namespace mlir::pmc;

namespace {
enum class Combine { Sum, Prod, Max, Min };
} // namespace

/// The identity of `combine` on `kind`'s compute type.
static Value identity(OpBuilder &b, Location loc, Combine combine,
                      const ElementKind &kind) {
  Type t = kind.compute;
  if (combine == Combine::Sum)
    return scalarConstant(b, loc, t, 0);
  if (combine == Combine::Prod)
    return scalarConstant(b, loc, t, 1);
  bool max = combine == Combine::Max;
  if (auto f = dyn_cast<FloatType>(t))
    return arith::ConstantOp::create(
        b, loc, b.getFloatAttr(f, max ? -std::numeric_limits<double>::infinity()
                                      : std::numeric_limits<double>::infinity()));
  unsigned width = t.getIntOrFloatBitWidth();
  APInt value;
  if (kind.isUnsigned || kind.isBool)
    value = max ? APInt::getMinValue(width) : APInt::getMaxValue(width);
  else
    value = max ? APInt::getSignedMinValue(width) : APInt::getSignedMaxValue(width);
  return arith::ConstantOp::create(b, loc, b.getIntegerAttr(t, value));
}

static Value combineScalars(OpBuilder &b, Location loc, Combine combine,
                            const ElementKind &kind, Value acc, Value x) {
  bool isUnsigned = kind.isUnsigned || kind.isBool;
  if (kind.isFloat) {
    switch (combine) {
    case Combine::Sum: return arith::AddFOp::create(b, loc, acc, x);
    case Combine::Prod: return arith::MulFOp::create(b, loc, acc, x);
    case Combine::Max: return arith::MaximumFOp::create(b, loc, acc, x);
    case Combine::Min: return arith::MinimumFOp::create(b, loc, acc, x);
    }
  }
  switch (combine) {
  case Combine::Sum: return arith::AddIOp::create(b, loc, acc, x);
  case Combine::Prod: return arith::MulIOp::create(b, loc, acc, x);
  case Combine::Max:
    return isUnsigned ? (Value)arith::MaxUIOp::create(b, loc, acc, x)
                      : (Value)arith::MaxSIOp::create(b, loc, acc, x);
  case Combine::Min:
    return isUnsigned ? (Value)arith::MinUIOp::create(b, loc, acc, x)
                      : (Value)arith::MinSIOp::create(b, loc, acc, x);
  }
  llvm_unreachable("unknown combine");
}

namespace {
template <typename OpTy, Combine combine, bool mean = false>
struct ReduceLowering : OpConversionPattern<OpTy> {
  using OpConversionPattern<OpTy>::OpConversionPattern;

  LogicalResult
  matchAndRewrite(OpTy op, typename OpTy::Adaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto inputType = cast<RankedTensorType>(op.getInput().getType());
    auto resultType = cast<RankedTensorType>(
        this->getTypeConverter()->convertType(op.getType()));
    ElementKind kind = ElementKind::ofValue(op.getInput());
    if (mean && kind.isBool)
      return op.emitOpError("cannot average a bool tensor");
    SmallVector<bool> reduced(inputType.getRank(), false);
    int64_t count = 1;
    for (int64_t axis : op.getAxes()) {
      if (axis < 0 || axis >= inputType.getRank())
        return op.emitOpError() << "axis " << axis << " is out of range for rank "
                                << inputType.getRank();
      reduced[axis] = true;
      count *= inputType.getDimSize(axis);
    }
    if (op.getAxes().empty()) {
      rewriter.replaceOp(op, adaptor.getInput());
      return success();
    }
    Value init = identity(rewriter, loc, combine, kind);
    Value acc = buildReduction(
        rewriter, loc, adaptor.getInput(), reduced, init,
        [&](OpBuilder &b, Location l, ValueRange args) {
          return combineScalars(b, l, combine, kind, args[1],
                                toCompute(b, l, args[0], kind));
        });
    auto accType = cast<RankedTensorType>(acc.getType());
    if (mean || kind.compute != kind.storage) {
      AffineMap id = rewriter.getMultiDimIdentityMap(accType.getRank());
      acc = buildMappedGeneric(
          rewriter, loc, accType.getShape(), kind.storage, acc, {id},
          [&](OpBuilder &b, Location l, ValueRange args) -> Value {
            Value v = args[0];
            if (mean) {
              Value n = scalarConstant(b, l, kind.compute, (double)count);
              if (kind.isFloat)
                v = arith::DivFOp::create(b, l, v, n);
              else if (kind.isUnsigned)
                v = arith::DivUIOp::create(b, l, v, n);
              else
                v = arith::DivSIOp::create(b, l, v, n);
            }
            return toStorage(b, l, v, kind);
          });
    }
    rewriter.replaceOp(op, reshapeTensor(rewriter, loc, acc, resultType));
    return success();
  }
};

template <typename OpTy, bool isLog>
struct SoftmaxLowering : OpConversionPattern<OpTy> {
  using OpConversionPattern<OpTy>::OpConversionPattern;

  LogicalResult
  matchAndRewrite(OpTy op, typename OpTy::Adaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto type = cast<RankedTensorType>(op.getType());
    ElementKind kind = ElementKind::ofValue(op.getInput());
    Value x = adaptor.getInput();
    int64_t rank = type.getRank();
    SmallVector<bool> reduced(rank, false);
    reduced[op.getAxis()] = true;
    MLIRContext *context = rewriter.getContext();
    AffineMap id = rewriter.getMultiDimIdentityMap(rank);
    AffineMap row = keptDimsMap(context, reduced);

    // max over the axis, for stability.
    Value max = buildReduction(
        rewriter, loc, x, reduced, identity(rewriter, loc, Combine::Max, kind),
        [&](OpBuilder &b, Location l, ValueRange args) -> Value {
          return arith::MaximumFOp::create(b, l, args[1], toCompute(b, l, args[0], kind));
        });
    // exp(x - max), in the compute type.
    Value exps = buildMappedGeneric(
        rewriter, loc, type.getShape(), kind.compute, {x, max}, {id, row},
        [&](OpBuilder &b, Location l, ValueRange args) -> Value {
          Value d = arith::SubFOp::create(b, l, toCompute(b, l, args[0], kind), args[1]);
          return math::ExpOp::create(b, l, d);
        });
    Value sum = buildReduction(
        rewriter, loc, exps, reduced, scalarConstant(rewriter, loc, kind.compute, 0),
        [&](OpBuilder &b, Location l, ValueRange args) -> Value {
          return arith::AddFOp::create(b, l, args[1], args[0]);
        });
    Value result;
    if (isLog) {
      result = buildMappedGeneric(
          rewriter, loc, type.getShape(), kind.storage, {x, max, sum}, {id, row, row},
          [&](OpBuilder &b, Location l, ValueRange args) -> Value {
            Value d = arith::SubFOp::create(b, l, toCompute(b, l, args[0], kind), args[1]);
            Value r = arith::SubFOp::create(b, l, d, math::LogOp::create(b, l, args[2]));
            return toStorage(b, l, r, kind);
          });
    } else {
      result = buildMappedGeneric(
          rewriter, loc, type.getShape(), kind.storage, {exps, sum}, {id, row},
          [&](OpBuilder &b, Location l, ValueRange args) -> Value {
            return toStorage(b, l, arith::DivFOp::create(b, l, args[0], args[1]), kind);
          });
    }
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct LayerNormLowering : OpConversionPattern<LayerNormOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(LayerNormOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto type = cast<RankedTensorType>(op.getInput().getType());
    int64_t rank = type.getRank(), axis = op.getAxis();
    ElementKind xKind = ElementKind::ofValue(op.getInput());
    ElementKind statKind = ElementKind::ofValue(op.getMean());
    // Statistics in f32, or f64 when either side is f64.
    Type statType = (xKind.storage.isF64() || statKind.storage.isF64())
                        ? (Type)rewriter.getF64Type()
                        : (Type)rewriter.getF32Type();
    ElementKind sKind = ElementKind::of(statType);
    SmallVector<bool> reduced(rank, false);
    int64_t count = 1;
    for (int64_t d = axis; d < rank; ++d) {
      reduced[d] = true;
      count *= type.getDimSize(d);
    }
    MLIRContext *context = rewriter.getContext();
    AffineMap id = rewriter.getMultiDimIdentityMap(rank);
    AffineMap row = keptDimsMap(context, reduced);
    SmallVector<int64_t> rowShape(type.getShape().take_front(axis));
    AffineMap rowId = rewriter.getMultiDimIdentityMap(axis);
    Value x = adaptor.getInput();
    Value zero = scalarConstant(rewriter, loc, statType, 0);
    auto toStat = [&](OpBuilder &b, Location l, Value v, const ElementKind &k) {
      return castScalar(b, l, v, k, sKind);
    };

    Value sum = buildReduction(rewriter, loc, x, reduced, zero,
                               [&](OpBuilder &b, Location l, ValueRange args) -> Value {
                                 return arith::AddFOp::create(
                                     b, l, args[1], toStat(b, l, args[0], xKind));
                               });
    Value n = scalarConstant(rewriter, loc, statType, (double)count);
    Value mean = buildMappedGeneric(rewriter, loc, rowShape, statType, sum, {rowId},
                                    [&](OpBuilder &b, Location l, ValueRange args) -> Value {
                                      return arith::DivFOp::create(b, l, args[0], n);
                                    });
    // Sum of squared deviations: a reduction reading x and the row mean.
    Value accInit = filledTensor(rewriter, loc, rowShape, zero);
    SmallVector<utils::IteratorType> iterators;
    for (bool r : reduced)
      iterators.push_back(r ? utils::IteratorType::reduction
                            : utils::IteratorType::parallel);
    Value squares =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{accInit.getType()}, ValueRange{x, mean},
            ValueRange{accInit}, ArrayRef<AffineMap>{id, row, row}, iterators,
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value d = arith::SubFOp::create(b, l, toStat(b, l, args[0], xKind), args[1]);
              Value s = arith::AddFOp::create(b, l, args[2],
                                              arith::MulFOp::create(b, l, d, d));
              linalg::YieldOp::create(b, l, s);
            })
            .getResult(0);
    Value eps = scalarConstant(rewriter, loc, statType,
                               op.getEpsilon().convertToDouble());
    Value invStd = buildMappedGeneric(
        rewriter, loc, rowShape, statType, squares, {rowId},
        [&](OpBuilder &b, Location l, ValueRange args) -> Value {
          Value var = arith::DivFOp::create(b, l, args[0], n);
          return math::RsqrtOp::create(b, l, arith::AddFOp::create(b, l, var, eps));
        });

    SmallVector<Value> inputs = {x, mean, invStd, adaptor.getScale()};
    SmallVector<AffineMap> maps = {id, row, row};
    auto paramMap = [&](Value pmcValue) {
      return broadcastMap(context,
                          cast<RankedTensorType>(pmcValue.getType()).getShape(),
                          type.getShape());
    };
    maps.push_back(paramMap(op.getScale()));
    ElementKind scaleKind = ElementKind::ofValue(op.getScale());
    ElementKind biasKind = scaleKind;
    if (op.getBias()) {
      inputs.push_back(adaptor.getBias());
      maps.push_back(paramMap(op.getBias()));
      biasKind = ElementKind::ofValue(op.getBias());
    }
    Value y = buildMappedGeneric(
        rewriter, loc, type.getShape(), xKind.storage, inputs, maps,
        [&](OpBuilder &b, Location l, ValueRange args) -> Value {
          Value d = arith::SubFOp::create(b, l, toStat(b, l, args[0], xKind), args[1]);
          Value v = arith::MulFOp::create(b, l, d, args[2]);
          v = arith::MulFOp::create(b, l, v, toStat(b, l, args[3], scaleKind));
          if (args.size() > 4)
            v = arith::AddFOp::create(b, l, v, toStat(b, l, args[4], biasKind));
          return castScalar(b, l, v, sKind, xKind);
        });

    auto finishStat = [&](Value stat, Value pmcResult) -> Value {
      ElementKind k = ElementKind::ofValue(pmcResult);
      if (k.storage != statType)
        stat = buildMappedGeneric(rewriter, loc, rowShape, k.storage, stat, {rowId},
                                  [&](OpBuilder &b, Location l, ValueRange args) {
                                    return castScalar(b, l, args[0], sKind, k);
                                  });
      return reshapeTensor(rewriter, loc, stat,
                           cast<RankedTensorType>(pmcResult.getType()));
    };
    rewriter.replaceOp(op, {y, finishStat(mean, op.getMean()),
                            finishStat(invStd, op.getInvStdDev())});
    return success();
  }
};
} // namespace

void mlir::pmc::populateReductionPatterns(KernelTypeConverter &converter,
                                          RewritePatternSet &patterns) {
  MLIRContext *context = patterns.getContext();
  patterns.add<ReduceLowering<ReduceSumOp, Combine::Sum>,
               ReduceLowering<ReduceMeanOp, Combine::Sum, /*mean=*/true>,
               ReduceLowering<ReduceMaxOp, Combine::Max>,
               ReduceLowering<ReduceMinOp, Combine::Min>,
               ReduceLowering<ReduceProdOp, Combine::Prod>,
               SoftmaxLowering<SoftmaxOp, false>, SoftmaxLowering<LogSoftmaxOp, true>,
               LayerNormLowering>(converter, context);
}
