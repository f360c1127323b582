//===- Elementwise.cpp - pmc elementwise ops -> linalg.generic -------------===//
//
// Every elementwise pmc op (unary, binary with numpy broadcasting, cast, where)
// becomes one `linalg.generic` whose indexing maps encode the broadcast. The
// scalar body computes f16/bf16 in f32 and picks unsigned arith ops for `uiN`.
// Mod, BitShift, Sign and Softplus have bodies of their own below.
//
#include "Common.h"

#include "pmc/Dialect/PMC/IR/PMCOps.h"

#include <cmath>

using namespace mlir;
using namespace mlir::pmc;

namespace {
/// The operand kinds (pmc types) and the result kind of one elementwise op.
struct Kinds {
  SmallVector<ElementKind> operands;
  ElementKind result;
};

using ScalarImpl = std::function<Value(OpBuilder &, Location, ValueRange,
                                       const Kinds &, Operation *)>;

/// Lowers one elementwise op kind through `impl`.
struct ElementwiseLowering : ConversionPattern {
  ElementwiseLowering(const TypeConverter &converter, MLIRContext *context,
                      StringRef opName, ScalarImpl impl)
      : ConversionPattern(converter, opName, /*benefit=*/1, context),
        impl(std::move(impl)) {}

  LogicalResult
  matchAndRewrite(Operation *op, ArrayRef<Value> operands,
                  ConversionPatternRewriter &rewriter) const override {
    auto resultType = dyn_cast_or_null<RankedTensorType>(
        getTypeConverter()->convertType(op->getResult(0).getType()));
    if (!resultType)
      return op->emitOpError("has a result type the CPU kernels cannot hold");
    Kinds kinds;
    for (Value operand : op->getOperands())
      kinds.operands.push_back(ElementKind::ofValue(operand));
    kinds.result = ElementKind::ofValue(op->getResult(0));
    Value result = buildElementwise(
        rewriter, op->getLoc(), resultType, operands,
        [&](OpBuilder &b, Location loc, ValueRange args) {
          return impl(b, loc, args, kinds, op);
        });
    rewriter.replaceOp(op, result);
    return success();
  }

  ScalarImpl impl;
};
} // namespace

/// A float function computed in the compute type (f16/bf16 widened to f32).
template <typename Fn>
static ScalarImpl floatUnary(Fn fn) {
  return [fn](OpBuilder &b, Location loc, ValueRange args, const Kinds &kinds,
              Operation *) -> Value {
    const ElementKind &k = kinds.result;
    Value x = toCompute(b, loc, args[0], k);
    return toStorage(b, loc, fn(b, loc, x), k);
  };
}

/// `math.<Op>` on the compute type.
template <typename MathOp>
static ScalarImpl mathUnary() {
  return floatUnary([](OpBuilder &b, Location loc, Value x) -> Value {
    return MathOp::create(b, loc, x);
  });
}

static Value gelu(OpBuilder &b, Location loc, Value x, bool tanhApproximation) {
  Type t = x.getType();
  Value half = scalarConstant(b, loc, t, 0.5);
  Value one = scalarConstant(b, loc, t, 1.0);
  Value inner;
  if (tanhApproximation) {
    // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    Value c = scalarConstant(b, loc, t, std::sqrt(2.0 / M_PI));
    Value k = scalarConstant(b, loc, t, 0.044715);
    Value x3 = arith::MulFOp::create(b, loc, arith::MulFOp::create(b, loc, x, x), x);
    Value poly = arith::AddFOp::create(b, loc, x, arith::MulFOp::create(b, loc, k, x3));
    inner = math::TanhOp::create(b, loc, arith::MulFOp::create(b, loc, c, poly));
  } else {
    // 0.5 x (1 + erf(x / sqrt(2)))
    Value r = scalarConstant(b, loc, t, M_SQRT1_2);
    inner = math::ErfOp::create(b, loc, arith::MulFOp::create(b, loc, x, r));
  }
  Value sum = arith::AddFOp::create(b, loc, one, inner);
  return arith::MulFOp::create(b, loc, arith::MulFOp::create(b, loc, half, x), sum);
}

