//===- DataMovement.cpp - pmc data movement -> linalg/tensor ---------------===//
//
// Transpose -> linalg.transpose; Reshape -> collapse/expand through rank 1;
// Concat -> insert_slices into an empty tensor; Slice -> extract_slice (positive
// steps) or a generic reading with tensor.extract (negative steps); Gather -> a
// generic reading the data with tensor.extract.
//
#include "Common.h"

#include "pmc/Dialect/PMC/IR/PMCOps.h"

using namespace mlir;
using namespace mlir::pmc;

namespace {
struct TransposeLowering : OpConversionPattern<TransposeOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(TransposeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = cast<RankedTensorType>(getTypeConverter()->convertType(op.getType()));
    Value init = emptyTensor(rewriter, op.getLoc(), type.getShape(),
                             type.getElementType());
    auto transpose = linalg::TransposeOp::create(rewriter, op.getLoc(),
                                                 adaptor.getInput(), init, op.getPerm());
    rewriter.replaceOp(op, transpose.getResult());
    return success();
  }
};

struct ReshapeLowering : OpConversionPattern<ReshapeOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(ReshapeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = cast<RankedTensorType>(getTypeConverter()->convertType(op.getType()));
    rewriter.replaceOp(op, reshapeTensor(rewriter, op.getLoc(), adaptor.getInput(), type));
    return success();
  }
};

struct ConcatLowering : OpConversionPattern<ConcatOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(ConcatOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto type = cast<RankedTensorType>(getTypeConverter()->convertType(op.getType()));
    int64_t axis = op.getAxis();
    if (axis < 0 || axis >= type.getRank())
      return op.emitOpError() << "axis " << axis << " is out of range for rank "
                              << type.getRank();
    Value result = emptyTensor(rewriter, loc, type.getShape(), type.getElementType());
    int64_t offset = 0;
    for (Value input : adaptor.getInputs()) {
      auto inputType = cast<RankedTensorType>(input.getType());
      SmallVector<OpFoldResult> offsets(type.getRank(), rewriter.getIndexAttr(0));
      offsets[axis] = rewriter.getIndexAttr(offset);
      SmallVector<OpFoldResult> sizes, strides(type.getRank(), rewriter.getIndexAttr(1));
      for (int64_t d : inputType.getShape())
        sizes.push_back(rewriter.getIndexAttr(d));
      offset += inputType.getDimSize(axis);
      if (inputType.getNumElements() == 0)
        continue;
      result = tensor::InsertSliceOp::create(rewriter, loc, input, result, offsets,
                                             sizes, strides);
    }
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct SliceLowering : OpConversionPattern<SliceOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(SliceOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto type = cast<RankedTensorType>(getTypeConverter()->convertType(op.getType()));
    ArrayRef<int64_t> starts = op.getStarts(), steps = op.getSteps();
    int64_t rank = type.getRank();
    if ((int64_t)starts.size() != rank || (int64_t)steps.size() != rank)
      return op.emitOpError("needs one start and one step per dimension");
    if (llvm::all_of(steps, [](int64_t s) { return s > 0; })) {
      SmallVector<OpFoldResult> offsets, sizes, strides;
      for (int64_t d = 0; d < rank; ++d) {
        offsets.push_back(rewriter.getIndexAttr(starts[d]));
        sizes.push_back(rewriter.getIndexAttr(type.getDimSize(d)));
        strides.push_back(rewriter.getIndexAttr(steps[d]));
      }
      rewriter.replaceOpWithNewOp<tensor::ExtractSliceOp>(
          op, type, adaptor.getInput(), offsets, sizes, strides);
      return success();
    }
    // Some step is negative: input[start + i * step] via tensor.extract.
    Value input = adaptor.getInput();
    Value result = buildMappedGeneric(
        rewriter, loc, type.getShape(), type.getElementType(), {}, {},
        [&](OpBuilder &b, Location l, ValueRange) -> Value {
          SmallVector<Value> indices;
          for (int64_t d = 0; d < rank; ++d) {
            Value i = linalg::IndexOp::create(b, l, d);
            Value step = arith::ConstantIndexOp::create(b, l, steps[d]);
            Value start = arith::ConstantIndexOp::create(b, l, starts[d]);
            indices.push_back(arith::AddIOp::create(
                b, l, start, arith::MulIOp::create(b, l, i, step)));
          }
          return tensor::ExtractOp::create(b, l, input, indices);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct GatherLowering : OpConversionPattern<GatherOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(GatherOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto type = cast<RankedTensorType>(getTypeConverter()->convertType(op.getType()));
    auto dataType = cast<RankedTensorType>(op.getData().getType());
    auto indicesType = cast<RankedTensorType>(op.getIndices().getType());
    int64_t axis = op.getAxis(), q = indicesType.getRank();
    if (axis < 0 || axis >= dataType.getRank())
      return op.emitOpError() << "axis " << axis << " is out of range for rank "
                              << dataType.getRank();
    int64_t axisSize = dataType.getDimSize(axis);
    MLIRContext *context = rewriter.getContext();
    SmallVector<AffineExpr> indexExprs;
    for (int64_t j = 0; j < q; ++j)
      indexExprs.push_back(getAffineDimExpr(axis + j, context));
    AffineMap indexMap = AffineMap::get(type.getRank(), 0, indexExprs, context);
    Value data = adaptor.getData();
    Value result = buildMappedGeneric(
        rewriter, loc, type.getShape(), type.getElementType(), adaptor.getIndices(),
        {indexMap}, [&](OpBuilder &b, Location l, ValueRange args) -> Value {
          // Negative indices count from the end; out-of-range ones are clamped
          // so that a bad index cannot read outside the tensor.
          Value raw = arith::IndexCastOp::create(b, l, b.getIndexType(), args[0]);
          Value zero = arith::ConstantIndexOp::create(b, l, 0);
          Value size = arith::ConstantIndexOp::create(b, l, axisSize);
          Value last = arith::ConstantIndexOp::create(b, l, axisSize - 1);
          Value negative = arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt, raw, zero);
          Value wrapped = arith::SelectOp::create(
              b, l, negative, arith::AddIOp::create(b, l, raw, size), raw);
          Value clamped = arith::MaxSIOp::create(
              b, l, zero, arith::MinSIOp::create(b, l, wrapped, last));
          SmallVector<Value> indices;
          for (int64_t d = 0; d < axis; ++d)
            indices.push_back(linalg::IndexOp::create(b, l, d));
          indices.push_back(clamped);
          for (int64_t d = axis + 1; d < dataType.getRank(); ++d)
            indices.push_back(linalg::IndexOp::create(b, l, d - 1 + q));
          return tensor::ExtractOp::create(b, l, data, indices);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};
} // namespace

void mlir::pmc::populateDataMovementPatterns(KernelTypeConverter &converter,
                                             RewritePatternSet &patterns) {
  patterns.add<TransposeLowering, ReshapeLowering, ConcatLowering, SliceLowering,
               GatherLowering>(converter, patterns.getContext());
}
