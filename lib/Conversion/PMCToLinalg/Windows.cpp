//===- Windows.cpp - pmc pooling and contractions -> linalg.generic --------===//
//
// Pooling is a generic over the output dims (parallel) and the window dims
// (reduction) that reads the input with tensor.extract at computed positions;
// padding is a select. MatMul of types the runtime's BLAS does not take is a
// generic contraction with numpy batch broadcasting.
//
#include "Common.h"

#include "pmc/Dialect/PMC/IR/PMCOps.h"
#include "pmc/Dialect/PMC/IR/PoolWindows.h"

#include <limits>

using namespace mlir;
using namespace mlir::pmc;

namespace {
/// Shared lowering of max_pool and avg_pool.
template <typename OpTy, bool isMax>
struct PoolLowering : OpConversionPattern<OpTy> {
  using OpConversionPattern<OpTy>::OpConversionPattern;

  LogicalResult
  matchAndRewrite(OpTy op, typename OpTy::Adaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto inputType = cast<RankedTensorType>(op.getInput().getType());
    auto outputType = cast<RankedTensorType>(op.getType());
    ElementKind kind = ElementKind::ofValue(op.getInput());
    int64_t rank = inputType.getRank(), k = rank - 2;
    ArrayRef<int64_t> kernel = op.getKernelShape(), strides = op.getStrides(),
                      pads = op.getPads(), dilations = op.getDilations();
    if (k < 1 || (int64_t)kernel.size() != k || (int64_t)strides.size() != k ||
        (int64_t)dilations.size() != k || (int64_t)pads.size() != 2 * k)
      return op.emitOpError("needs an N, C, spatial... input and one kernel "
                            "size, stride, dilation and two pads per spatial dim");
    if (!isMax && !kind.isFloat)
      return op.emitOpError("average pooling needs a float input");
    MLIRContext *context = rewriter.getContext();
    ArrayRef<int64_t> outShape = outputType.getShape();
    int64_t loops = rank + k;

    // Output dims, then window dims (read through a shape-only window operand).
    Value window = emptyTensor(rewriter, loc, kernel, kind.storage);
    SmallVector<AffineExpr> windowExprs, outExprs;
    for (int64_t i = 0; i < k; ++i)
      windowExprs.push_back(getAffineDimExpr(rank + i, context));
    for (int64_t i = 0; i < rank; ++i)
      outExprs.push_back(getAffineDimExpr(i, context));
    SmallVector<AffineMap> maps = {AffineMap::get(loops, 0, windowExprs, context),
                                   AffineMap::get(loops, 0, outExprs, context)};
    SmallVector<utils::IteratorType> iterators(rank, utils::IteratorType::parallel);
    iterators.append(k, utils::IteratorType::reduction);

    Value init;
    if (isMax) {
      Type t = kind.compute;
      if (auto f = dyn_cast<FloatType>(t))
        init = arith::ConstantOp::create(
            rewriter, loc,
            rewriter.getFloatAttr(f, -std::numeric_limits<double>::infinity()));
      else
        init = arith::ConstantOp::create(
            rewriter, loc,
            rewriter.getIntegerAttr(
                t, kind.isUnsigned || kind.isBool
                       ? APInt::getMinValue(t.getIntOrFloatBitWidth())
                       : APInt::getSignedMinValue(t.getIntOrFloatBitWidth())));
    } else {
      init = scalarConstant(rewriter, loc, kind.compute, 0);
    }
    Value acc = filledTensor(rewriter, loc, outShape, init);
    Value input = adaptor.getInput();
    Value pooled =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{acc.getType()}, ValueRange{window},
            ValueRange{acc}, maps, iterators,
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value valid = arith::ConstantOp::create(b, l, b.getBoolAttr(true));
              SmallVector<Value> indices = {linalg::IndexOp::create(b, l, 0),
                                            linalg::IndexOp::create(b, l, 1)};
              Value zero = arith::ConstantIndexOp::create(b, l, 0);
              for (int64_t i = 0; i < k; ++i) {
                Value o = linalg::IndexOp::create(b, l, 2 + i);
                Value w = linalg::IndexOp::create(b, l, rank + i);
                int64_t size = inputType.getDimSize(2 + i);
                Value pos = arith::AddIOp::create(
                    b, l,
                    arith::MulIOp::create(b, l, o,
                                          arith::ConstantIndexOp::create(b, l, strides[i])),
                    arith::MulIOp::create(
                        b, l, w, arith::ConstantIndexOp::create(b, l, dilations[i])));
                pos = arith::SubIOp::create(b, l, pos,
                                            arith::ConstantIndexOp::create(b, l, pads[i]));
                Value last = arith::ConstantIndexOp::create(b, l, size - 1);
                Value inside = arith::AndIOp::create(
                    b, l,
                    arith::CmpIOp::create(b, l, arith::CmpIPredicate::sge, pos, zero),
                    arith::CmpIOp::create(b, l, arith::CmpIPredicate::sle, pos, last));
                valid = arith::AndIOp::create(b, l, valid, inside);
                indices.push_back(arith::MaxSIOp::create(
                    b, l, zero, arith::MinSIOp::create(b, l, pos, last)));
              }
              Value v = toCompute(b, l, tensor::ExtractOp::create(b, l, input, indices),
                                  kind);
              Value result;
              if (isMax) {
                v = arith::SelectOp::create(b, l, valid, v, init);
                result = kind.isFloat
                             ? (Value)arith::MaximumFOp::create(b, l, args[1], v)
                             : (kind.isUnsigned || kind.isBool)
                                   ? (Value)arith::MaxUIOp::create(b, l, args[1], v)
                                   : (Value)arith::MaxSIOp::create(b, l, args[1], v);
              } else {
                v = arith::SelectOp::create(b, l, valid, v, init);
                result = arith::AddFOp::create(b, l, args[1], v);
              }
              linalg::YieldOp::create(b, l, result);
            })
            .getResult(0);

