//===- TopKImporter.cpp - ONNX TopK as K rounds of picking the best element ===//
//
// TopK with K known at import time is K rounds over the axis. Each round picks
// the first still-available element that is best under a total order and marks
// it taken; the K picked indices, concatenated, gather the values:
//
//   m     = max (min) of x over the available non-NaN elements
//   score = 2 / 1 / 0 for the preferred class / the other class / taken,
//           where "match" is available & x == m and "nan" available & NaN
//           (largest: NaN first, then matches; smallest: matches, then NaN)
//   pick  = arg_max(score)           (the first index of the highest score)
//   avail = avail & (iota != pick)
//
// The order is the onnx reference's (a stable lexsort): values descending
// (largest) or ascending (smallest), equal values by ascending index, NaN
// greater than every number (first for largest, last for smallest). onnxruntime
// agrees wherever no NaN is involved; with NaNs its heap order is not a total
// order and depends on K. Nothing is approximated: comparisons, selections and
// a gather. `sorted = 0` leaves the order unspecified; the sorted one is kept.
//
#include "ImporterImpl.h"
#include "OpRegistry.h"

#include <limits>

using namespace mlir;
using namespace mlir::pmc;
using namespace ::pmc::onnx_import;

/// The most rounds (K) the importer unrolls: each is a handful of ops.
static constexpr int64_t kMaxTopK = 1024;

void NodeImporter::registerTopKImporters(OpImporterRegistry &r) {
  r.add("TopK", 1, [](NodeImporter &n) { return n.importTopK(); });
}

Value NodeImporter::extremeScalar(Type elementType, bool lowest) {
  auto type = RankedTensorType::get({}, elementType);
  if (auto f = dyn_cast<FloatType>(elementType))
    return constant(DenseElementsAttr::get(
        type, FloatAttr::get(f, lowest ? -std::numeric_limits<double>::infinity()
                                       : std::numeric_limits<double>::infinity())));
  unsigned width = elementType.getIntOrFloatBitWidth();
  APInt value;
  if (elementType.isUnsignedInteger() || width == 1)
    value = lowest ? APInt::getMinValue(width) : APInt::getMaxValue(width);
  else
    value = lowest ? APInt::getSignedMinValue(width) : APInt::getSignedMaxValue(width);
  return constant(DenseElementsAttr::get(type, IntegerAttr::get(elementType, value)));
}

LogicalResult NodeImporter::importTopK() {
  if (failed(requireInputs(opset >= 10 ? 2 : 1)))
    return failure();
  Value x = input(0);
  ArrayRef<int64_t> shape = shapeOf(x);
  int64_t rank = shape.size();
  Type t = elementOf(x);
  if (rank < 1)
    return error() << "the input must have rank >= 1, got " << x.getType();
  if (!isa<FloatType, IntegerType>(t) || t.isInteger(1))
    return error() << "the input must be a numeric tensor, got " << x.getType();
  auto axisOr = normalizeAxis(getInt("axis", -1), rank, "axis");
  if (failed(axisOr))
    return failure();
  int64_t axis = *axisOr;
  int64_t k = 0;
  if (opset >= 10) {
    auto given = constInts(1, "K");
    if (failed(given))
      return failure();
    if (given->size() != 1)
      return error() << "K (input 1) must hold one value, got " << given->size();
    k = (*given)[0];
  } else {
    if (!attr("k"))
      return error() << "attribute 'k' is required";
    k = getInt("k", 0);
  }
  bool largest = opset >= 11 ? getInt("largest", 1) != 0 : true;
  if (opset >= 11)
    (void)getInt("sorted", 1); // the sorted order is one of the allowed orders
  int64_t n = shape[axis];
  if (k < 0 || k > n)
    return error() << "K = " << k << " must be between 0 and the size " << n
                   << " of axis " << axis;
  if (k > kMaxTopK)
    return error() << "K = " << k << " is more than the " << kMaxTopK
                   << " rounds pmc unrolls for TopK";

  SmallVector<int64_t> outShape(shape);
  outShape[axis] = k;
  auto indexType = RankedTensorType::get(outShape, b.getI64Type());
  if (k == 0) {
    if (failed(setOutput(0, constant(DenseElementsAttr::get(RankedTensorType::get(outShape, t),
                                                            ArrayRef<Attribute>{})))))
      return failure();
    return setOutput(1, constant(DenseElementsAttr::get(indexType, ArrayRef<Attribute>{})));
  }

  Type i1 = b.getI1Type(), i8 = b.getIntegerType(8);
  bool isFloat = isa<FloatType>(t);
  auto keep = b.getNamedAttr("keepdims", b.getUnitAttr());
  auto axesAttr = b.getNamedAttr("axes", b.getDenseI64ArrayAttr({axis}));
  auto axisAttr = b.getNamedAttr("axis", b.getI64IntegerAttr(axis));
  TRY(positions, iota(n, axis, rank));
  Value isNaN, notNaN;
  if (isFloat) {
    TRY(same, inferred<EqualOp>({x, x}));
    TRY(different, unary(NotOp::getOperationName(), same));
    notNaN = same, isNaN = different;
  }
  Value avail = constant(DenseElementsAttr::get(RankedTensorType::get(shape, i1), true));
  Value none = scalar(i8, 0), one = scalar(i8, 1), two = scalar(i8, 2);
  Value worst = extremeScalar(t, /*lowest=*/largest);
  SmallVector<Value> picks;
  for (int64_t round = 0; round < k; ++round) {
    Value real = avail;
    if (isFloat) {
      TRY(availReal, inferred<AndOp>({avail, notNaN}));
      real = availReal;
    }
    TRY(candidates, inferred<WhereOp>({real, x, worst}));
    FailureOr<Value> best = largest ? inferred<ReduceMaxOp>(candidates, {axesAttr, keep})
                                    : inferred<ReduceMinOp>(candidates, {axesAttr, keep});
    if (failed(best))
      return failure();
    TRY(equal, inferred<EqualOp>({x, *best}));
    TRY(match, inferred<AndOp>({equal, real}));
    Value score = match;
    if (isFloat) {
      TRY(nan, inferred<AndOp>({avail, isNaN}));
      Value first = largest ? nan : match, second = largest ? match : nan;
      TRY(low, inferred<WhereOp>({second, one, none}));
      TRY(ranked, inferred<WhereOp>({first, two, low}));
      score = ranked;
    }
    TRY(pick, inferred<ArgMaxOp>(score, {axisAttr, keep}));
    picks.push_back(pick);
    if (round + 1 == k)
      break;
    TRY(other, inferred<EqualOp>({positions, pick}));
    TRY(notPicked, unary(NotOp::getOperationName(), other));
    TRY(left, inferred<AndOp>({avail, notPicked}));
    avail = left;
  }
  Value indices = picks[0];
  if (k > 1) {
    TRY(all, inferred<ConcatOp>(picks, {axisAttr}));
    indices = all;
  }
  if (failed(setOutput(0, inferred<GatherElementsOp>({x, indices}, {axisAttr}))))
    return failure();
  return setOutput(1, indices);
}
