//===- Indexing.cpp - arg reductions, pad, cumsum, gather_elements -> linalg ===//
//
// Ops whose bodies compute indices: ArgMax/ArgMin are reductions carrying a
// (value, index) pair; Pad, GatherElements read their input with tensor.extract
// at computed positions; CumSum/CumProd are reductions over a second copy of the axis
// masked to the elements before (or after) the output position.
//
#include "Common.h"

#include "pmc/Dialect/PMC/IR/PMCOps.h"

#include <limits>

using namespace mlir;
using namespace mlir::pmc;

/// The lowest (for a max) or highest (for a min) value of `kind`'s compute type.
static Value extremeValue(OpBuilder &b, Location loc, const ElementKind &kind,
                          bool lowest) {
  Type t = kind.compute;
  if (auto f = dyn_cast<FloatType>(t))
    return arith::ConstantOp::create(
        b, loc, b.getFloatAttr(f, lowest ? -std::numeric_limits<double>::infinity()
                                         : std::numeric_limits<double>::infinity()));
  unsigned width = t.getIntOrFloatBitWidth();
  APInt value;
  if (kind.isUnsigned || kind.isBool)
    value = lowest ? APInt::getMinValue(width) : APInt::getMaxValue(width);
  else
    value = lowest ? APInt::getSignedMinValue(width) : APInt::getSignedMaxValue(width);
  return arith::ConstantOp::create(b, loc, b.getIntegerAttr(t, value));
}

namespace {
/// ArgMax/ArgMin: one reduction generic with two accumulators, the best value
/// so far and its index. A strict comparison keeps the first index on ties,
/// a non-strict one the last; NaN counts as the extreme (numpy's argmax).
template <typename OpTy, bool isMax>
struct ArgReduceLowering : OpConversionPattern<OpTy> {
  using OpConversionPattern<OpTy>::OpConversionPattern;

  LogicalResult
  matchAndRewrite(OpTy op, typename OpTy::Adaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto inputType = cast<RankedTensorType>(op.getInput().getType());
    auto resultType = cast<RankedTensorType>(op.getType());
    int64_t axis = op.getAxis(), rank = inputType.getRank();
    if (axis < 0 || axis >= rank)
      return op.emitOpError() << "axis " << axis << " is out of range for rank " << rank;
    ElementKind kind = ElementKind::ofValue(op.getInput());
    bool last = op.getSelectLastIndex();
    SmallVector<bool> reduced(rank, false);
    reduced[axis] = true;
    SmallVector<int64_t> kept;
    for (int64_t d = 0; d < rank; ++d)
      if (d != axis)
        kept.push_back(inputType.getDimSize(d));
    Value values = filledTensor(rewriter, loc, kept, extremeValue(rewriter, loc, kind, isMax));
    Value indices = filledTensor(rewriter, loc, kept,
                                 scalarConstant(rewriter, loc, rewriter.getI64Type(), 0));
    MLIRContext *context = rewriter.getContext();
    AffineMap row = keptDimsMap(context, reduced);
    SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
    iterators[axis] = utils::IteratorType::reduction;
    auto generic = linalg::GenericOp::create(
        rewriter, loc, TypeRange{values.getType(), indices.getType()},
        ValueRange{adaptor.getInput()}, ValueRange{values, indices},
        ArrayRef<AffineMap>{rewriter.getMultiDimIdentityMap(rank), row, row}, iterators,
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value x = toCompute(b, l, args[0], kind), best = args[1];
          Value better;
          if (kind.isFloat) {
            using P = arith::CmpFPredicate;
            P strict = isMax ? P::OGT : P::OLT, loose = isMax ? P::OGE : P::OLE;
            better = arith::CmpFOp::create(b, l, last ? loose : strict, x, best);
            // A NaN wins once (the first NaN) and then stays.
            Value xNaN = arith::CmpFOp::create(b, l, P::UNO, x, x);
            Value bestNaN = arith::CmpFOp::create(b, l, P::UNO, best, best);
            Value takeNaN = arith::AndIOp::create(
                b, l, xNaN,
                arith::XOrIOp::create(b, l, bestNaN,
                                      arith::ConstantOp::create(b, l, b.getBoolAttr(true))));
            better = arith::OrIOp::create(b, l, better, takeNaN);
            better = arith::AndIOp::create(
                b, l, better,
                arith::XOrIOp::create(b, l, bestNaN,
                                      arith::ConstantOp::create(b, l, b.getBoolAttr(true))));
          } else {
            using P = arith::CmpIPredicate;
            bool u = kind.isUnsigned || kind.isBool;
            P strict = isMax ? (u ? P::ugt : P::sgt) : (u ? P::ult : P::slt);
            P loose = isMax ? (u ? P::uge : P::sge) : (u ? P::ule : P::sle);
            better = arith::CmpIOp::create(b, l, last ? loose : strict, x, best);
          }
          Value i = arith::IndexCastOp::create(b, l, b.getI64Type(),
                                               linalg::IndexOp::create(b, l, axis));
          // The first element always replaces the initial extreme value.
          Value first = arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, i,
                                              scalarConstant(b, l, b.getI64Type(), 0));
          better = arith::OrIOp::create(b, l, better, first);
          Value value = arith::SelectOp::create(b, l, better, x, best);
          Value index = arith::SelectOp::create(b, l, better, i, args[2]);
          linalg::YieldOp::create(b, l, ValueRange{value, index});
        });
    rewriter.replaceOp(op, reshapeTensor(rewriter, loc, generic.getResult(1), resultType));
    return success();
  }
};

