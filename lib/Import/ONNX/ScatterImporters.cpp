//===- ScatterImporters.cpp - ScatterElements, Scatter, ScatterND ----------===//
//
// Scatters whose indices are runtime tensors, as comparisons of every data
// position with every update's target (no new op, exact):
//
//   mask[p, j]  = target(j) == p                     (i1, p over the data, j
//                                                     over the updates it may get)
//   none:       last = max_j (mask ? j : -1)         the last update wins (the
//               out  = last >= 0 ? updates[last] : data    order onnxruntime writes)
//   add/mul/max/min:
//               out  = data (+ * max min) reduce_j(mask ? update_j : identity)
//
// ScatterElements compares along its axis only: data [.., D, ..] and indices /
// updates [.., I, ..] (the other dims padded up to the data's, with targets
// that match nothing) give mask [.., D, .., I]. ScatterND flattens the indexed
// leading dims: data [R, rest], a linear target per index tuple [T], mask
// [R, T]. Negative indices count from the end; an index outside its dimension
// updates nothing (onnxruntime rejects it; pmc cannot check runtime values).
// Sums and products may associate differently from onnxruntime's sequential
// loop (a last-bit difference for floats); integers and the other reductions
// are exact.
//
#include "ImporterImpl.h"
#include "OpRegistry.h"

#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace mlir::pmc;
using namespace ::pmc::onnx_import;

void NodeImporter::registerScatterImporters(OpImporterRegistry &r) {
  r.add("Scatter", 9, [](NodeImporter &n) { return n.importScatterElements(); });
  r.add("ScatterElements", 11, [](NodeImporter &n) { return n.importScatterElements(); });
  r.add("ScatterND", 11, [](NodeImporter &n) { return n.importScatterND(); });
}

FailureOr<std::string> NodeImporter::scatterReduction(Type elementType) {
  if (opset < 16)
    return std::string("none");
  std::string reduction = getString("reduction", "none");
  bool known = reduction == "none" || reduction == "add" || reduction == "mul" ||
               (opset >= 18 && (reduction == "max" || reduction == "min"));
  if (!known)
    return error() << "reduction '" << reduction << "' is not "
                   << (opset >= 18 ? "none, add, mul, max or min" : "none, add or mul")
                   << " (opset " << opset << ")";
  if (reduction != "none" && elementType.isInteger(1))
    return error() << "reduction '" << reduction << "' needs a numeric tensor, got bool";
  return reduction;
}

FailureOr<Value> NodeImporter::scatterCombine(StringRef reduction, Value data, Value mask,
                                              Value updates, int64_t axis) {
  Type t = elementOf(data);
  Value identity;
  if (reduction == "add")
    identity = scalar(t, 0);
  else if (reduction == "mul")
    identity = scalar(t, 1);
  else
    identity = extremeScalar(t, /*lowest=*/reduction == "max");
  TRY(contributions, inferred<WhereOp>({mask, updates, identity}));
  auto axes = b.getNamedAttr("axes", b.getDenseI64ArrayAttr({axis}));
  FailureOr<Value> reduced = failure();
  if (reduction == "add")
    reduced = inferred<ReduceSumOp>(contributions, {axes});
  else if (reduction == "mul")
    reduced = inferred<ReduceProdOp>(contributions, {axes});
  else if (reduction == "max")
    reduced = inferred<ReduceMaxOp>(contributions, {axes});
  else
    reduced = inferred<ReduceMinOp>(contributions, {axes});
  if (failed(reduced))
    return failure();
  TRY(shaped, reshape(*reduced, shapeOf(data)));
  if (reduction == "add")
    return inferred<AddOp>({data, shaped});
  if (reduction == "mul")
    return inferred<MulOp>({data, shaped});
  if (reduction == "max")
    return inferred<MaxOp>({data, shaped});
  return inferred<MinOp>({data, shaped});
}

FailureOr<Value> NodeImporter::wrapIndices(Value indices, Value sizes) {
  Value wide = indices;
  if (!elementOf(indices).isInteger(64)) {
    TRY(cast, typed<CastOp>(RankedTensorType::get(shapeOf(indices), b.getI64Type()), indices));
    wide = cast;
  }
  TRY(negative, inferred<LessOp>({wide, scalar(b.getI64Type(), 0)}));
  TRY(shifted, inferred<AddOp>({wide, sizes}));
  return inferred<WhereOp>({negative, shifted, wide});
}

