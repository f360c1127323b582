//===- QuantizationImporters.cpp - Linear quantization as exact pmc ops -----===//
//
// QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, MatMulInteger,
// ConvInteger, QLinearMatMul and QLinearConv, decomposed into pmc ops whose
// result is bit-identical to onnxruntime's CPU kernels (and to onnx's
// reference where the two agree):
//
//   quantize    y = saturate(round_half_even(x / scale) + zp)
//               (the division in the scale's type, or `precision`; numpy's
//               promotion when x and scale differ, float64 for int32 x)
//   dequantize  y = (f32(x) - f32(zp)) * f32(scale), then to the output type
//   integer     acc = (x - zp_x) . (w - zp_w) as a float64 matmul / conv: the
//   products    operands are integers below 2^9 in magnitude, every partial
//               sum an integer below 2^53 whatever the order (up to 2^37
//               terms), so the float64 result is the exact integer; it goes
//               to int32 through int64 (wrapping as an int32 accumulator)
//   requantize  y = saturate(round_half_even(f32(acc) * (s_a * s_b / s_y)) + zp_y)
//               (float32, float16 scales widened first: MLAS's requantization)
//
// saturate clamps to the output type's range in float (NaN to the minimum, as
// onnxruntime), then casts. pmc has no float8, 4-bit or 2-bit element types:
// such inputs, zero points and output_dtype values fail with "unsupported
// element type NAME".
//
//===----------------------------------------------------------------------===//

#include "ImporterImpl.h"
#include "OpRegistry.h"

#include <numeric>

using namespace mlir;
using namespace mlir::pmc;

