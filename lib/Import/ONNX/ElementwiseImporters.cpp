//===- ElementwiseImporters.cpp - Elementwise operators: arithmetic, comparisons, casts, activations ---===//
//
// Activations and elementwise math become pmc ops or exact decompositions
// into them (HardSigmoid = max(0, min(1, alpha x + beta))); operators that
// would be inexact or slow as a decomposition have pmc ops of their own
// (softplus, mod, ...).
//
#include "ImporterImpl.h"
#include "OpRegistry.h"

#include "mlir/IR/Matchers.h"
#include "llvm/ADT/StringSet.h"

#include <cmath>
#include <limits>
#include <numeric>

using namespace mlir;
using namespace mlir::pmc;
using namespace ::pmc::onnx_import;

void NodeImporter::registerElementwiseImporters(OpImporterRegistry &r) {
  static const std::pair<const char *, llvm::StringRef> unaryOps[] = {
      {"Sqrt", SqrtOp::getOperationName()},   {"Exp", ExpOp::getOperationName()},
      {"Log", LogOp::getOperationName()},     {"Tanh", TanhOp::getOperationName()},
      {"Erf", ErfOp::getOperationName()},     {"Relu", ReluOp::getOperationName()},
      {"Sigmoid", SigmoidOp::getOperationName()},
      {"Neg", NegOp::getOperationName()},     {"Abs", AbsOp::getOperationName()},
      {"Reciprocal", ReciprocalOp::getOperationName()},
      {"Floor", FloorOp::getOperationName()}, {"Ceil", CeilOp::getOperationName()},
      {"Sin", SinOp::getOperationName()},     {"Cos", CosOp::getOperationName()},
      {"Not", NotOp::getOperationName()}};
  for (auto [op, opName] : unaryOps)
    r.add(op, 1, [opName = opName](NodeImporter &n) { return n.importUnary(opName); });
  for (const char *op : {"Add", "Sub", "Mul", "Div", "Pow", "Equal", "Less", "Greater",
                         "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Where"})
    r.add(op, 1, [op](NodeImporter &n) { return n.importElementwise(op); });
  r.add("Min", 1, [](NodeImporter &n) { return n.importVariadic(MinOp::getOperationName()); });
  r.add("Max", 1, [](NodeImporter &n) { return n.importVariadic(MaxOp::getOperationName()); });
  // Identity passes sequences and optionals through (SequenceImporters.cpp).
  r.add("Identity", 1, [](NodeImporter &n) { return n.importIdentity(); },
        OperandKinds::SequencesAndOptionals);
  r.add("Cast", 1, [](NodeImporter &n) { return n.importCast(); });
  r.add("CastLike", 15, [](NodeImporter &n) { return n.importCastLike(); });
  r.add("Gelu", 1, [](NodeImporter &n) { return n.importGelu(); });
  for (const char *op : {"LeakyRelu", "Elu", "Selu", "Celu", "HardSigmoid", "HardSwish",
                         "Softplus", "Softsign", "Mish", "PRelu", "ThresholdedRelu", "Shrink",
                         "Sign", "Round", "IsNaN", "Tan", "Asin", "Acos", "Atan", "Sinh",
                         "Cosh", "Asinh", "Acosh", "Atanh", "BitwiseNot"})
    r.add(op, 1, [op](NodeImporter &n) { return n.importActivation(op); });
  r.add("Swish", 24, [](NodeImporter &n) { return n.importActivation("Swish"); });
  r.add("SwiGLU", 28, [](NodeImporter &n) { return n.importActivation("SwiGLU"); });
  r.add("Clip", 1, [](NodeImporter &n) { return n.importClip(); });
  r.add("IsInf", 1, [](NodeImporter &n) { return n.importIsInf(); });
  r.add("Sum", 1, [](NodeImporter &n) { return n.importSumMean(false); });
  r.add("Mean", 1, [](NodeImporter &n) { return n.importSumMean(true); });
  for (const char *op : {"Mod", "BitShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor"})
    r.add(op, 1, [op](NodeImporter &n) { return n.importBinaryExtension(op); });
}

LogicalResult NodeImporter::importUnary(StringRef opName) {
  if (failed(requireInputs(1)))
    return failure();
  return setOutput(0, unary(opName, input(0)));
}

LogicalResult NodeImporter::importIdentity() {
  if (failed(requireInputs(1)))
    return failure();
  return setOutput(0, input(0));
}

LogicalResult NodeImporter::importCastLike() {
  if (failed(requireInputs(2)))
    return failure();
  // As for Cast: float8 targets only.
  acceptAttribute("saturate");
  acceptAttribute("round_mode");
  auto type = RankedTensorType::get(shapeOf(input(0)), elementOf(input(1)));
  if (type == input(0).getType())
    return setOutput(0, input(0));
  return setOutput(0, typed<CastOp>(type, input(0)));
}

