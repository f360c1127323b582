//===- OpImporters.cpp - ONNX operators to pmc operators ------------------===//
//
// One function per ONNX operator family. Attributes are canonicalized here:
// negative axes resolved, defaults made explicit, auto_pad turned into pads.
//
#include "ImporterImpl.h"

#include "mlir/IR/Matchers.h"

#include <numeric>

using namespace mlir;
using namespace mlir::pmc;
using namespace ::pmc::onnx_import;

namespace {
RankedTensorType tensorType(Value v) { return cast<RankedTensorType>(v.getType()); }
ArrayRef<int64_t> shapeOf(Value v) { return tensorType(v).getShape(); }

int64_t product(ArrayRef<int64_t> dims) {
  return std::accumulate(dims.begin(), dims.end(), int64_t(1),
                         std::multiplies<int64_t>());
}
} // namespace

//===----------------------------------------------------------------------===//
// Dispatch
//===----------------------------------------------------------------------===//

LogicalResult NodeImporter::run() {
  StringRef op = node.op_type();
  static const llvm::StringMap<StringRef> unaryOps = {
      {"Sqrt", SqrtOp::getOperationName()},   {"Exp", ExpOp::getOperationName()},
      {"Log", LogOp::getOperationName()},     {"Tanh", TanhOp::getOperationName()},
      {"Erf", ErfOp::getOperationName()},     {"Relu", ReluOp::getOperationName()},
      {"Sigmoid", SigmoidOp::getOperationName()},
      {"Neg", NegOp::getOperationName()},     {"Abs", AbsOp::getOperationName()},
      {"Reciprocal", ReciprocalOp::getOperationName()},
      {"Floor", FloorOp::getOperationName()}, {"Ceil", CeilOp::getOperationName()},
      {"Sin", SinOp::getOperationName()},     {"Cos", CosOp::getOperationName()},
      {"Not", NotOp::getOperationName()}};
  auto unaryIt = unaryOps.find(op);
  if (unaryIt != unaryOps.end()) {
    if (failed(requireInputs(1)))
      return failure();
    return setOutput(0, unary(unaryIt->second, input(0)));
  }
  if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div" || op == "Pow" ||
      op == "Equal" || op == "Less" || op == "Greater" || op == "LessOrEqual" ||
      op == "GreaterOrEqual" || op == "And" || op == "Or" || op == "Xor" ||
      op == "Where")
    return importElementwise(op);
  if (op == "Min")
    return importVariadic(MinOp::getOperationName());
  if (op == "Max")
    return importVariadic(MaxOp::getOperationName());
  if (op == "Identity") {
    if (failed(requireInputs(1)))
      return failure();
    return setOutput(0, input(0));
  }
  if (op == "Cast") return importCast();
  if (op == "Constant") return importConstant();
  if (op == "ConstantOfShape") return importConstantOfShape();
  if (op == "Shape") return importShape();
  if (op == "MatMul") return importMatMul();
  if (op == "Gemm") return importGemm();
  if (op == "Softmax") return importSoftmax(false);
  if (op == "LogSoftmax") return importSoftmax(true);
  if (op == "LayerNormalization") return importLayerNorm();
  if (op == "BatchNormalization") return importBatchNorm();
  if (op == "ReduceMean") return importReduce(ReduceMeanOp::getOperationName());
  if (op == "ReduceSum") return importReduce(ReduceSumOp::getOperationName());
  if (op == "ReduceMax") return importReduce(ReduceMaxOp::getOperationName());
  if (op == "ReduceMin") return importReduce(ReduceMinOp::getOperationName());
  if (op == "ReduceProd") return importReduce(ReduceProdOp::getOperationName());
  if (op == "Reshape") return importReshape();
  if (op == "Transpose") return importTranspose();
  if (op == "Flatten") return importFlatten();
  if (op == "Squeeze") return importSqueeze(false);
  if (op == "Unsqueeze") return importSqueeze(true);
  if (op == "Concat") return importConcat();
  if (op == "Split") return importSplit();
  if (op == "Slice") return importSlice();
  if (op == "Gather") return importGather();
  if (op == "Expand") return importExpand();
  if (op == "Range") return importRange();
  if (op == "Conv") return importConv();
  if (op == "MaxPool") return importPool(true);
  if (op == "AveragePool") return importPool(false);
  if (op == "GlobalAveragePool") return importGlobalPool(false);
  if (op == "GlobalMaxPool") return importGlobalPool(true);
  if (op == "Dropout") return importDropout();
  if (op == "Gelu") return importGelu();
  if (std::optional<LogicalResult> handled = importExtension(op))
    return *handled;
  return emitError(loc) << "node '" << name << "' : unsupported ONNX operator '"
                        << op << "' (domain '" << node.domain() << "', opset "
                        << opset << ")";
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

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