/// Pad: every output element maps to an input position per dim; constant mode
/// selects the pad value outside the input, the other modes fold the position
/// back into range (reflect, edge, wrap).
struct PadLowering : OpConversionPattern<PadOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(PadOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto inputType = cast<RankedTensorType>(adaptor.getInput().getType());
    auto type = cast<RankedTensorType>(getTypeConverter()->convertType(op.getType()));
    int64_t rank = type.getRank();
    ArrayRef<int64_t> pads = op.getPads();
    StringRef mode = op.getMode();
    if ((int64_t)pads.size() != 2 * rank)
      return op.emitOpError() << "expected " << 2 * rank << " pads";
    Type element = type.getElementType();
    bool constantMode = mode == "constant";
    SmallVector<Value> inputs;
    SmallVector<AffineMap> maps;
    if (constantMode && adaptor.getValue()) {
      Value v = adaptor.getValue();
      auto vType = cast<RankedTensorType>(v.getType());
      inputs.push_back(v);
      SmallVector<AffineExpr> zeros(vType.getRank(),
                                    getAffineConstantExpr(0, rewriter.getContext()));
      maps.push_back(AffineMap::get(rank, 0, zeros, rewriter.getContext()));
    }
    Value input = adaptor.getInput();
    if (inputType.getNumElements() == 0) {
      // Nothing to read: a fill with the pad value.
      if (!constantMode && type.getNumElements() != 0)
        return op.emitOpError() << "mode '" << mode << "' cannot pad an empty input";
      Value result = buildMappedGeneric(
          rewriter, loc, type.getShape(), element, inputs, maps,
          [&](OpBuilder &b, Location l, ValueRange args) -> Value {
            return args.empty() ? scalarConstant(b, l, element, 0) : args[0];
          });
      rewriter.replaceOp(op, result);
      return success();
    }
    Value result = buildMappedGeneric(
        rewriter, loc, type.getShape(), element, inputs, maps,
        [&](OpBuilder &b, Location l, ValueRange args) -> Value {
          Value inside = arith::ConstantOp::create(b, l, b.getBoolAttr(true));
          SmallVector<Value> indices;
          for (int64_t d = 0; d < rank; ++d) {
            int64_t size = inputType.getDimSize(d);
            Value i = linalg::IndexOp::create(b, l, d);
            Value j = arith::SubIOp::create(b, l, i,
                                            arith::ConstantIndexOp::create(b, l, pads[d]));
            Value zero = arith::ConstantIndexOp::create(b, l, 0);
            Value n = arith::ConstantIndexOp::create(b, l, size);
            Value lastIndex = arith::ConstantIndexOp::create(b, l, size - 1);
            auto clamp = [&](Value v) -> Value {
              return arith::MaxSIOp::create(b, l, zero,
                                            arith::MinSIOp::create(b, l, v, lastIndex));
            };
            if (mode == "reflect" && size > 1) {
              // -j before the start, 2 (n - 1) - j after the end.
              Value neg = arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt, j, zero);
              j = arith::SelectOp::create(b, l, neg, arith::SubIOp::create(b, l, zero, j), j);
              Value twice = arith::ConstantIndexOp::create(b, l, 2 * (size - 1));
              Value past = arith::CmpIOp::create(b, l, arith::CmpIPredicate::sgt, j, lastIndex);
              j = arith::SelectOp::create(b, l, past, arith::SubIOp::create(b, l, twice, j), j);
              j = clamp(j);
            } else if (mode == "wrap") {
              Value r = arith::RemSIOp::create(b, l, j, n);
              Value neg = arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt, r, zero);
              j = arith::SelectOp::create(b, l, neg, arith::AddIOp::create(b, l, r, n), r);
            } else if (constantMode) {
              Value ge = arith::CmpIOp::create(b, l, arith::CmpIPredicate::sge, j, zero);
              Value lt = arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt, j, n);
              inside = arith::AndIOp::create(b, l, inside,
                                             arith::AndIOp::create(b, l, ge, lt));
              j = clamp(j);
            } else {
              j = clamp(j); // edge, and reflect of a size-1 dim
            }
            indices.push_back(j);
          }
          Value x = tensor::ExtractOp::create(b, l, input, indices);
          if (!constantMode)
            return x;
          Value pad = args.empty() ? scalarConstant(b, l, element, 0) : args[0];
          return arith::SelectOp::create(b, l, inside, x, pad);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// CumSum / CumProd: out[.., i, ..] = sum (product) over k of x[.., k, ..]
