//===- DataMovementImporters.cpp - Data movement: reshapes, slices, gathers, pads ---===//
//
// Operators that move or select elements: Reshape, Transpose, Squeeze, Concat,
// Split, Slice, Gather(Elements/ND), Expand, Tile, Pad, Trilu, DepthToSpace
// (Dropout's importer: DropoutImporter.cpp).
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

void NodeImporter::registerDataMovementImporters(OpImporterRegistry &r) {
  r.add("Reshape", 1, [](NodeImporter &n) { return n.importReshape(); });
  r.add("Transpose", 1, [](NodeImporter &n) { return n.importTranspose(); });
  r.add("Flatten", 1, [](NodeImporter &n) { return n.importFlatten(); });
  r.add("Squeeze", 1, [](NodeImporter &n) { return n.importSqueeze(false); });
  r.add("Unsqueeze", 1, [](NodeImporter &n) { return n.importSqueeze(true); });
  r.add("Concat", 1, [](NodeImporter &n) { return n.importConcat(); });
  r.add("Split", 1, [](NodeImporter &n) { return n.importSplit(); });
  r.add("Slice", 1, [](NodeImporter &n) { return n.importSlice(); });
  r.add("Gather", 1, [](NodeImporter &n) { return n.importGather(); });
  r.add("GatherElements", 1, [](NodeImporter &n) { return n.importGatherElements(); });
  r.add("GatherND", 1, [](NodeImporter &n) { return n.importGatherND(); });
  r.add("Expand", 1, [](NodeImporter &n) { return n.importExpand(); });
  r.add("Tile", 1, [](NodeImporter &n) { return n.importTile(); });
  r.add("Pad", 1, [](NodeImporter &n) { return n.importPad(); });
  r.add("Trilu", 1, [](NodeImporter &n) { return n.importTrilu(); });
  r.add("DepthToSpace", 1, [](NodeImporter &n) { return n.importDepthSpace(false); });
  r.add("SpaceToDepth", 1, [](NodeImporter &n) { return n.importDepthSpace(true); });
  r.add("Dropout", 1, [](NodeImporter &n) { return n.importDropout(); });
  r.add("ReverseSequence", 10, [](NodeImporter &n) { return n.importReverseSequence(); });
}

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
    // The element count must not overflow (a reshape keeps the input's count,
    // at most 2^40, so a larger product is an error either way).
    if (d != 0 && known > kMaxTensorElements / d)
      return error() << "shape [" << ArrayRef<int64_t>(shape) << "] has more than 2^40 "
                     << "elements; the input has " << product(in);
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
  TRY(colIndex, iota(cols, 1, 2));
  TRY(rowIndex, iota(rows, 0, 2));
  TRY(diff, inferred<SubOp>({colIndex, rowIndex}));
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
  // DepthToSpace has `mode` from opset 11, SpaceToDepth from opset 28.
  std::string mode = getString("mode", "DCR");
  if (mode != "DCR" && mode != "CRD")
    return error() << "mode must be DCR or CRD, got '" << mode << "'";
  if (toSpace) {
    if (h % bs || w % bs)
      return error() << "H and W must be multiples of blocksize " << bs;
    // DCR: channel (b1 * bs + b2) * C + c; CRD: c * bs * bs + b1 * bs + b2.
    split = {n, c, h / bs, bs, w / bs, bs};
    perm = mode == "DCR" ? SmallVector<int64_t>{0, 3, 5, 1, 2, 4}
                         : SmallVector<int64_t>{0, 1, 3, 5, 2, 4};
    result = {n, c * bs * bs, h / bs, w / bs};
  } else {
    if (c % (bs * bs))
      return error() << "C must be a multiple of blocksize^2 = " << bs * bs;
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

/// ReverseSequence as a gather_elements along time_axis with indices computed
/// at run time from sequence_lens: idx[b, t] = t < len[b] ? len[b] - 1 - t : t
/// (len clamped to [0, T], so that an invalid length never reads out of range).
LogicalResult NodeImporter::importReverseSequence() {
  if (failed(requireInputs(2)))
    return failure();
  Value x = input(0), lens = input(1);
  ArrayRef<int64_t> shape = shapeOf(x);
  int64_t rank = shape.size();
  if (rank < 2)
    return error() << "input must have rank >= 2, got " << rank;
  int64_t batchAxis = getInt("batch_axis", 1), timeAxis = getInt("time_axis", 0);
  if (!((batchAxis == 0 && timeAxis == 1) || (batchAxis == 1 && timeAxis == 0)))
    return error() << "batch_axis = " << batchAxis << " and time_axis = " << timeAxis
                   << " must be 0 and 1 or 1 and 0";
  if (!elementOf(lens).isInteger(64))
    return error() << "sequence_lens (input 1) must be int64, got " << elementOf(lens);
  if (shapeOf(lens) != ArrayRef<int64_t>{shape[batchAxis]})
    return error() << "sequence_lens (input 1) must have shape [" << shape[batchAxis] << "]";
  int64_t steps = shape[timeAxis];
  Type i64 = b.getI64Type();
  SmallVector<int64_t> lenShape(rank, 1);
  lenShape[batchAxis] = shape[batchAxis];
  TRY(len, reshape(lens, lenShape));
  TRY(lenLow, inferred<MaxOp>({len, scalar(i64, 0)}));
  TRY(lenClamped, inferred<MinOp>({lenLow, scalar(i64, steps)}));
  TRY(t, iota(steps, timeAxis, rank));
  TRY(inside, inferred<LessOp>({t, lenClamped}));
  TRY(last, inferred<SubOp>({lenClamped, scalar(i64, 1)}));
  TRY(reversed, inferred<SubOp>({last, t}));
  TRY(idx, inferred<WhereOp>({inside, reversed, t}));
  TRY(full, typed<BroadcastOp>(RankedTensorType::get(shape, i64), idx));
  return setOutput(0, inferred<GatherElementsOp>(
                          {x, full},
                          {b.getNamedAttr("axis", b.getI64IntegerAttr(timeAxis))}));
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

