//===- SequenceImporters.cpp - sequences and optionals, resolved at import --===//
//
// pmc programs hold tensors only, so ONNX sequences and optionals are
// resolved while importing. A sequence's length is known at compile time
// (graph inputs get it from --sequence-length, every operator below keeps it
// static), so a sequence is the list of its element values: a cast of the
// elements to a tuple, which exists only inside the importer.
//
//   s = SequenceConstruct(a, b)      %s = unrealized_conversion_cast %a, %b
//                                         : tensor<2xf32>, tensor<3xf32>
//                                         to tuple<tensor<2xf32>, tensor<3xf32>>
//   t = SequenceAt(s, 1)             t is %b
//   n = SequenceLength(s)            %n = pmc.constant dense<2> : tensor<i64>
//   c = ConcatFromSequence(s, 0)     %c = pmc.concat %a, %b {axis = 0}
//
// An optional is its value, or (empty) a cast of nothing to `none`, so
// OptionalHasElement folds to a constant. Positions (SequenceAt, Insert,
// Erase) must be compile-time constants. Graph inputs and outputs of these
// types become one argument or result per element (ONNXImporter.cpp), and the
// casts are dead once the graph is imported.
//
//===----------------------------------------------------------------------===//
#include "ImporterImpl.h"
#include "OpRegistry.h"

#include "mlir/IR/BuiltinTypes.h"

using namespace mlir;
using namespace ::pmc::onnx_import;

namespace {
constexpr const char *kElementTypeAttr = "pmc.sequence_element";
} // namespace

namespace pmc::onnx_import {

Value buildSequence(OpBuilder &b, Location loc, ValueRange elements, Type elementType) {
  auto cast = UnrealizedConversionCastOp::create(
      b, loc, TypeRange{TupleType::get(b.getContext(), elements.getTypes())}, elements);
  cast->setAttr(kElementTypeAttr, TypeAttr::get(elementType));
  return cast.getResult(0);
}

Value buildEmptyOptional(OpBuilder &b, Location loc) {
  return UnrealizedConversionCastOp::create(b, loc, TypeRange{b.getNoneType()},
                                            ValueRange{})
      .getResult(0);
}

bool isSequence(Value v) { return isa<TupleType>(v.getType()); }

bool isEmptyOptional(Value v) { return isa<NoneType>(v.getType()); }

SmallVector<Value> sequenceElements(Value sequence) {
  return llvm::to_vector(sequence.getDefiningOp()->getOperands());
}

Type sequenceElementType(Value sequence) {
  return cast<TypeAttr>(sequence.getDefiningOp()->getAttr(kElementTypeAttr)).getValue();
}

} // namespace pmc::onnx_import

void NodeImporter::registerSequenceImporters(OpImporterRegistry &r) {
  constexpr OperandKinds any = OperandKinds::SequencesAndOptionals;
  r.add("SequenceConstruct", 11, [](NodeImporter &n) { return n.importSequenceConstruct(); });
  r.add("SequenceEmpty", 11, [](NodeImporter &n) { return n.importSequenceEmpty(); });
  r.add("SequenceInsert", 11, [](NodeImporter &n) { return n.importSequenceInsert(); }, any);
  r.add("SequenceAt", 11, [](NodeImporter &n) { return n.importSequenceAt(); }, any);
  r.add("SequenceErase", 11, [](NodeImporter &n) { return n.importSequenceErase(); }, any);
  r.add("SequenceLength", 11, [](NodeImporter &n) { return n.importSequenceLength(); }, any);
  r.add("SplitToSequence", 11, [](NodeImporter &n) { return n.importSplitToSequence(); });
  r.add("ConcatFromSequence", 11,
        [](NodeImporter &n) { return n.importConcatFromSequence(); }, any);
  r.add("SequenceMap", 17, [](NodeImporter &n) { return n.importSequenceMap(); }, any);
  r.add("Optional", 15, [](NodeImporter &n) { return n.importOptional(); }, any);
  r.add("OptionalHasElement", 15,
        [](NodeImporter &n) { return n.importOptionalHasElement(); }, any);
  r.add("OptionalGetElement", 15,
        [](NodeImporter &n) { return n.importOptionalGetElement(); }, any);
}

FailureOr<SmallVector<Value>> NodeImporter::sequenceInput(unsigned i) {
  Value v = input(i);
  if (!v)
    return error() << "input " << i << " (a sequence) is missing";
  if (!isSequence(v))
    return error() << "input " << i << " ('" << node.input(i) << "') must be a sequence, it is "
                   << (isEmptyOptional(v) ? "an empty optional" : "a tensor");
  return sequenceElements(v);
}