LogicalResult NodeImporter::importDropout() {
  if (failed(requireInputs(1)))
    return failure();
  if (getInt("is_test", 1) == 0 && opset < 7)
    return error() << "training mode (is_test = 0) is unsupported";
  if (Value training = input(2)) {
    DenseElementsAttr mode;
    if (!matchPattern(training, m_Constant(&mode)))
      return error() << "operand 2 ('training_mode') must be a compile-time "
                        "constant (only inference is supported)";
    if (!mode.getElementType().isInteger(1) || mode.getNumElements() != 1)
      return error() << "operand 2 ('training_mode') must be a bool scalar, got "
                     << mode.getType();
    if (mode.getSplatValue<bool>())
      return error() << "training_mode = true is unsupported (inference only)";
  }
  if (failed(setOutput(0, input(0))))
    return failure();
  if (node.output_size() > 1 && !node.output(1).empty()) {
    auto maskType = RankedTensorType::get(shapeOf(input(0)), b.getI1Type());
    return setOutput(1, constant(DenseElementsAttr::get(maskType, true)));
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Constants and shapes
//===----------------------------------------------------------------------===//

LogicalResult NodeImporter::importConstant() {
  if (node.attribute_size() != 1)
    return error() << "expects exactly one attribute, got " << node.attribute_size();
  const onnx::AttributeProto &a = node.attribute(0);
  MLIRContext *context = b.getContext();
  if (node.output_size() < 1 || node.output(0).empty())
    return error() << "has no output";
  if (a.name() == "value") {
    onnx::TensorProto tensor = a.t();
    if (tensor.name().empty())
      tensor.set_name(node.output(0));
    auto value = readTensor(tensor, modelDir, *context, [&] { return error(); });
    if (failed(value))
      return failure();
    return setOutput(0, mlir::pmc::ConstantOp::create(b, loc, *value).getResult());
  }
  auto floats = [&](ArrayRef<float> values, bool isScalar) {
    SmallVector<int64_t> shape;
    if (!isScalar)
      shape.push_back(values.size());
    auto type = RankedTensorType::get(shape, b.getF32Type());
    return constant(DenseElementsAttr::get(type, values));
  };
  auto ints = [&](ArrayRef<int64_t> values, bool isScalar) {
    SmallVector<int64_t> shape;
    if (!isScalar)
      shape.push_back(values.size());
    auto type = RankedTensorType::get(shape, b.getI64Type());
    return constant(DenseElementsAttr::get(type, values));
  };
  if (a.name() == "value_float")
    return setOutput(0, floats(a.f(), true));
  if (a.name() == "value_floats")
    return setOutput(0, floats(SmallVector<float>(a.floats().begin(), a.floats().end()),
                               false));
  if (a.name() == "value_int")
    return setOutput(0, ints(a.i(), true));
  if (a.name() == "value_ints")
    return setOutput(0, ints(SmallVector<int64_t>(a.ints().begin(), a.ints().end()),
                             false));
  return error() << "attribute '" << a.name() << "' is unsupported";
}

LogicalResult NodeImporter::importConstantOfShape() {
  auto shape = constInts(0, "input");
  if (failed(shape))
    return failure();
  for (int64_t d : *shape)
    if (d < 0)
      return error() << "shape holds a negative dimension " << d;
  Attribute element = b.getF32FloatAttr(0.0f);
  Type elementType = b.getF32Type();
  if (const auto *a = attr("value")) {
    onnx::TensorProto tensor = a->t();
    auto value = readTensor(tensor, modelDir, *b.getContext(), [&] { return error(); });
    if (failed(value))
      return failure();
    auto dense = dyn_cast<DenseElementsAttr>(*value);
    if (!dense || dense.getNumElements() != 1)
      return error() << "attribute 'value' must hold one element";
    element = dense.getSplatValue<Attribute>();
    elementType = dense.getElementType();
  }
  auto type = RankedTensorType::get(*shape, elementType);
  return setOutput(0, constant(DenseElementsAttr::get(type, element)));
}

LogicalResult NodeImporter::importShape() {
  if (failed(requireInputs(1)))
    return failure();
  ArrayRef<int64_t> shape = shapeOf(input(0));
  int64_t rank = shape.size();
  int64_t start = getInt("start", 0), end = getInt("end", rank);
  if (start < 0)
    start += rank;
  if (end < 0)
    end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, 0, rank);
  SmallVector<int64_t> dims;
  for (int64_t d = start; d < end; ++d)
    dims.push_back(shape[d]);
  return setOutput(0, i64Tensor(dims));
}

LogicalResult NodeImporter::importRange() {
  if (failed(requireInputs(3)))
    return failure();
  SmallVector<DenseElementsAttr, 3> operands;
  const char *names[] = {"start", "limit", "delta"};
  for (unsigned i = 0; i < 3; ++i) {
    auto v = constAttr(i, names[i]);
    if (failed(v))
      return failure();
    if (v->getNumElements() != 1)
      return error() << "operand " << i << " ('" << names[i] << "') must be a scalar";
    operands.push_back(*v);
  }
  Type elementType = operands[0].getElementType();
  SmallVector<Attribute> values;
  if (auto floatType = dyn_cast<FloatType>(elementType)) {
    double start = operands[0].getSplatValue<APFloat>().convertToDouble();
    double limit = operands[1].getSplatValue<APFloat>().convertToDouble();
    double delta = operands[2].getSplatValue<APFloat>().convertToDouble();
    if (delta == 0)
      return error() << "delta must not be zero";
    int64_t n = std::max<int64_t>(0, (int64_t)std::ceil((limit - start) / delta));
    if (n > (1 << 24))
      return error() << "the range holds " << n << " elements, too many to fold";
    for (int64_t i = 0; i < n; ++i)
      values.push_back(FloatAttr::get(floatType, start + i * delta));
  } else {
    auto get = [&](unsigned i) {
      APInt v = operands[i].getSplatValue<APInt>();
      return elementType.isUnsignedInteger() ? (int64_t)v.getZExtValue()
                                             : v.getSExtValue();
    };
    int64_t start = get(0), limit = get(1), delta = get(2);
    if (delta == 0)
      return error() << "delta must not be zero";
    int64_t span = limit - start;
    int64_t n = delta > 0 ? (span + delta - 1) / delta : (span + delta + 1) / delta;
    n = std::max<int64_t>(0, n);
    if (n > (1 << 24))
      return error() << "the range holds " << n << " elements, too many to fold";
    for (int64_t i = 0; i < n; ++i)
      values.push_back(IntegerAttr::get(elementType, start + i * delta));
  }
  auto type = RankedTensorType::get({(int64_t)values.size()}, elementType);
  return setOutput(0, constant(DenseElementsAttr::get(type, values)));
}

//===----------------------------------------------------------------------===//
// Contractions and normalizations
//===----------------------------------------------------------------------===//

LogicalResult NodeImporter::importMatMul() {
  if (failed(requireInputs(2)))
    return failure();
  Value a = input(0), bv = input(1);
  bool vecA = shapeOf(a).size() == 1, vecB = shapeOf(bv).size() == 1;
  if (shapeOf(a).empty() || shapeOf(bv).empty())
    return error() << "operands must have rank >= 1";
  if (vecA) {
    auto r = reshape(a, {1, shapeOf(a)[0]});
    if (failed(r)) return failure();
    a = *r;
  }
  if (vecB) {
    auto r = reshape(bv, {shapeOf(bv)[0], 1});
    if (failed(r)) return failure();
    bv = *r;
  }
  auto product = inferred<MatMulOp>({a, bv});
  if (failed(product))
    return failure();
  if (!vecA && !vecB)
    return setOutput(0, product);
  SmallVector<int64_t> shape(shapeOf(*product));
  if (vecB)
    shape.erase(shape.end() - 1);
  if (vecA)
    shape.erase(shape.end() - 1 - (vecB ? 0 : 1));
  return setOutput(0, reshape(*product, shape));
}

LogicalResult NodeImporter::importGemm() {
  if (failed(requireInputs(2)))
    return failure();
  if (shapeOf(input(0)).size() != 2 || shapeOf(input(1)).size() != 2)
    return error() << "A and B must have rank 2";
  float alpha = getFloat("alpha", 1.0f), beta = getFloat("beta", 1.0f);
  SmallVector<NamedAttribute> attrs;
  if (getInt("transA", 0))
    attrs.push_back(b.getNamedAttr("transpose_a", b.getUnitAttr()));
  if (getInt("transB", 0))
    attrs.push_back(b.getNamedAttr("transpose_b", b.getUnitAttr()));
  auto y = inferred<MatMulOp>({input(0), input(1)}, attrs);
  if (failed(y))
    return failure();
  Type elementType = tensorType(*y).getElementType();
  if (alpha != 1.0f) {
    y = inferred<MulOp>({*y, scalar(elementType, alpha)});
    if (failed(y))
      return failure();
  }
  if (Value c = input(2); c && beta != 0.0f) {
    if (beta != 1.0f) {
      auto scaled = inferred<MulOp>({c, scalar(elementType, beta)});
      if (failed(scaled))
        return failure();
      c = *scaled;
    }
    // C broadcasts to the product's shape (unidirectional in ONNX).
    y = inferred<AddOp>({*y, c});
    if (failed(y))
      return failure();
  }
  return setOutput(0, y);
}

LogicalResult NodeImporter::importSoftmax(bool log) {
  if (failed(requireInputs(1)))
    return failure();
  Value x = input(0);
  int64_t rank = shapeOf(x).size();
  StringRef opName = log ? LogSoftmaxOp::getOperationName()
                         : SoftmaxOp::getOperationName();
  auto axis = normalizeAxis(getInt("axis", opset >= 13 ? -1 : 1), rank, "axis");
  if (failed(axis))
    return failure();
  if (opset >= 13 || *axis == rank - 1) {
    auto results = buildTyped(opName, x.getType(), x,
                              {b.getNamedAttr("axis", b.getI64IntegerAttr(*axis))});
    if (failed(results))
      return failure();
    return setOutput(0, (*results)[0]);
  }
  // Before opset 13 the input is coerced to 2-D at `axis`.
  ArrayRef<int64_t> shape = shapeOf(x);
  auto flat = reshape(x, {product(shape.take_front(*axis)),
                          product(shape.drop_front(*axis))});
  if (failed(flat))
    return failure();
  auto results = buildTyped(opName, flat->getType(), *flat,
                            {b.getNamedAttr("axis", b.getI64IntegerAttr(1))});
  if (failed(results))
    return failure();
  return setOutput(0, reshape((*results)[0], shape));
}

LogicalResult NodeImporter::importLayerNorm() {
  if (failed(requireInputs(2)))
    return failure();
  Value x = input(0);
  int64_t rank = shapeOf(x).size();
  auto axis = normalizeAxis(getInt("axis", -1), rank, "axis");
  if (failed(axis))
    return failure();
  Type stashType = convertElementType(*b.getContext(), getInt("stash_type", 1));
  if (!stashType || !isa<FloatType>(stashType))
    return error() << "stash_type must be a floating-point type";
  SmallVector<int64_t> statShape(shapeOf(x));
  for (int64_t d = *axis; d < rank; ++d)
    statShape[d] = 1;
  auto statType = RankedTensorType::get(statShape, stashType);
  SmallVector<Value> operands = {x, input(1)};
  if (input(2))
    operands.push_back(input(2));
  auto results = buildTyped(
      LayerNormOp::getOperationName(), {x.getType(), statType, statType}, operands,
      {b.getNamedAttr("axis", b.getI64IntegerAttr(*axis)),
       b.getNamedAttr("epsilon", b.getF32FloatAttr(getFloat("epsilon", 1e-5f)))});
  if (failed(results))
    return failure();
  for (unsigned i = 0; i < 3; ++i)
    (void)setOutput(i, (*results)[i]);
  return success();
}

LogicalResult NodeImporter::importBatchNorm() {
  if (failed(requireInputs(5)))
    return failure();
  if (getInt("training_mode", 0) != 0)
    return error() << "training_mode = 1 is unsupported (inference only)";
  for (int i = 1; i < node.output_size(); ++i)
    if (!node.output(i).empty())
      return error() << "output " << i
                     << " (running statistics) is unsupported (inference only)";
  Value x = input(0);
  ArrayRef<int64_t> shape = shapeOf(x);
  if (shape.size() < 2)
    return error() << "input must have rank >= 2";
  int64_t channels = shape[1];
  // [C] parameters broadcast against [N, C, spatial...] as [C, 1, ...].
  SmallVector<int64_t> paramShape(shape.size() - 1, 1);
  paramShape[0] = channels;
  SmallVector<Value, 4> params;
  const char *names[] = {"scale", "B", "input_mean", "input_var"};
  for (unsigned i = 1; i < 5; ++i) {
    if (shapeOf(input(i)) != ArrayRef<int64_t>{channels})
      return error() << "operand " << i << " ('" << names[i - 1]
                     << "') must have shape [" << channels << "]";
    auto r = reshape(input(i), paramShape);
    if (failed(r))
      return failure();
    params.push_back(*r);
  }
  Type elementType = tensorType(x).getElementType();
  float epsilon = getFloat("epsilon", 1e-5f);
  // y = (x - mean) * (scale / sqrt(var + epsilon)) + bias
  auto varEps = inferred<AddOp>({params[3], scalar(elementType, epsilon)});
  if (failed(varEps)) return failure();
  auto stdDev = unary(SqrtOp::getOperationName(), *varEps);
  if (failed(stdDev)) return failure();
  auto factor = inferred<DivOp>({params[0], *stdDev});
  if (failed(factor)) return failure();
  auto centered = inferred<SubOp>({x, params[2]});
  if (failed(centered)) return failure();
  auto scaled = inferred<MulOp>({*centered, *factor});
  if (failed(scaled)) return failure();
  return setOutput(0, inferred<AddOp>({*scaled, params[1]}));
}

FailureOr<SmallVector<int64_t>> NodeImporter::reductionAxes(int64_t rank) {
  SmallVector<int64_t> axes;
  if (input(1)) {
    auto given = constInts(1, "axes");
    if (failed(given))
      return failure();
    axes = *given;
  } else if (auto given = getInts("axes")) {
    axes = *given;
  }
  if (axes.empty() && !getInt("noop_with_empty_axes", 0))
    for (int64_t d = 0; d < rank; ++d)
      axes.push_back(d);
  for (int64_t &axis : axes) {
    auto n = normalizeAxis(axis, rank, "axis");
    if (failed(n))
      return failure();
    axis = *n;
  }
  llvm::sort(axes);
  axes.erase(std::unique(axes.begin(), axes.end()), axes.end());
  return axes;
}

LogicalResult NodeImporter::importReduce(StringRef opName) {
  if (failed(requireInputs(1)))
    return failure();
  Value x = input(0);
  FailureOr<SmallVector<int64_t>> axes = reductionAxes(shapeOf(x).size());
  if (failed(axes))
    return failure();
  if (axes->empty()) // noop_with_empty_axes
    return setOutput(0, x);
  SmallVector<NamedAttribute> attrs = {
      b.getNamedAttr("axes", b.getDenseI64ArrayAttr(*axes))};
  if (getInt("keepdims", 1))
    attrs.push_back(b.getNamedAttr("keepdims", b.getUnitAttr()));
  FailureOr<Value> result = failure();
  if (opName == ReduceSumOp::getOperationName())
    result = inferred<ReduceSumOp>(x, attrs);
  else if (opName == ReduceMeanOp::getOperationName())
    result = inferred<ReduceMeanOp>(x, attrs);
  else if (opName == ReduceMaxOp::getOperationName())
    result = inferred<ReduceMaxOp>(x, attrs);
  else if (opName == ReduceMinOp::getOperationName())
    result = inferred<ReduceMinOp>(x, attrs);
  else
    result = inferred<ReduceProdOp>(x, attrs);
  return setOutput(0, result);
}

//===----------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------===//

LogicalResult NodeImporter::importReshape() {
  if (failed(requireInputs(1)))
    return failure();
  Value x = input(0);
  ArrayRef<int64_t> in = shapeOf(x);
  SmallVector<int64_t> shape;
  if (opset < 5) {
    shape = getInts("shape").value_or(SmallVector<int64_t>());
  } else {
    auto given = constInts(1, "shape");
    if (failed(given))
      return failure();
    shape = *given;
  }
  bool allowZero = getInt("allowzero", 0) != 0;
  int64_t inferIndex = -1, known = 1;
  for (auto [i, d] : llvm::enumerate(shape)) {
    if (d == 0 && !allowZero) {
      if (i >= in.size())
        return error() << "shape[" << i << "] = 0 copies a dimension the input "
                       << "(rank " << in.size() << ") does not have";
      d = in[i];
    } else if (d == -1) {
      if (inferIndex >= 0)
        return error() << "shape has more than one -1";
      inferIndex = i;
      continue;
    } else if (d < 0) {
      return error() << "shape[" << i << "] = " << d << " is invalid";
    }
    known *= d;
  }
  int64_t total = product(in);
  if (inferIndex >= 0) {
    if (known == 0 || total % known != 0)
      return error() << "cannot infer the -1 of shape: " << total
                     << " elements are not a multiple of " << known;
    shape[inferIndex] = total / known;
  }
  return setOutput(0, reshape(x, shape));
}

LogicalResult NodeImporter::importTranspose() {
  if (failed(requireInputs(1)))
    return failure();
  int64_t rank = shapeOf(input(0)).size();
  SmallVector<int64_t> perm;
  if (auto given = getInts("perm")) {
    perm = *given;
  } else {
    for (int64_t d = rank - 1; d >= 0; --d)
      perm.push_back(d);
  }
  for (int64_t &p : perm)
    if (p < 0)
      p += rank;
  return setOutput(0, inferred<TransposeOp>(
                          input(0), {b.getNamedAttr("perm", b.getDenseI64ArrayAttr(perm))}));
}

LogicalResult NodeImporter::importFlatten() {
  if (failed(requireInputs(1)))
    return failure();
  ArrayRef<int64_t> shape = shapeOf(input(0));
  int64_t rank = shape.size(), axis = getInt("axis", 1);
  if (axis < -rank || axis > rank)
    return error() << "axis " << axis << " is out of range for rank " << rank;
  if (axis < 0)
    axis += rank;
  return setOutput(0, reshape(input(0), {product(shape.take_front(axis)),
                                         product(shape.drop_front(axis))}));
}

LogicalResult NodeImporter::importSqueeze(bool unsqueeze) {
  if (failed(requireInputs(1)))
    return failure();
  ArrayRef<int64_t> shape = shapeOf(input(0));
  std::optional<SmallVector<int64_t>> axes;
  if (input(1)) {
    auto given = constInts(1, "axes");
    if (failed(given))
      return failure();
    axes = *given;
  } else {
    axes = getInts("axes");
  }
  SmallVector<int64_t> result;
  if (unsqueeze) {
    if (!axes)
      return error() << "axes are required";
    int64_t outRank = shape.size() + axes->size();
    SmallVector<bool> inserted(outRank, false);
    for (int64_t axis : *axes) {
      auto n = normalizeAxis(axis, outRank, "axis");
      if (failed(n))
        return failure();
      if (inserted[*n])
        return error() << "axis " << axis << " is repeated";
      inserted[*n] = true;
    }
    size_t next = 0;
    for (int64_t d = 0; d < outRank; ++d)
      result.push_back(inserted[d] ? 1 : shape[next++]);
  } else {
    SmallVector<bool> removed(shape.size(), false);
    if (axes) {
      for (int64_t axis : *axes) {
        auto n = normalizeAxis(axis, shape.size(), "axis");
        if (failed(n))
          return failure();
        if (shape[*n] != 1)
          return error() << "cannot squeeze dim " << *n << " of size " << shape[*n];
        removed[*n] = true;
      }
    } else {
      for (auto [d, size] : llvm::enumerate(shape))
        removed[d] = size == 1;
    }
    for (auto [d, size] : llvm::enumerate(shape))
      if (!removed[d])
        result.push_back(size);
  }
  return setOutput(0, reshape(input(0), result));
}

LogicalResult NodeImporter::importConcat() {
  if (failed(requireVariadicInputs()))
    return failure();
  SmallVector<Value> operands(inputs);
  auto axis = normalizeAxis(getInt("axis", 0), shapeOf(operands[0]).size(), "axis");
  if (failed(axis))
    return failure();
  return setOutput(0, inferred<ConcatOp>(
                          operands, {b.getNamedAttr("axis", b.getI64IntegerAttr(*axis))}));
}

LogicalResult NodeImporter::importSplit() {
  if (failed(requireInputs(1)))
    return failure();
  Value x = input(0);
  ArrayRef<int64_t> shape = shapeOf(x);
  auto axis = normalizeAxis(getInt("axis", 0), shape.size(), "axis");
  if (failed(axis))
    return failure();
  int64_t dim = shape[*axis], outputsCount = node.output_size();
  SmallVector<int64_t> sizes;
  if (input(1)) {
    auto given = constInts(1, "split");
    if (failed(given))
      return failure();
    sizes = *given;
  } else if (auto given = getInts("split")) {
    sizes = *given;
  } else {
    int64_t n = getInt("num_outputs", outputsCount);
    if (n <= 0)
      return error() << "num_outputs must be positive";
    if (n != outputsCount)
      return error() << "num_outputs is " << n << " but the node has "
                     << outputsCount << " outputs";
    int64_t chunk = (dim + n - 1) / n;
    if (opset < 18 && dim % n != 0)
      return error() << "dim " << *axis << " of size " << dim
                     << " does not split evenly into " << n << " outputs";
    for (int64_t i = 0; i < n; ++i)
      sizes.push_back(std::max<int64_t>(0, std::min(chunk, dim - i * chunk)));
  }
  if ((int64_t)sizes.size() != outputsCount)
    return error() << "split has " << sizes.size() << " sizes for "
                   << outputsCount << " outputs";
  int64_t sum = 0;
  for (int64_t s : sizes) {
    if (s < 0)
      return error() << "split holds a negative size " << s;
    sum += s;
  }
  if (sum != dim)
    return error() << "split sizes add up to " << sum << ", dim " << *axis
                   << " has size " << dim;
  int64_t offset = 0;
  for (auto [i, size] : llvm::enumerate(sizes)) {
    SmallVector<int64_t> starts(shape.size(), 0), steps(shape.size(), 1);
    SmallVector<int64_t> outShape(shape);
    starts[*axis] = size == 0 ? 0 : offset;
    outShape[*axis] = size;
    auto piece = typed<SliceOp>(
        RankedTensorType::get(outShape, tensorType(x).getElementType()), x,
        {b.getNamedAttr("starts", b.getDenseI64ArrayAttr(starts)),
         b.getNamedAttr("steps", b.getDenseI64ArrayAttr(steps))});
    if (failed(setOutput(i, piece)))
      return failure();
    offset += size;
  }
  return success();
}

LogicalResult NodeImporter::importSlice() {
  if (failed(requireInputs(1)))
    return failure();
  Value x = input(0);
  ArrayRef<int64_t> shape = shapeOf(x);
  int64_t rank = shape.size();
  SmallVector<int64_t> starts, ends, axes, steps;
  if (opset < 10) {
    starts = getInts("starts").value_or(SmallVector<int64_t>());
    ends = getInts("ends").value_or(SmallVector<int64_t>());
    if (auto a = getInts("axes"))
      axes = *a;
  } else {
    auto s = constInts(1, "starts");
    if (failed(s)) return failure();
    auto e = constInts(2, "ends");
    if (failed(e)) return failure();
    starts = *s;
    ends = *e;
    if (input(3)) {
      auto a = constInts(3, "axes");
      if (failed(a)) return failure();
      axes = *a;
    }
    if (input(4)) {
      auto st = constInts(4, "steps");
      if (failed(st)) return failure();
      steps = *st;
    }
  }
  if (axes.empty())
    for (int64_t d = 0; d < (int64_t)starts.size(); ++d)
      axes.push_back(d);
  if (steps.empty())
    steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() ||
      steps.size() != starts.size())
    return error() << "starts, ends, axes and steps must have one length";
  SmallVector<int64_t> outStarts(rank, 0), outSteps(rank, 1), outShape(shape);
  SmallVector<bool> seen(rank, false);
  for (size_t i = 0; i < starts.size(); ++i) {
    auto axis = normalizeAxis(axes[i], rank, "axis");
    if (failed(axis))
      return failure();
    if (seen[*axis])
      return error() << "axis " << *axis << " is repeated";
    seen[*axis] = true;
    int64_t dim = shape[*axis], step = steps[i];
    if (step == 0)
      return error() << "step of axis " << *axis << " is zero";
    int64_t start = starts[i], end = ends[i];
    if (start < 0)
      start = start < -dim ? 0 : start + dim;
    if (end < 0)
      end = end < -dim ? -1 : end + dim;
    int64_t count;
    if (step > 0) {
      start = std::clamp<int64_t>(start, 0, dim);
      end = std::clamp<int64_t>(end, 0, dim);
      count = end > start ? (end - start + step - 1) / step : 0;
    } else {
      start = std::clamp<int64_t>(start, 0, dim - 1);
      end = std::clamp<int64_t>(end, -1, dim - 1);
      count = start > end ? (start - end + (-step) - 1) / (-step) : 0;
    }
    outStarts[*axis] = count == 0 ? 0 : start;
    outSteps[*axis] = step;
    outShape[*axis] = count;
  }
  return setOutput(0, typed<SliceOp>(
                          RankedTensorType::get(outShape, tensorType(x).getElementType()),
                          x,
                          {b.getNamedAttr("starts", b.getDenseI64ArrayAttr(outStarts)),
                           b.getNamedAttr("steps", b.getDenseI64ArrayAttr(outSteps))}));
}

