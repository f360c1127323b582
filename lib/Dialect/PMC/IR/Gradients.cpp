//===- Gradients.cpp - reverse-mode derivative of each pmc op ---------------===//
//
// One rule per op, attached as an external model of GradientOpInterface
// (PMCGradientInterface.td), beside the op's sharding rule (ShardingRules.cpp)
// and cost (OpCosts.cpp). A rule reads the op, its operands and results (the
// forward values stay live for the backward pass) and the gradient `g` of each
// result, and builds the operands' gradients:
//
//   z = pmc.mul %x, %y         dx = sumToShape(g * y),  dy = sumToShape(g * x)
//   y = pmc.tanh %x            dx = g * (1 - y * y)
//   c = pmc.matmul %a, %b      da = g b^T,  db = a^T g  (batch dims summed)
//   s = pmc.softmax %x {axis}  dx = s * (g - reduce_sum(g * s, axis))
//
// Integer, bool and shape operands get no gradient (null). An op without a
// rule stops the autodiff pass with an error naming it.
//
//===----------------------------------------------------------------------===//
#include "pmc/Dialect/PMC/IR/Gradient.h"
#include "pmc/Dialect/PMC/IR/PMCOps.h"
#include "pmc/Dialect/PMC/IR/PoolWindows.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"

#include <limits>
#include <numeric>

using namespace mlir;
using namespace mlir::pmc;

#include "pmc/Dialect/PMC/IR/PMCGradientInterface.cpp.inc"