/// where k <= i (k < i when exclusive; k >= i / k > i when reversed). The axis
/// appears twice in the iteration space: as the output position and as a
/// reduction dim, which runs in order, so a product multiplies in the order of
/// a sequential loop.
template <typename OpTy, bool isProduct>
struct CumulativeLowering : OpConversionPattern<OpTy> {
  using OpConversionPattern<OpTy>::OpConversionPattern;

  LogicalResult
  matchAndRewrite(OpTy op, typename OpTy::Adaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto type =
        cast<RankedTensorType>(this->getTypeConverter()->convertType(op.getType()));
    int64_t rank = type.getRank(), axis = op.getAxis();
    if (axis < 0 || axis >= rank)
      return op.emitOpError() << "axis " << axis << " is out of range for rank " << rank;
    ElementKind kind = ElementKind::ofValue(op.getInput());
    MLIRContext *context = rewriter.getContext();
    // Iteration dims: d0..d(rank-1) (the output position), then k.
    SmallVector<AffineExpr> inExprs;
    for (int64_t d = 0; d < rank; ++d)
      inExprs.push_back(getAffineDimExpr(d == axis ? rank : d, context));
    AffineMap inMap = AffineMap::get(rank + 1, 0, inExprs, context);
    AffineMap outMap = AffineMap::getMultiDimIdentityMap(rank + 1, context).getMajorSubMap(rank);
    SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
    iterators.push_back(utils::IteratorType::reduction);
    Value init = filledTensor(rewriter, loc, type.getShape(),
                              scalarConstant(rewriter, loc, kind.compute, isProduct ? 1 : 0));
    bool exclusive = op.getExclusive(), reverse = op.getReverse();
    using P = arith::CmpIPredicate;
    P predicate = reverse ? (exclusive ? P::ugt : P::uge) : (exclusive ? P::ult : P::ule);
    Value sums =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{init.getType()}, ValueRange{adaptor.getInput()},
            ValueRange{init}, ArrayRef<AffineMap>{inMap, outMap}, iterators,
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value i = linalg::IndexOp::create(b, l, axis);
              Value k = linalg::IndexOp::create(b, l, rank);
              Value take = arith::CmpIOp::create(b, l, predicate, k, i);
              Value x = toCompute(b, l, args[0], kind);
              Value sum;
              if (isProduct)
                sum = kind.isFloat ? (Value)arith::MulFOp::create(b, l, args[1], x)
                                   : (Value)arith::MulIOp::create(b, l, args[1], x);
              else
                sum = kind.isFloat ? (Value)arith::AddFOp::create(b, l, args[1], x)
                                   : (Value)arith::AddIOp::create(b, l, args[1], x);
              linalg::YieldOp::create(b, l,
                                      arith::SelectOp::create(b, l, take, sum, args[1])
                                          .getResult());
            })
            .getResult(0);
    if (kind.compute != kind.storage) {
      AffineMap id = rewriter.getMultiDimIdentityMap(rank);
      sums = buildMappedGeneric(rewriter, loc, type.getShape(), kind.storage, sums, {id},
                                [&](OpBuilder &b, Location l, ValueRange args) {
                                  return toStorage(b, l, args[0], kind);
                                });
    }
    rewriter.replaceOp(op, sums);
    return success();
  }
};

