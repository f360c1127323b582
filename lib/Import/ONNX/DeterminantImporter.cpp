//===- DeterminantImporter.cpp - Det as an unrolled LU factorization -------===//
//
// Det (opset 11) of [..., n, n] is the product of the pivots of Gaussian
// elimination with partial pivoting (LAPACK's getrf, what numpy and
// onnxruntime use), times -1 per row swap. n is static, so the n steps
// unroll; step k of the remaining m x m block A:
//
//   p      = arg_max(|A[:, 0]|)                    (first of equal maxima)
//   A      = rows 0 and p swapped                  (two pmc.where, exact)
//   det   *= A[0, 0];  sign *= (p == 0 ? 1 : -1)
//   A      = A[1:, 1:] - (A[1:, 0] / A[0, 0]) * A[0, 1:]
//
// A zero pivot (a singular matrix) makes the result 0 rather than the NaN
// its division leaves in the later steps.
//
//===----------------------------------------------------------------------===//
#include "ImporterImpl.h"
#include "OpRegistry.h"

using namespace mlir;
using namespace mlir::pmc;
using namespace ::pmc::onnx_import;

/// Above this n the unrolled factorization (n steps of O(n^2) ops) is not
/// worth compiling.
static constexpr int64_t kMaxDetSize = 64;

void NodeImporter::registerDeterminantImporters(OpImporterRegistry &r) {
  r.add("Det", 11, [](NodeImporter &n) { return n.importDet(); });
}

LogicalResult NodeImporter::importDet() {
  if (failed(requireInputs(1)))
    return failure();
  Value x = input(0);
  ArrayRef<int64_t> shape = shapeOf(x);
  const int64_t rank = shape.size();
  if (!isa<FloatType>(elementOf(x)) || rank < 2 || shape[rank - 1] != shape[rank - 2])
    return error() << "X must be float [..., n, n], it is " << x.getType();
  const int64_t n = shape[rank - 1];
  if (n < 1 || n > kMaxDetSize)
    return error() << "matrices of size " << n << " are not supported (1 to " << kMaxDetSize
                   << ")";
  Type element = elementOf(x);
  SmallVector<int64_t> batch(shape.drop_back(2));

  // A block of `v` from `starts` with `sizes` (the last two dims only).
  auto block = [&](Value v, int64_t row, int64_t col, int64_t rows,
                   int64_t cols) -> FailureOr<Value> {
    SmallVector<int64_t> starts(rank, 0), steps(rank, 1), sizes(batch);
    starts[rank - 2] = row;
    starts[rank - 1] = col;
    sizes.push_back(rows);
    sizes.push_back(cols);
    return typed<SliceOp>(RankedTensorType::get(sizes, element), v,
                          {b.getNamedAttr("starts", b.getDenseI64ArrayAttr(starts)),
                           b.getNamedAttr("steps", b.getDenseI64ArrayAttr(steps))});
  };
  Value zero = scalar(element, 0.0), one = scalar(element, 1.0), minusOne = scalar(element, -1.0);
  Value a = x, det, sign, singular;
  for (int64_t k = 0; k < n; ++k) {
    const int64_t m = n - k;
    TRY(column, block(a, 0, 0, m, 1));
    TRY(magnitude, inferred<AbsOp>(column));
    TRY(pivotIndex, inferred<ArgMaxOp>(
                        magnitude, {b.getNamedAttr("axis", b.getI64IntegerAttr(rank - 2)),
                                    b.getNamedAttr("keepdims", b.getUnitAttr())}));
    TRY(rows, iota(m, rank - 2, rank));
    TRY(isPivot, inferred<EqualOp>({rows, pivotIndex}));
    TRY(isFirst, inferred<EqualOp>({rows, i64Tensor({0})}));
    // The pivot row, picked by a sum in which every other term is zero.
    TRY(pivotOnly, inferred<WhereOp>({isPivot, a, zero}));
    TRY(pivotRow, inferred<ReduceSumOp>(
                      pivotOnly, {b.getNamedAttr("axes", b.getDenseI64ArrayAttr({rank - 2})),
                                  b.getNamedAttr("keepdims", b.getUnitAttr())}));
    TRY(firstRow, block(a, 0, 0, 1, m));
    TRY(othersSwapped, inferred<WhereOp>({isPivot, firstRow, a}));
    TRY(swapped, inferred<WhereOp>({isFirst, pivotRow, othersSwapped}));
    TRY(pivot, block(swapped, 0, 0, 1, 1));
    TRY(notSwapped, inferred<EqualOp>({pivotIndex, i64Tensor({0})}));
    TRY(swapSign, inferred<WhereOp>({notSwapped, one, minusOne}));
    TRY(isZero, inferred<EqualOp>({pivot, zero}));
    if (k == 0) {
      det = pivot;
      sign = swapSign;
      singular = isZero;
    } else {
      TRY(nextDet, inferred<MulOp>({det, pivot}));
      TRY(nextSign, inferred<MulOp>({sign, swapSign}));
      TRY(nextSingular, inferred<OrOp>({singular, isZero}));
      det = nextDet;
      sign = nextSign;
      singular = nextSingular;
    }
    if (m == 1)
      break;
    TRY(below, block(swapped, 1, 0, m - 1, 1));
    TRY(factors, inferred<DivOp>({below, pivot}));
    TRY(pivotRest, block(swapped, 0, 1, 1, m - 1));
    TRY(rest, block(swapped, 1, 1, m - 1, m - 1));
    TRY(update, inferred<MulOp>({factors, pivotRest}));
    TRY(next, inferred<SubOp>({rest, update}));
    a = next;
  }
  TRY(signed_, inferred<MulOp>({det, sign}));
  TRY(result, inferred<WhereOp>({singular, zero, signed_}));
  return setOutput(0, reshape(result, batch));
}
