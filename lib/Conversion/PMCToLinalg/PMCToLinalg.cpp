//===- PMCToLinalg.cpp - the pmc-convert-to-linalg pass --------------------===//
//
// Lowers every pmc op inside the kernels (every function other than @main) to
// linalg/tensor/arith/math on tensors. `uiN` element types become signless in
// the kernels' signatures; calls from @main are kept consistent with casts.
//
#include "Common.h"

#include "pmc/Conversion/Passes.h"
#include "pmc/Dialect/PMC/IR/PMCOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Func/Transforms/FuncConversions.h"

namespace mlir::pmc {
#define GEN_PASS_DEF_CONVERTPMCTOLINALG
#include "pmc/Conversion/Passes.h.inc"
} // namespace mlir::pmc

using namespace mlir;
using namespace mlir::pmc;

/// The entry function keeps its pmc ops: the runtime or the bundle writer
/// reads them.
static bool inMain(Operation *op) {
  auto func = op->getParentOfType<func::FuncOp>();
  return func && func.getSymName() == kEntryFunctionName;
}

namespace {
/// Splat and small constants inside kernels become arith.constant.
struct ConstantLowering : OpConversionPattern<ConstantOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(ConstantOp op, OpAdaptor,
                  ConversionPatternRewriter &rewriter) const override {
    auto type = cast<RankedTensorType>(getTypeConverter()->convertType(op.getType()));
    auto value = cast<TypedAttr>(op.getValue());
    if (type != op.getType()) {
      auto dense = dyn_cast<DenseElementsAttr>(op.getValue());
      if (!dense)
        return op.emitOpError("holds an unsigned resource constant that a "
                              "kernel cannot embed; pass it as a weight");
      value = dense.bitcast(type.getElementType());
    }
    rewriter.replaceOpWithNewOp<arith::ConstantOp>(op, type, value);
    return success();
  }
};

struct ConvertPMCToLinalg
    : mlir::pmc::impl::ConvertPMCToLinalgBase<ConvertPMCToLinalg> {
  using Base::Base;

  void runOnOperation() override {
    MLIRContext *context = &getContext();
    KernelTypeConverter converter;
    RewritePatternSet patterns(context);
    patterns.add<ConstantLowering>(converter, context);
    populateElementwisePatterns(converter, patterns);
    populateReductionPatterns(converter, patterns);
    populateDataMovementPatterns(converter, patterns);
    populateWindowPatterns(converter, patterns);
    populateIndexingPatterns(converter, patterns);
    populateRandomPatterns(converter, patterns);
    populateFunctionOpInterfaceTypeConversionPattern<func::FuncOp>(patterns,
                                                                   converter);
    populateReturnOpTypeConversionPattern(patterns, converter);
    populateCallOpTypeConversionPattern(patterns, converter);

    ConversionTarget target(*context);
    target.addLegalDialect<linalg::LinalgDialect, tensor::TensorDialect,
                           arith::ArithDialect, math::MathDialect>();
    target.addLegalOp<UnrealizedConversionCastOp>();
    target.addDynamicallyLegalDialect<PMCDialect>(inMain);
    target.addDynamicallyLegalOp<func::FuncOp>([&](func::FuncOp func) {
      return func.getSymName() == kEntryFunctionName ||
             converter.isSignatureLegal(func.getFunctionType());
    });
    target.addDynamicallyLegalOp<func::ReturnOp, func::CallOp>(
        [&](Operation *op) { return inMain(op) && !isa<func::CallOp>(op) ? true
                                    : converter.isLegal(op); });
    ConversionConfig config;
    // @main may keep unsigned values next to calls of converted kernels.
    config.buildMaterializations = false;
    if (failed(applyPartialConversion(getOperation(), target, std::move(patterns),
                                      config)))
      signalPassFailure();
  }
};
} // namespace