LogicalResult NodeImporter::importScatterElements() {
  if (failed(requireInputs(3)))
    return failure();
  Value data = input(0), indices = input(1), updates = input(2);
  ArrayRef<int64_t> dataShape = shapeOf(data), indexShape = shapeOf(indices);
  int64_t rank = dataShape.size();
  if (!isa<IntegerType>(elementOf(indices)) ||
      !(elementOf(indices).isInteger(32) || elementOf(indices).isInteger(64)))
    return error() << "indices must be int32 or int64, got " << indices.getType();
  if (elementOf(updates) != elementOf(data))
    return error() << "updates " << updates.getType() << " must have the element type of data "
                   << data.getType();
  if (rank < 1 || (int64_t)indexShape.size() != rank || shapeOf(updates) != indexShape)
    return error() << "indices " << indices.getType() << " and updates " << updates.getType()
                   << " must have one shape, of the rank of data " << data.getType();
  auto axisOr = normalizeAxis(getInt("axis", 0), rank, "axis");
  if (failed(axisOr))
    return failure();
  int64_t axis = *axisOr;
  for (int64_t d = 0; d < rank; ++d)
    if (d != axis && indexShape[d] > dataShape[d])
      return error() << "dim " << d << " of indices (" << indexShape[d]
                     << ") is larger than that of data (" << dataShape[d] << ")";
  auto reductionOr = scatterReduction(elementOf(data));
  if (failed(reductionOr))
    return failure();
  std::string reduction = *reductionOr;
  int64_t size = dataShape[axis], count = indexShape[axis];
  DenseElementsAttr constIndices;
  if (matchPattern(indices, m_Constant(&constIndices)))
    for (const APInt &i : constIndices.getValues<APInt>())
      if (i.getSExtValue() < -size || i.getSExtValue() >= size)
        return error() << "index " << i.getSExtValue() << " is out of range for dim " << axis
                       << " of size " << size;
  if (count == 0 || product(indexShape) == 0)
    return setOutput(0, data);

  Type i64 = b.getI64Type();
  TRY(wrapped, wrapIndices(indices, scalar(i64, size)));
  // Pad the other dims up to the data's: padded targets (-1) match nothing.
  SmallVector<int64_t> pads(2 * rank, 0);
  bool padded = false;
  for (int64_t d = 0; d < rank; ++d)
    if (d != axis && indexShape[d] < dataShape[d])
      pads[rank + d] = dataShape[d] - indexShape[d], padded = true;
  Value targets = wrapped, values = updates;
  if (padded) {
    auto padAttrs = [&] {
      return SmallVector<NamedAttribute>{b.getNamedAttr("pads", b.getDenseI64ArrayAttr(pads)),
                                         b.getNamedAttr("mode", b.getStringAttr("constant"))};
    };
    TRY(t, inferred<PadOp>({wrapped, scalar(i64, -1)}, padAttrs()));
    Value zero = elementOf(data).isInteger(1)
                     ? constant(DenseElementsAttr::get(
                           RankedTensorType::get({}, elementOf(data)), false))
                     : scalar(elementOf(data), 0);
    TRY(v, inferred<PadOp>({updates, zero}, padAttrs()));
    targets = t, values = v;
  }
  // [.., I, ..] -> [.., 1, .., I]: the update axis becomes a trailing dim.
  auto trailing = [&](Value v) -> FailureOr<Value> {
    SmallVector<int64_t> perm;
    for (int64_t d = 0; d < rank; ++d)
      if (d != axis)
        perm.push_back(d);
    perm.push_back(axis);
    Value moved = v;
    if (axis != rank - 1) {
      auto t = inferred<TransposeOp>(v, {b.getNamedAttr("perm", b.getDenseI64ArrayAttr(perm))});
      if (failed(t))
        return failure();
      moved = *t;
    }
    SmallVector<int64_t> shape(shapeOf(v));
    shape[axis] = 1;
    shape.push_back(count);
    return reshape(moved, shape);
  };
  auto targetsOr = trailing(targets);
  if (failed(targetsOr))
    return failure();
  TRY(positions, iota(size, axis, rank + 1));
  TRY(mask, inferred<EqualOp>({*targetsOr, positions}));  // [data dims.., I]
  if (reduction != "none") {
    auto valuesOr = trailing(values);
    if (failed(valuesOr))
      return failure();
    return setOutput(0, scatterCombine(reduction, data, mask, *valuesOr, rank));
  }
  TRY(order, iota(count, rank, rank + 1));
  TRY(numbered, inferred<WhereOp>({mask, order, scalar(i64, -1)}));
  TRY(last, inferred<ReduceMaxOp>(numbered, {b.getNamedAttr("axes",
                                                            b.getDenseI64ArrayAttr({rank}))}));
  TRY(hit, inferred<GreaterEqualOp>({last, scalar(i64, 0)}));
  TRY(safe, inferred<MaxOp>({last, scalar(i64, 0)}));
  TRY(picked, inferred<GatherElementsOp>({values, safe},
                                         {b.getNamedAttr("axis", b.getI64IntegerAttr(axis))}));
  return setOutput(0, inferred<WhereOp>({hit, picked, data}));
}