namespace pmc::onnx_import {

void NodeImporter::registerQuantizationImporters(OpImporterRegistry &r) {
  // One importer per operator: each reads the attributes of the versions up
  // to the model's opset (axis from 13, saturate from 19, block_size and
  // output_dtype from 21, precision from 23), so any other one is refused.
  r.add("QuantizeLinear", 10, [](NodeImporter &n) { return n.importQuantizeLinear(); });
  r.add("DequantizeLinear", 10, [](NodeImporter &n) { return n.importDequantizeLinear(); });
  r.add("DynamicQuantizeLinear", 11,
        [](NodeImporter &n) { return n.importDynamicQuantizeLinear(); });
  r.add("MatMulInteger", 10, [](NodeImporter &n) { return n.importMatMulInteger(); });
  r.add("ConvInteger", 10, [](NodeImporter &n) { return n.importConvInteger(); });
  r.add("QLinearMatMul", 10, [](NodeImporter &n) { return n.importQLinearMatMul(); });
  r.add("QLinearConv", 10, [](NodeImporter &n) { return n.importQLinearConv(); });
}

/// int8, uint8, int16 or uint16: the integer types pmc quantizes to.
static bool isQuantizedInteger(Type t) {
  auto i = dyn_cast<IntegerType>(t);
  return i && (i.getWidth() == 8 || i.getWidth() == 16);
}
static bool isByte(Type t) {
  auto i = dyn_cast<IntegerType>(t);
  return i && i.getWidth() == 8;
}

/// The range of an integer type, as doubles (exact up to 32 bits).
static std::pair<double, double> integerRange(Type t) {
  auto i = cast<IntegerType>(t);
  unsigned w = i.getWidth();
  if (i.isUnsigned())
    return {0.0, std::ldexp(1.0, w) - 1};
  return {-std::ldexp(1.0, w - 1), std::ldexp(1.0, w - 1) - 1};
}

FailureOr<Value> NodeImporter::castElements(Value v, Type t) {
  if (!v || elementOf(v) == t)
    return v;
  return typed<CastOp>(RankedTensorType::get(shapeOf(v), t), v);
}

FailureOr<Value> NodeImporter::quantParam(Value p, ArrayRef<int64_t> shape, int64_t axis,
                                          int64_t blockSize, StringRef what) {
  if (!p)
    return p;
  ArrayRef<int64_t> ps = shapeOf(p);
  int64_t rank = shape.size();
  // A scalar or any one-element tensor is per tensor (as both onnxruntime
  // and the reference read it).
  if (ps.empty())
    return p;
  if (product(ps) == 1)
    return reshape(p, {});
  if (blockSize == 0) {
    if (ps.size() != 1)
      return error() << what << " has shape [" << ps
                     << "]: per-axis quantization takes a 1-D tensor (a blocked one "
                        "needs block_size)";
    auto ax = normalizeAxis(axis, rank, "axis");
    if (failed(ax))
      return failure();
    if (ps[0] != shape[*ax])
      return error() << what << " has " << ps[0] << " elements, dim " << *ax
                     << " (axis) of the input has " << shape[*ax];
    SmallVector<int64_t> dims(rank, 1);
    dims[*ax] = ps[0];
    return reshape(p, dims);
  }
  if (blockSize < 0)
    return error() << "block_size " << blockSize << " is negative";
  auto ax = normalizeAxis(axis, rank, "axis");
  if (failed(ax))
    return failure();
  bool same = (int64_t)ps.size() == rank;
  for (int64_t d = 0; same && d < rank; ++d)
    same = d == *ax || ps[d] == shape[d];
  int64_t blocks = same ? ps[*ax] : 0, n = same ? shape[*ax] : 0;
  // Every block but the last is full, the last one is not empty.
  if (!same || blocks * blockSize < n || (blocks - 1) * blockSize >= n)
    return error() << what << " has shape [" << ps << "], expected the input's [" << shape
                   << "] with ceil(" << (same ? n : 0) << " / block_size " << blockSize
                   << ") blocks in dim " << *ax << " (axis)";
  // [.., blocks, ..] -> [.., blocks, 1, ..] -> [.., blocks, B, ..] -> [.., blocks * B, ..]
  Type t = elementOf(p);
  SmallVector<int64_t> one(ps), spread(ps), flat(ps);
  one.insert(one.begin() + *ax + 1, 1);
  spread.insert(spread.begin() + *ax + 1, blockSize);
  flat[*ax] = blocks * blockSize;
  TRY(column, reshape(p, one));
  TRY(repeated, typed<BroadcastOp>(RankedTensorType::get(spread, t), column));
  TRY(full, reshape(repeated, flat));
  if (flat[*ax] == n)
    return full;
  SmallVector<int64_t> starts(rank, 0), steps(rank, 1);
  return typed<SliceOp>(RankedTensorType::get(shape, t), full,
                        {b.getNamedAttr("starts", b.getDenseI64ArrayAttr(starts)),
                         b.getNamedAttr("steps", b.getDenseI64ArrayAttr(steps))});
}

FailureOr<Value> NodeImporter::centered(Value v, Value zp) {
  TRY(wide, castElements(v, b.getF64Type()));
  if (!zp)
    return wide;
  TRY(zpWide, castElements(zp, b.getF64Type()));
  return inferred<SubOp>({wide, zpWide});
}

FailureOr<Value> NodeImporter::saturate(Value q, Value zp, Type out) {
  Type w = elementOf(q);
  if (zp) {
    TRY(zpW, castElements(zp, w));
    TRY(shifted, inferred<AddOp>({q, zpW}));
    q = shifted;
  }
  auto [lo, hi] = integerRange(out);
  // where(q >= lo, q, lo) sends NaN to the minimum, as onnxruntime's
  // max(q, lo) does; min then saturates the top.
  Value low = scalar(w, lo);
  TRY(inRange, inferred<GreaterEqualOp>({q, low}));
  TRY(raised, inferred<WhereOp>({inRange, q, low}));
  TRY(clamped, inferred<MinOp>({raised, scalar(w, hi)}));
  return castElements(clamped, out);
}

FailureOr<Value> NodeImporter::exactToInt32(Value acc) {
  // Exact integers below 2^53: to int64 exactly, then int64 -> int32 keeps the
  // low 32 bits (an int32 accumulator's wrap-around), never an out-of-range
  // float -> int conversion.
  TRY(wide, castElements(acc, b.getI64Type()));
  return castElements(wide, b.getI32Type());
}

FailureOr<Value> NodeImporter::requantize(Value acc, Value multiplier, Value zp, Type out) {
  TRY(acc32, exactToInt32(acc));
  TRY(accF, castElements(acc32, b.getF32Type()));
  TRY(mult, castElements(multiplier, b.getF32Type()));
  TRY(scaled, inferred<MulOp>({accF, mult}));
  TRY(rounded, unary(RoundOp::getOperationName(), scaled));
  return saturate(rounded, zp, out);
}

FailureOr<Value> NodeImporter::requantScale(Value inScale, Value weightScale, Value outScale) {
  // (s_in * s_w) / s_out in float32 whatever the scales' type (onnxruntime
  // widens float16 scales first; the reference's float16 arithmetic rounds
  // the multiplier to float16, which moves about one case in four by 1).
  Type f32 = b.getF32Type();
  TRY(in, castElements(inScale, f32));
  TRY(w, castElements(weightScale, f32));
  TRY(out, castElements(outScale, f32));
  TRY(product, inferred<MulOp>({in, w}));
  return inferred<DivOp>({product, out});
}

/// "int8", "uint8": for messages.
static std::string typeText(Type t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  if (auto i = dyn_cast<IntegerType>(t))
    os << (i.isUnsigned() ? "uint" : "int") << i.getWidth();
  else
    os << t;
  return s;
}

LogicalResult NodeImporter::importQuantizeLinear() {
  if (failed(requireInputs(2)))
    return failure();
  Value x = input(0), scale = input(1), zp = input(2);
  MLIRContext &context = *b.getContext();
  int64_t axis = opset >= 13 ? getInt("axis", 1) : 1;
  // saturate only changes float8 outputs, which pmc does not have (refused
  // below through the output type).
  if (opset >= 19)
    acceptAttribute("saturate");
  int64_t blockSize = opset >= 21 ? getInt("block_size", 0) : 0;
  int64_t outputDtype = opset >= 21 ? getInt("output_dtype", 0) : 0;
  int64_t precision = opset >= 23 ? getInt("precision", 0) : 0;

  Type out = zp ? elementOf(zp) : Type();
  if (outputDtype) {
    Type t = convertElementType(context, outputDtype);
    if (!t)
      return error() << "output_dtype " << onnxTypeName(outputDtype)
                     << ": unsupported element type " << onnxTypeName(outputDtype);
    if (out && t != out)
      return error() << "output_dtype " << onnxTypeName(outputDtype)
                     << " differs from the zero point's type " << typeText(out);
    out = t;
  }
  if (!out)
    out = b.getIntegerType(8, /*isSigned=*/false);
  if (!isQuantizedInteger(out))
    return error() << "quantizing to " << typeText(out)
                   << " is unsupported (pmc quantizes to int8, uint8, int16, uint16)";

  Type xt = elementOf(x), st = elementOf(scale);
  if (!isa<FloatType>(xt) && xt != b.getI32Type())
    return error() << "x must be float or int32, got " << x.getType();
  if (!isa<FloatType>(st) && st != b.getI32Type())
    return error() << "y_scale must be float or int32, got " << scale.getType();
  if (zp && shapeOf(zp) != shapeOf(scale))
    return error() << "y_zero_point " << zp.getType() << " and y_scale " << scale.getType()
                   << " differ in shape";
  // The division's type: `precision`, else numpy's promotion of x and the
  // scale (what the reference computes; the scale's type when they agree).
  Type div;
  if (precision) {
    div = convertElementType(context, precision);
    if (!div || !isa<FloatType>(div))
      return error() << "precision " << onnxTypeName(precision)
                     << " is unsupported (a float type is expected)";
  } else if (!isa<FloatType>(xt) || !isa<FloatType>(st) || xt.isF64() || st.isF64()) {
    div = b.getF64Type();
  } else {
    div = xt == st ? xt : b.getF32Type();
  }
  ArrayRef<int64_t> shape = shapeOf(x);
  TRY(s, quantParam(scale, shape, axis, blockSize, "y_scale"));
  TRY(z, quantParam(zp, shape, axis, blockSize, "y_zero_point"));
  TRY(xd, castElements(x, div));
  TRY(sd, castElements(s, div));
  TRY(ratio, inferred<DivOp>({xd, sd}));
  TRY(rounded, unary(RoundOp::getOperationName(), ratio));
  // Rounded values of a 16-bit float are exact in float32, where the zero
  // point (up to 65535) adds exactly.
  TRY(wide, castElements(rounded, div.isF64() ? b.getF64Type() : b.getF32Type()));
  return setOutput(0, saturate(wide, z, out));
}

LogicalResult NodeImporter::importDequantizeLinear() {
  if (failed(requireInputs(2)))
    return failure();
  Value x = input(0), scale = input(1), zp = input(2);
  int64_t axis = opset >= 13 ? getInt("axis", 1) : 1;
  int64_t blockSize = opset >= 21 ? getInt("block_size", 0) : 0;
  int64_t outputDtype = opset >= 23 ? getInt("output_dtype", 0) : 0;
  Type xt = elementOf(x), st = elementOf(scale);
  if (!isQuantizedInteger(xt) && xt != b.getI32Type())
    return error() << "dequantizing " << typeText(xt)
                   << " is unsupported (pmc dequantizes int8, uint8, int16, uint16, int32)";
  if (zp && elementOf(zp) != xt)
    return error() << "x_zero_point " << zp.getType() << " differs from x's type "
                   << typeText(xt);
  if (zp && shapeOf(zp) != shapeOf(scale))
    return error() << "x_zero_point " << zp.getType() << " and x_scale " << scale.getType()
                   << " differ in shape";
  if (!isa<FloatType>(st))
    return error() << "x_scale must be a float tensor, got " << scale.getType();
  Type out = st;
  if (outputDtype) {
    out = convertElementType(*b.getContext(), outputDtype);
    if (!out)
      return error() << "output_dtype " << onnxTypeName(outputDtype)
                     << ": unsupported element type " << onnxTypeName(outputDtype);
    if (!isa<FloatType>(out))
      return error() << "output_dtype " << onnxTypeName(outputDtype) << " is not a float type";
  }
  ArrayRef<int64_t> shape = shapeOf(x);
  TRY(s, quantParam(scale, shape, axis, blockSize, "x_scale"));
  TRY(z, quantParam(zp, shape, axis, blockSize, "x_zero_point"));
  // x - zp exactly (in float32 for 8- and 16-bit integers, in float64 for
  // int32), rounded once to float32; the product in float32, then rounded to
  // the output type (the reference and onnxruntime both multiply in float32).
  Value diff;
  if (xt == b.getI32Type() && z) {
    TRY(exact, centered(x, z));
    diff = exact;
  } else {
    TRY(xf, castElements(x, b.getF32Type()));
    diff = xf;
    if (z) {
      TRY(zf, castElements(z, b.getF32Type()));
      TRY(d, inferred<SubOp>({xf, zf}));
      diff = d;
    }
  }
  TRY(diff32, castElements(diff, b.getF32Type()));
  TRY(s32, castElements(s, b.getF32Type()));
  TRY(y, inferred<MulOp>({diff32, s32}));
  return setOutput(0, castElements(y, out));
}

LogicalResult NodeImporter::importDynamicQuantizeLinear() {
  if (failed(requireInputs(1)))
    return failure();
  Value x = input(0);
  Type f32 = b.getF32Type(), u8 = b.getIntegerType(8, /*isSigned=*/false);
  if (elementOf(x) != f32)
    return error() << "x must be a float32 tensor, got " << x.getType();
  SmallVector<int64_t> all(shapeOf(x).size());
  std::iota(all.begin(), all.end(), 0);
  SmallVector<NamedAttribute> everything = {
      b.getNamedAttr("axes", b.getDenseI64ArrayAttr(all))};
  Value zero = scalar(f32, 0);
  TRY(lowest, inferred<ReduceMinOp>(x, everything));
  TRY(highest, inferred<ReduceMaxOp>(x, everything));
  // The range always holds 0.
  TRY(lo, inferred<MinOp>({lowest, zero}));
  TRY(hi, inferred<MaxOp>({highest, zero}));
  TRY(range, inferred<SubOp>({hi, lo}));
  TRY(step, inferred<DivOp>({range, scalar(f32, 255)}));
  // An all-zero x has scale 1 (onnxruntime; the reference gives 1/255, the
  // function body 0 and a NaN zero point; y and the zero point are 0 in all).
  TRY(flat, inferred<EqualOp>({hi, lo}));
  TRY(scale, inferred<WhereOp>({flat, scalar(f32, 1), step}));
  TRY(minScaled, inferred<DivOp>({lo, scale}));
  TRY(initial, inferred<SubOp>({zero, minScaled}));
  TRY(raised, inferred<MaxOp>({initial, zero}));
  TRY(clipped, inferred<MinOp>({raised, scalar(f32, 255)}));
  TRY(zpF, unary(RoundOp::getOperationName(), clipped));
  TRY(zp, castElements(zpF, u8));
  TRY(ratio, inferred<DivOp>({x, scale}));
  TRY(rounded, unary(RoundOp::getOperationName(), ratio));
  if (failed(setOutput(0, saturate(rounded, zpF, u8))) || failed(setOutput(1, scale)))
    return failure();
  return setOutput(2, zp);
}

FailureOr<Value> NodeImporter::integerMatMul(Value a, Value bv) {
  // numpy.matmul's vectors, as importMatMul.
  bool vecA = shapeOf(a).size() == 1, vecB = shapeOf(bv).size() == 1;
  if (shapeOf(a).empty() || shapeOf(bv).empty())
    return error() << "operands must have rank >= 1";
  if (vecA) {
    TRY(row, reshape(a, {1, shapeOf(a)[0]}));
    a = row;
  }
  if (vecB) {
    TRY(column, reshape(bv, {shapeOf(bv)[0], 1}));
    bv = column;
  }
  TRY(product, inferred<MatMulOp>({a, bv}));
  SmallVector<int64_t> shape(shapeOf(product));
  if (vecB)
    shape.erase(shape.end() - 1);
  if (vecA)
    shape.erase(shape.end() - 1 - (vecB ? 0 : 1));
  return reshape(product, shape);
}

FailureOr<Value> NodeImporter::matmulParam(Value p, Value operand, bool perRow,
                                           StringRef what) {
  if (!p)
    return p;
  ArrayRef<int64_t> ps = shapeOf(p), shape = shapeOf(operand);
  if (product(ps) == 1)
    return reshape(p, {});
  int64_t rank = shape.size();
  if (rank >= 2) {
    // Per row of a [.., M, K]: [M] or [.., M, 1]; per column of b [.., K, N]:
    // [N] or [.., 1, N].
    int64_t n = perRow ? shape[rank - 2] : shape[rank - 1];
    if (ps.size() == 1 && ps[0] == n)
      return perRow ? reshape(p, {n, 1}) : FailureOr<Value>(p);
    SmallVector<int64_t> want(shape);
    want[perRow ? rank - 1 : rank - 2] = 1;
    if (ps == ArrayRef<int64_t>(want))
      return p;
  }
  return error() << what << " has shape [" << ps << "], expected a scalar or one value per "
                 << (perRow ? "row" : "column") << " of [" << shape << "]";
}

/// Checks that `v` is int8 or uint8.
static bool checkByte(Value v) { return isByte(elementOf(v)); }

LogicalResult NodeImporter::importMatMulInteger() {
  if (failed(requireInputs(2)))
    return failure();
  Value a = input(0), bv = input(1), azp = input(2), bzp = input(3);
  for (auto [v, zp, what] : {std::tuple{a, azp, "A"}, std::tuple{bv, bzp, "B"}}) {
    if (!checkByte(v))
      return error() << what << " must be int8 or uint8, got " << v.getType();
    if (zp && elementOf(zp) != elementOf(v))
      return error() << "the zero point of " << what << " " << zp.getType()
                     << " differs from its type";
  }
  TRY(az, matmulParam(azp, a, /*perRow=*/true, "a_zero_point"));
  TRY(bz, matmulParam(bzp, bv, /*perRow=*/false, "b_zero_point"));
  TRY(ac, centered(a, az));
  TRY(bc, centered(bv, bz));
  TRY(acc, integerMatMul(ac, bc));
  return setOutput(0, exactToInt32(acc));
}

FailureOr<Value> NodeImporter::integerConv(Value x, Value w, Value bias) {
  ArrayRef<int64_t> xShape = shapeOf(x), wShape = shapeOf(w);
  if (xShape.size() < 3 || wShape.size() != xShape.size())
    return error() << "x and w must have the same rank >= 3";
  size_t n = xShape.size() - 2;
  SmallVector<int64_t> kernel =
      getInts("kernel_shape").value_or(SmallVector<int64_t>(wShape.drop_front(2)));
  if (ArrayRef<int64_t>(kernel) != wShape.drop_front(2))
    return error() << "kernel_shape [" << ArrayRef<int64_t>(kernel)
                   << "] differs from the weight's spatial dims [" << wShape.drop_front(2)
                   << "]";
  SmallVector<int64_t> strides = getInts("strides").value_or(SmallVector<int64_t>(n, 1));
  SmallVector<int64_t> dilations = getInts("dilations").value_or(SmallVector<int64_t>(n, 1));
  if (strides.size() != n || dilations.size() != n)
    return error() << "strides and dilations need " << n << " entries";
  auto pads = windowPads(xShape.drop_front(2), kernel, strides, dilations);
  if (failed(pads))
    return failure();
  SmallVector<Value> operands = {x, w};
  if (bias)
    operands.push_back(bias);
  return inferred<ConvOp>(operands,
                          {b.getNamedAttr("strides", b.getDenseI64ArrayAttr(strides)),
                           b.getNamedAttr("pads", b.getDenseI64ArrayAttr(*pads)),
                           b.getNamedAttr("dilations", b.getDenseI64ArrayAttr(dilations)),
                           b.getNamedAttr("group", b.getI64IntegerAttr(getInt("group", 1)))});
}

FailureOr<Value> NodeImporter::perTensor(Value p, StringRef what) {
  if (!p || shapeOf(p).empty())
    return p;
  if (product(shapeOf(p)) == 1)
    return reshape(p, {});
  return error() << what << " must be a scalar (per tensor), got " << p.getType();
}

FailureOr<Value> NodeImporter::perOutputChannel(Value p, Value w, int64_t rank,
                                                StringRef what) {
  if (!p || product(shapeOf(p)) == 1)
    return perTensor(p, what);
  int64_t m = shapeOf(w)[0];
  if (shapeOf(p) != ArrayRef<int64_t>{m})
    return error() << what << " has shape [" << shapeOf(p) << "], expected a scalar or ["
                   << m << "] (one per output channel)";
  SmallVector<int64_t> dims(rank, 1);
  dims[0] = m;
  return reshape(p, dims);
}

LogicalResult NodeImporter::importConvInteger() {
  if (failed(requireInputs(2)))
    return failure();
  Value x = input(0), w = input(1), xzp = input(2), wzp = input(3);
  for (auto [v, zp, what] : {std::tuple{x, xzp, "x"}, std::tuple{w, wzp, "w"}}) {
    if (!checkByte(v))
      return error() << what << " must be int8 or uint8, got " << v.getType();
    if (zp && elementOf(zp) != elementOf(v))
      return error() << "the zero point of " << what << " " << zp.getType()
                     << " differs from its type";
  }
  int64_t rank = shapeOf(w).size();
  TRY(xz, perTensor(xzp, "x_zero_point"));
  TRY(wz, perOutputChannel(wzp, w, rank, "w_zero_point"));
  // Padding the centered x with 0 pads x with its zero point.
  TRY(xc, centered(x, xz));
  TRY(wc, centered(w, wz));
  TRY(acc, integerConv(xc, wc, Value()));
  return setOutput(0, exactToInt32(acc));
}

/// The scales' type of a QLinear node: float32 before opset 21, then one of
/// float32, float16, bfloat16, the same for all.
LogicalResult NodeImporter::checkScales(ArrayRef<Value> scales) {
  Type t = elementOf(scales[0]);
  for (Value s : scales) {
    if (elementOf(s) != t || !isa<FloatType>(t) || t.isF64() ||
        (opset < 21 && !t.isF32()))
      return error() << "the scales must all be float32"
                     << (opset >= 21 ? ", float16 or bfloat16" : "") << ", got "
                     << s.getType() << " and " << scales[0].getType();
  }
  return success();
}

LogicalResult NodeImporter::importQLinearMatMul() {
  if (failed(requireInputs(8)))
    return failure();
  Value a = input(0), as = input(1), azp = input(2), bv = input(3), bs = input(4),
        bzp = input(5), ys = input(6), yzp = input(7);
  for (auto [v, zp, what] :
       {std::tuple{a, azp, "a"}, std::tuple{bv, bzp, "b"}, std::tuple{yzp, yzp, "y"}}) {
    if (!checkByte(v))
      return error() << what << " must be int8 or uint8, got " << v.getType();
    if (elementOf(zp) != elementOf(v))
      return error() << "the zero point of " << what << " " << zp.getType()
                     << " differs from its type";
  }
  if (failed(checkScales({as, bs, ys})))
    return failure();
  if (shapeOf(as) != shapeOf(azp) || shapeOf(bs) != shapeOf(bzp) ||
      shapeOf(ys) != shapeOf(yzp))
    return error() << "each scale must have its zero point's shape";
  TRY(az, matmulParam(azp, a, /*perRow=*/true, "a_zero_point"));
  TRY(bz, matmulParam(bzp, bv, /*perRow=*/false, "b_zero_point"));
  TRY(asr, matmulParam(as, a, /*perRow=*/true, "a_scale"));
  TRY(bsr, matmulParam(bs, bv, /*perRow=*/false, "b_scale"));
  TRY(ysr, perTensor(ys, "y_scale"));
  TRY(yz, perTensor(yzp, "y_zero_point"));
  TRY(ac, centered(a, az));
  TRY(bc, centered(bv, bz));
  TRY(acc, integerMatMul(ac, bc));
  TRY(multiplier, requantScale(asr, bsr, ysr));
  return setOutput(0, requantize(acc, multiplier, yz, elementOf(yzp)));
}

LogicalResult NodeImporter::importQLinearConv() {
  if (failed(requireInputs(8)))
    return failure();
  Value x = input(0), xs = input(1), xzp = input(2), w = input(3), ws = input(4),
        wzp = input(5), ys = input(6), yzp = input(7), bias = input(8);
  for (auto [v, zp, what] :
       {std::tuple{x, xzp, "x"}, std::tuple{w, wzp, "w"}, std::tuple{yzp, yzp, "y"}}) {
    if (!checkByte(v))
      return error() << what << " must be int8 or uint8, got " << v.getType();
    if (elementOf(zp) != elementOf(v))
      return error() << "the zero point of " << what << " " << zp.getType()
                     << " differs from its type";
  }
  if (failed(checkScales({xs, ws, ys})))
    return failure();
  int64_t rank = shapeOf(w).size();
  if (rank < 3)
    return error() << "w must have rank >= 3, got " << w.getType();
  int64_t m = shapeOf(w)[0];
  if (bias && (elementOf(bias) != b.getI32Type() || shapeOf(bias) != ArrayRef<int64_t>{m}))
    return error() << "B must be int32 [" << m << "], got " << bias.getType();
  TRY(xz, perTensor(xzp, "x_zero_point"));
  TRY(wz, perOutputChannel(wzp, w, rank, "w_zero_point"));
  TRY(xsr, perTensor(xs, "x_scale"));
  TRY(wsr, perOutputChannel(ws, w, 1, "w_scale"));
  TRY(ysr, perTensor(ys, "y_scale"));
  TRY(yz, perTensor(yzp, "y_zero_point"));
  TRY(xc, centered(x, xz));
  TRY(wc, centered(w, wz));
  TRY(bc, castElements(bias, b.getF64Type()));
  TRY(acc, integerConv(xc, wc, bc));
  // Per output channel, along dim 1 of y.
  TRY(multiplier, requantScale(xsr, wsr, ysr));
  SmallVector<int64_t> channel(rank, 1);
  channel[1] = product(shapeOf(multiplier));
  TRY(perChannel, reshape(multiplier, channel));
  return setOutput(0, requantize(acc, perChannel, yz, elementOf(yzp)));
}

} // namespace pmc::onnx_import
