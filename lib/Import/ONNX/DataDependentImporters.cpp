//===- DataDependentImporters.cpp - ops whose shape depends on values ------===//
//
// Compress, NonZero and MaxUnpool produce a shape (or a placement) that
// depends on the values of an operand. pmc compiles static shapes, so that
// operand must be a compile-time constant (an initializer, or a graph input
// bound with --bind); the error otherwise names the graph inputs it comes
// from. With it constant:
//
//   Compress(x, condition = [1, 0, 1], axis = 0)
//     -> pmc.gather %x, dense<[0, 2]> {axis = 0}
//   NonZero(constant) -> a constant
//   MaxUnpool(x, indices = constant)
//     -> pmc.where(dense<filled>, pmc.gather(flat x, dense<source of each
//        output position>), 0), reshaped to the output shape
//
//===----------------------------------------------------------------------===//
#include "ImporterImpl.h"
#include "OpRegistry.h"

using namespace mlir;
using namespace mlir::pmc;
using namespace ::pmc::onnx_import;

void NodeImporter::registerDataDependentImporters(OpImporterRegistry &r) {
  r.add("Compress", 9, [](NodeImporter &n) { return n.importCompress(); });
  r.add("NonZero", 9, [](NodeImporter &n) { return n.importNonZero(); });
  r.add("MaxUnpool", 9, [](NodeImporter &n) { return n.importMaxUnpool(); });
}

/// The truth of every element of a constant (non-zero, as ONNX's bool casts).
static SmallVector<bool> truthValues(DenseElementsAttr value) {
  SmallVector<bool> result;
  result.reserve(value.getNumElements());
  if (isa<FloatType>(value.getElementType())) {
    for (const APFloat &v : value.getValues<APFloat>())
      result.push_back(!v.isZero());
  } else {
    for (const APInt &v : value.getValues<APInt>())
      result.push_back(!v.isZero());
  }
  return result;
}

LogicalResult NodeImporter::importCompress() {
  if (failed(requireInputs(2)))
    return failure();
  Value x = input(0);
  FailureOr<DenseElementsAttr> condition = constAttr(1, "condition");
  if (failed(condition))
    return failure();
  if (!condition->getElementType().isInteger(1) || shapeOf(input(1)).size() != 1)
    return error() << "condition must be a 1-D bool tensor, it is " << input(1).getType();
  SmallVector<bool> keep = truthValues(*condition);
  Value data = x;
  int64_t axis = 0;
  if (const onnx::AttributeProto *a = attr("axis")) {
    FailureOr<int64_t> normalized = normalizeAxis(a->i(), shapeOf(x).size(), "axis");
    if (failed(normalized))
      return failure();
    axis = *normalized;
  } else {
    TRY(flat, reshape(x, {product(shapeOf(x))}));
    data = flat;
  }
  // ONNX: a condition shorter than the axis drops the rest; a longer one
  // may only select positions that exist.
  const int64_t dim = shapeOf(data)[axis];
  SmallVector<int64_t> picked;
  for (auto [i, k] : llvm::enumerate(keep)) {
    if (!k)
      continue;
    if ((int64_t)i >= dim)
      return error() << "condition selects position " << i << " of an axis of size " << dim;
    picked.push_back(i);
  }
  if (picked.empty())
    return error() << "condition selects nothing: the output would have no elements";
  return setOutput(0, inferred<GatherOp>({data, i64Tensor(picked)},
                                         {b.getNamedAttr("axis", b.getI64IntegerAttr(axis))}));
}

LogicalResult NodeImporter::importNonZero() {
  if (failed(requireInputs(1)))
    return failure();
  FailureOr<DenseElementsAttr> value = constAttr(0, "X");
  if (failed(value))
    return failure();
  ArrayRef<int64_t> shape = shapeOf(input(0));
  SmallVector<bool> truth = truthValues(*value);
  SmallVector<int64_t> flat;
  for (auto [i, t] : llvm::enumerate(truth))
    if (t)
      flat.push_back(i);
  if (flat.empty())
    return error() << "the input has no non-zero element: the output would have no elements";
  const int64_t rank = std::max<int64_t>(shape.size(), 1), count = flat.size();
  if (rank * count > kMaxFoldedElements)
    return error() << "the output of " << rank * count << " indices is too large to fold";
  // Row d holds coordinate d of every non-zero element, in row-major order.
  SmallVector<int64_t> coordinates(rank * count);
  for (int64_t j = 0; j < count; ++j) {
    int64_t rest = flat[j];
    for (int64_t d = rank - 1; d >= 0; --d) {
      int64_t size = shape.empty() ? 1 : shape[d];
      coordinates[d * count + j] = rest % size;
      rest /= size;
    }
  }
  auto type = RankedTensorType::get({rank, count}, b.getI64Type());
  return setOutput(0, constant(DenseElementsAttr::get(type, ArrayRef<int64_t>(coordinates))));
}