LogicalResult NodeImporter::importScatterND() {
  if (failed(requireInputs(3)))
    return failure();
  Value data = input(0), indices = input(1), updates = input(2);
  ArrayRef<int64_t> dataShape = shapeOf(data), indexShape = shapeOf(indices);
  int64_t dataRank = dataShape.size(), indexRank = indexShape.size();
  if (!elementOf(indices).isInteger(64))
    return error() << "indices must be int64, got " << indices.getType();
  if (elementOf(updates) != elementOf(data))
    return error() << "updates " << updates.getType() << " must have the element type of data "
                   << data.getType();
  if (dataRank < 1 || indexRank < 1)
    return error() << "data and indices must have rank >= 1";
  int64_t q = indexShape.back();
  if (q < 1 || q > dataRank)
    return error() << "the last dimension of indices (" << q
                   << ") must be between 1 and the rank of data (" << dataRank << ")";
  ArrayRef<int64_t> batch = indexShape.drop_back(), indexed = dataShape.take_front(q),
                    rest = dataShape.drop_front(q);
  SmallVector<int64_t> updateShape(batch);
  llvm::append_range(updateShape, rest);
  if (shapeOf(updates) != ArrayRef<int64_t>(updateShape))
    return error() << "updates must be " << RankedTensorType::get(updateShape, elementOf(data))
                   << " (indices' leading dims, then data's after the first " << q
                   << "), got " << updates.getType();
  auto reductionOr = scatterReduction(elementOf(data));
  if (failed(reductionOr))
    return failure();
  std::string reduction = *reductionOr;
  DenseElementsAttr constIndices;
  if (matchPattern(indices, m_Constant(&constIndices))) {
    int64_t j = 0;
    for (const APInt &i : constIndices.getValues<APInt>()) {
      int64_t dim = indexed[j], v = i.getSExtValue();
      if (v < -dim || v >= dim)
        return error() << "index " << v << " is out of range for dim " << j << " of size "
                       << dim;
      j = (j + 1) % q;
    }
  }
  int64_t rows = product(indexed), count = product(batch);
  if (count == 0)
    return setOutput(0, data);

  Type i64 = b.getI64Type();
  SmallVector<int64_t> strides(q, 1);
  for (int64_t j = q - 2; j >= 0; --j)
    strides[j] = strides[j + 1] * indexed[j + 1];
  TRY(components, wrapIndices(indices, i64Tensor(indexed)));
  TRY(weighted, inferred<MulOp>({components, i64Tensor(strides)}));
  TRY(linear, inferred<ReduceSumOp>(
                  weighted, {b.getNamedAttr("axes", b.getDenseI64ArrayAttr({indexRank - 1}))}));
  TRY(targets, reshape(linear, {1, count}));
  TRY(positions, iota(rows, 0, 2));
  TRY(mask, inferred<EqualOp>({targets, positions}));  // [R, T]
  SmallVector<int64_t> flatShape{rows}, flatUpdates{count};
  llvm::append_range(flatShape, rest);
  llvm::append_range(flatUpdates, rest);
  TRY(flatData, reshape(data, flatShape));
  TRY(flatValues, reshape(updates, flatUpdates));
  int64_t restRank = rest.size();
  Value result;
  if (reduction != "none") {
    SmallVector<int64_t> maskShape{rows, count}, valueShape{1, count};
    maskShape.append(restRank, 1);
    llvm::append_range(valueShape, rest);
    TRY(wideMask, reshape(mask, maskShape));
    TRY(values, reshape(flatValues, valueShape));
    TRY(combined, scatterCombine(reduction, flatData, wideMask, values, 1));
    result = combined;
  } else {
    TRY(order, iota(count, 1, 2));
    TRY(numbered, inferred<WhereOp>({mask, order, scalar(i64, -1)}));
    TRY(last, inferred<ReduceMaxOp>(numbered,
                                    {b.getNamedAttr("axes", b.getDenseI64ArrayAttr({1}))}));
    TRY(safe, inferred<MaxOp>({last, scalar(i64, 0)}));
    TRY(picked, inferred<GatherOp>({flatValues, safe},
                                   {b.getNamedAttr("axis", b.getI64IntegerAttr(0))}));
    SmallVector<int64_t> hitShape{rows};
    hitShape.append(restRank, 1);
    TRY(hit, inferred<GreaterEqualOp>({last, scalar(i64, 0)}));
    TRY(hitRows, reshape(hit, hitShape));
    TRY(merged, inferred<WhereOp>({hitRows, picked, flatData}));
    result = merged;
  }
  return setOutput(0, reshape(result, dataShape));
}
