//===- Random.cpp - pmc.random_uniform -> linalg.generic (Philox-4x32-10) ---===//
//
// Every element runs Philox-4x32-10 (Salmon, Moraes, Dror, Shaw: "Parallel
// random numbers: as easy as 1, 2, 3", SC'11) on its own counter
// (linear index lo, hi, offset lo, hi) under the op's 64-bit key, so no
// element depends on another: the kernel is an ordinary parallel generic.
//
//   %u = pmc.random_uniform %step {key = 7 : i64} : (tensor<f32>) -> tensor<2x3xf32>
// becomes
//   linalg.generic {indexing_maps = [() -> (), (i, j) -> (i, j)], ...}
//       ins(%step : tensor<f32>) outs(%empty : tensor<2x3xf32>) {
//     %n = 3 * linalg.index 0 + linalg.index 1        // the element's counter
//     ... 10 rounds of arith.mului_extended / xori ...
//     %u = uitofp(w0 >> 8) * 2^-24
//   }
//
// test/python/test_dropout_training.py holds a numpy Philox that must draw
// the same numbers.
//
#include "Common.h"

#include "pmc/Dialect/PMC/IR/PMCOps.h"

using namespace mlir;
using namespace mlir::pmc;

namespace {

// Philox-4x32 constants (Random123's PHILOX_M4x32_* and PHILOX_W32_*).
constexpr uint32_t kMultiplier0 = 0xD2511F53u, kMultiplier1 = 0xCD9E8D57u;
constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
constexpr int kRounds = 10;

Value i32Constant(OpBuilder &b, Location loc, uint32_t v) {
  return arith::ConstantOp::create(b, loc, b.getI32IntegerAttr((int32_t)v));
}

/// The first 32-bit word of Philox-4x32-10 at `counter` (four i32) under `key`.
Value philoxWord(OpBuilder &b, Location loc, std::array<Value, 4> c, uint64_t key) {
  uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
  Value m0 = i32Constant(b, loc, kMultiplier0), m1 = i32Constant(b, loc, kMultiplier1);
  for (int round = 0; round < kRounds; ++round) {
    // The key schedule is known here: round r uses key + r * Weyl (mod 2^32).
    Value roundKey0 = i32Constant(b, loc, k0 + (uint32_t)round * kWeyl0);
    Value roundKey1 = i32Constant(b, loc, k1 + (uint32_t)round * kWeyl1);
    auto p0 = arith::MulUIExtendedOp::create(b, loc, m0, c[0]);
    auto p1 = arith::MulUIExtendedOp::create(b, loc, m1, c[2]);
    Value x0 = arith::XOrIOp::create(b, loc, p1.getHigh(), c[1]);
    Value x2 = arith::XOrIOp::create(b, loc, p0.getHigh(), c[3]);
    c = {arith::XOrIOp::create(b, loc, x0, roundKey0), p1.getLow(),
         arith::XOrIOp::create(b, loc, x2, roundKey1), p0.getLow()};
  }
  return c[0];
}

/// Splits an i64 into its (low, high) i32 words.
std::pair<Value, Value> words(OpBuilder &b, Location loc, Value v64) {
  Type i32 = b.getI32Type();
  Value high = arith::ShRUIOp::create(
      b, loc, v64, arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(32)));
  return {arith::TruncIOp::create(b, loc, i32, v64), arith::TruncIOp::create(b, loc, i32, high)};
}

struct RandomUniformLowering : OpConversionPattern<RandomUniformOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult matchAndRewrite(RandomUniformOp op, OpAdaptor adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    RankedTensorType type = op.getOutput().getType();
    ElementKind offsetKind = ElementKind::ofValue(op.getOffset());
    uint64_t key = (uint64_t)op.getKey();
    ArrayRef<int64_t> shape = type.getShape();
    Value result = buildElementwise(
        rewriter, op.getLoc(), type, adaptor.getOffset(),
        [&](OpBuilder &b, Location loc, ValueRange args) -> Value {
          Type i64 = b.getI64Type();
          // The row-major linear index of the element in the whole result.
          Value linear = arith::ConstantIndexOp::create(b, loc, 0);
          for (int64_t d = 0, e = shape.size(); d < e; ++d) {
            Value size = arith::ConstantIndexOp::create(b, loc, shape[d]);
            linear = arith::AddIOp::create(b, loc, arith::MulIOp::create(b, loc, linear, size),
                                           linalg::IndexOp::create(b, loc, d));
          }
          Value index64 = arith::IndexCastUIOp::create(b, loc, i64, linear);
          Value offset = args[0];
          if (offsetKind.isFloat)
            offset = arith::FPToUIOp::create(b, loc, i64, toCompute(b, loc, offset, offsetKind));
          else if (offset.getType().getIntOrFloatBitWidth() < 64)
            offset = arith::ExtUIOp::create(b, loc, i64, offset);
          else if (offset.getType().getIntOrFloatBitWidth() > 64)
            offset = arith::TruncIOp::create(b, loc, i64, offset);
          auto [i0, i1] = words(b, loc, index64);
          auto [o0, o1] = words(b, loc, offset);
          Value w = philoxWord(b, loc, {i0, i1, o0, o1}, key);
          // The top 24 bits: exactly representable, uniform on [0, 1).
          Value top = arith::ShRUIOp::create(b, loc, w, i32Constant(b, loc, 8));
          Value f = arith::UIToFPOp::create(b, loc, b.getF32Type(), top);
          Value scale = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(1.0f / 16777216.0f));
          return arith::MulFOp::create(b, loc, f, scale);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

} // namespace

void mlir::pmc::populateRandomPatterns(KernelTypeConverter &converter,
                                       RewritePatternSet &patterns) {
  patterns.add<RandomUniformLowering>(converter, patterns.getContext());
}