LogicalResult NodeImporter::importMaxUnpool() {
  if (failed(requireInputs(2)))
    return failure();
  Value x = input(0);
  ArrayRef<int64_t> inShape = shapeOf(x);
  if (inShape.size() < 3)
    return error() << "X must be [N, C, spatial...], it is " << x.getType();
  const int64_t spatialRank = inShape.size() - 2;
  std::optional<SmallVector<int64_t>> kernel = getInts("kernel_shape");
  if (!kernel || (int64_t)kernel->size() != spatialRank)
    return error() << "kernel_shape must have " << spatialRank << " entries";
  SmallVector<int64_t> strides = getInts("strides").value_or(SmallVector<int64_t>(spatialRank, 1));
  SmallVector<int64_t> pads = getInts("pads").value_or(SmallVector<int64_t>(2 * spatialRank, 0));
  if ((int64_t)strides.size() != spatialRank || (int64_t)pads.size() != 2 * spatialRank)
    return error() << "strides must have " << spatialRank << " entries and pads "
                   << 2 * spatialRank;
  // The default output: what a MaxPool of these attributes would invert.
  SmallVector<int64_t> outShape(inShape.take_front(2));
  for (int64_t d = 0; d < spatialRank; ++d)
    outShape.push_back((inShape[d + 2] - 1) * strides[d] - pads[d] - pads[d + spatialRank] +
                       (*kernel)[d]);
  if (input(2)) {
    FailureOr<SmallVector<int64_t>> shapeOperand = constInts(2, "output_shape");
    if (failed(shapeOperand))
      return failure();
    SmallVector<int64_t> &given = *shapeOperand;
    if (given.size() != inShape.size())
      return error() << "output_shape must have " << inShape.size() << " entries";
    for (int64_t d = 0; d < 2; ++d)
      if (given[d] != inShape[d])
        return error() << "output_shape keeps N and C of X (" << inShape[0] << ", "
                       << inShape[1] << "), it has " << given[0] << ", " << given[1];
    outShape.assign(given.begin(), given.end());
  }
  for (int64_t s : outShape)
    if (s < 1)
      return error() << "the output shape [" << ArrayRef<int64_t>(outShape)
                     << "] has an empty dim";
  FailureOr<SmallVector<int64_t>> indices = constInts(1, "I");
  if (failed(indices))
    return failure();
  if (shapeOf(input(1)) != inShape)
    return error() << "I must have the shape of X, it is " << input(1).getType();
  // Indices are positions in the flat output (as MaxPool's are in its flat
  // input): output position p takes X.flat[k] where I.flat[k] == p, the
  // last such k when several match, as the reference's sequential writes.
  const int64_t outCount = product(outShape);
  if (outCount > kMaxFoldedElements)
    return error() << "an output of " << outCount << " elements is too large to fold";
  SmallVector<int64_t> source(outCount, 0);
  SmallVector<bool> filled(outCount, false);
  for (auto [k, p] : llvm::enumerate(*indices)) {
    if (p < 0 || p >= outCount)
      return error() << "index " << p << " is outside the output of " << outCount
                     << " elements";
    source[p] = k;
    filled[p] = true;
  }
  TRY(flat, reshape(x, {product(inShape)}));
  TRY(gathered, inferred<GatherOp>({flat, i64Tensor(source)},
                                   {b.getNamedAttr("axis", b.getI64IntegerAttr(0))}));
  auto maskType = RankedTensorType::get({outCount}, b.getI1Type());
  Value mask = constant(DenseElementsAttr::get(maskType, ArrayRef<bool>(filled)));
  TRY(y, inferred<WhereOp>({mask, gathered, scalar(elementOf(x), 0.0)}));
  return setOutput(0, reshape(y, outShape));
}