LogicalResult NodeImporter::importGather() {
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
        return error() << "index " << i.getSExtValue()
                       << " is out of range for dim " << *axis << " of size " << dim;
  }
  return setOutput(0, inferred<GatherOp>(
                          {input(0), input(1)},
                          {b.getNamedAttr("axis", b.getI64IntegerAttr(*axis))}));
}

LogicalResult NodeImporter::importExpand() {
  if (failed(requireInputs(1)))
    return failure();
  auto shape = constInts(1, "shape");
  if (failed(shape))
    return failure();
  auto out = broadcastShapes(shapeOf(input(0)), *shape);
  if (failed(out))
    return error() << "input shape [" << shapeOf(input(0)) << "] does not broadcast "
                   << "with shape [" << ArrayRef<int64_t>(*shape) << "]";
  auto type = RankedTensorType::get(*out, tensorType(input(0)).getElementType());
  if (type == input(0).getType())
    return setOutput(0, input(0));
  return setOutput(0, typed<BroadcastOp>(type, input(0)));
}

//===----------------------------------------------------------------------===//
// Convolution and pooling
//===----------------------------------------------------------------------===//

FailureOr<SmallVector<int64_t>>
NodeImporter::windowPads(ArrayRef<int64_t> spatialIn, ArrayRef<int64_t> kernel,
                         ArrayRef<int64_t> strides, ArrayRef<int64_t> dilations) {
  size_t n = spatialIn.size();
  for (size_t i = 0; i < n; ++i)
    for (auto [what, v] : {std::pair<const char *, int64_t>{"kernel_shape", kernel[i]},
                           {"strides", strides[i]}, {"dilations", dilations[i]}})
      if (v < 1 || v > (int64_t(1) << 32))
        return error() << what << "[" << i << "] is " << v << ", expected 1 to 2^32";
  std::string autoPad = getString("auto_pad", "NOTSET");
  SmallVector<int64_t> pads(2 * n, 0);
  if (autoPad == "NOTSET") {
    if (auto given = getInts("pads")) {
      if (given->size() != 2 * n)
        return error() << "pads has " << given->size() << " entries, expected "
                       << 2 * n;
      pads = *given;
    }
    return pads;
  }
  if (autoPad == "VALID")
    return pads;
  if (autoPad != "SAME_UPPER" && autoPad != "SAME_LOWER")
    return error() << "auto_pad '" << autoPad << "' is invalid";
  for (size_t i = 0; i < n; ++i) {
    int64_t out = (spatialIn[i] + strides[i] - 1) / strides[i];
    int64_t span = dilations[i] * (kernel[i] - 1) + 1;
    int64_t total = std::max<int64_t>(0, (out - 1) * strides[i] + span - spatialIn[i]);
    int64_t small = total / 2, large = total - small;
    pads[i] = autoPad == "SAME_UPPER" ? small : large;
    pads[i + n] = autoPad == "SAME_UPPER" ? large : small;
  }
  return pads;
}