LogicalResult NodeImporter::importElementwise(StringRef op) {
  if (op == "Where") {
    if (failed(requireInputs(3)))
      return failure();
    return setOutput(0, inferred<WhereOp>({input(0), input(1), input(2)}));
  }
  if (failed(requireInputs(2)))
    return failure();
  SmallVector<Value, 2> operands = {input(0), input(1)};
  FailureOr<Value> result = failure();
  if (op == "Add") result = inferred<AddOp>(operands);
  else if (op == "Sub") result = inferred<SubOp>(operands);
  else if (op == "Mul") result = inferred<MulOp>(operands);
  else if (op == "Div") result = inferred<DivOp>(operands);
  else if (op == "Pow") result = inferred<PowOp>(operands);
  else if (op == "Equal") result = inferred<EqualOp>(operands);
  else if (op == "Less") result = inferred<LessOp>(operands);
  else if (op == "Greater") result = inferred<GreaterOp>(operands);
  else if (op == "LessOrEqual") result = inferred<LessEqualOp>(operands);
  else if (op == "GreaterOrEqual") result = inferred<GreaterEqualOp>(operands);
  else if (op == "And") result = inferred<AndOp>(operands);
  else if (op == "Or") result = inferred<OrOp>(operands);
  else if (op == "Xor") result = inferred<XorOp>(operands);
  return setOutput(0, result);
}

LogicalResult NodeImporter::importVariadic(StringRef opName) {
  if (failed(requireVariadicInputs()))
    return failure();
  Value acc = input(0);
  for (unsigned i = 1; i < inputs.size(); ++i) {
    FailureOr<Value> next = opName == MinOp::getOperationName()
                                ? inferred<MinOp>({acc, input(i)})
                                : inferred<MaxOp>({acc, input(i)});
    if (failed(next))
      return failure();
    acc = *next;
  }
  return setOutput(0, acc);
}

LogicalResult NodeImporter::importCast() {
  if (failed(requireInputs(1)))
    return failure();
  int64_t to = getInt("to", 0);
  // `saturate` (opset 19) and `round_mode` (opset 24) apply only to casts to
  // the float8 types, which pmc does not have (an error below).
  acceptAttribute("saturate");
  acceptAttribute("round_mode");
  Type elementType = convertElementType(*b.getContext(), to);
  if (!elementType)
    return error() << "cannot cast to unsupported element type "
                   << onnxTypeName(to);
  auto type = RankedTensorType::get(shapeOf(input(0)), elementType);
  if (type == input(0).getType())
    return setOutput(0, input(0));
  return setOutput(0, typed<CastOp>(type, input(0)));
}

LogicalResult NodeImporter::importGelu() {
  if (failed(requireInputs(1)))
    return failure();
  std::string approximate = getString("approximate", "none");
  if (approximate != "none" && approximate != "tanh")
    return error() << "approximate must be 'none' or 'tanh', got '" << approximate
                   << "'";
  SmallVector<NamedAttribute> attrs;
  if (approximate == "tanh")
    attrs.push_back(b.getNamedAttr("tanh_approximation", b.getUnitAttr()));
  return setOutput(0, typed<GeluOp>(input(0).getType(), input(0), attrs));
}

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
  if (op == "Swish" || op == "SwiGLU") {
    // Swish(a) = a * sigmoid(alpha * a); SwiGLU(a, b) = Swish(a) * b, with no
    // broadcasting between the gate and the value.
    if (op == "SwiGLU" && (failed(requireInputs(2)) || input(1).getType() != x.getType()))
      return error() << "SwiGLU's A and B must have one type (no broadcasting), got "
                     << x.getType() << " and " << (input(1) ? input(1).getType() : Type());
    TRY(scaled, inferred<MulOp>({x, c(getFloat("alpha", 1.0f))}));
    TRY(gate, unary(SigmoidOp::getOperationName(), scaled));
    TRY(swish, inferred<MulOp>({x, gate}));
    if (op == "Swish")
      return setOutput(0, swish);
    return setOutput(0, inferred<MulOp>({swish, input(1)}));
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
    // fmod = 0 on floats: the divisor's sign, as numpy's mod.
    bool fmod = getInt("fmod", 0) != 0;
    SmallVector<NamedAttribute> attrs;
    if (fmod)
      attrs.push_back(b.getNamedAttr("fmod", b.getUnitAttr()));
    return setOutput(0, inferred<ModOp>(operands, attrs));
  }
  if (op == "BitShift") {
    std::string direction = getString("direction", "");
    if (direction != "LEFT" && direction != "RIGHT")
      return error() << "direction must be LEFT or RIGHT, got '" << direction << "'";
    // Unsigned types from opset 11, signed ones (arithmetic right shift)
    // from opset 28.
    auto element = dyn_cast<IntegerType>(elementOf(input(0)));
    if (!element || element.getWidth() == 1)
      return error() << "BitShift takes integers";
    SmallVector<NamedAttribute> attrs;
    if (direction == "LEFT")
      attrs.push_back(b.getNamedAttr("left", b.getUnitAttr()));
    return setOutput(0, inferred<BitShiftOp>(operands, attrs));
  }
  if (op == "BitwiseAnd") return setOutput(0, inferred<BitwiseAndOp>(operands));
  if (op == "BitwiseOr") return setOutput(0, inferred<BitwiseOrOp>(operands));
  return setOutput(0, inferred<BitwiseXorOp>(operands));
}
