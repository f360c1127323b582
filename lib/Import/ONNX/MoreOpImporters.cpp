//===- MoreOpImporters.cpp - the operator set extension: ONNX -> pmc ------===//
//
// Activations, elementwise math, integer bit operations, more reductions,
// index operators and normalizations. Where a decomposition into pmc ops is
// exact it is used (HardSigmoid = max(0, min(1, alpha x + beta))); operators
// that would be inexact or slow as a decomposition have pmc ops of their own
// (softplus, mod, arg_max, pad, cumsum, gather_elements, ...).
//
#include "ImporterImpl.h"

#include "mlir/IR/Matchers.h"
#include "llvm/ADT/StringSet.h"

#include <cmath>
#include <limits>
#include <numeric>

using namespace mlir;
using namespace mlir::pmc;
using namespace ::pmc::onnx_import;

namespace {
RankedTensorType tensorType(Value v) { return cast<RankedTensorType>(v.getType()); }
ArrayRef<int64_t> shapeOf(Value v) { return tensorType(v).getShape(); }
Type elementOf(Value v) { return tensorType(v).getElementType(); }

int64_t product(ArrayRef<int64_t> dims) {
  return std::accumulate(dims.begin(), dims.end(), int64_t(1),
                         std::multiplies<int64_t>());
}

/// Chains fallible steps: `TRY(v, expr)` declares `v` or returns failure.
#define TRY(var, expr)                                                         \
  auto var##OrFailure = (expr);                                                \
  if (failed(var##OrFailure))                                                  \
    return failure();                                                          \
  Value var = *var##OrFailure;
} // namespace

Value NodeImporter::iota(int64_t n, int64_t axis, int64_t rank) {
  SmallVector<int64_t> shape(rank, 1);
  shape[axis] = n;
  SmallVector<int64_t> values(n);
  std::iota(values.begin(), values.end(), 0);
  auto type = RankedTensorType::get(shape, b.getI64Type());
  return constant(DenseElementsAttr::get(type, ArrayRef<int64_t>(values)));
}

FailureOr<Value> NodeImporter::normalize(Value x, int64_t axis, float epsilon) {
  ArrayRef<int64_t> shape = shapeOf(x);
  Type element = elementOf(x);
  SmallVector<int64_t> statShape(shape);
  for (size_t d = axis; d < shape.size(); ++d)
    statShape[d] = 1;
  Type statElement = element.isF64() ? element : b.getF32Type();
  auto statType = RankedTensorType::get(statShape, statElement);
  auto onesType = RankedTensorType::get({1}, element);
  Value ones = constant(DenseElementsAttr::get(onesType, FloatAttr::get(element, 1.0)));
  auto results = buildTyped(LayerNormOp::getOperationName(),
                            {x.getType(), statType, statType}, {x, ones},
                            {b.getNamedAttr("axis", b.getI64IntegerAttr(axis)),
                             b.getNamedAttr("epsilon", b.getF32FloatAttr(epsilon))});
  if (failed(results))
    return failure();
  return (*results)[0];
}

//===----------------------------------------------------------------------===//
// Dispatch
//===----------------------------------------------------------------------===//

std::optional<LogicalResult> NodeImporter::importExtension(StringRef op) {
  static const llvm::StringSet<> activations = {
      "LeakyRelu", "Elu",  "Selu",  "Celu",  "HardSigmoid", "HardSwish", "Softplus",
      "Softsign",  "Mish", "PRelu", "ThresholdedRelu", "Shrink", "Sign", "Round",
      "IsNaN",     "Tan",  "Asin",  "Acos",  "Atan",  "Sinh", "Cosh", "Asinh",
      "Acosh",     "Atanh", "BitwiseNot"};
  if (activations.contains(op))
    return importActivation(op);
  if (op == "Clip") return importClip();
  if (op == "IsInf") return importIsInf();
  if (op == "Sum") return importSumMean(false);
  if (op == "Mean") return importSumMean(true);
  if (op == "Mod" || op == "BitShift" || op == "BitwiseAnd" || op == "BitwiseOr" ||
      op == "BitwiseXor")
    return importBinaryExtension(op);
  if (op == "ReduceL1" || op == "ReduceL2" || op == "ReduceLogSum" ||
      op == "ReduceLogSumExp" || op == "ReduceSumSquare")
    return importReduceExtension(op);
  if (op == "ArgMax") return importArgReduce(true);
  if (op == "ArgMin") return importArgReduce(false);
  if (op == "Tile") return importTile();
  if (op == "Pad") return importPad();
  if (op == "Trilu") return importTrilu();
  if (op == "Hardmax") return importHardmax();
  if (op == "CumSum") return importCumSum();
  if (op == "InstanceNormalization") return importInstanceNorm();
  if (op == "GroupNormalization") return importGroupNorm();
  if (op == "DepthToSpace") return importDepthSpace(false);
  if (op == "SpaceToDepth") return importDepthSpace(true);
  if (op == "GatherElements") return importGatherElements();
  if (op == "GatherND") return importGatherND();
  if (op == "ConvTranspose") return importConvTranspose();
  if (op == "LRN") return importLRN();
  if (op == "OneHot") return importOneHot();
  if (op == "LpNormalization") return importLpNorm();
  if (op == "MeanVarianceNormalization") return importMeanVarianceNorm();
  if (op == "EyeLike") return importEyeLike();
  if (op == "Size") {
    if (failed(requireInputs(1)))
      return failure();
    auto type = RankedTensorType::get({}, b.getI64Type());
    int64_t count = tensorType(input(0)).getNumElements();
    return setOutput(0, constant(DenseElementsAttr::get(type, ArrayRef<int64_t>{count})));
  }
  if (op == "CastLike") {
    if (failed(requireInputs(2)))
      return failure();
    auto type = RankedTensorType::get(shapeOf(input(0)), elementOf(input(1)));
    if (type == input(0).getType())
      return setOutput(0, input(0));
    return setOutput(0, typed<CastOp>(type, input(0)));
  }
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

LogicalResult NodeImporter::importClip() {
  if (failed(requireInputs(1)))
    return failure();
  Value x = input(0);
  Type element = elementOf(x);
  Value lo = input(1), hi = input(2);
  if (opset < 11) {
    float inf = std::numeric_limits<float>::infinity();
    float min = getFloat("min", -inf), max = getFloat("max", inf);
    lo = min == -inf ? Value() : scalar(element, min);
    hi = max == inf ? Value() : scalar(element, max);
  }
  for (Value bound : {lo, hi})
    if (bound && tensorType(bound).getNumElements() != 1)
      return error() << "min and max must be scalars, got shape ["
                     << shapeOf(bound) << "]";
  if (lo) {
    TRY(r, reshape(lo, {}));
    TRY(y, inferred<MaxOp>({x, r}));
    x = y;
  }
  if (hi) {
    TRY(r, reshape(hi, {}));
    TRY(y, inferred<MinOp>({x, r}));
    x = y;
  }
  return setOutput(0, x);
}

LogicalResult NodeImporter::importActivation(StringRef op) {
  if (failed(requireInputs(op == "PRelu" ? 2 : 1)))
    return failure();
  Value x = input(0);
  Type t = elementOf(x);
  bool isFloat = isa<FloatType>(t);
  // Float attributes (alpha, bias, lambd, ...) become constants of x's type:
  // an integer type cannot hold NaN, an infinity or |v| >= 2^63.
  if (!isFloat)
    for (const auto &a : node.attribute())
      if (a.has_f() && !(std::fabs(a.f()) < 9.2e18))
        return error() << "attribute '" << a.name() << "' is " << a.f()
                       << ", which the integer type " << t << " of input 0 cannot hold";
  static const llvm::StringMap<StringRef> unaryOps = {
      {"Tan", TanOp::getOperationName()},     {"Asin", AsinOp::getOperationName()},
      {"Acos", AcosOp::getOperationName()},   {"Atan", AtanOp::getOperationName()},
      {"Sinh", SinhOp::getOperationName()},   {"Cosh", CoshOp::getOperationName()},
      {"Asinh", AsinhOp::getOperationName()}, {"Acosh", AcoshOp::getOperationName()},
      {"Atanh", AtanhOp::getOperationName()}, {"Round", RoundOp::getOperationName()},
      {"Sign", SignOp::getOperationName()},   {"Softplus", SoftplusOp::getOperationName()},
      {"BitwiseNot", BitwiseNotOp::getOperationName()}};
  auto it = unaryOps.find(op);
  if (it != unaryOps.end())
    return setOutput(0, unary(it->second, x));
  auto c = [&](double v) { return scalar(t, v); };
  auto exp = [&](Value v) { return unary(ExpOp::getOperationName(), v); };

  if (op == "IsNaN") {
    // NaN is the only value unequal to itself.
    TRY(same, inferred<EqualOp>({x, x}));
    return setOutput(0, unary(NotOp::getOperationName(), same));
  }
  if (op == "Shrink") {
    double lambd = getFloat("lambd", 0.5f), bias = getFloat("bias", 0.0f);
    // For integers, x < -lambd is x < ceil(-lambd); x > lambd is x > floor(lambd).
    double below = isFloat ? -lambd : std::ceil(-lambd);
    double above = isFloat ? lambd : std::floor(lambd);
    TRY(lt, inferred<LessOp>({x, c(below)}));
    TRY(gt, inferred<GreaterOp>({x, c(above)}));
    TRY(plus, inferred<AddOp>({x, c(bias)}));
    TRY(minus, inferred<SubOp>({x, c(bias)}));
    TRY(upper, inferred<WhereOp>({gt, minus, c(0)}));
    return setOutput(0, inferred<WhereOp>({lt, plus, upper}));
  }
  if (op == "PRelu") {
    // The slope broadcasts to x (unidirectionally). As in ONNX's reference
    // (and the PReLU exports of old opsets), a 1-D slope that does not
    // broadcast applies along the one dimension of x of its size.
    Value slope = input(1);
    ArrayRef<int64_t> xShape = shapeOf(x), slopeShape = shapeOf(slope);
    auto out = broadcastShapes(xShape, slopeShape);
    if ((failed(out) || ArrayRef<int64_t>(*out) != xShape) && slopeShape.size() == 1 &&
        llvm::count(xShape, slopeShape[0]) == 1) {
      SmallVector<int64_t> along(xShape.size(), 1);
      along[llvm::find(xShape, slopeShape[0]) - xShape.begin()] = slopeShape[0];
      TRY(reshaped, reshape(slope, along));
      slope = reshaped;
      out = broadcastShapes(xShape, shapeOf(slope));
    }
    if (failed(out) || ArrayRef<int64_t>(*out) != xShape)
      return error() << "slope of shape [" << slopeShape
                     << "] does not broadcast to X's shape [" << xShape << "]";
    TRY(neg, inferred<LessOp>({x, c(0)}));
    TRY(scaled, inferred<MulOp>({x, slope}));
    return setOutput(0, inferred<WhereOp>({neg, scaled, x}));
  }
  if (!isFloat)
    return error() << "input must be a floating-point tensor";
  if (op == "LeakyRelu") {
    TRY(neg, inferred<LessOp>({x, c(0)}));
    TRY(scaled, inferred<MulOp>({x, c(getFloat("alpha", 0.01f))}));
    return setOutput(0, inferred<WhereOp>({neg, scaled, x}));
  }
  if (op == "ThresholdedRelu") {
    TRY(gt, inferred<GreaterOp>({x, c(getFloat("alpha", 1.0f))}));
    return setOutput(0, inferred<WhereOp>({gt, x, c(0)}));
  }
  if (op == "Elu" || op == "Selu") {
    bool selu = op == "Selu";
    double alpha = getFloat("alpha", selu ? 1.67326319217681884765625f : 1.0f);
    double gamma = selu ? getFloat("gamma", 1.05070102214813232421875f) : 1.0;
    // x > 0: gamma x; otherwise gamma alpha (exp(x) - 1).
    TRY(pos, inferred<GreaterOp>({x, c(0)}));
    TRY(e, exp(x));
    TRY(em1, inferred<SubOp>({e, c(1)}));
    TRY(neg, inferred<MulOp>({em1, c(alpha * gamma)}));
    Value posPart = x;
    if (selu) {
      TRY(g, inferred<MulOp>({x, c(gamma)}));
      posPart = g;
    }
    return setOutput(0, inferred<WhereOp>({pos, posPart, neg}));
  }
  if (op == "Celu") {
    // max(0, x) + min(0, alpha (exp(x / alpha) - 1))
    double alpha = getFloat("alpha", 1.0f);
    TRY(scaled, inferred<DivOp>({x, c(alpha)}));
    TRY(e, exp(scaled));
    TRY(em1, inferred<SubOp>({e, c(1)}));
    TRY(neg, inferred<MulOp>({em1, c(alpha)}));
    TRY(lo, inferred<MinOp>({neg, c(0)}));
    TRY(hi, inferred<MaxOp>({x, c(0)}));
    return setOutput(0, inferred<AddOp>({hi, lo}));
  }
  if (op == "HardSigmoid" || op == "HardSwish") {
    bool swish = op == "HardSwish";
    double alpha = swish ? 1.0 / 6.0 : getFloat("alpha", 0.2f);
    double beta = swish ? 0.5 : getFloat("beta", 0.5f);
    TRY(ax, inferred<MulOp>({x, c(alpha)}));
    TRY(axb, inferred<AddOp>({ax, c(beta)}));
    TRY(upper, inferred<MinOp>({axb, c(1)}));
    TRY(hs, inferred<MaxOp>({upper, c(0)}));
    if (!swish)
      return setOutput(0, hs);
    return setOutput(0, inferred<MulOp>({x, hs}));
  }
  if (op == "Softsign") {
    TRY(a, unary(AbsOp::getOperationName(), x));
    TRY(d, inferred<AddOp>({a, c(1)}));
    return setOutput(0, inferred<DivOp>({x, d}));
  }
  if (op == "Mish") {
    TRY(sp, unary(SoftplusOp::getOperationName(), x));
    TRY(th, unary(TanhOp::getOperationName(), sp));
    return setOutput(0, inferred<MulOp>({x, th}));
  }
  return error() << "internal error: no activation importer";
}

LogicalResult NodeImporter::importIsInf() {
  if (failed(requireInputs(1)))
    return failure();
  Value x = input(0);
  Type t = elementOf(x);
  if (!isa<FloatType>(t))
    return error() << "input must be a floating-point tensor";
  bool positive = getInt("detect_positive", 1), negative = getInt("detect_negative", 1);
  double inf = std::numeric_limits<double>::infinity();
  Value result;
  if (positive) {
    TRY(p, inferred<EqualOp>({x, scalar(t, inf)}));
    result = p;
  }
  if (negative) {
    TRY(n, inferred<EqualOp>({x, scalar(t, -inf)}));
    if (result) {
      TRY(both, inferred<OrOp>({result, n}));
      result = both;
    } else {
      result = n;
    }
  }
  if (!result)
    result = constant(DenseElementsAttr::get(
        RankedTensorType::get(shapeOf(x), b.getI1Type()), false));
  return setOutput(0, result);
}

LogicalResult NodeImporter::importSumMean(bool mean) {
  if (failed(requireVariadicInputs()))
    return failure();
  Value acc = input(0);
  for (unsigned i = 1; i < inputs.size(); ++i) {
    TRY(next, inferred<AddOp>({acc, input(i)}));
    acc = next;
  }
  if (mean && inputs.size() > 1)
    return setOutput(0, inferred<DivOp>({acc, scalar(elementOf(acc), inputs.size())}));
  return setOutput(0, acc);
}

LogicalResult NodeImporter::importBinaryExtension(StringRef op) {
  if (failed(requireInputs(2)))
    return failure();
  SmallVector<Value, 2> operands = {input(0), input(1)};
  if (op == "Mod") {
    bool fmod = getInt("fmod", 0) != 0;
    if (!fmod && isa<FloatType>(elementOf(input(0))))
      return error() << "fmod must be 1 for floating-point inputs";
    SmallVector<NamedAttribute> attrs;
    if (fmod)
      attrs.push_back(b.getNamedAttr("fmod", b.getUnitAttr()));
    return setOutput(0, inferred<ModOp>(operands, attrs));
  }
  if (op == "BitShift") {
    std::string direction = getString("direction", "");
    if (direction != "LEFT" && direction != "RIGHT")
      return error() << "direction must be LEFT or RIGHT, got '" << direction << "'";
    auto element = dyn_cast<IntegerType>(elementOf(input(0)));
    if (!element || !element.isUnsigned())
      return error() << "BitShift takes unsigned integers";
    SmallVector<NamedAttribute> attrs;
    if (direction == "LEFT")
      attrs.push_back(b.getNamedAttr("left", b.getUnitAttr()));
    return setOutput(0, inferred<BitShiftOp>(operands, attrs));
  }
  if (op == "BitwiseAnd") return setOutput(0, inferred<BitwiseAndOp>(operands));
  if (op == "BitwiseOr") return setOutput(0, inferred<BitwiseOrOp>(operands));
  return setOutput(0, inferred<BitwiseXorOp>(operands));
}

//===----------------------------------------------------------------------===//
// Reductions
//===----------------------------------------------------------------------===//

LogicalResult NodeImporter::importReduceExtension(StringRef op) {
  if (failed(requireInputs(1)))
    return failure();
  Value x = input(0);
  // With noop_with_empty_axes the reduction is skipped, the elementwise part
  // (abs, square, log, ...) still applies, as in the ONNX reference.
  FailureOr<SmallVector<int64_t>> reduced = reductionAxes(shapeOf(x).size());
  if (failed(reduced))
    return failure();
  SmallVector<int64_t> axes = *reduced;
  bool keepdims = getInt("keepdims", 1) != 0;
  auto attrs = [&](bool keep) {
    SmallVector<NamedAttribute> a = {b.getNamedAttr("axes", b.getDenseI64ArrayAttr(axes))};
    if (keep)
      a.push_back(b.getNamedAttr("keepdims", b.getUnitAttr()));
    return a;
  };
  Type t = elementOf(x);
  if (op == "ReduceL1") {
    TRY(a, unary(AbsOp::getOperationName(), x));
    return setOutput(0, inferred<ReduceSumOp>(a, attrs(keepdims)));
  }
  if (op == "ReduceSumSquare" || op == "ReduceL2") {
    TRY(sq, inferred<MulOp>({x, x}));
    TRY(sum, inferred<ReduceSumOp>(sq, attrs(keepdims)));
    if (op == "ReduceSumSquare")
      return setOutput(0, sum);
    if (isa<FloatType>(t))
      return setOutput(0, unary(SqrtOp::getOperationName(), sum));
    // Integers: the root in f64, truncated back (numpy's astype).
    auto f64 = RankedTensorType::get(shapeOf(sum), b.getF64Type());
    TRY(wide, typed<CastOp>(f64, sum));
    TRY(root, unary(SqrtOp::getOperationName(), wide));
    return setOutput(0, typed<CastOp>(sum.getType(), root));
  }
  if (!isa<FloatType>(t))
    return error() << "input must be a floating-point tensor";
  if (op == "ReduceLogSum") {
    TRY(sum, inferred<ReduceSumOp>(x, attrs(keepdims)));
    return setOutput(0, unary(LogOp::getOperationName(), sum));
  }
  // ReduceLogSumExp = m + log(sum(exp(x - m))) with m the (finite) maximum.
  TRY(m, inferred<ReduceMaxOp>(x, attrs(true)));
  TRY(absM, unary(AbsOp::getOperationName(), m));
  TRY(finite, inferred<LessOp>({absM, scalar(t, std::numeric_limits<double>::infinity())}));
  TRY(safeM, inferred<WhereOp>({finite, m, scalar(t, 0)}));
  TRY(shifted, inferred<SubOp>({x, safeM}));
  TRY(e, unary(ExpOp::getOperationName(), shifted));
  TRY(sum, inferred<ReduceSumOp>(e, attrs(keepdims)));
  TRY(logSum, unary(LogOp::getOperationName(), sum));
  TRY(mOut, reshape(safeM, shapeOf(logSum)));
  return setOutput(0, inferred<AddOp>({logSum, mOut}));
}

LogicalResult NodeImporter::importArgReduce(bool max) {
  if (failed(requireInputs(1)))
    return failure();
  auto axis = normalizeAxis(getInt("axis", 0), shapeOf(input(0)).size(), "axis");
  if (failed(axis))
    return failure();
  SmallVector<NamedAttribute> attrs = {b.getNamedAttr("axis", b.getI64IntegerAttr(*axis))};
  if (getInt("keepdims", 1))
    attrs.push_back(b.getNamedAttr("keepdims", b.getUnitAttr()));
  if (getInt("select_last_index", 0))
    attrs.push_back(b.getNamedAttr("select_last_index", b.getUnitAttr()));
  if (max)
    return setOutput(0, inferred<ArgMaxOp>(input(0), attrs));
  return setOutput(0, inferred<ArgMinOp>(input(0), attrs));
}

LogicalResult NodeImporter::importHardmax() {
  if (failed(requireInputs(1)))
    return failure();
  Value x = input(0);
  ArrayRef<int64_t> shape = shapeOf(x);
  int64_t rank = shape.size();
  auto axis = normalizeAxis(getInt("axis", opset >= 13 ? -1 : 1), rank, "axis");
  if (failed(axis))
    return failure();
  Value work = x;
  int64_t workAxis = *axis;
  if (opset < 13 && *axis != rank - 1) {
    // Before opset 13 the input is coerced to 2-D at `axis`.
    TRY(flat, reshape(x, {product(shape.take_front(*axis)),
                          product(shape.drop_front(*axis))}));
    work = flat;
    workAxis = 1;
  }
  int64_t workRank = shapeOf(work).size();
  TRY(best, inferred<ArgMaxOp>(
                work, {b.getNamedAttr("axis", b.getI64IntegerAttr(workAxis)),
                       b.getNamedAttr("keepdims", b.getUnitAttr())}));
  TRY(mask, inferred<EqualOp>(
                {iota(shapeOf(work)[workAxis], workAxis, workRank), best}));
  TRY(y, typed<CastOp>(RankedTensorType::get(shapeOf(work), elementOf(x)), mask));
  return setOutput(0, reshape(y, shape));
}

LogicalResult NodeImporter::importCumSum() {
  if (failed(requireInputs(2)))
    return failure();
  auto axisValue = constInts(1, "axis");
  if (failed(axisValue))
    return failure();
  if (axisValue->size() != 1)
    return error() << "operand 1 ('axis') must be a scalar";
  auto axis = normalizeAxis((*axisValue)[0], shapeOf(input(0)).size(), "axis");
  if (failed(axis))
    return failure();
  SmallVector<NamedAttribute> attrs = {b.getNamedAttr("axis", b.getI64IntegerAttr(*axis))};
  if (getInt("exclusive", 0))
    attrs.push_back(b.getNamedAttr("exclusive", b.getUnitAttr()));
  if (getInt("reverse", 0))
    attrs.push_back(b.getNamedAttr("reverse", b.getUnitAttr()));
  return setOutput(0, typed<CumSumOp>(input(0).getType(), input(0), attrs));
}

//===----------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------===//

LogicalResult NodeImporter::importTile() {
  if (failed(requireInputs(2)))
    return failure();
  Value x = input(0);
  ArrayRef<int64_t> shape = shapeOf(x);
  auto repeats = constInts(1, "repeats");
  if (failed(repeats))
    return failure();
  if (repeats->size() != shape.size())
    return error() << "repeats has " << repeats->size() << " entries for rank "
                   << shape.size();
  if (llvm::all_of(*repeats, [](int64_t r) { return r == 1; }))
    return setOutput(0, x);
  // [d0, d1] -> [1, d0, 1, d1] -> broadcast [r0, d0, r1, d1] -> [r0 d0, r1 d1].
  SmallVector<int64_t> interleaved, expanded, result;
  for (auto [d, r] : llvm::zip(shape, *repeats)) {
    if (r < 0)
      return error() << "repeats holds a negative count " << r;
    interleaved.append({1, d});
    expanded.append({r, d});
    result.push_back(r * d);
  }
  TRY(spread, reshape(x, interleaved));
  TRY(wide, typed<BroadcastOp>(RankedTensorType::get(expanded, elementOf(x)), spread));
  return setOutput(0, reshape(wide, result));
}

LogicalResult NodeImporter::importPad() {
  if (failed(requireInputs(1)))
    return failure();
  Value x = input(0);
  int64_t rank = shapeOf(x).size();
  Type t = elementOf(x);
  std::string mode = getString("mode", "constant");
  SmallVector<int64_t> given;
  Value value;
  SmallVector<int64_t> axes;
  if (opset < 11) {
    given = getInts("pads").value_or(SmallVector<int64_t>());
    float v = getFloat("value", 0.0f);
    if (v != 0.0f)
      value = scalar(t, v);
  } else {
    auto p = constInts(1, "pads");
    if (failed(p))
      return failure();
    given = *p;
    if (Value v = input(2)) {
      if (tensorType(v).getNumElements() != 1)
        return error() << "operand 2 ('constant_value') must be one element";
      TRY(r, reshape(v, {}));
      value = r;
    }
    if (input(3)) {
      auto a = constInts(3, "axes");
      if (failed(a))
        return failure();
      axes = *a;
    }
  }
  if (axes.empty())
    for (int64_t d = 0; d < rank; ++d)
      axes.push_back(d);
  int64_t n = axes.size();
  if ((int64_t)given.size() != 2 * n)
    return error() << "pads has " << given.size() << " entries, expected " << 2 * n;
  SmallVector<int64_t> pads(2 * rank, 0);
  for (int64_t i = 0; i < n; ++i) {
    auto axis = normalizeAxis(axes[i], rank, "axis");
    if (failed(axis))
      return failure();
    pads[*axis] = given[i];
    pads[*axis + rank] = given[i + n];
  }
  if (llvm::all_of(pads, [](int64_t p) { return p == 0; }))
    return setOutput(0, x);
  SmallVector<Value, 2> operands = {x};
  if (value && mode == "constant")
    operands.push_back(value);
  return setOutput(0, inferred<PadOp>(
                          operands, {b.getNamedAttr("pads", b.getDenseI64ArrayAttr(pads)),
                                     b.getNamedAttr("mode", b.getStringAttr(mode))}));
}

LogicalResult NodeImporter::importTrilu() {
  if (failed(requireInputs(1)))
    return failure();
  Value x = input(0);
  ArrayRef<int64_t> shape = shapeOf(x);
  if (shape.size() < 2)
    return error() << "input must have rank >= 2";
  int64_t k = 0;
  if (input(1)) {
    auto given = constInts(1, "k");
    if (failed(given))
      return failure();
    if (given->size() != 1)
      return error() << "operand 1 ('k') must be a scalar";
    k = (*given)[0];
  }
  int64_t rows = shape[shape.size() - 2], cols = shape.back();
  // Keep x[i, j] where j - i >= k (upper) or j - i <= k (lower).
  TRY(diff, inferred<SubOp>({iota(cols, 1, 2), iota(rows, 0, 2)}));
  FailureOr<Value> mask = getInt("upper", 1)
                              ? inferred<GreaterEqualOp>({diff, i64Tensor({k})})
                              : inferred<LessEqualOp>({diff, i64Tensor({k})});
  if (failed(mask))
    return failure();
  return setOutput(0, inferred<WhereOp>({*mask, x, scalar(elementOf(x), 0)}));
}

LogicalResult NodeImporter::importDepthSpace(bool toSpace) {
  if (failed(requireInputs(1)))
    return failure();
  Value x = input(0);
  ArrayRef<int64_t> s = shapeOf(x);
  if (s.size() != 4)
    return error() << "input must have rank 4 (NCHW)";
  int64_t bs = getInt("blocksize", 0);
  if (bs <= 0)
    return error() << "blocksize must be positive";
  int64_t n = s[0], c = s[1], h = s[2], w = s[3];
  SmallVector<int64_t> split, perm, result;
  if (toSpace) {
    if (h % bs || w % bs)
      return error() << "H and W must be multiples of blocksize " << bs;
    split = {n, c, h / bs, bs, w / bs, bs};
    perm = {0, 3, 5, 1, 2, 4};
    result = {n, c * bs * bs, h / bs, w / bs};
  } else {
    if (c % (bs * bs))
      return error() << "C must be a multiple of blocksize^2 = " << bs * bs;
    std::string mode = getString("mode", "DCR");
    if (mode != "DCR" && mode != "CRD")
      return error() << "mode must be DCR or CRD, got '" << mode << "'";
    if (mode == "DCR") {
      split = {n, bs, bs, c / (bs * bs), h, w};
      perm = {0, 3, 4, 1, 5, 2};
    } else {
      split = {n, c / (bs * bs), bs, bs, h, w};
      perm = {0, 1, 4, 2, 5, 3};
    }
    result = {n, c / (bs * bs), h * bs, w * bs};
  }
  TRY(r, reshape(x, split));
  TRY(p, inferred<TransposeOp>(r, {b.getNamedAttr("perm", b.getDenseI64ArrayAttr(perm))}));
  return setOutput(0, reshape(p, result));
}

LogicalResult NodeImporter::importGatherElements() {
  if (failed(requireInputs(2)))
    return failure();
  auto axis = normalizeAxis(getInt("axis", 0), shapeOf(input(0)).size(), "axis");
  if (failed(axis))
    return failure();
  DenseElementsAttr indices;
  if (matchPattern(input(1), m_Constant(&indices))) {
    if (!isa<IntegerType>(indices.getElementType()))
      return error() << "indices (input 1) must be integers, got "
                     << indices.getElementType();
    int64_t dim = shapeOf(input(0))[*axis];
    for (const APInt &i : indices.getValues<APInt>())
      if (i.getSExtValue() < -dim || i.getSExtValue() >= dim)
        return error() << "index " << i.getSExtValue() << " is out of range for dim "
                       << *axis << " of size " << dim;
  }
  return setOutput(0, inferred<GatherElementsOp>(
                          {input(0), input(1)},
                          {b.getNamedAttr("axis", b.getI64IntegerAttr(*axis))}));
}

/// GatherND as a Gather along one flattened axis: data [b.., d0..dq-1, r..]
/// becomes [B * D, r..] (B = the product of the batch dims, D of the indexed
/// ones), each index tuple (negatives wrapped) its row there,
/// sum_j idx_j * stride_j + batch * D, and Gather axis 0 gives exactly
/// [b.., i.., r..]. Integer arithmetic: exact. The batch dims fold into the
/// gathered axis, so its sharding rule keeps them whole.
LogicalResult NodeImporter::importGatherND() {
  if (failed(requireInputs(2)))
    return failure();
  Value data = input(0), indices = input(1);
  ArrayRef<int64_t> dataShape = shapeOf(data), indexShape = shapeOf(indices);
  int64_t batchDims = getInt("batch_dims", 0);
  int64_t dataRank = dataShape.size(), indexRank = indexShape.size();
  if (elementOf(indices) != b.getI64Type())
    return error() << "indices must be int64, got " << elementOf(indices);
  if (indexRank < 1 || dataRank < 1)
    return error() << "data and indices must have rank >= 1";
  if (batchDims < 0 || batchDims >= std::min(dataRank, indexRank))
    return error() << "batch_dims " << batchDims
                   << " must be less than the ranks of data and indices";
  int64_t q = indexShape.back();
  if (q < 1 || batchDims + q > dataRank)
    return error() << "the last dimension of indices (" << q
                   << ") must be between 1 and the rank of data minus batch_dims ("
                   << dataRank - batchDims << ")";
  for (int64_t d = 0; d < batchDims; ++d)
    if (dataShape[d] != indexShape[d])
      return error() << "batch dimension " << d << " of data (" << dataShape[d]
                     << ") and indices (" << indexShape[d] << ") differ";
  ArrayRef<int64_t> indexed = dataShape.slice(batchDims, q);
  ArrayRef<int64_t> rest = dataShape.drop_front(batchDims + q);
  int64_t batch = product(dataShape.take_front(batchDims)), rows = product(indexed);

  // Negative components count from the end of their dimension.
  SmallVector<int64_t> strides(q, 1);
  for (int64_t j = q - 2; j >= 0; --j)
    strides[j] = strides[j + 1] * indexed[j + 1];
  TRY(negative, inferred<LessOp>({indices, scalar(b.getI64Type(), 0)}));
  TRY(wrapped, inferred<AddOp>({indices, i64Tensor(indexed)}));
  TRY(components, inferred<WhereOp>({negative, wrapped, indices}));
  TRY(weighted, inferred<MulOp>({components, i64Tensor(strides)}));
  TRY(row, inferred<ReduceSumOp>(
               weighted, {b.getNamedAttr("axes", b.getDenseI64ArrayAttr({indexRank - 1}))}));
  Value linear = row;
  // Batch b (row-major over the batch dims) starts at row b * D.
  if (batchDims > 0) {
    SmallVector<int64_t> batchShape(indexShape.drop_back());
    for (int64_t d = batchDims; d < indexRank - 1; ++d)
      batchShape[d] = 1;
    SmallVector<int64_t> starts(batch);
    for (int64_t i = 0; i < batch; ++i)
      starts[i] = i * rows;
    auto type = RankedTensorType::get(batchShape, b.getI64Type());
    TRY(shifted, inferred<AddOp>({linear, constant(DenseElementsAttr::get(
                                              type, ArrayRef<int64_t>(starts)))}));
    linear = shifted;
  }
  SmallVector<int64_t> flatShape = {batch * rows};
  llvm::append_range(flatShape, rest);
  TRY(flat, reshape(data, flatShape));
  return setOutput(0, inferred<GatherOp>({flat, linear},
                                         {b.getNamedAttr("axis", b.getI64IntegerAttr(0))}));
}

/// LRN over channels (dim 1): y = x / (bias + alpha / size * s)^beta where s
/// sums x^2 over the window [c - floor((size-1)/2), c + ceil((size-1)/2)],
/// built as the sum of `size` shifted slices of the zero-padded squares.
LogicalResult NodeImporter::importLRN() {
  if (failed(requireInputs(1)))
    return failure();
  Value x = input(0);
  ArrayRef<int64_t> shape = shapeOf(x);
  int64_t rank = shape.size();
  if (!isa<FloatType>(elementOf(x)))
    return error() << "input must be a floating-point tensor";
  if (rank < 3)
    return error() << "input must have rank >= 3 (N x C x D1 ...), got rank " << rank;
  const onnx::AttributeProto *sizeAttr = attr("size");
  if (!sizeAttr || sizeAttr->i() < 1)
    return error() << "attribute 'size' is required and must be positive";
  int64_t size = sizeAttr->i();
  double alpha = getFloat("alpha", 1e-4f), beta = getFloat("beta", 0.75f),
         bias = getFloat("bias", 1.0f);
  // Only window positions that reach a channel contribute: the padding never
  // needs to exceed C - 1 on either side (a huge `size` stays cheap).
  int64_t channels = shape[1];
  int64_t before = std::min((size - 1) / 2, channels - 1);
  int64_t after = std::min(size - 1 - (size - 1) / 2, channels - 1);
  int64_t positions = before + after + 1;
  Type element = elementOf(x);
  TRY(squares, inferred<MulOp>({x, x}));
  SmallVector<int64_t> pads(2 * rank, 0);
  pads[1] = before;
  pads[rank + 1] = after;
  TRY(padded, inferred<PadOp>({squares, scalar(element, 0.0)},
                              {b.getNamedAttr("pads", b.getDenseI64ArrayAttr(pads)),
                               b.getNamedAttr("mode", b.getStringAttr("constant"))}));
  Value sum;
  for (int64_t k = 0; k < positions; ++k) {
    SmallVector<int64_t> starts(rank, 0), steps(rank, 1);
    starts[1] = k;
    TRY(window, typed<SliceOp>(RankedTensorType::get(shape, element), padded,
                               {b.getNamedAttr("starts", b.getDenseI64ArrayAttr(starts)),
                                b.getNamedAttr("steps", b.getDenseI64ArrayAttr(steps))}));
    if (!sum) {
      sum = window;
      continue;
    }
    TRY(next, inferred<AddOp>({sum, window}));
    sum = next;
  }
  TRY(scaled, inferred<MulOp>({sum, scalar(element, alpha / size)}));
  TRY(shifted, inferred<AddOp>({scaled, scalar(element, bias)}));
  TRY(denominator, inferred<PowOp>({shifted, scalar(element, beta)}));
  return setOutput(0, inferred<DivOp>({x, denominator}));
}

LogicalResult NodeImporter::importOneHot() {
  if (failed(requireInputs(3)))
    return failure();
  Value indices = input(0), values = input(2);
  auto depthAttr = constAttr(1, "depth");
  if (failed(depthAttr))
    return failure();
  if (depthAttr->getNumElements() != 1)
    return error() << "operand 1 ('depth') must be a scalar";
  Attribute d = *depthAttr->getValues<Attribute>().begin();
  int64_t depth = isa<FloatAttr>(d) ? (int64_t)cast<FloatAttr>(d).getValueAsDouble()
                                    : cast<IntegerAttr>(d).getInt();
  if (depth <= 0)
    return error() << "depth must be positive, got " << depth;
  if (tensorType(values).getNumElements() != 2)
    return error() << "operand 2 ('values') must hold [off_value, on_value]";
  ArrayRef<int64_t> shape = shapeOf(indices);
  int64_t outRank = shape.size() + 1;
  auto axis = normalizeAxis(getInt("axis", -1), outRank, "axis");
  if (failed(axis))
    return failure();
  // Indices in [-depth, depth) select a position; negative ones count back.
  Value idx = indices;
  if (elementOf(idx) != b.getI64Type()) {
    TRY(c, typed<CastOp>(RankedTensorType::get(shape, b.getI64Type()), idx));
    idx = c;
  }
  TRY(neg, inferred<LessOp>({idx, i64Tensor({0})}));
  TRY(shifted, inferred<AddOp>({idx, i64Tensor({depth})}));
  TRY(wrapped, inferred<WhereOp>({neg, shifted, idx}));
  SmallVector<int64_t> expandedShape(shape);
  expandedShape.insert(expandedShape.begin() + *axis, 1);
  TRY(column, reshape(wrapped, expandedShape));
  TRY(mask, inferred<EqualOp>({column, iota(depth, *axis, outRank)}));
  TRY(flatValues, reshape(values, {2}));
  auto pick = [&](int64_t i) {
    return typed<SliceOp>(RankedTensorType::get({1}, elementOf(values)), flatValues,
                          {b.getNamedAttr("starts", b.getDenseI64ArrayAttr({i})),
                           b.getNamedAttr("steps", b.getDenseI64ArrayAttr({1}))});
  };
  TRY(off, pick(0));
  TRY(on, pick(1));
  TRY(off0, reshape(off, {}));
  TRY(on0, reshape(on, {}));
  return setOutput(0, inferred<WhereOp>({mask, on0, off0}));
}

LogicalResult NodeImporter::importEyeLike() {
  if (failed(requireInputs(1)))
    return failure();
  ArrayRef<int64_t> shape = shapeOf(input(0));
  if (shape.size() != 2)
    return error() << "input must have rank 2";
  Type element = elementOf(input(0));
  if (const auto *a = attr("dtype")) {
    element = convertElementType(*b.getContext(), a->i());
    if (!element)
      return error() << "unsupported dtype " << onnxTypeName(a->i());
  }
  int64_t k = getInt("k", 0);
  // The row and column indices are folded constants (as Range's limit).
  if (shape[0] > (1 << 24) || shape[1] > (1 << 24))
    return error() << "input shape [" << shape << "]: more than 2^24 rows or columns, "
                   << "too many to fold";
  TRY(diff, inferred<SubOp>({iota(shape[1], 1, 2), iota(shape[0], 0, 2)}));
  TRY(mask, inferred<EqualOp>({diff, i64Tensor({k})}));
  return setOutput(0, typed<CastOp>(RankedTensorType::get(shape, element), mask));
}

//===----------------------------------------------------------------------===//
// Normalizations
//===----------------------------------------------------------------------===//

LogicalResult NodeImporter::importInstanceNorm() {
  if (failed(requireInputs(3)))
    return failure();
  Value x = input(0);
  ArrayRef<int64_t> shape = shapeOf(x);
  if (shape.size() < 3)
    return error() << "input must have rank >= 3";
  int64_t channels = shape[1];
  SmallVector<int64_t> paramShape(shape.size() - 1, 1);
  paramShape[0] = channels;
  for (unsigned i = 1; i < 3; ++i)
    if (shapeOf(input(i)) != ArrayRef<int64_t>{channels})
      return error() << "operand " << i << " must have shape [" << channels << "]";
  TRY(y, normalize(x, 2, getFloat("epsilon", 1e-5f)));
  TRY(scale, reshape(input(1), paramShape));
  TRY(bias, reshape(input(2), paramShape));
  TRY(scaled, inferred<MulOp>({y, scale}));
  return setOutput(0, inferred<AddOp>({scaled, bias}));
}

LogicalResult NodeImporter::importGroupNorm() {
  if (failed(requireInputs(3)))
    return failure();
  Value x = input(0);
  ArrayRef<int64_t> shape = shapeOf(x);
  if (shape.size() < 3)
    return error() << "input must have rank >= 3";
  int64_t groups = getInt("num_groups", 0), channels = shape[1];
  if (groups <= 0 || channels % groups)
    return error() << "num_groups " << groups << " must divide the " << channels
                   << " channels";
  int64_t n = shape[0], perGroup = product(shape.drop_front(1)) / groups;
  TRY(grouped, reshape(x, {n, groups, perGroup}));
  TRY(normed, normalize(grouped, 2, getFloat("epsilon", 1e-5f)));
  TRY(y, reshape(normed, shape));
  SmallVector<int64_t> paramShape(shape.size() - 1, 1);
  paramShape[0] = channels;
  SmallVector<Value, 2> params;
  for (unsigned i = 1; i < 3; ++i) {
    Value p = input(i);
    ArrayRef<int64_t> ps = shapeOf(p);
    if (ps == ArrayRef<int64_t>{groups} && groups != channels) {
      // Opset 18: one scale per group, repeated over the group's channels.
      TRY(col, reshape(p, {groups, 1}));
      TRY(wide, typed<BroadcastOp>(
                    RankedTensorType::get({groups, channels / groups}, elementOf(p)), col));
      p = wide;
    } else if (ps != ArrayRef<int64_t>{channels}) {
      return error() << "operand " << i << " must have shape [" << channels
                     << "] (or [" << groups << "] before opset 21)";
    }
    TRY(r, reshape(p, paramShape));
    params.push_back(r);
  }
  TRY(scaled, inferred<MulOp>({y, params[0]}));
  return setOutput(0, inferred<AddOp>({scaled, params[1]}));
}

LogicalResult NodeImporter::importLpNorm() {
  if (failed(requireInputs(1)))
    return failure();
  Value x = input(0);
  auto axis = normalizeAxis(getInt("axis", -1), shapeOf(x).size(), "axis");
  if (failed(axis))
    return failure();
  int64_t p = getInt("p", 2);
  if (p != 1 && p != 2)
    return error() << "p must be 1 or 2, got " << p;
  SmallVector<NamedAttribute> attrs = {
      b.getNamedAttr("axes", b.getDenseI64ArrayAttr({*axis})),
      b.getNamedAttr("keepdims", b.getUnitAttr())};
  Value norm;
  if (p == 1) {
    TRY(a, unary(AbsOp::getOperationName(), x));
    TRY(s, inferred<ReduceSumOp>(a, attrs));
    norm = s;
  } else {
    TRY(sq, inferred<MulOp>({x, x}));
    TRY(s, inferred<ReduceSumOp>(sq, attrs));
    TRY(r, unary(SqrtOp::getOperationName(), s));
    norm = r;
  }
  // A slice whose norm is 0 normalizes to 0, not to 0/0 (ONNX's reference).
  Value zero = scalar(elementOf(x), 0.0);
  TRY(isZero, inferred<EqualOp>({norm, zero}));
  TRY(quotient, inferred<DivOp>({x, norm}));
  return setOutput(0, inferred<WhereOp>({isZero, zero, quotient}));
}

LogicalResult NodeImporter::importMeanVarianceNorm() {
  if (failed(requireInputs(1)))
    return failure();
  Value x = input(0);
  int64_t rank = shapeOf(x).size();
  SmallVector<int64_t> axes = getInts("axes").value_or(SmallVector<int64_t>{0, 2, 3});
  for (int64_t &axis : axes) {
    auto n = normalizeAxis(axis, rank, "axis");
    if (failed(n))
      return failure();
    axis = *n;
  }
  llvm::sort(axes);
  axes.erase(std::unique(axes.begin(), axes.end()), axes.end());
  SmallVector<NamedAttribute> attrs = {
      b.getNamedAttr("axes", b.getDenseI64ArrayAttr(axes)),
      b.getNamedAttr("keepdims", b.getUnitAttr())};
  Type t = elementOf(x);
  // (x - mean) / (sqrt(mean(x^2) - mean^2) + 1e-9), as the ONNX reference.
  TRY(mean, inferred<ReduceMeanOp>(x, attrs));
  TRY(sq, inferred<MulOp>({x, x}));
  TRY(meanSq, inferred<ReduceMeanOp>(sq, attrs));
  TRY(mean2, inferred<MulOp>({mean, mean}));
  TRY(var, inferred<SubOp>({meanSq, mean2}));
  TRY(sd, unary(SqrtOp::getOperationName(), var));
  TRY(den, inferred<AddOp>({sd, scalar(t, 1e-9)}));
  TRY(centered, inferred<SubOp>({x, mean}));
  return setOutput(0, inferred<DivOp>({centered, den}));
}