/// Integer/float binary op choosing between float, signed and unsigned forms.
template <typename FloatOp, typename SignedOp, typename UnsignedOp>
static ScalarImpl arithBinary() {
  return [](OpBuilder &b, Location loc, ValueRange args, const Kinds &kinds,
            Operation *) -> Value {
    const ElementKind &k = kinds.operands[0];
    if (k.isFloat) {
      Value l = toCompute(b, loc, args[0], k), r = toCompute(b, loc, args[1], k);
      return toStorage(b, loc, FloatOp::create(b, loc, l, r), k);
    }
    if (k.isUnsigned || k.isBool)
      return UnsignedOp::create(b, loc, args[0], args[1]);
    return SignedOp::create(b, loc, args[0], args[1]);
  };
}

/// Integer division truncating toward zero (ONNX); a zero divisor gives 0
/// instead of a trap.
static Value intDivide(OpBuilder &b, Location loc, Value l, Value r, bool isUnsigned) {
  Type t = l.getType();
  Value zero = scalarConstant(b, loc, t, 0), one = scalarConstant(b, loc, t, 1);
  Value isZero = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, r, zero);
  Value safe = arith::SelectOp::create(b, loc, isZero, one, r);
  Value q = isUnsigned ? (Value)arith::DivUIOp::create(b, loc, l, safe)
                       : (Value)arith::DivSIOp::create(b, loc, l, safe);
  return arith::SelectOp::create(b, loc, isZero, zero, q);
}

static Value power(OpBuilder &b, Location loc, ValueRange args, const Kinds &kinds) {
  const ElementKind &base = kinds.operands[0], &exponent = kinds.operands[1];
  if (base.isFloat) {
    Value x = toCompute(b, loc, args[0], base);
    Value y = castScalar(b, loc, args[1], exponent, ElementKind::of(x.getType()));
    return toStorage(b, loc, math::PowFOp::create(b, loc, x, y), base);
  }
  // Integer base: exact through f64 for results below 2^53.
  ElementKind f64 = ElementKind::of(b.getF64Type());
  Value x = castScalar(b, loc, args[0], base, f64);
  Value y = castScalar(b, loc, args[1], exponent, f64);
  Value p = math::PowFOp::create(b, loc, x, y);
  p = math::RoundEvenOp::create(b, loc, p);
  return castScalar(b, loc, p, f64, base);
}

static ScalarImpl compare(arith::CmpFPredicate f, arith::CmpIPredicate s,
                          arith::CmpIPredicate u) {
  return [=](OpBuilder &b, Location loc, ValueRange args, const Kinds &kinds,
             Operation *) -> Value {
    const ElementKind &k = kinds.operands[0];
    if (k.isFloat)
      return arith::CmpFOp::create(b, loc, f, toCompute(b, loc, args[0], k),
                                   toCompute(b, loc, args[1], k));
    return arith::CmpIOp::create(b, loc, (k.isUnsigned || k.isBool) ? u : s,
                                 args[0], args[1]);
  };
}

/// log(1 + u) accurate for small u (Goldberg's trick): w = 1 + u rounds; the
/// ratio u / (w - 1) corrects the rounding error. Exact when w == 1.
static Value log1p(OpBuilder &b, Location loc, Value u) {
  Type t = u.getType();
  Value one = scalarConstant(b, loc, t, 1.0);
  Value w = arith::AddFOp::create(b, loc, one, u);
  Value wm1 = arith::SubFOp::create(b, loc, w, one);
  Value isOne = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, wm1,
                                      scalarConstant(b, loc, t, 0.0));
  Value scaled = arith::DivFOp::create(
      b, loc, arith::MulFOp::create(b, loc, math::LogOp::create(b, loc, w), u), wm1);
  return arith::SelectOp::create(b, loc, isOne, u, scaled);
}

/// softplus(x) = max(x, 0) + log1p(exp(-|x|)): no overflow, no cancellation.
static Value softplus(OpBuilder &b, Location loc, Value x) {
  Type t = x.getType();
  Value relu = arith::MaximumFOp::create(b, loc, x, scalarConstant(b, loc, t, 0.0));
  Value e = math::ExpOp::create(
      b, loc, arith::NegFOp::create(b, loc, math::AbsFOp::create(b, loc, x)));
  return arith::AddFOp::create(b, loc, relu, log1p(b, loc, e));
}