FailureOr<int64_t> NodeImporter::sequencePosition(unsigned i, int64_t length, bool forInsert,
                                                  int64_t fallback) {
  if (!input(i))
    return fallback;
  auto value = constInts(i, "position");
  if (failed(value))
    return failure();
  if (value->size() != 1)
    return error() << "position must hold one integer, it holds " << value->size();
  int64_t position = value->front();
  int64_t high = forInsert ? length : length - 1;
  if (position < -length || position > high)
    return error() << "position " << position << " is outside [" << -length << ", " << high
                   << "] for a sequence of " << length << " elements";
  return position < 0 ? position + length : position;
}

FailureOr<Value> NodeImporter::sliceAxis(Value v, int64_t axis, int64_t start, int64_t size) {
  ArrayRef<int64_t> shape = shapeOf(v);
  SmallVector<int64_t> starts(shape.size(), 0), steps(shape.size(), 1), sliced(shape);
  starts[axis] = start;
  sliced[axis] = size;
  return typed<mlir::pmc::SliceOp>(
      RankedTensorType::get(sliced, elementOf(v)), v,
      {b.getNamedAttr("starts", b.getDenseI64ArrayAttr(starts)),
       b.getNamedAttr("steps", b.getDenseI64ArrayAttr(steps))});
}

LogicalResult NodeImporter::importSequenceConstruct() {
  if (failed(requireVariadicInputs()))
    return failure();
  Type elementType = elementOf(input(0));
  for (auto [i, v] : llvm::enumerate(inputs))
    if (elementOf(v) != elementType)
      return error() << "input " << i << " has element type " << elementOf(v)
                     << ", input 0 " << elementType << ": a sequence holds one type";
  return setOutput(0, buildSequence(b, loc, inputs, elementType));
}

LogicalResult NodeImporter::importSequenceEmpty() {
  int64_t dtype = getInt("dtype", onnx::TensorProto::FLOAT);
  Type elementType = convertElementType(*b.getContext(), dtype);
  if (!elementType)
    return error() << "dtype " << onnxTypeName(dtype) << " is unsupported";
  return setOutput(0, buildSequence(b, loc, {}, elementType));
}

LogicalResult NodeImporter::importSequenceInsert() {
  auto elements = sequenceInput(0);
  if (failed(elements) || failed(requireInputs(2)))
    return failure();
  Value tensor = input(1);
  if (!isa<RankedTensorType>(tensor.getType()))
    return error() << "input 1 (the inserted value) must be a tensor";
  Type elementType = sequenceElementType(input(0));
  if (elementOf(tensor) != elementType)
    return error() << "inserts a tensor of " << elementOf(tensor)
                   << " into a sequence of " << elementType;
  auto position = sequencePosition(2, elements->size(), /*forInsert=*/true, elements->size());
  if (failed(position))
    return failure();
  elements->insert(elements->begin() + *position, tensor);
  return setOutput(0, buildSequence(b, loc, *elements, elementType));
}

LogicalResult NodeImporter::importSequenceAt() {
  auto elements = sequenceInput(0);
  if (failed(elements) || failed(requireInputs(2)))
    return failure();
  if (elements->empty())
    return error() << "reads from an empty sequence";
  auto position = sequencePosition(1, elements->size(), /*forInsert=*/false, 0);
  if (failed(position))
    return failure();
  return setOutput(0, (*elements)[*position]);
}

LogicalResult NodeImporter::importSequenceErase() {
  auto elements = sequenceInput(0);
  if (failed(elements))
    return failure();
  if (elements->empty())
    return error() << "erases from an empty sequence";
  auto position =
      sequencePosition(1, elements->size(), /*forInsert=*/false, elements->size() - 1);
  if (failed(position))
    return failure();
  elements->erase(elements->begin() + *position);
  return setOutput(0, buildSequence(b, loc, *elements, sequenceElementType(input(0))));
}

LogicalResult NodeImporter::importSequenceLength() {
  auto elements = sequenceInput(0);
  if (failed(elements))
    return failure();
  return setOutput(0, constant(DenseElementsAttr::get(
                          RankedTensorType::get({}, b.getI64Type()),
                          static_cast<int64_t>(elements->size()))));
}