    AffineMap id = rewriter.getMultiDimIdentityMap(rank);
    if (isMax) {
      if (kind.compute != kind.storage)
        pooled = buildMappedGeneric(rewriter, loc, outShape, kind.storage, pooled, {id},
                                    [&](OpBuilder &b, Location l, ValueRange args) {
                                      return toStorage(b, l, args[0], kind);
                                    });
      rewriter.replaceOp(op, pooled);
      return success();
    }
    // The divisor of each output position is known at compile time.
    SmallVector<double> divisors;
    if constexpr (!isMax)
      divisors = avgPoolDivisors(op);
    SmallVector<int64_t> spatial(outShape.drop_front(2));
    auto divisorType = RankedTensorType::get(spatial, kind.compute);
    DenseElementsAttr divisorAttr;
    if (kind.compute.isF64())
      divisorAttr = DenseElementsAttr::get(divisorType, ArrayRef<double>(divisors));
    else
      divisorAttr = DenseElementsAttr::get(
          divisorType,
          ArrayRef<float>(SmallVector<float>(divisors.begin(), divisors.end())));
    Value divisor = arith::ConstantOp::create(rewriter, loc, divisorAttr);
    SmallVector<AffineExpr> spatialExprs;
    for (int64_t i = 0; i < k; ++i)
      spatialExprs.push_back(getAffineDimExpr(2 + i, context));
    AffineMap spatialMap = AffineMap::get(rank, 0, spatialExprs, context);
    Value result = buildMappedGeneric(
        rewriter, loc, outShape, kind.storage, {pooled, divisor}, {id, spatialMap},
        [&](OpBuilder &b, Location l, ValueRange args) {
          return toStorage(b, l, arith::DivFOp::create(b, l, args[0], args[1]), kind);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// A matmul of a type the runtime's BLAS does not take (f16, bf16, integers).
struct MatMulLowering : OpConversionPattern<MatMulOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(MatMulOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto lhsType = cast<RankedTensorType>(op.getLhs().getType());
    auto rhsType = cast<RankedTensorType>(op.getRhs().getType());
    auto outType = cast<RankedTensorType>(op.getType());
    ElementKind kind = ElementKind::ofValue(op.getLhs());
    MLIRContext *context = rewriter.getContext();
    int64_t outRank = outType.getRank(), batch = outRank - 2;
    int64_t loops = outRank + 1;
    AffineExpr m = getAffineDimExpr(batch, context),
               n = getAffineDimExpr(batch + 1, context),
               kd = getAffineDimExpr(batch + 2, context);
    auto operandMap = [&](RankedTensorType t, AffineExpr row, AffineExpr col,
                          bool transpose) {
      SmallVector<AffineExpr> exprs;
      int64_t b = t.getRank() - 2, offset = batch - b;
      for (int64_t i = 0; i < b; ++i) {
        if (t.getDimSize(i) == 1 && outType.getDimSize(offset + i) != 1)
          exprs.push_back(getAffineConstantExpr(0, context));
        else
          exprs.push_back(getAffineDimExpr(offset + i, context));
      }
      exprs.push_back(transpose ? col : row);
      exprs.push_back(transpose ? row : col);
      return AffineMap::get(loops, 0, exprs, context);
    };
    SmallVector<AffineExpr> outExprs;
    for (int64_t i = 0; i < outRank; ++i)
      outExprs.push_back(getAffineDimExpr(i, context));
    SmallVector<AffineMap> maps = {
        operandMap(lhsType, m, kd, op.getTransposeA()),
        operandMap(rhsType, kd, n, op.getTransposeB()),
        AffineMap::get(loops, 0, outExprs, context)};
    SmallVector<utils::IteratorType> iterators(outRank, utils::IteratorType::parallel);
    iterators.push_back(utils::IteratorType::reduction);
    Value acc = filledTensor(rewriter, loc, outType.getShape(),
                             scalarConstant(rewriter, loc, kind.compute, 0));
    Value product =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{acc.getType()},
            ValueRange{adaptor.getLhs(), adaptor.getRhs()}, ValueRange{acc}, maps,
            iterators,
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value x = toCompute(b, l, args[0], kind), y = toCompute(b, l, args[1], kind);
              Value r;
              if (kind.isFloat)
                r = arith::AddFOp::create(b, l, args[2], arith::MulFOp::create(b, l, x, y));
              else
                r = arith::AddIOp::create(b, l, args[2], arith::MulIOp::create(b, l, x, y));
              linalg::YieldOp::create(b, l, r);
            })
            .getResult(0);
    if (kind.compute != kind.storage)
      product = buildMappedGeneric(rewriter, loc, outType.getShape(), kind.storage,
                                   product, {rewriter.getMultiDimIdentityMap(outRank)},
                                   [&](OpBuilder &b, Location l, ValueRange args) {
                                     return toStorage(b, l, args[0], kind);
                                   });
    rewriter.replaceOp(op, product);
    return success();
  }
};

/// Convolutions of f32, f64, f16 and bf16 run in the runtime; others are not generated.
struct ConvLowering : OpConversionPattern<ConvOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(ConvOp op, OpAdaptor,
                  ConversionPatternRewriter &) const override {
    return op.emitOpError()
           << "on " << op.getInput().getType().getElementType()
           << " is not supported by the CPU kernels: the runtime convolves f32, f64, "
              "f16 and bf16 only (cast the model to float32)";
  }
};
} // namespace

void mlir::pmc::populateWindowPatterns(KernelTypeConverter &converter,
                                       RewritePatternSet &patterns) {
  patterns.add<PoolLowering<MaxPoolOp, true>, PoolLowering<AvgPoolOp, false>,
               MatMulLowering, ConvLowering>(converter, patterns.getContext());
}