LogicalResult NodeImporter::importConv() {
  if (failed(requireInputs(2)))
    return failure();
  ArrayRef<int64_t> xShape = shapeOf(input(0)), wShape = shapeOf(input(1));
  if (xShape.size() < 3 || wShape.size() != xShape.size())
    return error() << "X and W must have the same rank >= 3";
  size_t n = xShape.size() - 2;
  SmallVector<int64_t> kernel =
      getInts("kernel_shape").value_or(SmallVector<int64_t>(wShape.drop_front(2)));
  if (ArrayRef<int64_t>(kernel) != wShape.drop_front(2))
    return error() << "kernel_shape [" << ArrayRef<int64_t>(kernel)
                   << "] differs from the weight's spatial dims ["
                   << wShape.drop_front(2) << "]";
  SmallVector<int64_t> strides = getInts("strides").value_or(SmallVector<int64_t>(n, 1));
  SmallVector<int64_t> dilations =
      getInts("dilations").value_or(SmallVector<int64_t>(n, 1));
  if (strides.size() != n || dilations.size() != n)
    return error() << "strides and dilations need " << n << " entries";
  auto pads = windowPads(xShape.drop_front(2), kernel, strides, dilations);
  if (failed(pads))
    return failure();
  SmallVector<Value> operands = {input(0), input(1)};
  if (input(2))
    operands.push_back(input(2));
  return setOutput(0, inferred<ConvOp>(
                          operands,
                          {b.getNamedAttr("strides", b.getDenseI64ArrayAttr(strides)),
                           b.getNamedAttr("pads", b.getDenseI64ArrayAttr(*pads)),
                           b.getNamedAttr("dilations", b.getDenseI64ArrayAttr(dilations)),
                           b.getNamedAttr("group", b.getI64IntegerAttr(getInt("group", 1)))}));
}