/// ONNX Mod. `fmod`: the remainder has the dividend's sign (C fmod); otherwise
/// the divisor's (Python %). An integer remainder by zero gives 0.
static Value modulo(OpBuilder &b, Location loc, ValueRange args, const ElementKind &k,
                    bool fmod) {
  if (k.isFloat) {
    Value x = toCompute(b, loc, args[0], k), y = toCompute(b, loc, args[1], k);
    Value r = arith::RemFOp::create(b, loc, x, y);
    if (!fmod) {
      Type t = r.getType();
      Value zero = scalarConstant(b, loc, t, 0.0);
      Value nonZero = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::ONE, r, zero);
      Value rNeg = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT, r, zero);
      Value yNeg = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT, y, zero);
      Value differ = arith::XOrIOp::create(b, loc, rNeg, yNeg);
      Value fix = arith::AndIOp::create(b, loc, nonZero, differ);
      r = arith::SelectOp::create(b, loc, fix, arith::AddFOp::create(b, loc, r, y), r);
    }
    return toStorage(b, loc, r, k);
  }
  Value x = args[0], y = args[1];
  Type t = x.getType();
  Value zero = scalarConstant(b, loc, t, 0), one = scalarConstant(b, loc, t, 1);
  Value yZero = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, y, zero);
  Value safe = arith::SelectOp::create(b, loc, yZero, one, y);
  if (k.isUnsigned || k.isBool) {
    Value r = arith::RemUIOp::create(b, loc, x, safe);
    return arith::SelectOp::create(b, loc, yZero, zero, r);
  }
  Value r = arith::RemSIOp::create(b, loc, x, safe);
  if (!fmod) {
    Value nonZero = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, r, zero);
    Value rNeg = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, r, zero);
    Value yNeg = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, safe, zero);
    Value fix = arith::AndIOp::create(b, loc, nonZero,
                                      arith::XOrIOp::create(b, loc, rNeg, yNeg));
    r = arith::SelectOp::create(b, loc, fix, arith::AddIOp::create(b, loc, r, safe), r);
  }
  return arith::SelectOp::create(b, loc, yZero, zero, r);
}

/// -1, 0 or 1 in the element type; NaN stays NaN.
static Value sign(OpBuilder &b, Location loc, Value v, const ElementKind &k) {
  if (k.isFloat) {
    Value x = toCompute(b, loc, v, k);
    Type t = x.getType();
    Value zero = scalarConstant(b, loc, t, 0.0);
    Value s = math::CopySignOp::create(b, loc, scalarConstant(b, loc, t, 1.0), x);
    Value isZero = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, x, zero);
    Value isNaN = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNO, x, x);
    s = arith::SelectOp::create(b, loc, isZero, zero, s);
    return toStorage(b, loc, arith::SelectOp::create(b, loc, isNaN, x, s), k);
  }
  Type t = v.getType();
  Value zero = scalarConstant(b, loc, t, 0), one = scalarConstant(b, loc, t, 1);
  if (k.isUnsigned || k.isBool) {
    Value nonZero = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, v, zero);
    return arith::SelectOp::create(b, loc, nonZero, one, zero);
  }
  Value pos = arith::ExtUIOp::create(
      b, loc, t, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sgt, v, zero));
  Value neg = arith::ExtUIOp::create(
      b, loc, t, arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, v, zero));
  return arith::SubIOp::create(b, loc, pos, neg);
}