/// GatherElements: a generic over the indices reading the data at the index
/// position with dim `axis` replaced by the (wrapped, clamped) index.
struct GatherElementsLowering : OpConversionPattern<GatherElementsOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(GatherElementsOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto type = cast<RankedTensorType>(getTypeConverter()->convertType(op.getType()));
    auto dataType = cast<RankedTensorType>(op.getData().getType());
    int64_t axis = op.getAxis(), rank = type.getRank();
    if (axis < 0 || axis >= rank)
      return op.emitOpError() << "axis " << axis << " is out of range for rank " << rank;
    int64_t axisSize = dataType.getDimSize(axis);
    Value data = adaptor.getData();
    if (type.getNumElements() == 0) {
      rewriter.replaceOp(op, emptyTensor(rewriter, loc, type.getShape(),
                                         type.getElementType()));
      return success();
    }
    Value result = buildMappedGeneric(
        rewriter, loc, type.getShape(), type.getElementType(), adaptor.getIndices(),
        {rewriter.getMultiDimIdentityMap(rank)},
        [&](OpBuilder &b, Location l, ValueRange args) -> Value {
          Value raw = arith::IndexCastOp::create(b, l, b.getIndexType(), args[0]);
          Value zero = arith::ConstantIndexOp::create(b, l, 0);
          Value size = arith::ConstantIndexOp::create(b, l, axisSize);
          Value last = arith::ConstantIndexOp::create(b, l, axisSize - 1);
          Value negative = arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt, raw, zero);
          Value wrapped = arith::SelectOp::create(
              b, l, negative, arith::AddIOp::create(b, l, raw, size), raw);
          // Out-of-range indices are clamped: a bad index cannot read outside.
          Value clamped = arith::MaxSIOp::create(
              b, l, zero, arith::MinSIOp::create(b, l, wrapped, last));
          SmallVector<Value> indices;
          for (int64_t d = 0; d < rank; ++d)
            indices.push_back(d == axis ? clamped : (Value)linalg::IndexOp::create(b, l, d));
          return tensor::ExtractOp::create(b, l, data, indices);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};
} // namespace

void mlir::pmc::populateIndexingPatterns(KernelTypeConverter &converter,
                                         RewritePatternSet &patterns) {
  patterns.add<ArgReduceLowering<ArgMaxOp, true>, ArgReduceLowering<ArgMinOp, false>,
               PadLowering, CumulativeLowering<CumSumOp, false>,
               CumulativeLowering<CumProdOp, true>, GatherElementsLowering>(
      converter, patterns.getContext());
}