LogicalResult NodeImporter::importPool(bool max) {
  if (failed(requireInputs(1)))
    return failure();
  if (max && node.output_size() > 1 && !node.output(1).empty())
    return error() << "the optional output 'Indices' is unsupported";
  ArrayRef<int64_t> xShape = shapeOf(input(0));
  if (xShape.size() < 3)
    return error() << "X must have rank >= 3";
  size_t n = xShape.size() - 2;
  auto kernel = getInts("kernel_shape");
  if (!kernel || kernel->size() != n)
    return error() << "kernel_shape must have " << n << " entries";
  SmallVector<int64_t> strides = getInts("strides").value_or(SmallVector<int64_t>(n, 1));
  SmallVector<int64_t> dilations =
      getInts("dilations").value_or(SmallVector<int64_t>(n, 1));
  if (strides.size() != n || dilations.size() != n)
    return error() << "strides and dilations need " << n << " entries";
  auto pads = windowPads(xShape.drop_front(2), *kernel, strides, dilations);
  if (failed(pads))
    return failure();
  SmallVector<NamedAttribute> attrs = {
      b.getNamedAttr("kernel_shape", b.getDenseI64ArrayAttr(*kernel)),
      b.getNamedAttr("strides", b.getDenseI64ArrayAttr(strides)),
      b.getNamedAttr("pads", b.getDenseI64ArrayAttr(*pads)),
      b.getNamedAttr("dilations", b.getDenseI64ArrayAttr(dilations))};
  if (getInt("ceil_mode", 0))
    attrs.push_back(b.getNamedAttr("ceil_mode", b.getUnitAttr()));
  if (max)
    return setOutput(0, inferred<MaxPoolOp>(input(0), attrs));
  if (getInt("count_include_pad", 0))
    attrs.push_back(b.getNamedAttr("count_include_pad", b.getUnitAttr()));
  return setOutput(0, inferred<AvgPoolOp>(input(0), attrs));
}

LogicalResult NodeImporter::importGlobalPool(bool max) {
  if (failed(requireInputs(1)))
    return failure();
  int64_t rank = shapeOf(input(0)).size();
  if (rank < 3)
    return error() << "X must have rank >= 3";
  SmallVector<int64_t> axes;
  for (int64_t d = 2; d < rank; ++d)
    axes.push_back(d);
  SmallVector<NamedAttribute> attrs = {
      b.getNamedAttr("axes", b.getDenseI64ArrayAttr(axes)),
      b.getNamedAttr("keepdims", b.getUnitAttr())};
  if (max)
    return setOutput(0, inferred<ReduceMaxOp>(input(0), attrs));
  return setOutput(0, inferred<ReduceMeanOp>(input(0), attrs));
}