LogicalResult NodeImporter::importSplitToSequence() {
  if (failed(requireInputs(1)))
    return failure();
  Value x = input(0);
  ArrayRef<int64_t> shape = shapeOf(x);
  auto axis = normalizeAxis(getInt("axis", 0), shape.size(), "axis");
  if (failed(axis))
    return failure();
  const int64_t dim = shape[*axis];
  const bool keepDims = getInt("keepdims", 1) != 0;
  SmallVector<Value> pieces;
  if (!input(1)) {
    // One element per index along the axis, squeezed unless keepdims.
    for (int64_t i = 0; i < dim; ++i) {
      auto piece = keepDims ? sliceAxis(x, *axis, i, 1) : takeIndex(x, *axis, i);
      if (failed(piece))
        return failure();
      pieces.push_back(*piece);
    }
    return setOutput(0, buildSequence(b, loc, pieces, elementOf(x)));
  }
  auto split = constAttr(1, "split");
  if (failed(split))
    return failure();
  auto values = constInts(1, "split");
  if (failed(values))
    return failure();
  SmallVector<int64_t> sizes;
  if (split->getType().getRank() == 0) {
    // A scalar: pieces of that size, the last one possibly shorter.
    int64_t chunk = values->front();
    if (chunk <= 0)
      return error() << "split " << chunk << " must be positive";
    for (int64_t start = 0; start < dim; start += chunk)
      sizes.push_back(std::min(chunk, dim - start));
  } else {
    sizes = *values;
    int64_t total = 0;
    for (int64_t s : sizes) {
      if (s < 0)
        return error() << "split holds the negative size " << s;
      total += s;
    }
    if (total != dim)
      return error() << "split sums to " << total << ", the axis has " << dim;
  }
  int64_t start = 0;
  for (int64_t size : sizes) {
    TRY(piece, sliceAxis(x, *axis, start, size));
    pieces.push_back(piece);
    start += size;
  }
  return setOutput(0, buildSequence(b, loc, pieces, elementOf(x)));
}

LogicalResult NodeImporter::importConcatFromSequence() {
  auto elements = sequenceInput(0);
  if (failed(elements))
    return failure();
  if (!attr("axis"))
    return error() << "needs the attribute 'axis'";
  if (elements->empty())
    return error() << "concatenates an empty sequence: its shape is unknown";
  const bool newAxis = getInt("new_axis", 0) != 0;
  int64_t rank = shapeOf(elements->front()).size();
  auto axis = normalizeAxis(getInt("axis", 0), newAxis ? rank + 1 : rank, "axis");
  if (failed(axis))
    return failure();
  if (newAxis)
    return setOutput(0, stack(*elements, *axis));
  if (elements->size() == 1)
    return setOutput(0, elements->front());
  return setOutput(0, inferred<mlir::pmc::ConcatOp>(
                          *elements, {b.getNamedAttr("axis", b.getI64IntegerAttr(*axis))}));
}

LogicalResult NodeImporter::importSequenceMap() {
  auto body = graphAttr("body");
  if (failed(body))
    return failure();
  auto first = sequenceInput(0);
  if (failed(first))
    return failure();
  const size_t length = first->size();
  for (auto [i, v] : llvm::enumerate(inputs)) {
    if (!v)
      return error() << "input " << i << " is missing";
    if (isEmptyOptional(v))
      return error() << "input " << i << " is an empty optional";
    if (isSequence(v) && sequenceElements(v).size() != length)
      return error() << "input " << i << " is a sequence of " << sequenceElements(v).size()
                     << " elements, input 0 of " << length;
  }
  const int64_t bodyOutputs = (*body)->output_size();
  SmallVector<SmallVector<Value>> mapped(bodyOutputs);
  for (size_t k = 0; k < length; ++k) {
    SmallVector<Value> bodyInputs;
    for (Value v : inputs)
      bodyInputs.push_back(isSequence(v) ? sequenceElements(v)[k] : v);
    auto results = importSubgraph(**body, bodyInputs, "body#" + std::to_string(k));
    if (failed(results))
      return failure();
    for (auto [j, r] : llvm::enumerate(*results)) {
      if (!isa<RankedTensorType>(r.getType()))
        return error() << "body output " << j << " must be a tensor";
      mapped[j].push_back(r);
    }
  }
  for (int64_t j = 0; j < bodyOutputs && j < (int64_t)outputs.size(); ++j) {
    Type elementType;
    if (!mapped[j].empty()) {
      elementType = elementOf(mapped[j].front());
    } else {
      int32_t declared = (*body)->output(j).type().tensor_type().elem_type();
      elementType = convertElementType(*b.getContext(), declared);
      if (!elementType)
        return error() << "maps an empty sequence, and body output " << j
                       << " declares no element type";
    }
    outputs[j] = buildSequence(b, loc, mapped[j], elementType);
  }
  return success();
}

LogicalResult NodeImporter::importOptional() {
  // The `type` attribute declares the type of an empty optional; a present
  // value carries its own.
  acceptAttribute("type");
  if (Value v = input(0))
    return setOutput(0, v);
  if (!attr("type"))
    return error() << "an empty Optional needs the attribute 'type'";
  return setOutput(0, buildEmptyOptional(b, loc));
}

LogicalResult NodeImporter::importOptionalHasElement() {
  Value v = input(0);
  if (!v && opset < 18)
    return error() << "needs its input before opset 18";
  bool has = v && !isEmptyOptional(v);
  return setOutput(0, constant(DenseElementsAttr::get(
                          RankedTensorType::get({}, b.getI1Type()), has)));
}

LogicalResult NodeImporter::importOptionalGetElement() {
  Value v = input(0);
  if (!v || isEmptyOptional(v))
    return error() << "reads the element of an empty optional";
  return setOutput(0, v);
}
