//===- ResizeImporter.cpp - ONNX Resize and Upsample as per-axis resampling ===//
//
// Resize is separable: every resized axis maps its `in` elements to `out`
// through a fixed [out x in] matrix that depends only on the attributes and
// the constant scales/sizes/roi. The importer computes each axis's matrix in
// plain C++, mirroring onnx/reference/ops/op_resize.py (the numbers of the
// conformance data) step by step in double, and applies it:
//
//   every row one exact 1 (nearest, copies)  ->  pmc.gather of constant indices
//   otherwise                                ->  pmc.matmul with the constant
//                                                 matrix ([P, in, Q] batched)
//   tf_crop_and_resize outside the input     ->  pmc.where(mask, extrapolation)
//
// so that no new op, sharding rule or kernel is needed and nothing is
// approximated. Interpolation runs in float for float16/bfloat16 and in
// double for integers (rounded half to even and clamped, as the reference's
// saturate_cast), and the result has the input's element type.
//
#include "ImporterImpl.h"
#include "OpRegistry.h"

#include <cmath>
#include <optional>

using namespace mlir;
using namespace mlir::pmc;
using namespace ::pmc::onnx_import;

namespace {

enum class Mode { Nearest, Linear, Cubic };

/// Everything that decides one axis's resampling matrix.
struct ResizeAttributes {
  Mode mode = Mode::Nearest;
  std::string coordinateMode = "half_pixel";
  std::string nearestMode = "round_prefer_floor";
  double cubicA = -0.75;
  bool excludeOutside = false;
  bool antialias = false;
  double extrapolationValue = 0.0;
};

/// One axis's resampling: out[o] = sum_i weights[o * in + i] * x[i], except
/// where `outside[o]` (tf_crop_and_resize), which is the extrapolation value.
struct AxisResample {
  int64_t axis = 0, in = 0, out = 0;
  std::vector<double> weights;
  std::vector<bool> outside;
  /// The source index of each output when every row (outside ones aside) is
  /// a copy of one input element; empty otherwise.
  std::vector<int64_t> copies;
};

/// The reference's kernel coefficients for the fractional position `ratio`
/// (in (0, 1], 1 for an integer position) at `scale` (out / in).
std::vector<double> coefficients(const ResizeAttributes &a, double ratio, double scale) {
  switch (a.mode) {
  case Mode::Nearest: {
    if (ratio == std::floor(ratio))
      return {0, 1};
    const std::string &m = a.nearestMode;
    if (m == "round_prefer_floor")
      return {double(ratio <= 0.5), double(ratio > 0.5)};
    if (m == "round_prefer_ceil")
      return {double(ratio < 0.5), double(ratio >= 0.5)};
    if (m == "floor")
      return {1, 0};
    return {0, 1}; // ceil
  }
  case Mode::Linear: {
    if (!a.antialias)
      return {1 - ratio, ratio};
    // The triangle filter widened by 1 / scale when downsampling.
    double s = std::min(scale, 1.0);
    int64_t start = int64_t(std::floor(-1 / s) + 1);
    int64_t footprint = 2 - 2 * start;
    std::vector<double> c;
    double sum = 0;
    for (int64_t i = start; i < start + footprint; ++i) {
      double arg = (double(i) - ratio) * s;
      c.push_back(std::clamp(1 - std::abs(arg), 0.0, 1.0));
      sum += c.back();
    }
    for (double &v : c)
      v /= sum;
    return c;
  }
  case Mode::Cubic: {
    double A = a.cubicA, r = ratio;
    if (!a.antialias)
      return {((A * (r + 1) - 5 * A) * (r + 1) + 8 * A) * (r + 1) - 4 * A,
              ((A + 2) * r - (A + 3)) * r * r + 1,
              ((A + 2) * (1 - r) - (A + 3)) * (1 - r) * (1 - r) + 1,
              ((A * ((1 - r) + 1) - 5 * A) * ((1 - r) + 1) + 8 * A) * ((1 - r) + 1) - 4 * A};
    double s = std::min(scale, 1.0);
    auto kernel = [A](double x) {
      x = std::abs(x);
      double x2 = x * x, x3 = x * x2;
      if (x <= 1)
        return (A + 2) * x3 - (A + 3) * x2 + 1;
      if (x < 2)
        return A * x3 - 5 * A * x2 + 8 * A * x - 4 * A;
      return 0.0;
    };
    int64_t start = int64_t(std::floor(-2 / s) + 1), end = 2 - start;
    std::vector<double> c;
    double sum = 0;
    for (int64_t i = start; i < end; ++i) {
      c.push_back(kernel(s * (double(i) - r)));
      sum += c.back();
    }
    for (double &v : c)
      v /= sum;
    return c;
  }
  }
  return {};
}

/// The resampling of one axis of length `in` to `out` at `scale`, with the
/// axis's roi (start, end) for tf_crop_and_resize (`roiIsF32`: given as
/// float32). Mirrors _interpolate_1d_along_axis of the reference.
AxisResample resampleAxis(const ResizeAttributes &a, int64_t axis, int64_t in, int64_t out,
                          double scale, std::optional<std::pair<double, double>> roi,
                          bool roiIsF32) {
  AxisResample r;
  r.axis = axis;
  r.in = in;
  r.out = out;
  r.weights.assign(out * in, 0.0);
  r.outside.assign(out, false);
  double outputWidth = scale * double(in);
  const std::string &cm = a.coordinateMode;
  for (int64_t o = 0; o < out; ++o) {
    double y = double(o), x;
    if (cm == "align_corners") {
      x = outputWidth == 1 ? 0.0 : y * double(in - 1) / (outputWidth - 1);
    } else if (cm == "asymmetric") {
      x = y / scale;
    } else if (cm == "tf_crop_and_resize") {
      // With a float32 roi the reference's roi arithmetic (numpy scalars)
      // is float32, the rest double.
      double start = roi->first, end = roi->second, span, offset, single;
      if (roiIsF32) {
        float spanF = float(end) - float(start);
        span = spanF;
        offset = float(start) * float(in - 1);
        single = spanF * float(in - 1) / 2.0f;
      } else {
        span = end - start;
        offset = start * double(in - 1);
        single = span * double(in - 1) / 2;
      }
      x = outputWidth == 1 ? single : y * span * double(in - 1) / (outputWidth - 1);
      x = x + offset;
      r.outside[o] = x < 0 || x > double(in - 1);
    } else if (cm == "pytorch_half_pixel") {
      x = outputWidth == 1 ? -0.5 : (y + 0.5) / scale - 0.5;
    } else if (cm == "half_pixel") {
      x = (y + 0.5) / scale - 0.5;
    } else if (cm == "half_pixel_symmetric") {
      double adjustment = double(out) / outputWidth;
      double center = double(in) / 2;
      double offset = center * (1 - adjustment);
      x = offset + (y + 0.5) / scale - 0.5;
    } else { // tf_half_pixel_for_nn (opsets 11 and 12)
      x = (y + 0.5) / scale;
    }
    double xInt = std::floor(x);
    double ratio = x == xInt ? 1.0 : x - xInt;
    std::vector<double> c = coefficients(a, ratio, scale);
    int64_t n = c.size();
    // The n input positions nearest x (ties to the smaller), as the
    // reference's window over the edge-padded input.
    int64_t pad = (n + 1) / 2;
    double xPadded = x + double(pad);
    double p = std::floor(xPadded), frac = xPadded - p;
    int64_t offsetFromP;
    if (n % 2 == 0)
      offsetFromP = frac == 0 ? -(n / 2) : -(n / 2) + 1;
    else
      offsetFromP = frac <= 0.5 ? -((n - 1) / 2) : -((n - 1) / 2) + 1;
    int64_t first = int64_t(p) + offsetFromP - pad;
    if (a.excludeOutside) {
      double sum = 0;
      for (int64_t k = 0; k < n; ++k) {
        int64_t idx = first + k;
        if (idx < 0 || idx >= in)
          c[k] = 0;
        sum += c[k];
      }
      if (sum == 0)
        sum = 1;
      for (double &v : c)
        v /= sum;
    }
    // Edge padding is clamping the indices.
    for (int64_t k = 0; k < n; ++k)
      r.weights[o * in + std::clamp<int64_t>(first + k, 0, in - 1)] += c[k];
  }
  // A copy per row makes the axis a gather.
  std::vector<int64_t> copies(out, 0);
  for (int64_t o = 0; o < out; ++o) {
    if (r.outside[o])
      continue;
    int64_t source = -1;
    for (int64_t i = 0; i < in; ++i) {
      double w = r.weights[o * in + i];
      if (w == 0)
        continue;
      if (w != 1 || source >= 0)
        return r;
      source = i;
    }
    if (source < 0)
      return r;
    copies[o] = source;
  }
  r.copies = std::move(copies);
  return r;
}

/// `v` as the reference's saturate_cast to an integer type stores it:
/// rounded half to even, clamped to the type's range.
double saturateToInteger(double v, IntegerType type) {
  unsigned width = type.getWidth();
  bool isSigned = !type.isUnsigned() && width > 1;
  double lo = isSigned ? -std::ldexp(1.0, width - 1) : 0.0;
  double limit = std::ldexp(1.0, isSigned ? width - 1 : width);
  // The largest double below 2^k (2^k - 1 is not a double for k > 53).
  double hi = width - isSigned > 53 ? std::nextafter(limit, 0.0) : limit - 1;
  return std::clamp(std::nearbyint(v), lo, hi);
}

} // namespace