void mlir::pmc::populateElementwisePatterns(KernelTypeConverter &converter,
                                            RewritePatternSet &patterns) {
  MLIRContext *context = patterns.getContext();
  auto add = [&](StringRef name, ScalarImpl impl) {
    patterns.add<ElementwiseLowering>(converter, context, name, std::move(impl));
  };
  auto name = [](auto op) { return decltype(op)::getOperationName(); };
  using CmpF = arith::CmpFPredicate;
  using CmpI = arith::CmpIPredicate;

  // Unary.
  add(name(AbsOp()), [](OpBuilder &b, Location loc, ValueRange args,
                        const Kinds &kinds, Operation *) -> Value {
    const ElementKind &k = kinds.result;
    if (k.isFloat)
      return toStorage(b, loc, math::AbsFOp::create(b, loc, toCompute(b, loc, args[0], k)), k);
    if (k.isUnsigned || k.isBool)
      return args[0];
    return math::AbsIOp::create(b, loc, args[0]);
  });
  add(name(NegOp()), [](OpBuilder &b, Location loc, ValueRange args,
                        const Kinds &kinds, Operation *) -> Value {
    const ElementKind &k = kinds.result;
    if (k.isFloat)
      return toStorage(b, loc, arith::NegFOp::create(b, loc, toCompute(b, loc, args[0], k)), k);
    Value zero = scalarConstant(b, loc, k.storage, 0);
    return arith::SubIOp::create(b, loc, zero, args[0]);
  });
  add(name(ReluOp()), [](OpBuilder &b, Location loc, ValueRange args,
                         const Kinds &kinds, Operation *) -> Value {
    const ElementKind &k = kinds.result;
    if (k.isUnsigned || k.isBool)
      return args[0];
    if (k.isFloat) {
      Value x = toCompute(b, loc, args[0], k);
      Value zero = scalarConstant(b, loc, x.getType(), 0.0);
      return toStorage(b, loc, arith::MaximumFOp::create(b, loc, x, zero), k);
    }
    return arith::MaxSIOp::create(b, loc, args[0], scalarConstant(b, loc, k.storage, 0));
  });
  add(name(SqrtOp()), mathUnary<math::SqrtOp>());
  add(name(ExpOp()), mathUnary<math::ExpOp>());
  add(name(LogOp()), mathUnary<math::LogOp>());
  add(name(TanhOp()), mathUnary<math::TanhOp>());
  add(name(ErfOp()), mathUnary<math::ErfOp>());
  add(name(FloorOp()), mathUnary<math::FloorOp>());
  add(name(CeilOp()), mathUnary<math::CeilOp>());
  add(name(SinOp()), mathUnary<math::SinOp>());
  add(name(CosOp()), mathUnary<math::CosOp>());
  add(name(SigmoidOp()), floatUnary([](OpBuilder &b, Location loc, Value x) -> Value {
        Value one = scalarConstant(b, loc, x.getType(), 1.0);
        Value e = math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, x));
        return arith::DivFOp::create(b, loc, one, arith::AddFOp::create(b, loc, one, e));
      }));
  add(name(ReciprocalOp()), floatUnary([](OpBuilder &b, Location loc, Value x) -> Value {
        return arith::DivFOp::create(b, loc, scalarConstant(b, loc, x.getType(), 1.0), x);
      }));
  add(name(NotOp()), [](OpBuilder &b, Location loc, ValueRange args, const Kinds &,
                        Operation *) -> Value {
    Value one = arith::ConstantOp::create(b, loc, b.getBoolAttr(true));
    return arith::XOrIOp::create(b, loc, args[0], one);
  });
  add(name(GeluOp()), [](OpBuilder &b, Location loc, ValueRange args,
                         const Kinds &kinds, Operation *op) -> Value {
    const ElementKind &k = kinds.result;
    bool approx = cast<GeluOp>(op).getTanhApproximation();
    return toStorage(b, loc, gelu(b, loc, toCompute(b, loc, args[0], k), approx), k);
  });
  add(name(CastOp()), [](OpBuilder &b, Location loc, ValueRange args,
                         const Kinds &kinds, Operation *) -> Value {
    return castScalar(b, loc, args[0], kinds.operands[0], kinds.result);
  });

  // Binary with broadcasting.
  add(name(AddOp()), arithBinary<arith::AddFOp, arith::AddIOp, arith::AddIOp>());
  add(name(SubOp()), arithBinary<arith::SubFOp, arith::SubIOp, arith::SubIOp>());
  add(name(MulOp()), arithBinary<arith::MulFOp, arith::MulIOp, arith::MulIOp>());
  add(name(MinOp()), arithBinary<arith::MinimumFOp, arith::MinSIOp, arith::MinUIOp>());
  add(name(MaxOp()), arithBinary<arith::MaximumFOp, arith::MaxSIOp, arith::MaxUIOp>());
  add(name(DivOp()), [](OpBuilder &b, Location loc, ValueRange args,
                        const Kinds &kinds, Operation *) -> Value {
    const ElementKind &k = kinds.operands[0];
    if (k.isFloat) {
      Value l = toCompute(b, loc, args[0], k), r = toCompute(b, loc, args[1], k);
      return toStorage(b, loc, arith::DivFOp::create(b, loc, l, r), k);
    }
    return intDivide(b, loc, args[0], args[1], k.isUnsigned || k.isBool);
  });
  add(name(PowOp()), [](OpBuilder &b, Location loc, ValueRange args,
                        const Kinds &kinds, Operation *) -> Value {
    return power(b, loc, args, kinds);
  });
  add(name(EqualOp()), compare(CmpF::OEQ, CmpI::eq, CmpI::eq));
  add(name(LessOp()), compare(CmpF::OLT, CmpI::slt, CmpI::ult));
  add(name(LessEqualOp()), compare(CmpF::OLE, CmpI::sle, CmpI::ule));
  add(name(GreaterOp()), compare(CmpF::OGT, CmpI::sgt, CmpI::ugt));
  add(name(GreaterEqualOp()), compare(CmpF::OGE, CmpI::sge, CmpI::uge));
  add(name(AndOp()), arithBinary<arith::AndIOp, arith::AndIOp, arith::AndIOp>());
  add(name(OrOp()), arithBinary<arith::OrIOp, arith::OrIOp, arith::OrIOp>());
  add(name(XorOp()), arithBinary<arith::XOrIOp, arith::XOrIOp, arith::XOrIOp>());
  add(name(WhereOp()), [](OpBuilder &b, Location loc, ValueRange args,
                          const Kinds &, Operation *) -> Value {
    return arith::SelectOp::create(b, loc, args[0], args[1], args[2]);
  });
  // Operator set extension.
  add(name(TanOp()), mathUnary<math::TanOp>());
  add(name(AsinOp()), mathUnary<math::AsinOp>());
  add(name(AcosOp()), mathUnary<math::AcosOp>());
  add(name(AtanOp()), mathUnary<math::AtanOp>());
  add(name(SinhOp()), mathUnary<math::SinhOp>());
  add(name(CoshOp()), mathUnary<math::CoshOp>());
  add(name(AsinhOp()), mathUnary<math::AsinhOp>());
  add(name(AcoshOp()), mathUnary<math::AcoshOp>());
  add(name(AtanhOp()), mathUnary<math::AtanhOp>());
  add(name(RoundOp()), mathUnary<math::RoundEvenOp>());
  add(name(SoftplusOp()), floatUnary([](OpBuilder &b, Location loc, Value x) -> Value {
        return softplus(b, loc, x);
      }));
  add(name(SignOp()), [](OpBuilder &b, Location loc, ValueRange args,
                         const Kinds &kinds, Operation *) -> Value {
    return sign(b, loc, args[0], kinds.result);
  });
  add(name(BitwiseNotOp()), [](OpBuilder &b, Location loc, ValueRange args,
                               const Kinds &, Operation *) -> Value {
    Type t = args[0].getType();
    Value ones = arith::ConstantOp::create(
        b, loc, b.getIntegerAttr(t, APInt::getAllOnes(t.getIntOrFloatBitWidth())));
    return arith::XOrIOp::create(b, loc, args[0], ones);
  });
  add(name(BitwiseAndOp()), arithBinary<arith::AndIOp, arith::AndIOp, arith::AndIOp>());
  add(name(BitwiseOrOp()), arithBinary<arith::OrIOp, arith::OrIOp, arith::OrIOp>());
  add(name(BitwiseXorOp()), arithBinary<arith::XOrIOp, arith::XOrIOp, arith::XOrIOp>());
  add(name(BitShiftOp()), [](OpBuilder &b, Location loc, ValueRange args,
                             const Kinds &kinds, Operation *op) -> Value {
    Value x = args[0], n = args[1];
    Type t = x.getType();
    unsigned width = t.getIntOrFloatBitWidth();
    bool left = cast<BitShiftOp>(op).getLeft();
    // A signed right shift is arithmetic (sign-extending).
    bool arithmetic = !left && !kinds.operands[0].isUnsigned;
    Value shifted = left         ? (Value)arith::ShLIOp::create(b, loc, x, n)
                    : arithmetic ? (Value)arith::ShRSIOp::create(b, loc, x, n)
                                 : (Value)arith::ShRUIOp::create(b, loc, x, n);
    // Shifting by the width or more (or, signed, by a negative amount: a
    // huge one unsigned) is poison in arith; ONNX gives what the sign fill
    // alone gives: -1 for an arithmetic shift of a negative x, else 0.
    Value tooFar = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::uge, n,
                                         scalarConstant(b, loc, t, width));
    Value fill = arithmetic ? (Value)arith::ShRSIOp::create(
                                  b, loc, x, scalarConstant(b, loc, t, width - 1))
                            : scalarConstant(b, loc, t, 0);
    return arith::SelectOp::create(b, loc, tooFar, fill, shifted);
  });
  add(name(ModOp()), [](OpBuilder &b, Location loc, ValueRange args,
                        const Kinds &kinds, Operation *op) -> Value {
    return modulo(b, loc, args, kinds.operands[0], cast<ModOp>(op).getFmod());
  });

  // A broadcast is an elementwise copy.
  add(name(BroadcastOp()), [](OpBuilder &, Location, ValueRange args, const Kinds &,
                              Operation *) -> Value { return args[0]; });
}