namespace {

RankedTensorType tensorOf(Value v) { return cast<RankedTensorType>(v.getType()); }

/// A 0-d constant of `like`'s element type.
Value scalar(OpBuilder &b, Location loc, Value like, double value) {
  Type element = tensorOf(like).getElementType();
  auto type = RankedTensorType::get({}, element);
  return ConstantOp::create(b, loc,
                            DenseElementsAttr::get(type, b.getFloatAttr(element, value)));
}

template <typename OpTy> Value binary(OpBuilder &b, Location loc, Value lhs, Value rhs) {
  return OpTy::create(b, loc, lhs, rhs).getResult();
}
Value mul(OpBuilder &b, Location loc, Value x, Value y) { return binary<MulOp>(b, loc, x, y); }
Value sub(OpBuilder &b, Location loc, Value x, Value y) { return binary<SubOp>(b, loc, x, y); }
Value div(OpBuilder &b, Location loc, Value x, Value y) { return binary<DivOp>(b, loc, x, y); }
Value neg(OpBuilder &b, Location loc, Value x) { return NegOp::create(b, loc, x).getResult(); }

Value reduceSum(OpBuilder &b, Location loc, Value x, ArrayRef<int64_t> axes, bool keepDims) {
  SmallVector<NamedAttribute> attrs{b.getNamedAttr("axes", b.getDenseI64ArrayAttr(axes))};
  if (keepDims)
    attrs.push_back(b.getNamedAttr("keepdims", b.getUnitAttr()));
  return ReduceSumOp::create(b, loc, ValueRange{x}, attrs).getResult();
}

Value reshape(OpBuilder &b, Location loc, Value x, ArrayRef<int64_t> shape) {
  auto type = tensorOf(x).clone(shape);
  if (type == x.getType())
    return x;
  return ReshapeOp::create(b, loc, type, x).getResult();
}

/// `g` of `x`'s shape where `cond` holds, 0 elsewhere (`g` where not `onTrue`).
Value select(OpBuilder &b, Location loc, Value cond, Value g, bool onTrue) {
  Value zero = scalar(b, loc, g, 0.0);
  return WhereOp::create(b, loc, cond, onTrue ? g : zero, onTrue ? zero : g).getResult();
}

/// Attaches a rule given as a function of the op.
template <typename OpTy,
          LogicalResult (*rule)(OpTy, OpBuilder &, ArrayRef<Value>, SmallVectorImpl<Value> &)>
struct RuleModel
    : public GradientOpInterface::ExternalModel<RuleModel<OpTy, rule>, OpTy> {
  LogicalResult buildGradients(Operation *op, OpBuilder &b, ArrayRef<Value> resultGradients,
                               SmallVectorImpl<Value> &operandGradients) const {
    // A result no gradient flows to has a null gradient; a rule of an op with
    // several results sees which (LayerNorm's statistics), the others run
    // only with their one result's gradient.
    operandGradients.assign(op->getNumOperands(), Value());
    if (llvm::none_of(resultGradients, [](Value g) { return static_cast<bool>(g); }))
      return success();
    return rule(cast<OpTy>(op), b, resultGradients, operandGradients);
  }
};

template <typename OpTy,
          LogicalResult (*rule)(OpTy, OpBuilder &, ArrayRef<Value>, SmallVectorImpl<Value> &)>
void attach(MLIRContext *context) {
  OpTy::template attachInterface<RuleModel<OpTy, rule>>(*context);
}

// --- Elementwise ----------------------------------------------------------------

/// dx = g * f'(x, y) for a unary op y = f(x); `derivative` builds f'.
template <typename OpTy, Value (*derivative)(OpBuilder &, Location, Value x, Value y)>
LogicalResult unaryRule(OpTy op, OpBuilder &b, ArrayRef<Value> g, SmallVectorImpl<Value> &dx) {
  if (!isFloatTensor(op.getInput()))
    return success();
  dx[0] = mul(b, op.getLoc(), g[0], derivative(b, op.getLoc(), op.getInput(), op.getOutput()));
  return success();
}

Value dExp(OpBuilder &, Location, Value, Value y) { return y; }
Value dLog(OpBuilder &b, Location loc, Value x, Value) {
  return ReciprocalOp::create(b, loc, x).getResult();
}
Value dTanh(OpBuilder &b, Location loc, Value, Value y) {
  return sub(b, loc, scalar(b, loc, y, 1.0), mul(b, loc, y, y));
}
Value dSigmoid(OpBuilder &b, Location loc, Value, Value y) {
  return mul(b, loc, y, sub(b, loc, scalar(b, loc, y, 1.0), y));
}
Value dSqrt(OpBuilder &b, Location loc, Value, Value y) {
  return div(b, loc, scalar(b, loc, y, 0.5), y);
}
Value dReciprocal(OpBuilder &b, Location loc, Value, Value y) {
  return neg(b, loc, mul(b, loc, y, y));
}
Value dSin(OpBuilder &b, Location loc, Value x, Value) {
  return CosOp::create(b, loc, x).getResult();
}
Value dCos(OpBuilder &b, Location loc, Value x, Value) {
  return neg(b, loc, SinOp::create(b, loc, x).getResult());
}
Value dAbs(OpBuilder &b, Location loc, Value x, Value) {
  return SignOp::create(b, loc, x).getResult();
}
Value dErf(OpBuilder &b, Location loc, Value x, Value) {
  // 2 / sqrt(pi) * exp(-x^2)
  Value e = ExpOp::create(b, loc, neg(b, loc, mul(b, loc, x, x))).getResult();
  return mul(b, loc, scalar(b, loc, x, 1.1283791670955126), e);
}
Value dTan(OpBuilder &b, Location loc, Value, Value y) {
  return binary<AddOp>(b, loc, scalar(b, loc, y, 1.0), mul(b, loc, y, y));
}
/// 1 / sqrt(sign * (x^2 - 1)) (asin, acos: sign -1 gives 1 - x^2; acosh: +1).
Value inverseSqrtOfSquareMinusOne(OpBuilder &b, Location loc, Value x, double sign) {
  Value xx = mul(b, loc, x, x);
  Value inner = sign > 0 ? sub(b, loc, xx, scalar(b, loc, x, 1.0))
                         : sub(b, loc, scalar(b, loc, x, 1.0), xx);
  return ReciprocalOp::create(b, loc, SqrtOp::create(b, loc, inner).getResult()).getResult();
}
Value dAsin(OpBuilder &b, Location loc, Value x, Value) {
  return inverseSqrtOfSquareMinusOne(b, loc, x, -1.0);
}
Value dAcos(OpBuilder &b, Location loc, Value x, Value) {
  return neg(b, loc, inverseSqrtOfSquareMinusOne(b, loc, x, -1.0));
}
Value dAcosh(OpBuilder &b, Location loc, Value x, Value) {
  return inverseSqrtOfSquareMinusOne(b, loc, x, 1.0);
}
Value dAsinh(OpBuilder &b, Location loc, Value x, Value) {
  Value inner = binary<AddOp>(b, loc, mul(b, loc, x, x), scalar(b, loc, x, 1.0));
  return ReciprocalOp::create(b, loc, SqrtOp::create(b, loc, inner).getResult()).getResult();
}
Value dAtan(OpBuilder &b, Location loc, Value x, Value) {
  Value inner = binary<AddOp>(b, loc, scalar(b, loc, x, 1.0), mul(b, loc, x, x));
  return ReciprocalOp::create(b, loc, inner).getResult();
}
Value dAtanh(OpBuilder &b, Location loc, Value x, Value) {
  Value inner = sub(b, loc, scalar(b, loc, x, 1.0), mul(b, loc, x, x));
  return ReciprocalOp::create(b, loc, inner).getResult();
}
Value dSoftplus(OpBuilder &b, Location loc, Value x, Value) {
  return SigmoidOp::create(b, loc, x).getResult();
}
Value dSinh(OpBuilder &b, Location loc, Value x, Value) {
  return CoshOp::create(b, loc, x).getResult();
}
Value dCosh(OpBuilder &b, Location loc, Value x, Value) {
  return SinhOp::create(b, loc, x).getResult();
}

LogicalResult negRule(NegOp op, OpBuilder &b, ArrayRef<Value> g, SmallVectorImpl<Value> &dx) {
  if (isFloatTensor(op.getInput()))
    dx[0] = neg(b, op.getLoc(), g[0]);
  return success();
}

LogicalResult reluRule(ReluOp op, OpBuilder &b, ArrayRef<Value> g, SmallVectorImpl<Value> &dx) {
  if (!isFloatTensor(op.getInput()))
    return success();
  Location loc = op.getLoc();
  // (x > 0): the subgradient 0 at x = 0, as PyTorch.
  Value positive =
      GreaterOp::create(b, loc, op.getInput(), scalar(b, loc, g[0], 0.0)).getResult();
  dx[0] = select(b, loc, positive, g[0], /*onTrue=*/true);
  return success();
}

/// Rules that are exactly zero almost everywhere: Floor, Ceil, Round, Sign.
template <typename OpTy>
LogicalResult zeroRule(OpTy op, OpBuilder &b, ArrayRef<Value> g, SmallVectorImpl<Value> &dx) {
  if (isFloatTensor(op.getInput()))
    dx[0] = mul(b, op.getLoc(), g[0], scalar(b, op.getLoc(), g[0], 0.0));
  return success();
}

LogicalResult castRule(CastOp op, OpBuilder &b, ArrayRef<Value> g, SmallVectorImpl<Value> &dx) {
  // Only float -> float casts carry a gradient (back in the input's type).
  if (!isFloatTensor(op.getInput()) || !isFloatTensor(op.getOutput()))
    return success();
  dx[0] = CastOp::create(b, op.getLoc(), op.getInput().getType(), g[0]).getResult();
  return success();
}

// --- Broadcasting binary ops ----------------------------------------------------

/// Sets the gradient of operand `i` to `g` summed to its shape (float only).
void setBroadcastGradient(Operation *op, OpBuilder &b, unsigned i, Value g,
                          SmallVectorImpl<Value> &d) {
  Value operand = op->getOperand(i);
  if (isFloatTensor(operand))
    d[i] = sumToShape(b, op->getLoc(), g, tensorOf(operand));
}

LogicalResult addRule(AddOp op, OpBuilder &b, ArrayRef<Value> g, SmallVectorImpl<Value> &d) {
  setBroadcastGradient(op, b, 0, g[0], d);
  setBroadcastGradient(op, b, 1, g[0], d);
  return success();
}

LogicalResult subRule(SubOp op, OpBuilder &b, ArrayRef<Value> g, SmallVectorImpl<Value> &d) {
  setBroadcastGradient(op, b, 0, g[0], d);
  if (isFloatTensor(op.getRhs()))
    setBroadcastGradient(op, b, 1, neg(b, op.getLoc(), g[0]), d);
  return success();
}

LogicalResult mulRule(MulOp op, OpBuilder &b, ArrayRef<Value> g, SmallVectorImpl<Value> &d) {
  if (!isFloatTensor(op.getOutput()))
    return success();
  setBroadcastGradient(op, b, 0, mul(b, op.getLoc(), g[0], op.getRhs()), d);
  setBroadcastGradient(op, b, 1, mul(b, op.getLoc(), g[0], op.getLhs()), d);
  return success();
}

LogicalResult divRule(DivOp op, OpBuilder &b, ArrayRef<Value> g, SmallVectorImpl<Value> &d) {
  if (!isFloatTensor(op.getOutput()))
    return success();
  Location loc = op.getLoc();
  Value gOverR = div(b, loc, g[0], op.getRhs());
  setBroadcastGradient(op, b, 0, gOverR, d);
  // d(l / r)/dr = -(l / r) / r = -y / r
  setBroadcastGradient(op, b, 1, neg(b, loc, mul(b, loc, gOverR, op.getOutput())), d);
  return success();
}

LogicalResult whereRule(WhereOp op, OpBuilder &b, ArrayRef<Value> g, SmallVectorImpl<Value> &d) {
  if (!isFloatTensor(op.getOutput()))
    return success();
  Location loc = op.getLoc();
  Value cond = op.getCondition();
  setBroadcastGradient(op, b, 1, select(b, loc, cond, g[0], /*onTrue=*/true), d);
  setBroadcastGradient(op, b, 2, select(b, loc, cond, g[0], /*onTrue=*/false), d);
  return success();
}

// --- Matrix products ------------------------------------------------------------

Value matmul(OpBuilder &b, Location loc, Value lhs, Value rhs, bool transposeA,
             bool transposeB) {
  SmallVector<NamedAttribute> attrs;
  if (transposeA)
    attrs.push_back(b.getNamedAttr("transpose_a", b.getUnitAttr()));
  if (transposeB)
    attrs.push_back(b.getNamedAttr("transpose_b", b.getUnitAttr()));
  return MatMulOp::create(b, loc, ValueRange{lhs, rhs}, attrs).getResult();
}

LogicalResult matmulRule(MatMulOp op, OpBuilder &b, ArrayRef<Value> g,
                         SmallVectorImpl<Value> &d) {
  if (!isFloatTensor(op.getOutput()))
    return success();
  Location loc = op.getLoc();
  Value a = op.getLhs(), bm = op.getRhs();
  // With A, B the matrices multiplied (after the transposes): dA = g B^T and
  // dB = A^T g. An operand given transposed gets the transpose of that.
  bool ta = op.getTransposeA(), tb = op.getTransposeB();
  Value dA = ta ? matmul(b, loc, bm, g[0], tb, /*transposeB=*/true)    // B g^T
                : matmul(b, loc, g[0], bm, false, /*transposeB=*/!tb); // g B^T
  Value dB = tb ? matmul(b, loc, g[0], a, /*transposeA=*/true, ta)    // g^T A
                : matmul(b, loc, a, g[0], /*transposeA=*/!ta, false); // A^T g
  d[0] = sumToShape(b, loc, dA, tensorOf(a));
  d[1] = sumToShape(b, loc, dB, tensorOf(bm));
  return success();
}

// --- Reductions and normalizations ------------------------------------------------

/// `g` (of a reduction over `axes` of `input`) broadcast back to the input.
Value unreduce(OpBuilder &b, Location loc, Value g, Value input, ArrayRef<int64_t> axes,
               bool keepDims) {
  SmallVector<int64_t> kept(tensorOf(input).getShape());
  for (int64_t a : axes)
    kept[a] = 1;
  if (!keepDims)
    g = reshape(b, loc, g, kept);
  return BroadcastOp::create(b, loc, tensorOf(g).clone(tensorOf(input).getShape()), g)
      .getResult();
}

LogicalResult reduceSumRule(ReduceSumOp op, OpBuilder &b, ArrayRef<Value> g,
                            SmallVectorImpl<Value> &d) {
  if (isFloatTensor(op.getInput()))
    d[0] = unreduce(b, op.getLoc(), g[0], op.getInput(), op.getAxes(), op.getKeepdims());
  return success();
}

LogicalResult reduceMeanRule(ReduceMeanOp op, OpBuilder &b, ArrayRef<Value> g,
                             SmallVectorImpl<Value> &d) {
  if (!isFloatTensor(op.getInput()))
    return success();
  int64_t count = 1;
  for (int64_t a : op.getAxes())
    count *= tensorOf(op.getInput()).getDimSize(a);
  Location loc = op.getLoc();
  Value scaled = mul(b, loc, g[0], scalar(b, loc, g[0], 1.0 / double(count)));
  d[0] = unreduce(b, loc, scaled, op.getInput(), op.getAxes(), op.getKeepdims());
  return success();
}

LogicalResult softmaxRule(SoftmaxOp op, OpBuilder &b, ArrayRef<Value> g,
                          SmallVectorImpl<Value> &d) {
  Location loc = op.getLoc();
  Value s = op.getOutput();
  Value dot = reduceSum(b, loc, mul(b, loc, g[0], s), {static_cast<int64_t>(op.getAxis())}, /*keepDims=*/true);
  d[0] = mul(b, loc, s, sub(b, loc, g[0], dot));
  return success();
}

LogicalResult logSoftmaxRule(LogSoftmaxOp op, OpBuilder &b, ArrayRef<Value> g,
                             SmallVectorImpl<Value> &d) {
  Location loc = op.getLoc();
  Value total = reduceSum(b, loc, g[0], {static_cast<int64_t>(op.getAxis())}, /*keepDims=*/true);
  Value softmax = ExpOp::create(b, loc, op.getOutput()).getResult();
  d[0] = sub(b, loc, g[0], mul(b, loc, softmax, total));
  return success();
}

// --- Data movement ----------------------------------------------------------------

LogicalResult reshapeRule(ReshapeOp op, OpBuilder &b, ArrayRef<Value> g,
                          SmallVectorImpl<Value> &d) {
  if (isFloatTensor(op.getInput()))
    d[0] = reshape(b, op.getLoc(), g[0], tensorOf(op.getInput()).getShape());
  return success();
}

LogicalResult transposeRule(TransposeOp op, OpBuilder &b, ArrayRef<Value> g,
                            SmallVectorImpl<Value> &d) {
  if (!isFloatTensor(op.getInput()))
    return success();
  ArrayRef<int64_t> perm = op.getPerm();
  SmallVector<int64_t> inverse(perm.size());
  for (auto [i, p] : llvm::enumerate(perm))
    inverse[p] = i;
  d[0] = TransposeOp::create(b, op.getLoc(), ValueRange{g[0]},
                             {b.getNamedAttr("perm", b.getDenseI64ArrayAttr(inverse))})
             .getResult();
  return success();
}

LogicalResult broadcastRule(BroadcastOp op, OpBuilder &b, ArrayRef<Value> g,
                            SmallVectorImpl<Value> &d) {
  if (isFloatTensor(op.getInput()))
    d[0] = sumToShape(b, op.getLoc(), g[0], tensorOf(op.getInput()));
  return success();
}

LogicalResult concatRule(ConcatOp op, OpBuilder &b, ArrayRef<Value> g,
                         SmallVectorImpl<Value> &d) {
  if (!isFloatTensor(op.getOutput()))
    return success();
  int64_t axis = op.getAxis();
  int64_t offset = 0;
  for (auto [i, operand] : llvm::enumerate(op->getOperands())) {
    RankedTensorType type = tensorOf(operand);
    SmallVector<int64_t> starts(type.getRank(), 0), steps(type.getRank(), 1);
    starts[axis] = offset;
    offset += type.getDimSize(axis);
    d[i] = SliceOp::create(b, op.getLoc(), type, g[0], b.getDenseI64ArrayAttr(starts),
                           b.getDenseI64ArrayAttr(steps))
               .getResult();
  }
  return success();
}

/// `x` along `axis` read backwards (a slice of step -1).
Value reverseAlong(OpBuilder &b, Location loc, Value x, int64_t axis) {
  RankedTensorType type = tensorOf(x);
  SmallVector<int64_t> starts(type.getRank(), 0), steps(type.getRank(), 1);
  starts[axis] = type.getDimSize(axis) - 1;
  steps[axis] = -1;
  return SliceOp::create(b, loc, type, x, b.getDenseI64ArrayAttr(starts),
                         b.getDenseI64ArrayAttr(steps))
      .getResult();
}

LogicalResult sliceRule(SliceOp op, OpBuilder &b, ArrayRef<Value> g, SmallVectorImpl<Value> &d) {
  if (!isFloatTensor(op.getInput()))
    return success();
  Location loc = op.getLoc();
  // g goes back to the positions it was read from, zeros elsewhere. Per dim:
  // a negative step reads backwards (g reversed reads forwards from the last
  // position read), a step s > 1 puts s - 1 zeros after each element, and
  // pads (or crops, past the end) place the block at its start.
  ArrayRef<int64_t> in = tensorOf(op.getInput()).getShape();
  ArrayRef<int64_t> out = tensorOf(op.getOutput()).getShape();
  int64_t rank = in.size();
  if (tensorOf(g[0]).getNumElements() == 0) {
    d[0] = ConstantOp::create(b, loc, DenseElementsAttr::get(tensorOf(op.getInput()),
                                                             b.getFloatAttr(
                                                                 tensorOf(g[0]).getElementType(),
                                                                 0.0)));
    return success();
  }
  Value grad = g[0];
  SmallVector<int64_t> pads(2 * rank);
  for (int64_t i = 0; i < rank; ++i) {
    int64_t start = op.getStarts()[i], step = op.getSteps()[i], n = out[i];
    if (step < 0) {
      grad = reverseAlong(b, loc, grad, i);
      start += (n - 1) * step;
      step = -step;
    }
    if (step > 1) {
      SmallVector<int64_t> shape(tensorOf(grad).getShape());
      SmallVector<int64_t> split(shape);
      split.insert(split.begin() + i + 1, 1);
      SmallVector<int64_t> spread(2 * (rank + 1), 0);
      spread[rank + 1 + i + 1] = step - 1;
      grad = PadOp::create(b, loc, ValueRange{reshape(b, loc, grad, split)},
                           {b.getNamedAttr("pads", b.getDenseI64ArrayAttr(spread)),
                            b.getNamedAttr("mode", b.getStringAttr("constant"))})
                 .getResult();
      shape[i] *= step;
      grad = reshape(b, loc, grad, shape);
    }
    pads[i] = start;
    pads[rank + i] = in[i] - start - tensorOf(grad).getDimSize(i);
  }
  d[0] = PadOp::create(b, loc, ValueRange{grad},
                       {b.getNamedAttr("pads", b.getDenseI64ArrayAttr(pads)),
                        b.getNamedAttr("mode", b.getStringAttr("constant"))})
             .getResult();
  return success();
}

// --- Rules that select: max/min, reduce_max/min, pow, gelu ------------------------

/// Where `lhs` wins a binary max (or min with `greater` = less), `g`; where
/// they tie, half of it each (as PyTorch's maximum/minimum).
Value winnerShare(OpBuilder &b, Location loc, Value g, Value mine, Value other, bool max) {
  Value wins = max ? GreaterOp::create(b, loc, mine, other).getResult()
                   : LessOp::create(b, loc, mine, other).getResult();
  Value ties = EqualOp::create(b, loc, mine, other).getResult();
  Value half = mul(b, loc, g, scalar(b, loc, g, 0.5));
  Value onTie = select(b, loc, ties, half, /*onTrue=*/true);
  return WhereOp::create(b, loc, wins, g, onTie).getResult();
}

template <typename OpTy, bool max>
LogicalResult minMaxRule(OpTy op, OpBuilder &b, ArrayRef<Value> g, SmallVectorImpl<Value> &d) {
  if (!isFloatTensor(op.getOutput()))
    return success();
  Location loc = op.getLoc();
  setBroadcastGradient(op, b, 0, winnerShare(b, loc, g[0], op.getLhs(), op.getRhs(), max), d);
  setBroadcastGradient(op, b, 1, winnerShare(b, loc, g[0], op.getRhs(), op.getLhs(), max), d);
  return success();
}

/// Of a max/min reduction: g spread evenly over the elements that equal the
/// result (PyTorch's amax/amin).
template <typename OpTy>
LogicalResult reduceExtremeRule(OpTy op, OpBuilder &b, ArrayRef<Value> g,
                                SmallVectorImpl<Value> &d) {
  if (!isFloatTensor(op.getInput()))
    return success();
  Location loc = op.getLoc();
  Value x = op.getInput();
  ArrayRef<int64_t> axes = op.getAxes();
  bool keep = op.getKeepdims();
  Value extreme = unreduce(b, loc, op.getOutput(), x, axes, keep);
  Value hits = EqualOp::create(b, loc, x, extreme).getResult();
  Value mask = CastOp::create(b, loc, tensorOf(x), hits).getResult();
  Value count = unreduce(b, loc, reduceSum(b, loc, mask, axes, keep), x, axes, keep);
  Value spread = unreduce(b, loc, g[0], x, axes, keep);
  d[0] = div(b, loc, mul(b, loc, spread, mask), count);
  return success();
}

LogicalResult powRule(PowOp op, OpBuilder &b, ArrayRef<Value> g, SmallVectorImpl<Value> &d) {
  if (!isFloatTensor(op.getOutput()))
    return success();
  Location loc = op.getLoc();
  Value x = op.getLhs(), p = op.getRhs(), y = op.getOutput();
  // dy/dx = p x^(p - 1); dy/dp = y log(x) (x > 0).
  Value pm1 = sub(b, loc, p, scalar(b, loc, p, 1.0));
  Value dx = mul(b, loc, p, PowOp::create(b, loc, x, pm1).getResult());
  setBroadcastGradient(op, b, 0, mul(b, loc, g[0], dx), d);
  Value logX = LogOp::create(b, loc, x).getResult();
  setBroadcastGradient(op, b, 1, mul(b, loc, g[0], mul(b, loc, y, logX)), d);
  return success();
}

LogicalResult geluRule(GeluOp op, OpBuilder &b, ArrayRef<Value> g, SmallVectorImpl<Value> &d) {
  Location loc = op.getLoc();
  Value x = op.getInput();
  auto c = [&](double v) { return scalar(b, loc, x, v); };
  Value derivative;
  if (op.getTanhApproximation()) {
    // u = sqrt(2/pi) (x + 0.044715 x^3), t = tanh(u):
    // d = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
    Value x2 = mul(b, loc, x, x);
    Value inner = mul(b, loc, x, binary<AddOp>(b, loc, c(1.0), mul(b, loc, c(0.044715), x2)));
    Value t = TanhOp::create(b, loc, mul(b, loc, c(0.7978845608028654), inner)).getResult();
    Value left = mul(b, loc, c(0.5), binary<AddOp>(b, loc, c(1.0), t));
    Value du = mul(b, loc, c(0.7978845608028654),
                   binary<AddOp>(b, loc, c(1.0), mul(b, loc, c(3 * 0.044715), x2)));
    Value right = mul(b, loc, mul(b, loc, c(0.5), x),
                      mul(b, loc, sub(b, loc, c(1.0), mul(b, loc, t, t)), du));
    derivative = binary<AddOp>(b, loc, left, right);
  } else {
    // d = Phi(x) + x phi(x) = 0.5 (1 + erf(x / sqrt 2)) + x exp(-x^2 / 2) / sqrt(2 pi)
    Value erf = ErfOp::create(b, loc, mul(b, loc, x, c(0.7071067811865476))).getResult();
    Value cdf = mul(b, loc, c(0.5), binary<AddOp>(b, loc, c(1.0), erf));
    Value pdf = mul(b, loc, c(0.3989422804014327),
                    ExpOp::create(b, loc, mul(b, loc, c(-0.5), mul(b, loc, x, x))).getResult());
    derivative = binary<AddOp>(b, loc, cdf, mul(b, loc, x, pdf));
  }
  d[0] = mul(b, loc, g[0], derivative);
  return success();
}

// --- Layer normalization ------------------------------------------------------------

LogicalResult layerNormRule(LayerNormOp op, OpBuilder &b, ArrayRef<Value> g,
                            SmallVectorImpl<Value> &d) {
  if ((g.size() > 1 && g[1]) || (g.size() > 2 && g[2]))
    return op.emitOpError("has no gradient rule through its mean and inv_std_dev results");
  if (!g[0])
    return success();
  Location loc = op.getLoc();
  Value x = op.getInput();
  RankedTensorType type = tensorOf(x);
  auto asX = [&](Value v) -> Value {
    RankedTensorType t = tensorOf(v);
    if (t.getElementType() == type.getElementType())
      return v;
    return CastOp::create(b, loc, t.clone(type.getElementType()), v).getResult();
  };
  Value mean = asX(op.getMean()), inv = asX(op.getInvStdDev());
  SmallVector<int64_t> axes;
  int64_t n = 1;
  for (int64_t a = op.getAxis(); a < type.getRank(); ++a) {
    axes.push_back(a);
    n *= type.getDimSize(a);
  }
  // xhat = (x - mean) inv; y = xhat scale + bias.
  Value xhat = mul(b, loc, sub(b, loc, x, mean), inv);
  if (op.getBias())
    d[2] = sumToShape(b, loc, g[0], tensorOf(op.getBias()));
  d[1] = sumToShape(b, loc, mul(b, loc, g[0], xhat), tensorOf(op.getScale()));
  // dx = inv (dxhat - mean(dxhat) - xhat mean(dxhat xhat)), means over the
  // normalized dims.
  Value dxhat = mul(b, loc, g[0], op.getScale());
  Value scale = scalar(b, loc, x, 1.0 / double(n));
  Value meanD = mul(b, loc, reduceSum(b, loc, dxhat, axes, true), scale);
  Value meanDX = mul(b, loc, reduceSum(b, loc, mul(b, loc, dxhat, xhat), axes, true), scale);
  d[0] = mul(b, loc, inv, sub(b, loc, sub(b, loc, dxhat, meanD), mul(b, loc, xhat, meanDX)));
  return success();
}

// --- Gathers: one-hot products --------------------------------------------------------

/// Indices as i64 with negative ones wrapped by `size`.
Value wrapIndices(OpBuilder &b, Location loc, Value indices, int64_t size) {
  RankedTensorType type = tensorOf(indices);
  Type i64 = b.getI64Type();
  if (type.getElementType() != i64)
    indices = CastOp::create(b, loc, type.clone(i64), indices).getResult();
  auto scalarType = RankedTensorType::get({}, i64);
  Value zero = ConstantOp::create(b, loc, DenseElementsAttr::get(scalarType, int64_t(0)));
  Value n = ConstantOp::create(b, loc, DenseElementsAttr::get(scalarType, size));
  Value negative = LessOp::create(b, loc, indices, zero).getResult();
  return WhereOp::create(b, loc, negative, binary<AddOp>(b, loc, indices, n), indices)
      .getResult();
}

/// 0, 1, ..., n - 1 (i64) laid along dim `axis` of a rank-`rank` shape.
Value iota(OpBuilder &b, Location loc, int64_t n, int64_t axis, int64_t rank) {
  SmallVector<int64_t> shape(rank, 1);
  shape[axis] = n;
  SmallVector<int64_t> values(n);
  std::iota(values.begin(), values.end(), 0);
  return ConstantOp::create(
      b, loc, DenseElementsAttr::get(RankedTensorType::get(shape, b.getI64Type()),
                                     ArrayRef<int64_t>(values)));
}

Value transpose(OpBuilder &b, Location loc, Value x, ArrayRef<int64_t> perm) {
  return TransposeOp::create(b, loc, ValueRange{x},
                             {b.getNamedAttr("perm", b.getDenseI64ArrayAttr(perm))})
      .getResult();
}

LogicalResult gatherRule(GatherOp op, OpBuilder &b, ArrayRef<Value> g, SmallVectorImpl<Value> &d) {
  if (!isFloatTensor(op.getData()))
    return success();
  Location loc = op.getLoc();
  RankedTensorType data = tensorOf(op.getData());
  int64_t axis = op.getAxis(), rank = data.getRank();
  int64_t size = data.getDimSize(axis);
  RankedTensorType indexType = tensorOf(op.getIndices());
  int64_t k = indexType.getRank(), n = indexType.getNumElements();
  // g: pre + indices + post. Move the index dims first, flatten to [n, rest],
  // and sum the rows of each index with a one-hot product:
  //   dData[v, rest] = sum_i (indices[i] == v) g[i, rest].
  SmallVector<int64_t> perm, pre, post;
  for (int64_t i = 0; i < k; ++i)
    perm.push_back(axis + i);
  for (int64_t i = 0; i < axis; ++i) {
    perm.push_back(i);
    pre.push_back(data.getDimSize(i));
  }
  for (int64_t i = axis + 1; i < rank; ++i) {
    perm.push_back(k + i - 1);
    post.push_back(data.getDimSize(i));
  }
  int64_t rest = 1;
  for (int64_t dim : llvm::concat<int64_t>(pre, post))
    rest *= dim;
  Value rows = reshape(b, loc, transpose(b, loc, g[0], perm), {n, rest});
  Value flat = reshape(b, loc, wrapIndices(b, loc, op.getIndices(), size), {n, 1});
  Value hits = EqualOp::create(b, loc, flat, iota(b, loc, size, 1, 2)).getResult();
  Value oneHot =
      CastOp::create(b, loc, RankedTensorType::get({n, size}, data.getElementType()), hits)
          .getResult();
  Value summed = matmul(b, loc, oneHot, rows, /*transposeA=*/true, false); // [size, rest]
  SmallVector<int64_t> axisFirst{size};
  axisFirst.append(pre);
  axisFirst.append(post);
  Value shaped = reshape(b, loc, summed, axisFirst);
  // [size] + pre + post back to pre + [size] + post.
  SmallVector<int64_t> back;
  for (int64_t i = 0; i < axis; ++i)
    back.push_back(i + 1);
  back.push_back(0);
  for (int64_t i = axis + 1; i < rank; ++i)
    back.push_back(i);
  d[0] = transpose(b, loc, shaped, back);
  return success();
}

LogicalResult gatherElementsRule(GatherElementsOp op, OpBuilder &b, ArrayRef<Value> g,
                                 SmallVectorImpl<Value> &d) {
  if (!isFloatTensor(op.getData()))
    return success();
  Location loc = op.getLoc();
  RankedTensorType data = tensorOf(op.getData()), indexType = tensorOf(op.getIndices());
  int64_t axis = op.getAxis(), rank = data.getRank(), size = data.getDimSize(axis);
  for (int64_t i = 0; i < rank; ++i)
    if (i != axis && indexType.getDimSize(i) != data.getDimSize(i))
      return op.emitOpError("has no gradient rule for indices smaller than the data off "
                            "the gather axis yet");
  // dData[.., v, ..] = sum_k (indices[.., k, ..] == v) g[.., k, ..]: a one-hot
  // dim of `size` after the axis, summed over the indices' axis.
  SmallVector<int64_t> expanded(indexType.getShape());
  expanded.insert(expanded.begin() + axis + 1, 1);
  Value idx = reshape(b, loc, wrapIndices(b, loc, op.getIndices(), size), expanded);
  Value hits = EqualOp::create(b, loc, idx, iota(b, loc, size, axis + 1, rank + 1)).getResult();
  SmallVector<int64_t> hitShape(expanded);
  hitShape[axis + 1] = size;
  Value oneHot =
      CastOp::create(b, loc, RankedTensorType::get(hitShape, data.getElementType()), hits)
          .getResult();
  Value weighted = mul(b, loc, oneHot, reshape(b, loc, g[0], expanded));
  Value summed = reduceSum(b, loc, weighted, {axis}, /*keepDims=*/false);
  d[0] = summed;
  return success();
}

/// Of reduce_prod: g times the product of the other reduced elements, built
/// without dividing by x (exact with zeros): the reduced axes moved last and
/// flattened to one, the exclusive products from the left and from the right.
LogicalResult reduceProdRule(ReduceProdOp op, OpBuilder &b, ArrayRef<Value> g,
                             SmallVectorImpl<Value> &d) {
  if (!isFloatTensor(op.getInput()))
    return success();
  Location loc = op.getLoc();
  Value x = op.getInput();
  RankedTensorType type = tensorOf(x);
  ArrayRef<int64_t> axes = op.getAxes();
  if (axes.empty()) {
    d[0] = g[0];
    return success();
  }
  SmallVector<int64_t> perm, kept, moved;
  int64_t reduced = 1;
  for (int64_t i = 0; i < type.getRank(); ++i)
    if (!llvm::is_contained(axes, i)) {
      perm.push_back(i);
      kept.push_back(type.getDimSize(i));
    }
  for (int64_t a : axes) {
    perm.push_back(a);
    reduced *= type.getDimSize(a);
  }
  SmallVector<int64_t> flatShape(kept);
  flatShape.push_back(reduced);
  Value flat = reshape(b, loc, transpose(b, loc, x, perm), flatShape);
  int64_t last = flatShape.size() - 1;
  auto cumprod = [&](bool reverse) {
    SmallVector<NamedAttribute> attrs{b.getNamedAttr("axis", b.getI64IntegerAttr(last)),
                                      b.getNamedAttr("exclusive", b.getUnitAttr())};
    if (reverse)
      attrs.push_back(b.getNamedAttr("reverse", b.getUnitAttr()));
    return CumProdOp::create(b, loc, TypeRange{flat.getType()}, ValueRange{flat}, attrs)
        .getResult();
  };
  Value others = mul(b, loc, cumprod(false), cumprod(true));
  // g over the kept dims, broadcast along the flattened reduced dim.
  SmallVector<int64_t> gShape(kept);
  gShape.push_back(1);
  Value spread = mul(b, loc, others, reshape(b, loc, g[0], gShape));
  SmallVector<int64_t> movedShape(kept);
  for (int64_t a : axes)
    movedShape.push_back(type.getDimSize(a));
  SmallVector<int64_t> inverse(perm.size());
  for (auto [i, p] : llvm::enumerate(perm))
    inverse[p] = i;
  d[0] = transpose(b, loc, reshape(b, loc, spread, movedShape), inverse);
  return success();
}

// --- Pad and cumulative sums ---------------------------------------------------------

/// Of reflect, edge and wrap padding: each output position reads one input
/// position per dim (PadOp::sourceIndex), so along each padded dim the
/// gradient is g times the one-hot [out, in] matrix of that map.
LogicalResult foldedPadRule(PadOp op, OpBuilder &b, ArrayRef<Value> g,
                            SmallVectorImpl<Value> &d) {
  Location loc = op.getLoc();
  ArrayRef<int64_t> in = tensorOf(op.getInput()).getShape();
  ArrayRef<int64_t> pads = op.getPads();
  int64_t rank = in.size();
  Type element = tensorOf(g[0]).getElementType();
  Value grad = g[0];
  for (int64_t axis = 0; axis < rank; ++axis) {
    int64_t before = pads[axis], size = in[axis];
    int64_t outSize = tensorOf(grad).getDimSize(axis);
    if (before == 0 && outSize == size)
      continue;
    SmallVector<Attribute> oneHot(outSize * size, b.getFloatAttr(element, 0.0));
    for (int64_t o = 0; o < outSize; ++o)
      oneHot[o * size + PadOp::sourceIndex(op.getMode(), o - before, size)] =
          b.getFloatAttr(element, 1.0);
    Value matrix = ConstantOp::create(
        b, loc, DenseElementsAttr::get(RankedTensorType::get({outSize, size}, element),
                                       oneHot));
    // The dim last, every other flattened: [rest, out] x [out, in].
    SmallVector<int64_t> perm, shape;
    for (int64_t i = 0; i < rank; ++i)
      if (i != axis)
        perm.push_back(i);
    perm.push_back(axis);
    Value moved = transpose(b, loc, grad, perm);
    SmallVector<int64_t> movedShape(tensorOf(moved).getShape());
    int64_t rest = tensorOf(moved).getNumElements() / outSize;
    Value summed =
        matmul(b, loc, reshape(b, loc, moved, {rest, outSize}), matrix, false, false);
    movedShape.back() = size;
    SmallVector<int64_t> inverse(rank);
    for (auto [i, p] : llvm::enumerate(perm))
      inverse[p] = i;
    grad = transpose(b, loc, reshape(b, loc, summed, movedShape), inverse);
  }
  d[0] = grad;
  return success();
}

LogicalResult padRule(PadOp op, OpBuilder &b, ArrayRef<Value> g, SmallVectorImpl<Value> &d) {
  if (!isFloatTensor(op.getInput()))
    return success();
  if (op.getMode() != "constant")
    return foldedPadRule(op, b, g, d);
  Location loc = op.getLoc();
  // Padding by -pads crops back (and pads with zeros what was cropped).
  SmallVector<int64_t> negated;
  for (int64_t p : op.getPads())
    negated.push_back(-p);
  d[0] = PadOp::create(b, loc, ValueRange{g[0]},
                       {b.getNamedAttr("pads", b.getDenseI64ArrayAttr(negated)),
                        b.getNamedAttr("mode", b.getStringAttr("constant"))})
             .getResult();
  if (Value value = op.getValue(); value && isFloatTensor(value)) {
    // The fill value's gradient: what g holds outside the input's elements.
    int64_t rank = tensorOf(g[0]).getRank();
    SmallVector<int64_t> all(rank);
    std::iota(all.begin(), all.end(), 0);
    Value total = reduceSum(b, loc, g[0], all, false);
    Value inside = reduceSum(b, loc, d[0], all, false);
    d[1] = reshape(b, loc, sub(b, loc, total, inside), tensorOf(value).getShape());
  }
  return success();
}

LogicalResult cumSumRule(CumSumOp op, OpBuilder &b, ArrayRef<Value> g, SmallVectorImpl<Value> &d) {
  if (!isFloatTensor(op.getInput()))
    return success();
  // y_i = sum_{j <= i} x_j  =>  dx_j = sum_{i >= j} g_i: the cumsum the other way.
  SmallVector<NamedAttribute> attrs{b.getNamedAttr("axis", op.getAxisAttr())};
  if (op.getExclusive())
    attrs.push_back(b.getNamedAttr("exclusive", b.getUnitAttr()));
  if (!op.getReverse())
    attrs.push_back(b.getNamedAttr("reverse", b.getUnitAttr()));
  d[0] = CumSumOp::create(b, op.getLoc(), TypeRange{g[0].getType()}, ValueRange{g[0]}, attrs)
             .getResult();
  return success();
}

/// Of an inclusive forward cumprod along the last dim, without dividing by x
/// (exact with zeros): y_i = prod_{k <= i} x_k gives
///   dx_j = prod_{k < j} x_k * sum_{i >= j} g_i prod_{j < k <= i} x_k,
/// the inner products a cumprod of x with the elements up to j set to 1, on
/// an [.., n, n] tensor (j, i).
Value cumProdLastGradient(OpBuilder &b, Location loc, Value x, Value g) {
  RankedTensorType type = tensorOf(x);
  int64_t rank = type.getRank(), n = type.getDimSize(rank - 1);
  auto cumprod = [&](Value v, bool exclusive) {
    SmallVector<NamedAttribute> attrs{
        b.getNamedAttr("axis", b.getI64IntegerAttr(tensorOf(v).getRank() - 1))};
    if (exclusive)
      attrs.push_back(b.getNamedAttr("exclusive", b.getUnitAttr()));
    return CumProdOp::create(b, loc, TypeRange{v.getType()}, ValueRange{v}, attrs).getResult();
  };
  Value before = cumprod(x, /*exclusive=*/true);
  auto mask = [&](bool strictlyAfter) {
    SmallVector<bool> values(n * n);
    for (int64_t j = 0; j < n; ++j)
      for (int64_t i = 0; i < n; ++i)
        values[j * n + i] = strictlyAfter ? i > j : i >= j;
    return ConstantOp::create(
        b, loc, DenseElementsAttr::get(RankedTensorType::get({n, n}, b.getI1Type()),
                                       ArrayRef<bool>(values)));
  };
  SmallVector<int64_t> rowShape(type.getShape());
  rowShape.insert(rowShape.end() - 1, 1);
  Value one = scalar(b, loc, x, 1.0);
  Value masked = WhereOp::create(b, loc, mask(true), reshape(b, loc, x, rowShape), one)
                     .getResult();
  Value partial = cumprod(masked, /*exclusive=*/false);
  Value weighted = mul(b, loc, reshape(b, loc, g, rowShape), partial);
  Value kept = WhereOp::create(b, loc, mask(false), weighted, scalar(b, loc, weighted, 0.0))
                   .getResult();
  return mul(b, loc, before, reduceSum(b, loc, kept, {rank}, /*keepDims=*/false));
}

LogicalResult cumProdRule(CumProdOp op, OpBuilder &b, ArrayRef<Value> g,
                          SmallVectorImpl<Value> &d) {
  if (!isFloatTensor(op.getInput()))
    return success();
  Location loc = op.getLoc();
  Value x = op.getInput(), grad = g[0];
  int64_t axis = op.getAxis(), rank = tensorOf(x).getRank();
  if (tensorOf(x).getDimSize(axis) == 0) {
    d[0] = grad;
    return success();
  }
  // Reverse runs forwards on reversed data; exclusive is the inclusive
  // product shifted by one, so its gradient is g shifted back.
  if (op.getReverse()) {
    x = reverseAlong(b, loc, x, axis);
    grad = reverseAlong(b, loc, grad, axis);
  }
  if (op.getExclusive()) {
    SmallVector<int64_t> shift(2 * rank, 0);
    shift[axis] = -1;
    shift[rank + axis] = 1;
    grad = PadOp::create(b, loc, ValueRange{grad},
                         {b.getNamedAttr("pads", b.getDenseI64ArrayAttr(shift)),
                          b.getNamedAttr("mode", b.getStringAttr("constant"))})
               .getResult();
  }
  SmallVector<int64_t> perm;
  for (int64_t i = 0; i < rank; ++i)
    if (i != axis)
      perm.push_back(i);
  perm.push_back(axis);
  SmallVector<int64_t> inverse(rank);
  for (auto [i, p] : llvm::enumerate(perm))
    inverse[p] = i;
  Value dx = transpose(b, loc,
                       cumProdLastGradient(b, loc, transpose(b, loc, x, perm),
                                           transpose(b, loc, grad, perm)),
                       inverse);
  d[0] = op.getReverse() ? reverseAlong(b, loc, dx, axis) : dx;
  return success();
}

/// r = x - q y with q = floor(x / y) (Python's %) or trunc(x / y) (fmod):
/// dx = g, dy = -g q (q is piecewise constant), as torch.remainder / fmod.
LogicalResult modRule(ModOp op, OpBuilder &b, ArrayRef<Value> g, SmallVectorImpl<Value> &d) {
  if (!isFloatTensor(op.getOutput()))
    return success();
  Location loc = op.getLoc();
  Value ratio = div(b, loc, op.getLhs(), op.getRhs());
  Value q = op.getFmod()
                ? mul(b, loc, SignOp::create(b, loc, ratio).getResult(),
                      FloorOp::create(b, loc, AbsOp::create(b, loc, ratio).getResult())
                          .getResult())
                : FloorOp::create(b, loc, ratio).getResult();
  setBroadcastGradient(op, b, 0, g[0], d);
  setBroadcastGradient(op, b, 1, neg(b, loc, mul(b, loc, g[0], q)), d);
  return success();
}

// --- Convolution ---------------------------------------------------------------------

Value padBy(OpBuilder &b, Location loc, Value x, ArrayRef<int64_t> pads) {
  if (llvm::all_of(pads, [](int64_t p) { return p == 0; }))
    return x;
  return PadOp::create(b, loc, ValueRange{x},
                       {b.getNamedAttr("pads", b.getDenseI64ArrayAttr(pads)),
                        b.getNamedAttr("mode", b.getStringAttr("constant"))})
      .getResult();
}

/// Dims [start, start + size) of `x` along `axis` (step `step`).
Value sliceDim(OpBuilder &b, Location loc, Value x, int64_t axis, int64_t start, int64_t size,
               int64_t step = 1) {
  RankedTensorType type = tensorOf(x);
  SmallVector<int64_t> starts(type.getRank(), 0), steps(type.getRank(), 1);
  SmallVector<int64_t> shape(type.getShape());
  starts[axis] = start;
  steps[axis] = step;
  shape[axis] = size;
  return SliceOp::create(b, loc, type.clone(shape), x, b.getDenseI64ArrayAttr(starts),
                         b.getDenseI64ArrayAttr(steps))
      .getResult();
}

/// `x` [N, C, o...] with s - 1 zeros after each element of each spatial dim:
/// [.., o, ..] -> [.., o, 1, ..] padded to [.., o, s, ..] -> [.., o s, ..].
Value dilateSpatial(OpBuilder &b, Location loc, Value x, ArrayRef<int64_t> strides) {
  for (auto [i, s] : llvm::enumerate(strides)) {
    if (s == 1)
      continue;
    int64_t axis = 2 + i;
    SmallVector<int64_t> shape(tensorOf(x).getShape());
    SmallVector<int64_t> split(shape);
    split.insert(split.begin() + axis + 1, 1);
    SmallVector<int64_t> padding(2 * split.size(), 0);
    padding[split.size() + axis + 1] = s - 1;
    Value spread = padBy(b, loc, reshape(b, loc, x, split), padding);
    shape[axis] *= s;
    x = reshape(b, loc, spread, shape);
  }
  return x;
}

Value conv(OpBuilder &b, Location loc, Value x, Value w, ArrayRef<int64_t> strides,
           ArrayRef<int64_t> dilations, int64_t group) {
  SmallVector<int64_t> pads(2 * strides.size(), 0);
  return ConvOp::create(b, loc, ValueRange{x, w},
                        {b.getNamedAttr("strides", b.getDenseI64ArrayAttr(strides)),
                         b.getNamedAttr("pads", b.getDenseI64ArrayAttr(pads)),
                         b.getNamedAttr("dilations", b.getDenseI64ArrayAttr(dilations)),
                         b.getNamedAttr("group", b.getI64IntegerAttr(group))})
      .getResult();
}

/// Transposes the first two dims.
Value swapFirstTwo(OpBuilder &b, Location loc, Value x) {
  SmallVector<int64_t> perm(tensorOf(x).getRank());
  std::iota(perm.begin(), perm.end(), 0);
  std::swap(perm[0], perm[1]);
  return transpose(b, loc, x, perm);
}

LogicalResult convRule(ConvOp op, OpBuilder &b, ArrayRef<Value> g, SmallVectorImpl<Value> &d) {
  Location loc = op.getLoc();
  Value x = op.getInput(), w = op.getWeight(), dy = g[0];
  RankedTensorType xType = tensorOf(x), wType = tensorOf(w), yType = tensorOf(dy);
  const int64_t spatial = xType.getRank() - 2, group = op.getGroup();
  ArrayRef<int64_t> strides = op.getStrides(), pads = op.getPads(),
                    dilations = op.getDilations();
  const int64_t c = xType.getDimSize(1), m = wType.getDimSize(0);
  SmallVector<int64_t> ones(spatial, 1);

  if (Value bias = op.getBias()) {
    SmallVector<int64_t> axes{0};
    for (int64_t i = 0; i < spatial; ++i)
      axes.push_back(2 + i);
    d[2] = reduceSum(b, loc, dy, axes, /*keepDims=*/false);
  }

  // dX: dy dilated by the strides, padded, convolved with the flipped weight
  // whose in/out channels are swapped within each group.
  {
    Value dilated = dilateSpatial(b, loc, dy, strides);
    // Pad so that a stride-1 conv gives the input's size: begin d(k-1) - pb,
    // end d(k-1) - pe + r - (s - 1), r the input positions the windows skip.
    SmallVector<int64_t> padding(2 * xType.getRank(), 0);
    for (int64_t i = 0; i < spatial; ++i) {
      int64_t k = wType.getDimSize(2 + i), s = strides[i], dl = dilations[i];
      int64_t in = xType.getDimSize(2 + i), out = yType.getDimSize(2 + i);
      int64_t r = in + pads[i] + pads[spatial + i] - dl * (k - 1) - 1 - (out - 1) * s;
      padding[2 + i] = dl * (k - 1) - pads[i];
      padding[xType.getRank() + 2 + i] = dl * (k - 1) - pads[spatial + i] + r - (s - 1);
    }
    Value padded = padBy(b, loc, dilated, padding);
    // [M, C/g, k] -> [g, M/g, C/g, k] -> [g, C/g, M/g, k] -> [C, M/g, k], flipped.
    SmallVector<int64_t> grouped{group, m / group, c / group};
    SmallVector<int64_t> kernel(wType.getShape().drop_front(2));
    grouped.append(kernel);
    SmallVector<int64_t> perm{0, 2, 1};
    for (int64_t i = 0; i < spatial; ++i)
      perm.push_back(3 + i);
    SmallVector<int64_t> flatShape{c, m / group};
    flatShape.append(kernel);
    Value flipped = reshape(b, loc, transpose(b, loc, reshape(b, loc, w, grouped), perm),
                            flatShape);
    for (int64_t i = 0; i < spatial; ++i)
      flipped = sliceDim(b, loc, flipped, 2 + i, kernel[i] - 1, kernel[i], -1);
    d[0] = conv(b, loc, padded, flipped, ones, dilations, group);
  }

  // dW per group: the input's channels as the batch, the batch as channels:
  // dW^T[c, m, k] = conv(x_pad^T, dy^T, stride = dilations, dilation = strides).
  {
    SmallVector<int64_t> padding(2 * xType.getRank(), 0);
    for (int64_t i = 0; i < spatial; ++i) {
      padding[2 + i] = pads[i];
      padding[xType.getRank() + 2 + i] = pads[spatial + i];
    }
    Value xPadded = padBy(b, loc, x, padding);
    SmallVector<Value> parts;
    int64_t cg = c / group, mg = m / group;
    for (int64_t j = 0; j < group; ++j) {
      Value xj = group == 1 ? xPadded : sliceDim(b, loc, xPadded, 1, j * cg, cg);
      Value gj = group == 1 ? dy : sliceDim(b, loc, dy, 1, j * mg, mg);
      Value full = conv(b, loc, swapFirstTwo(b, loc, xj), swapFirstTwo(b, loc, gj),
                        dilations, strides, 1); // [C/g, M/g, k' >= k]
      for (int64_t i = 0; i < spatial; ++i)
        if (tensorOf(full).getDimSize(2 + i) != wType.getDimSize(2 + i))
          full = sliceDim(b, loc, full, 2 + i, 0, wType.getDimSize(2 + i));
      parts.push_back(swapFirstTwo(b, loc, full)); // [M/g, C/g, k]
    }
    d[1] = parts.size() == 1
               ? parts.front()
               : ConcatOp::create(b, loc, ValueRange(parts),
                                  {b.getNamedAttr("axis", b.getI64IntegerAttr(0))})
                     .getResult();
  }
  return success();
}

// --- Pooling: one contribution per window offset -------------------------------------

/// Every kernel offset (row-major over the spatial dims).
SmallVector<SmallVector<int64_t>> kernelOffsets(ArrayRef<int64_t> kernel) {
  SmallVector<SmallVector<int64_t>> offsets{{}};
  for (int64_t k : kernel) {
    SmallVector<SmallVector<int64_t>> next;
    for (const auto &prefix : offsets)
      for (int64_t i = 0; i < k; ++i) {
        next.push_back(prefix);
        next.back().push_back(i);
      }
    offsets = std::move(next);
  }
  return offsets;
}

/// `contribution` [N, C, out...] of window offset `offset` placed where the
/// pool read it: output o of dim i at input o s + offset dl - pb (positions
/// in the padding dropped), zeros elsewhere: a tensor of `inputType`.
Value placeAtWindowOffset(OpBuilder &b, Location loc, Value contribution,
                          ArrayRef<int64_t> offset, RankedTensorType inputType,
                          ArrayRef<int64_t> strides, ArrayRef<int64_t> dilations,
                          ArrayRef<int64_t> pads) {
  int64_t rank = inputType.getRank(), spatial = rank - 2;
  Value spread = dilateSpatial(b, loc, contribution, strides);
  SmallVector<int64_t> padding(2 * rank, 0);
  for (int64_t i = 0; i < spatial; ++i) {
    int64_t begin = offset[i] * dilations[i] - pads[i];
    padding[2 + i] = begin;
    padding[rank + 2 + i] = inputType.getDimSize(2 + i) - (tensorOf(spread).getDimSize(2 + i) + begin);
  }
  return padBy(b, loc, spread, padding);
}

/// The input elements window offset `offset` read, [N, C, out...], from the
/// input padded (by `fill`) as the pool pads it.
Value readAtWindowOffset(OpBuilder &b, Location loc, Value padded, ArrayRef<int64_t> offset,
                         RankedTensorType outType, ArrayRef<int64_t> strides,
                         ArrayRef<int64_t> dilations) {
  RankedTensorType type = tensorOf(padded);
  SmallVector<int64_t> starts(type.getRank(), 0), steps(type.getRank(), 1);
  for (size_t i = 0; i < offset.size(); ++i) {
    starts[2 + i] = offset[i] * dilations[i];
    steps[2 + i] = strides[i];
  }
  return SliceOp::create(b, loc, type.clone(outType.getShape()), padded,
                         b.getDenseI64ArrayAttr(starts), b.getDenseI64ArrayAttr(steps))
      .getResult();
}

LogicalResult avgPoolRule(AvgPoolOp op, OpBuilder &b, ArrayRef<Value> g,
                          SmallVectorImpl<Value> &d) {
  if (!isFloatTensor(op.getInput()))
    return success();
  Location loc = op.getLoc();
  RankedTensorType inType = tensorOf(op.getInput()), outType = tensorOf(op.getOutput());
  ArrayRef<int64_t> kernel = op.getKernelShape(), strides = op.getStrides(),
                    pads = op.getPads(), dilations = op.getDilations();
  // The divisors of the forward (PoolWindows.h), inverted.
  SmallVector<int64_t> outSpatial(outType.getShape().drop_front(2));
  SmallVector<double> inverse = avgPoolDivisors(op);
  for (double &v : inverse)
    v = 1.0 / v;
  Type element = inType.getElementType();
  auto inverseType = RankedTensorType::get(outSpatial, element);
  SmallVector<Attribute> values;
  for (double v : inverse)
    values.push_back(b.getFloatAttr(element, v));
  Value scale = ConstantOp::create(b, loc, DenseElementsAttr::get(inverseType, values));
  Value share = mul(b, loc, g[0], scale);
  Value sum;
  for (const auto &offset : kernelOffsets(kernel)) {
    Value placed = placeAtWindowOffset(b, loc, share, offset, inType, strides, dilations, pads);
    sum = sum ? binary<AddOp>(b, loc, sum, placed) : placed;
  }
  d[0] = sum;
  return success();
}

LogicalResult maxPoolRule(MaxPoolOp op, OpBuilder &b, ArrayRef<Value> g,
                          SmallVectorImpl<Value> &d) {
  if (!isFloatTensor(op.getInput()))
    return success();
  Location loc = op.getLoc();
  Value x = op.getInput(), y = op.getOutput();
  RankedTensorType inType = tensorOf(x), outType = tensorOf(y);
  ArrayRef<int64_t> kernel = op.getKernelShape(), strides = op.getStrides(),
                    pads = op.getPads(), dilations = op.getDilations();
  int64_t rank = inType.getRank(), spatial = kernel.size();
  // The input padded with -inf as far as the windows reach (ceil_mode's last
  // windows may reach past the end padding).
  SmallVector<int64_t> padding(2 * rank, 0);
  for (int64_t i = 0; i < spatial; ++i) {
    int64_t reach = (outType.getDimSize(2 + i) - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1;
    padding[2 + i] = pads[i];
    padding[rank + 2 + i] = reach - inType.getDimSize(2 + i) - pads[i];
  }
  Value lowest = scalar(b, loc, x, -std::numeric_limits<double>::infinity());
  Value padded = PadOp::create(b, loc, ValueRange{x, lowest},
                               {b.getNamedAttr("pads", b.getDenseI64ArrayAttr(padding)),
                                b.getNamedAttr("mode", b.getStringAttr("constant"))})
                     .getResult();
  // The gradient goes to the first element of each window that equals the
  // maximum (PyTorch's argmax), in row-major window order.
  Value taken, sum;
  for (const auto &offset : kernelOffsets(kernel)) {
    Value read = readAtWindowOffset(b, loc, padded, offset, outType, strides, dilations);
    Value hit = EqualOp::create(b, loc, read, y).getResult();
    Value first = hit;
    if (taken) {
      Value fresh = NotOp::create(b, loc, taken).getResult();
      first = AndOp::create(b, loc, hit, fresh).getResult();
      taken = OrOp::create(b, loc, taken, hit).getResult();
    } else {
      taken = hit;
    }
    Value share = select(b, loc, first, g[0], /*onTrue=*/true);
    Value placed = placeAtWindowOffset(b, loc, share, offset, inType, strides, dilations, pads);
    sum = sum ? binary<AddOp>(b, loc, sum, placed) : placed;
  }
  d[0] = sum;
  return success();
}

} // namespace

Value mlir::pmc::sumToShape(OpBuilder &b, Location loc, Value gradient,
                            RankedTensorType type) {
  ArrayRef<int64_t> from = tensorOf(gradient).getShape(), to = type.getShape();
  if (from == to)
    return gradient;
  int64_t lead = from.size() - to.size();
  SmallVector<int64_t> axes;
  for (int64_t i = 0, e = from.size(); i < e; ++i)
    if (i < lead || (to[i - lead] == 1 && from[i] != 1))
      axes.push_back(i);
  Value summed = axes.empty() ? gradient : reduceSum(b, loc, gradient, axes, /*keepDims=*/true);
  return reshape(b, loc, summed, to);
}

void mlir::pmc::registerGradientModels(MLIRContext *context) {
  attach<ExpOp, unaryRule<ExpOp, dExp>>(context);
  attach<LogOp, unaryRule<LogOp, dLog>>(context);
  attach<TanhOp, unaryRule<TanhOp, dTanh>>(context);
  attach<SigmoidOp, unaryRule<SigmoidOp, dSigmoid>>(context);
  attach<SqrtOp, unaryRule<SqrtOp, dSqrt>>(context);
  attach<ReciprocalOp, unaryRule<ReciprocalOp, dReciprocal>>(context);
  attach<SinOp, unaryRule<SinOp, dSin>>(context);
  attach<CosOp, unaryRule<CosOp, dCos>>(context);
  attach<AbsOp, unaryRule<AbsOp, dAbs>>(context);
  attach<ErfOp, unaryRule<ErfOp, dErf>>(context);
  attach<SoftplusOp, unaryRule<SoftplusOp, dSoftplus>>(context);
  attach<TanOp, unaryRule<TanOp, dTan>>(context);
  attach<AsinOp, unaryRule<AsinOp, dAsin>>(context);
  attach<AcosOp, unaryRule<AcosOp, dAcos>>(context);
  attach<AtanOp, unaryRule<AtanOp, dAtan>>(context);
  attach<AsinhOp, unaryRule<AsinhOp, dAsinh>>(context);
  attach<AcoshOp, unaryRule<AcoshOp, dAcosh>>(context);
  attach<AtanhOp, unaryRule<AtanhOp, dAtanh>>(context);
  attach<ReduceProdOp, reduceProdRule>(context);
  attach<SinhOp, unaryRule<SinhOp, dSinh>>(context);
  attach<CoshOp, unaryRule<CoshOp, dCosh>>(context);
  attach<NegOp, negRule>(context);
  attach<ReluOp, reluRule>(context);
  attach<FloorOp, zeroRule<FloorOp>>(context);
  attach<CeilOp, zeroRule<CeilOp>>(context);
  attach<RoundOp, zeroRule<RoundOp>>(context);
  attach<SignOp, zeroRule<SignOp>>(context);
  attach<CastOp, castRule>(context);
  attach<AddOp, addRule>(context);
  attach<SubOp, subRule>(context);
  attach<MulOp, mulRule>(context);
  attach<DivOp, divRule>(context);
  attach<WhereOp, whereRule>(context);
  attach<MatMulOp, matmulRule>(context);
  attach<ReduceSumOp, reduceSumRule>(context);
  attach<ReduceMeanOp, reduceMeanRule>(context);
  attach<SoftmaxOp, softmaxRule>(context);
  attach<LogSoftmaxOp, logSoftmaxRule>(context);
  attach<ReshapeOp, reshapeRule>(context);
  attach<TransposeOp, transposeRule>(context);
  attach<BroadcastOp, broadcastRule>(context);
  attach<ConcatOp, concatRule>(context);
  attach<SliceOp, sliceRule>(context);
  attach<MaxOp, minMaxRule<MaxOp, true>>(context);
  attach<MinOp, minMaxRule<MinOp, false>>(context);
  attach<ReduceMaxOp, reduceExtremeRule<ReduceMaxOp>>(context);
  attach<ReduceMinOp, reduceExtremeRule<ReduceMinOp>>(context);
  attach<PowOp, powRule>(context);
  attach<GeluOp, geluRule>(context);
  attach<LayerNormOp, layerNormRule>(context);
  attach<GatherOp, gatherRule>(context);
  attach<GatherElementsOp, gatherElementsRule>(context);
  attach<PadOp, padRule>(context);
  attach<CumSumOp, cumSumRule>(context);
  attach<CumProdOp, cumProdRule>(context);
  attach<ModOp, modRule>(context);
  attach<ConvOp, convRule>(context);
  attach<AvgPoolOp, avgPoolRule>(context);
  attach<MaxPoolOp, maxPoolRule>(context);
}
