//===- ShapeImporters.cpp - Constants, shapes and index tensors -------------===//
//
// Constant, ConstantOfShape, Shape, Size, Range, EyeLike, OneHot: values known
// at compile time or built from iota comparisons.
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

void NodeImporter::registerShapeImporters(OpImporterRegistry &r) {
  r.add("Constant", 1, [](NodeImporter &n) { return n.importConstant(); });
  r.add("ConstantOfShape", 1, [](NodeImporter &n) { return n.importConstantOfShape(); });
  r.add("Shape", 1, [](NodeImporter &n) { return n.importShape(); });
  r.add("Size", 1, [](NodeImporter &n) { return n.importSize(); });
  r.add("Range", 1, [](NodeImporter &n) { return n.importRange(); });
  r.add("OneHot", 1, [](NodeImporter &n) { return n.importOneHot(); });
  r.add("EyeLike", 1, [](NodeImporter &n) { return n.importEyeLike(); });
}

LogicalResult NodeImporter::importConstant() {
  if (node.attribute_size() != 1)
    return error() << "expects exactly one attribute, got " << node.attribute_size();
  const onnx::AttributeProto &a = node.attribute(0);
  acceptAttribute(a.name());
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

LogicalResult NodeImporter::importSize() {
  if (failed(requireInputs(1)))
    return failure();
  auto type = RankedTensorType::get({}, b.getI64Type());
  int64_t count = tensorType(input(0)).getNumElements();
  return setOutput(0, constant(DenseElementsAttr::get(type, ArrayRef<int64_t>{count})));
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
  // Opset 27: `stash_type` (1, float, by default) is the type float16 and
  // bfloat16 ranges are computed in; pmc computes every float range in
  // float64 and rounds each element once, which matches float computation.
  int64_t stash = getInt("stash_type", 1);
  if ((elementType.isF16() || elementType.isBF16()) && stash != 1)
    return error() << "stash_type " << onnxTypeName(stash)
                   << " (computing the range in that type) is not implemented; pmc "
                      "computes float16 and bfloat16 ranges in float";
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
  TRY(index, iota(depth, *axis, outRank));
  TRY(mask, inferred<EqualOp>({column, index}));
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
  TRY(colIndex, iota(shape[1], 1, 2));
  TRY(rowIndex, iota(shape[0], 0, 2));
  TRY(diff, inferred<SubOp>({colIndex, rowIndex}));
  TRY(mask, inferred<EqualOp>({diff, i64Tensor({k})}));
  return setOutput(0, typed<CastOp>(RankedTensorType::get(shape, element), mask));
}
