//===- GridSampleImporter.cpp - ONNX GridSample as gathers of neighbours ---===//
//
// GridSample reads X [N, C, D_1..D_r] at the points of grid [N, O.., r]
// (grid[..., 0] is the last spatial dim). Step by step as
// onnx/reference/ops/op_grid_sample.py, on [N, P] coordinate tensors (P the
// product of O..):
//
//   x_i   = denormalize(grid[..., r-1-i])           (align_corners or not)
//   nearest: x_i = round half to even
//   x_i outside [x_min, x_max]: border clamps it to [0, D_i - 1] (except for
//           cubic: onnxruntime clamps its taps only), reflection reflects it
//           (zeros keeps it)
//   taps  = nearest: trunc(x_i) | linear: floor, +1 | cubic: floor -1 .. +2,
//           with the Keys coefficients (A = -0.75) of x_i - floor(x_i)
//   a tap outside [0, D_i): zeros reads 0, border the edge, reflection the
//           reflected index
//
// Every combination of taps is one pmc.gather of X as rows [N * S, C] (S the
// product of the D_i) at n * S + the tap's linear index, [N, P, C]; the taps
// of dim r-1 combine first, then those of r-2, ..., as the reference's nested
// 1-d interpolations. Weights and sums run in X's type (float32 for float16 and
// bfloat16, cast back). The result is transposed to [N, C, O..].
//
#include "ImporterImpl.h"
#include "OpRegistry.h"

#include <functional>

using namespace mlir;
using namespace mlir::pmc;
using namespace ::pmc::onnx_import;

void NodeImporter::registerGridSampleImporters(OpImporterRegistry &r) {
  r.add("GridSample", 16, [](NodeImporter &n) { return n.importGridSample(); });
}

namespace {
/// One neighbour along one spatial dim: the index it reads, whether it reads
/// X at all (zeros padding; null: always) and its weight (null: 1).
struct Tap {
  Value index, valid, weight;
};
} // namespace