void NodeImporter::registerResizeImporters(OpImporterRegistry &r) {
  r.add("Upsample", 7, [](NodeImporter &n) { return n.importResize(/*upsample=*/true); });
  // Resize 10 (scales only), 11 (roi, sizes, coordinate modes, cubic), 13
  // (optional roi/scales, bfloat16, no tf_half_pixel_for_nn), 18 (axes,
  // antialias, keep_aspect_ratio_policy), 19 (half_pixel_symmetric): one
  // importer reading what its opset has.
  r.add("Resize", 10, [](NodeImporter &n) { return n.importResize(/*upsample=*/false); });
}

LogicalResult NodeImporter::importResize(bool upsample) {
  if (failed(requireInputs(1)))
    return failure();
  Value x = input(0);
  ArrayRef<int64_t> shape = shapeOf(x);
  int64_t rank = shape.size();
  Type element = elementOf(x);
  if (upsample && opset >= 10)
    return error() << "Upsample is deprecated from opset 10 on (Resize replaces it) and "
                   << "unsupported there";

  // --- Attributes ------------------------------------------------------------
  ResizeAttributes a;
  std::string mode = getString("mode", "nearest");
  if (mode == "nearest")
    a.mode = Mode::Nearest;
  else if (mode == "linear")
    a.mode = Mode::Linear;
  else if (mode == "cubic" && !upsample && opset >= 11)
    a.mode = Mode::Cubic;
  else
    return error() << "mode '" << mode << "' is unsupported (nearest, linear"
                   << (!upsample && opset >= 11 ? ", cubic" : "") << ")";
  bool legacy = upsample || opset < 11;
  if (legacy) {
    // Upsample and Resize-10 sample at x / scale (asymmetric) and take the
    // element at or before it; Resize-10's downsampling takes the one at or
    // after it (onnxruntime's rule, and that of ONNX's opset-10 test data).
    a.coordinateMode = "asymmetric";
    a.nearestMode = "floor";
  } else {
    a.coordinateMode = getString("coordinate_transformation_mode", "half_pixel");
    a.nearestMode = getString("nearest_mode", "round_prefer_floor");
    a.cubicA = getFloat("cubic_coeff_a", -0.75f);
    a.excludeOutside = getInt("exclude_outside", 0) != 0;
    a.extrapolationValue = getFloat("extrapolation_value", 0.0f);
    StringRef cm = a.coordinateMode;
    bool known = cm == "half_pixel" || cm == "pytorch_half_pixel" || cm == "align_corners" ||
                 cm == "asymmetric" || cm == "tf_crop_and_resize" ||
                 (cm == "tf_half_pixel_for_nn" && opset < 13) ||
                 (cm == "half_pixel_symmetric" && opset >= 19);
    if (!known)
      return error() << "coordinate_transformation_mode '" << cm
                     << "' is unsupported at opset " << opset
                     << " (tf_half_pixel_for_nn is of opsets 11-12, half_pixel_symmetric of 19 on)";
    StringRef nm = a.nearestMode;
    if (nm != "round_prefer_floor" && nm != "round_prefer_ceil" && nm != "floor" && nm != "ceil")
      return error() << "nearest_mode '" << nm << "' is unsupported";
  }
  std::optional<SmallVector<int64_t>> axesAttr;
  std::string policy = "stretch";
  if (!legacy && opset >= 18) {
    // antialias widens only the linear and cubic filters: nearest ignores it.
    a.antialias = getInt("antialias", 0) != 0 && a.mode != Mode::Nearest;
    axesAttr = getInts("axes");
    policy = getString("keep_aspect_ratio_policy", "stretch");
    if (policy != "stretch" && policy != "not_larger" && policy != "not_smaller")
      return error() << "keep_aspect_ratio_policy '" << policy << "' is unsupported";
  }

  // --- Axes, scales, sizes, roi ----------------------------------------------
  SmallVector<int64_t> axes;
  if (axesAttr) {
    for (int64_t axis : *axesAttr) {
      auto normalized = normalizeAxis(axis, rank, "axis");
      if (failed(normalized))
        return failure();
      if (llvm::is_contained(axes, *normalized))
        return error() << "axes repeats axis " << axis;
      axes.push_back(*normalized);
    }
  } else {
    for (int64_t d = 0; d < rank; ++d)
      axes.push_back(d);
  }
  int64_t count = axes.size();

  auto floats = [&](DenseElementsAttr value) {
    SmallVector<double> result;
    for (const APFloat &v : value.getValues<APFloat>())
      result.push_back(v.convertToDouble());
    return result;
  };
  auto floatOperand = [&](unsigned i, StringRef what) -> FailureOr<DenseElementsAttr> {
    auto value = constAttr(i, what);
    if (failed(value))
      return failure();
    if (!isa<FloatType>(value->getElementType()))
      return error() << "operand " << i << " ('" << what << "') must hold floats";
    return value;
  };

  SmallVector<double> scales;
  std::optional<SmallVector<int64_t>> sizes;
  std::optional<SmallVector<double>> roi;
  bool roiIsF32 = false;
  if (upsample && opset < 9) {
    auto given = attr("scales");
    if (!given)
      return error() << "needs the 'scales' attribute";
    for (float s : given->floats())
      scales.push_back(s);
  } else if (legacy) {
    auto value = floatOperand(1, "scales");
    if (failed(value))
      return failure();
    scales = floats(*value);
  } else {
    // roi matters only to tf_crop_and_resize (the reference also looks at
    // it to skip axes that stay as they are, whose matrices other modes
    // compute as the identity anyway).
    if (input(1) && a.coordinateMode == "tf_crop_and_resize") {
      auto value = floatOperand(1, "roi");
      if (failed(value))
        return failure();
      if (value->getNumElements() > 0) {
        roi = floats(*value);
        roiIsF32 = value->getElementType().isF32();
      }
    }
    if (input(2)) {
      auto value = floatOperand(2, "scales");
      if (failed(value))
        return failure();
      scales = floats(*value);
    }
    if (input(3)) {
      auto value = constInts(3, "sizes");
      if (failed(value))
        return failure();
      if (!value->empty())
        sizes = *value;
    }
    if (scales.empty() == !sizes)
      return error() << "exactly one of 'scales' and 'sizes' must be given (non-empty)";
    if (a.coordinateMode == "tf_crop_and_resize" && !roi)
      return error() << "coordinate_transformation_mode tf_crop_and_resize needs 'roi'";
  }
  if (!scales.empty() && (int64_t)scales.size() != count)
    return error() << "'scales' has " << scales.size() << " entries, expected " << count;
  if (sizes && (int64_t)sizes->size() != count)
    return error() << "'sizes' has " << sizes->size() << " entries, expected " << count;
  if (roi && (int64_t)roi->size() != 2 * count)
    return error() << "'roi' has " << roi->size() << " entries, expected " << 2 * count;
  for (int64_t d : shape)
    if (d <= 0)
      return error() << "an input of shape [" << shape << "] (a zero dim) is unsupported";

  // Per resized axis: the output length and the scale (out / in for sizes).
  SmallVector<int64_t> outLen(shape);
  SmallVector<double> axisScale(rank, 1.0);
  if (sizes) {
    for (int64_t k = 0; k < count; ++k)
      axisScale[axes[k]] = double((*sizes)[k]) / double(shape[axes[k]]);
    if (policy != "stretch") {
      double s = axisScale[axes[0]];
      for (int64_t axis : axes)
        s = policy == "not_larger" ? std::min(s, axisScale[axis]) : std::max(s, axisScale[axis]);
      for (int64_t axis : axes) {
        axisScale[axis] = s;
        outLen[axis] = int64_t(s * double(shape[axis]) + 0.5);
      }
    } else {
      for (int64_t k = 0; k < count; ++k)
        outLen[axes[k]] = (*sizes)[k];
    }
  } else {
    for (int64_t k = 0; k < count; ++k) {
      if (!(scales[k] > 0))
        return error() << "scale " << scales[k] << " of axis " << axes[k]
                       << " must be positive";
      if (upsample && scales[k] < 1)
        return error() << "Upsample's scale " << scales[k] << " of axis " << axes[k]
                       << " is below 1";
      axisScale[axes[k]] = scales[k];
      outLen[axes[k]] = int64_t(scales[k] * double(shape[axes[k]]));
    }
  }

  // --- The matrices ----------------------------------------------------------
  SmallVector<AxisResample> steps;
  for (int64_t k = 0; k < count; ++k) {
    int64_t axis = axes[k], in = shape[axis], out = outLen[axis];
    double scale = axisScale[axis];
    if (out <= 0)
      return error() << "axis " << axis << " resizes to " << out
                     << " elements; an empty output is unsupported";
    std::optional<std::pair<double, double>> axisRoi;
    if (roi)
      axisRoi = std::make_pair((*roi)[k], (*roi)[count + k]);
    // The reference skips axes that stay as they are.
    bool identity = std::abs(scale - 1.0) <= 1e-9 * std::max(std::abs(scale), 1.0) &&
                    out == in &&
                    (!axisRoi || (axisRoi->first == 0 &&
                                  std::abs(axisRoi->second - 1.0) <= 1e-9 *
                                      std::max(std::abs(axisRoi->second), 1.0)));
    if (identity)
      continue;
    if (out * in > kMaxFoldedElements)
      return error() << "axis " << axis << " resizes " << in << " to " << out
                     << " elements: its " << out << "x" << in
                     << " resampling matrix is more than 2^24 elements, unsupported";
    ResizeAttributes axisAttrs = a;
    if (legacy && a.mode == Mode::Nearest && scale < 1)
      axisAttrs.nearestMode = "ceil";
    steps.push_back(resampleAxis(axisAttrs, axis, in, out, scale, axisRoi, roiIsF32));
  }

  // --- Building --------------------------------------------------------------
  bool interpolates = llvm::any_of(steps, [](const AxisResample &s) { return s.copies.empty(); });
  auto intType = dyn_cast<IntegerType>(element);
  bool isBool = intType && intType.getWidth() == 1;
  Type work = element;
  if (interpolates) {
    if (isBool)
      return error() << "interpolating (mode " << mode << ") a bool tensor is unsupported; "
                     << "pmc interpolates floats and integers";
    if (!isa<FloatType>(element) && !intType)
      return error() << "interpolating (mode " << mode << ") a tensor of " << element
                     << " is unsupported; pmc interpolates floats and integers";
    if (element.isF16() || element.isBF16())
      work = b.getF32Type();
    else if (intType)
      work = b.getF64Type();
  }
  Value y = x;
  if (work != element) {
    TRY(wide, typed<CastOp>(RankedTensorType::get(shape, work), x));
    y = wide;
  }
  for (const AxisResample &s : steps) {
    SmallVector<int64_t> before(shapeOf(y));
    SmallVector<int64_t> after(before);
    after[s.axis] = s.out;
    Type t = elementOf(y);
    Value resampled;
    if (!s.copies.empty()) {
      TRY(gathered, inferred<GatherOp>({y, i64Tensor(s.copies)},
                                       {b.getNamedAttr("axis", b.getI64IntegerAttr(s.axis))}));
      resampled = gathered;
    } else {
      // y [P, in, Q] contracted with the matrix [out, in] over `in`.
      int64_t outer = product(ArrayRef<int64_t>(before).take_front(s.axis));
      int64_t inner = product(ArrayRef<int64_t>(before).drop_front(s.axis + 1));
      auto matrixType = RankedTensorType::get({s.out, s.in}, t);
      DenseElementsAttr values;
      if (t.isF64()) {
        values = DenseElementsAttr::get(matrixType, ArrayRef<double>(s.weights));
      } else {
        std::vector<float> narrow(s.weights.begin(), s.weights.end());
        values = DenseElementsAttr::get(matrixType, ArrayRef<float>(narrow));
      }
      Value matrix = constant(values);
      Value product;
      if (inner == 1) {
        TRY(rows, reshape(y, {outer, s.in}));
        TRY(mm, inferred<MatMulOp>({rows, matrix},
                                   {b.getNamedAttr("transpose_b", b.getUnitAttr())}));
        product = mm;
      } else {
        SmallVector<int64_t> batched = {s.in, inner};
        if (outer > 1)
          batched.insert(batched.begin(), outer);
        TRY(cols, reshape(y, batched));
        TRY(mm, inferred<MatMulOp>({matrix, cols}));
        product = mm;
      }
      TRY(restored, reshape(product, after));
      resampled = restored;
    }
    if (llvm::any_of(s.outside, [](bool o) { return o; })) {
      SmallVector<int64_t> maskShape(before.size(), 1);
      maskShape[s.axis] = s.out;
      SmallVector<bool> mask(s.outside.begin(), s.outside.end());
      Value maskValue = constant(DenseElementsAttr::get(
          RankedTensorType::get(maskShape, b.getI1Type()), ArrayRef<bool>(mask)));
      double fill = a.extrapolationValue;
      if (auto it = dyn_cast<IntegerType>(t))
        fill = it.getWidth() == 1 ? double(fill != 0) : saturateToInteger(fill, it);
      TRY(filled, inferred<WhereOp>({maskValue, scalar(t, fill), resampled}));
      resampled = filled;
    }
    y = resampled;
  }
  if (work != element) {
    if (intType) {
      // The reference's saturate_cast: round half to even, clamp, convert.
      TRY(rounded, unary(RoundOp::getOperationName(), y));
      double lo = saturateToInteger(-INFINITY, intType);
      double hi = saturateToInteger(INFINITY, intType);
      TRY(low, inferred<MaxOp>({rounded, scalar(work, lo)}));
      TRY(clamped, inferred<MinOp>({low, scalar(work, hi)}));
      y = clamped;
    }
    TRY(narrow, typed<CastOp>(RankedTensorType::get(shapeOf(y), element), y));
    y = narrow;
  }
  return setOutput(0, y);
}