LogicalResult NodeImporter::importGridSample() {
  if (failed(requireInputs(2)))
    return failure();
  Value x = input(0), grid = input(1);
  ArrayRef<int64_t> xs = shapeOf(x), gs = shapeOf(grid);
  int64_t rank = xs.size(), r = rank - 2;
  Type t = elementOf(x);
  if (!isa<FloatType>(t))
    return error() << "X must be a float tensor, got " << x.getType()
                   << " (integer GridSample is unsupported)";
  if (!isa<FloatType>(elementOf(grid)))
    return error() << "grid must be a float tensor, got " << grid.getType();
  if (rank < 3 || (opset < 20 && rank != 4))
    return error() << "X must be " << (opset < 20 ? "4-D [N, C, H, W]" : "[N, C, D1, ...]")
                   << " at opset " << opset << ", got " << x.getType();
  if ((int64_t)gs.size() != rank || gs[0] != xs[0] || gs.back() != r)
    return error() << "grid must be [N, ..., " << r << "] of rank " << rank << " for X "
                   << x.getType() << ", got " << grid.getType();
  std::string mode = getString("mode", opset < 20 ? "bilinear" : "linear");
  std::string padding = getString("padding_mode", "zeros");
  bool alignCorners = getInt("align_corners", 0) != 0;
  enum { Nearest, Linear, Cubic } kind;
  if (mode == "nearest")
    kind = Nearest;
  else if (mode == (opset < 20 ? "bilinear" : "linear"))
    kind = Linear;
  else if (mode == (opset < 20 ? "bicubic" : "cubic"))
    kind = Cubic;
  else
    return error() << "mode '" << mode << "' is not "
                   << (opset < 20 ? "bilinear, nearest or bicubic" : "linear, nearest or cubic");
  if (padding != "zeros" && padding != "border" && padding != "reflection")
    return error() << "padding_mode '" << padding << "' is not zeros, border or reflection";

  int64_t n = xs[0], c = xs[1];
  ArrayRef<int64_t> dims = xs.drop_front(2), outDims = gs.drop_front().drop_back();
  int64_t s = product(dims), p = product(outDims);
  Type ct = (t.isF16() || t.isBF16()) ? (Type)b.getF32Type() : t;
  Type i64 = b.getI64Type();
  auto k = [&](double v) { return scalar(ct, v); };
  auto add = [&](Value a, Value v) { return inferred<AddOp>({a, v}); };
  auto sub = [&](Value a, Value v) { return inferred<SubOp>({a, v}); };
  auto mul = [&](Value a, Value v) { return inferred<MulOp>({a, v}); };
  auto clamp = [&](Value v, double lo, double hi) -> FailureOr<Value> {
    TRY(low, inferred<MaxOp>({v, k(lo)}));
    return inferred<MinOp>({low, k(hi)});
  };
  auto toIndex = [&](Value v) {
    return typed<CastOp>(RankedTensorType::get(shapeOf(v), i64), v);
  };

  Value g = grid;
  if (elementOf(grid) != ct) {
    TRY(cast, typed<CastOp>(RankedTensorType::get(gs, ct), grid));
    g = cast;
  }
  // X as rows [N * S, C].
  TRY(xFlat, reshape(x, {n, c, s}));
  TRY(xRowsT, inferred<TransposeOp>(xFlat, {b.getNamedAttr("perm",
                                                            b.getDenseI64ArrayAttr({0, 2, 1}))}));
  Value xRows = xRowsT;
  if (ct != t) {
    TRY(wide, typed<CastOp>(RankedTensorType::get({n, s, c}, ct), xRowsT));
    xRows = wide;
  }
  TRY(rows, reshape(xRows, {n * s, c}));

  // reflect(v) into [lo, hi] as the reference's _gs_reflect.
  auto reflect = [&](Value v, double lo, double hi) -> FailureOr<Value> {
    double range = hi - lo;
    if (range <= 0)
      return inferred<MulOp>({v, k(0)});  // one position: always lo = 0
    TRY(below, inferred<LessOp>({v, k(lo)}));
    TRY(above, inferred<GreaterOp>({v, k(hi)}));
    TRY(fromLo, sub(k(lo), v));
    TRY(fromHi, sub(v, k(hi)));
    TRY(dx, inferred<WhereOp>({below, fromLo, fromHi}));
    TRY(ratio, inferred<DivOp>({dx, k(range)}));
    TRY(flips, unary(FloorOp::getOperationName(), ratio));
    TRY(whole, mul(flips, k(range)));
    TRY(rest, sub(dx, whole));
    TRY(parity, inferred<ModOp>({flips, k(2)}, {b.getNamedAttr("fmod", b.getUnitAttr())}));
    TRY(odd, inferred<EqualOp>({parity, k(1)}));
    TRY(upFromLo, add(k(lo), rest));
    TRY(downFromHi, sub(k(hi), rest));
    TRY(belowValue, inferred<WhereOp>({odd, downFromHi, upFromLo}));
    TRY(aboveValue, inferred<WhereOp>({odd, upFromLo, downFromHi}));
    TRY(outside, inferred<WhereOp>({above, aboveValue, v}));
    return inferred<WhereOp>({below, belowValue, outside});
  };
  // The index a tap at (integral) position v reads along a dim of size d.
  auto tapAt = [&](Value v, int64_t d, double lo, double hi, Value weight) -> FailureOr<Tap> {
    Tap tap;
    tap.weight = weight;
    Value position = v;
    if (padding == "zeros") {
      TRY(atLeast, inferred<GreaterEqualOp>({v, k(0)}));
      TRY(atMost, inferred<LessEqualOp>({v, k(double(d - 1))}));
      TRY(inside, inferred<AndOp>({atLeast, atMost}));
      tap.valid = inside;
    } else if (padding == "reflection") {
      TRY(reflected, reflect(v, lo, hi));
      position = reflected;  // truncated by the cast below, as int()
    }
    TRY(clamped, clamp(position, 0, double(d - 1)));
    TRY(index, toIndex(clamped));
    tap.index = index;
    return tap;
  };

  SmallVector<SmallVector<Tap>> taps(r);
  SmallVector<int64_t> strides(r, 1);
  for (int64_t i = r - 2; i >= 0; --i)
    strides[i] = strides[i + 1] * dims[i + 1];
  for (int64_t i = 0; i < r; ++i) {
    int64_t d = dims[i];
    double lo = alignCorners ? 0.0 : -0.5, hi = alignCorners ? d - 1.0 : d - 0.5;
    SmallVector<int64_t> starts(rank, 0), steps(rank, 1), sliceShape(gs);
    starts.back() = r - 1 - i;
    sliceShape.back() = 1;
    TRY(component, typed<SliceOp>(RankedTensorType::get(sliceShape, ct), g,
                                  {b.getNamedAttr("starts", b.getDenseI64ArrayAttr(starts)),
                                   b.getNamedAttr("steps", b.getDenseI64ArrayAttr(steps))}));
    TRY(normalized, reshape(component, {n, p}));
    // align_corners: (v + 1) / 2 * (d - 1); otherwise ((v + 1) * d - 1) / 2.
    TRY(shifted, add(normalized, k(1)));
    Value coord;
    if (alignCorners) {
      TRY(half, inferred<DivOp>({shifted, k(2)}));
      TRY(scaled, mul(half, k(double(d - 1))));
      coord = scaled;
    } else {
      TRY(scaled, mul(shifted, k(double(d))));
      TRY(less, sub(scaled, k(1)));
      TRY(half, inferred<DivOp>({less, k(2)}));
      coord = half;
    }
    if (kind == Nearest) {
      TRY(rounded, unary(RoundOp::getOperationName(), coord));
      coord = rounded;
    }
    // Cubic with border padding clamps each tap only, as onnxruntime and
    // PyTorch do (the reference also clamps the point first, which moves the
    // taps and changes the weights near the border).
    if (padding == "reflection" || (padding == "border" && kind != Cubic)) {
      TRY(below, inferred<LessOp>({coord, k(lo)}));
      TRY(above, inferred<GreaterOp>({coord, k(hi)}));
      TRY(outside, inferred<OrOp>({below, above}));
      FailureOr<Value> moved = padding == "border" ? clamp(coord, 0, double(d - 1))
                                                   : reflect(coord, lo, hi);
      if (failed(moved))
        return failure();
      TRY(kept, inferred<WhereOp>({outside, *moved, coord}));
      coord = kept;
    }
    // Far outside positions read nothing (zeros) or the edge either way:
    // bound them so that the integer casts stay defined.
    TRY(bounded, clamp(coord, -4.0, double(d + 3)));
    if (kind == Nearest) {
      // astype(int32): toward zero.
      TRY(down, unary(FloorOp::getOperationName(), bounded));
      TRY(up, unary(CeilOp::getOperationName(), bounded));
      TRY(negative, inferred<LessOp>({bounded, k(0)}));
      TRY(truncated, inferred<WhereOp>({negative, up, down}));
      auto tap = tapAt(truncated, d, lo, hi, Value());
      if (failed(tap))
        return failure();
      taps[i].push_back(*tap);
      continue;
    }
    TRY(base, unary(FloorOp::getOperationName(), bounded));
    TRY(frac, sub(bounded, base));
    SmallVector<Value> weights;
    SmallVector<int64_t> offsets;
    if (kind == Linear) {
      TRY(w0, sub(k(1), frac));
      weights = {w0, frac};
      offsets = {0, 1};
    } else {
      // Keys' cubic convolution, A = -0.75, at distances 1 + f, f, 1 - f, 2 - f.
      const double a = -0.75;
      auto outer = [&](Value z) -> FailureOr<Value> {  // ((a z - 5a) z + 8a) z - 4a
        TRY(az, mul(z, k(a)));
        TRY(t1, sub(az, k(5 * a)));
        TRY(t2, mul(t1, z));
        TRY(t3, add(t2, k(8 * a)));
        TRY(t4, mul(t3, z));
        return sub(t4, k(4 * a));
      };
      auto inner = [&](Value z) -> FailureOr<Value> {  // ((a + 2) z - (a + 3)) z z + 1
        TRY(t1, mul(z, k(a + 2)));
        TRY(t2, sub(t1, k(a + 3)));
        TRY(t3, mul(t2, z));
        TRY(t4, mul(t3, z));
        return add(t4, k(1));
      };
      TRY(onePlus, add(frac, k(1)));
      TRY(oneMinus, sub(k(1), frac));
      TRY(twoMinus, sub(k(2), frac));
      TRY(c0, outer(onePlus));
      TRY(c1, inner(frac));
      TRY(c2, inner(oneMinus));
      TRY(c3, outer(twoMinus));
      weights = {c0, c1, c2, c3};
      offsets = {-1, 0, 1, 2};
    }
    for (auto [w, offset] : llvm::zip(weights, offsets)) {
      TRY(position, add(base, k(double(offset))));
      auto tap = tapAt(position, d, lo, hi, w);
      if (failed(tap))
        return failure();
      taps[i].push_back(*tap);
    }
  }

  // Batch n reads rows n * S ...
  SmallVector<int64_t> starts(n);
  for (int64_t j = 0; j < n; ++j)
    starts[j] = j * s;
  Value batchStart =
      constant(DenseElementsAttr::get(RankedTensorType::get({n, 1}, i64), ArrayRef<int64_t>(starts)));
  Value zero = k(0);
  // The interpolation over dims >= i, given the linear offset and validity of
  // the taps chosen on dims < i: [N, P, C].
  std::function<FailureOr<Value>(int64_t, Value, Value)> sample =
      [&](int64_t i, Value offset, Value valid) -> FailureOr<Value> {
    if (i == r) {
      TRY(row, add(batchStart, offset));
      TRY(picked, inferred<GatherOp>({rows, row},
                                     {b.getNamedAttr("axis", b.getI64IntegerAttr(0))}));
      if (!valid)
        return picked;
      TRY(validRows, reshape(valid, {n, p, 1}));
      return inferred<WhereOp>({validRows, picked, zero});
    }
    Value sum;
    for (const Tap &tap : taps[i]) {
      TRY(scaled, inferred<MulOp>({tap.index, scalar(i64, double(strides[i]))}));
      TRY(next, inferred<AddOp>({offset, scaled}));
      Value nextValid = valid;
      if (tap.valid && valid) {
        TRY(both, inferred<AndOp>({valid, tap.valid}));
        nextValid = both;
      } else if (tap.valid) {
        nextValid = tap.valid;
      }
      auto value = sample(i + 1, next, nextValid);
      if (failed(value))
        return failure();
      Value term = *value;
      if (tap.weight) {
        TRY(w, reshape(tap.weight, {n, p, 1}));
        TRY(weighted, mul(term, w));
        term = weighted;
      }
      if (!sum) {
        sum = term;
      } else {
        TRY(total, add(sum, term));
        sum = total;
      }
    }
    return sum;
  };
  int64_t none = 0;
  Value origin = constant(
      DenseElementsAttr::get(RankedTensorType::get({n, p}, i64), ArrayRef<int64_t>(none)));
  auto sampled = sample(0, origin, Value());
  if (failed(sampled))
    return failure();
  TRY(channelsFirst, inferred<TransposeOp>(*sampled, {b.getNamedAttr(
                                                         "perm", b.getDenseI64ArrayAttr({0, 2, 1}))}));
  SmallVector<int64_t> outShape{n, c};
  llvm::append_range(outShape, outDims);
  TRY(shaped, reshape(channelsFirst, outShape));
  if (ct == t)
    return setOutput(0, shaped);
  return setOutput(0, typed<CastOp>(RankedTensorType::get(outShape, t), shaped));
}
