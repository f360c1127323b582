//===- SpectralImporters.cpp - DFT, STFT, window functions, MelWeightMatrix ===//
//
// The transform length is static, so a DFT is a product with constant cosine
// and sine matrices (computed in double): for a signal x along `axis`, laid
// out as [pre, L, post],
//
//   re = Cr·xr + Ci·xi,   im = Sr·xr + Si·xi      (each matrix [K, L])
//
//   %re = pmc.matmul %Cr, %xr : (tensor<5x8xf32>, tensor<2x8x1xf32>) -> tensor<2x5x1xf32>
//
// which covers the forward transform, the inverse (1/n, conjugate phase), the
// one-sided forms (K = n/2+1 bins out, or in for the real inverse), and
// dft_length (columns past the input length are the zero padding; a shorter
// n truncates). STFT frames the signal with one gather, weights it by the
// window and applies the same product. The windows and the mel filter bank
// depend only on constants and fold to constants.
//
//===----------------------------------------------------------------------===//
#include "ImporterImpl.h"
#include "OpRegistry.h"

#include <cmath>

using namespace mlir;
using namespace ::pmc::onnx_import;

namespace {
/// ONNX's TensorProto::FLOAT, the default output_datatype.
constexpr int64_t kOnnxFloat = 1;

/// The four [K, L] matrices of one transform, row-major.
struct DftMatrices {
  int64_t rows = 0, cols = 0;
  std::vector<double> fromRealToReal, fromImagToReal, fromRealToImag, fromImagToImag;
};

/// Matrices of a transform of length `n` applied to `inputLength` samples
/// (or bins, for the one-sided inverse).
DftMatrices dftMatrices(int64_t n, int64_t inputLength, bool inverse, bool onesided) {
  DftMatrices m;
  // The one-sided inverse (irfft) reads bins 0..n/2 and writes n real samples.
  const bool realInverse = inverse && onesided;
  m.rows = realInverse ? n : (onesided ? n / 2 + 1 : n);
  m.cols = inputLength;
  const size_t size = m.rows * m.cols;
  m.fromRealToReal.assign(size, 0);
  m.fromImagToReal.assign(size, 0);
  m.fromRealToImag.assign(size, 0);
  m.fromImagToImag.assign(size, 0);
  const double twoPi = 2 * M_PI;
  for (int64_t k = 0; k < m.rows; ++k) {
    for (int64_t t = 0; t < m.cols; ++t) {
      size_t at = k * m.cols + t;
      if (realInverse) {
        // x[k] = 1/n Σ_t w_t (Re X_t cos − Im X_t sin)(2π t k / n) over the
        // bins t <= n/2: the others are the conjugates of these.
        if (t > n / 2)
          continue;
        double weight = (t == 0 || (n % 2 == 0 && t == n / 2)) ? 1 : 2;
        double phase = twoPi * double((t * k) % n) / double(n);
        m.fromRealToReal[at] = weight * std::cos(phase) / n;
        m.fromImagToReal[at] = -weight * std::sin(phase) / n;
        continue;
      }
      if (t >= n)
        continue; // truncated by dft_length
      double phase = twoPi * double((t * k) % n) / double(n);
      double c = std::cos(phase), s = std::sin(phase);
      if (!inverse) {
        // X[k] = Σ_t x[t] e^{-i phase}
        m.fromRealToReal[at] = c;
        m.fromImagToReal[at] = s;
        m.fromRealToImag[at] = -s;
        m.fromImagToImag[at] = c;
      } else {
        // x[k] = 1/n Σ_t X[t] e^{+i phase}
        m.fromRealToReal[at] = c / n;
        m.fromImagToReal[at] = -s / n;
        m.fromRealToImag[at] = s / n;
        m.fromImagToImag[at] = c / n;
      }
    }
  }
  return m;
}
} // namespace

void NodeImporter::registerSpectralImporters(OpImporterRegistry &r) {
  r.add("DFT", 17, [](NodeImporter &n) { return n.importDFT(); });
  r.add("STFT", 17, [](NodeImporter &n) { return n.importSTFT(); });
  for (const char *op : {"HannWindow", "HammingWindow", "BlackmanWindow"})
    r.add(op, 17, [op](NodeImporter &n) { return n.importWindow(op); });
  r.add("MelWeightMatrix", 17, [](NodeImporter &n) { return n.importMelWeightMatrix(); });
}

FailureOr<Value> NodeImporter::floatConstant(ArrayRef<int64_t> shape,
                                             ArrayRef<double> values, Type elementType) {
  if (elementType.isF64())
    return constant(DenseElementsAttr::get(RankedTensorType::get(shape, elementType),
                                           values));
  SmallVector<float> narrowed(values.begin(), values.end());
  Value f32 = constant(DenseElementsAttr::get(
      RankedTensorType::get(shape, b.getF32Type()), ArrayRef<float>(narrowed)));
  if (elementType.isF32())
    return f32;
  return typed<mlir::pmc::CastOp>(RankedTensorType::get(shape, elementType), f32);
}

FailureOr<std::pair<Value, Value>>
NodeImporter::applyDft(Value real, Value imag, int64_t axis, int64_t n, bool inverse,
                       bool onesided) {
  // Sums of n products in float32 lose about n·2^-24 of the largest term; the
  // reference computes in double, so does pmc, and rounds once at the end.
  Type resultType = elementOf(real);
  if (!resultType.isF64()) {
    auto widen = [&](Value v) -> FailureOr<Value> {
      if (!v)
        return Value();
      return typed<mlir::pmc::CastOp>(
          RankedTensorType::get(shapeOf(v), b.getF64Type()), v);
    };
    TRY(wideReal, widen(real));
    auto wideImag = widen(imag);
    if (failed(wideImag))
      return failure();
    auto wide = applyDft(wideReal, *wideImag, axis, n, inverse, onesided);
    if (failed(wide))
      return failure();
    auto narrow = [&](Value v) -> FailureOr<Value> {
      if (!v)
        return Value();
      return typed<mlir::pmc::CastOp>(RankedTensorType::get(shapeOf(v), resultType), v);
    };
    TRY(outReal, narrow(wide->first));
    auto outImag = narrow(wide->second);
    if (failed(outImag))
      return failure();
    return std::make_pair(outReal, *outImag);
  }
  SmallVector<int64_t> shape(shapeOf(real));
  const int64_t length = shape[axis];
  DftMatrices m = dftMatrices(n, length, inverse, onesided);
  int64_t pre = product(ArrayRef<int64_t>(shape).take_front(axis));
  int64_t post = product(ArrayRef<int64_t>(shape).drop_front(axis + 1));
  Type elementType = elementOf(real);
  SmallVector<int64_t> outShape(shape);
  outShape[axis] = m.rows;

  auto contract = [&](ArrayRef<double> matrix, Value x) -> FailureOr<Value> {
    TRY(mat, floatConstant({m.rows, m.cols}, matrix, elementType));
    TRY(x3, reshape(x, {pre, length, post}));
    return inferred<mlir::pmc::MatMulOp>({mat, x3});
  };
  auto combine = [&](ArrayRef<double> fromReal, ArrayRef<double> fromImag)
      -> FailureOr<Value> {
    TRY(fromRealPart, contract(fromReal, real));
    Value sum = fromRealPart;
    if (imag) {
      TRY(fromImagPart, contract(fromImag, imag));
      TRY(added, inferred<mlir::pmc::AddOp>({sum, fromImagPart}));
      sum = added;
    }
    return reshape(sum, outShape);
  };
  TRY(outReal, combine(m.fromRealToReal, m.fromImagToReal));
  if (inverse && onesided)
    return std::make_pair(outReal, Value());
  TRY(outImag, combine(m.fromRealToImag, m.fromImagToImag));
  return std::make_pair(outReal, outImag);
}

FailureOr<std::pair<Value, Value>> NodeImporter::splitComplex(Value x) {
  ArrayRef<int64_t> shape = shapeOf(x);
  if (shape.size() < 2 || (shape.back() != 1 && shape.back() != 2))
    return error() << "the signal's last dim must be 1 (real) or 2 (complex), the "
                      "input is "
                   << x.getType();
  if (!isa<FloatType>(elementOf(x)))
    return error() << "the signal must be floating point, it is " << x.getType();
  SmallVector<int64_t> inner(shape.drop_back());
  if (shape.back() == 1) {
    TRY(real, reshape(x, inner));
    return std::make_pair(real, Value());
  }
  TRY(real, takeIndex(x, shape.size() - 1, 0));
  TRY(imag, takeIndex(x, shape.size() - 1, 1));
  return std::make_pair(real, imag);
}

FailureOr<Value> NodeImporter::joinComplex(Value real, Value imag) {
  SmallVector<int64_t> shape(shapeOf(real));
  shape.push_back(1);
  TRY(re, reshape(real, shape));
  if (!imag)
    return re;
  TRY(im, reshape(imag, shape));
  return inferred<mlir::pmc::ConcatOp>(
      {re, im}, {b.getNamedAttr("axis", b.getI64IntegerAttr(shape.size() - 1))});
}

LogicalResult NodeImporter::importDFT() {
  if (failed(requireInputs(1)))
    return failure();
  Value x = input(0);
  const int64_t rank = shapeOf(x).size();
  int64_t axis = 1;
  if (opset >= 20) {
    axis = -2;
    if (input(2)) {
      auto axes = constInts(2, "axis");
      if (failed(axes))
        return failure();
      if (axes->size() != 1)
        return error() << "axis must hold one integer";
      axis = axes->front();
    }
  } else {
    axis = getInt("axis", 1);
  }
  // The axis counts the trailing real/imaginary dim but may not be it.
  auto resolved = normalizeAxis(axis, rank, "axis");
  if (failed(resolved))
    return failure();
  if (*resolved == rank - 1)
    return error() << "axis " << axis << " is the real/imaginary dim";
  const bool inverse = getInt("inverse", 0) != 0;
  const bool onesided = getInt("onesided", 0) != 0;
  auto parts = splitComplex(x);
  if (failed(parts))
    return failure();
  if (onesided && !inverse && parts->second)
    return error() << "onesided needs a real signal (last dim 1)";
  const int64_t length = shapeOf(x)[*resolved];
  int64_t n = inverse && onesided ? 2 * (length - 1) : length;
  if (input(1)) {
    auto given = constInts(1, "dft_length");
    if (failed(given))
      return failure();
    if (given->size() != 1 || given->front() < 1)
      return error() << "dft_length must be one positive integer";
    n = given->front();
  }
  if (n < 1)
    return error() << "the transform length is " << n;
  if (n > kMaxFoldedElements / std::max<int64_t>(length, 1))
    return error() << "a transform of length " << n << " over " << length
                   << " samples is too large to build as a matrix";
  auto out = applyDft(parts->first, parts->second, *resolved, n, inverse, onesided);
  if (failed(out))
    return failure();
  return setOutput(0, joinComplex(out->first, out->second));
}

LogicalResult NodeImporter::importSTFT() {
  if (failed(requireInputs(2)))
    return failure();
  Value signal = input(0);
  ArrayRef<int64_t> shape = shapeOf(signal);
  if (shape.size() != 3)
    return error() << "the signal must be [batch, length, 1 or 2], it is "
                   << signal.getType();
  auto step = constInts(1, "frame_step");
  if (failed(step))
    return failure();
  if (step->size() != 1 || step->front() < 1)
    return error() << "frame_step must be one positive integer";
  Value window = input(2);
  int64_t frameLength = window ? shapeOf(window)[0] : shape[1];
  if (window && shapeOf(window).size() != 1)
    return error() << "the window must be 1-D, it is " << window.getType();
  if (input(3)) {
    auto given = constInts(3, "frame_length");
    if (failed(given))
      return failure();
    if (given->size() != 1 || given->front() < 1)
      return error() << "frame_length must be one positive integer";
    if (window && given->front() != frameLength)
      return error() << "frame_length " << given->front()
                     << " differs from the window's length " << frameLength;
    frameLength = given->front();
  }
  const bool onesided = getInt("onesided", 1) != 0;
  if (frameLength > shape[1])
    return error() << "frame_length " << frameLength << " exceeds the signal length "
                   << shape[1];
  const int64_t frames = 1 + (shape[1] - frameLength) / step->front();
  auto parts = splitComplex(signal);
  if (failed(parts))
    return failure();
  if (onesided && parts->second)
    return error() << "onesided needs a real signal (last dim 1)";
  if (frames * frameLength > kMaxFoldedElements)
    return error() << frames << " frames of " << frameLength
                   << " samples are too many to index";
  // Frame f, sample t reads signal[f * step + t]: one gather along dim 1.
  SmallVector<int64_t> indices;
  for (int64_t f = 0; f < frames; ++f)
    for (int64_t t = 0; t < frameLength; ++t)
      indices.push_back(f * step->front() + t);
  Value index = constant(DenseElementsAttr::get(
      RankedTensorType::get({frames, frameLength}, b.getI64Type()),
      ArrayRef<int64_t>(indices)));
  auto frame = [&](Value part) -> FailureOr<Value> {
    if (!part)
      return Value();
    TRY(framed, inferred<mlir::pmc::GatherOp>(
                    {part, index}, {b.getNamedAttr("axis", b.getI64IntegerAttr(1))}));
    if (!window)
      return framed;
    if (elementOf(window) != elementOf(part))
      return error() << "the window is " << window.getType() << ", the signal "
                     << signal.getType();
    return inferred<mlir::pmc::MulOp>({framed, window});
  };
  TRY(real, frame(parts->first));
  auto imagOr = frame(parts->second);
  if (failed(imagOr))
    return failure();
  auto out = applyDft(real, *imagOr, 2, frameLength, /*inverse=*/false, onesided);
  if (failed(out))
    return failure();
  return setOutput(0, joinComplex(out->first, out->second));
}

FailureOr<Type> NodeImporter::outputDatatype() {
  int64_t onnxType = getInt("output_datatype", kOnnxFloat);
  Type type = convertElementType(*b.getContext(), onnxType);
  if (!type)
    return error() << "output_datatype " << onnxTypeName(onnxType)
                   << " is unsupported";
  return type;
}

LogicalResult NodeImporter::importWindow(StringRef opType) {
  if (failed(requireInputs(1)))
    return failure();
  auto size = constInts(0, "size");
  if (failed(size))
    return failure();
  if (size->size() != 1 || size->front() < 0 || size->front() > kMaxFoldedElements)
    return error() << "size must be one integer in [0, 2^24]";
  auto type = outputDatatype();
  if (failed(type))
    return failure();
  const int64_t n = size->front();
  // Periodic windows have period n, symmetric ones reach their end at n - 1.
  // The expressions are the reference's, operation for operation: an integer
  // output_datatype truncates, so 1 - 2^-53 and 1 must come out the same.
  const double period = getInt("periodic", 1) ? double(n) : double(n - 1);
  std::vector<double> values(n);
  for (int64_t i = 0; i < n; ++i) {
    double k = double(i);
    if (opType == "HannWindow") {
      double s = std::sin(k * M_PI / period);
      values[i] = s * s;
    } else if (opType == "HammingWindow") {
      const double alpha = 25.0 / 46.0;
      values[i] = alpha - std::cos(k * M_PI * 2 / period) * (1 - alpha);
    } else {
      double y = std::cos((k * (M_PI * 2)) / period) * -0.5;
      y += std::cos((k * (M_PI * 4)) / period) * 0.08;
      values[i] = y + 0.42;
    }
  }
  return setOutput(0, typedConstant({n}, values, *type));
}

FailureOr<Value> NodeImporter::typedConstant(ArrayRef<int64_t> shape,
                                             ArrayRef<double> values, Type type) {
  if (isa<FloatType>(type))
    return floatConstant(shape, values, type);
  auto intType = dyn_cast<IntegerType>(type);
  if (!intType)
    return error() << "cannot build a constant of " << type;
  SmallVector<APInt> ints;
  for (double v : values)
    ints.push_back(APInt(intType.getWidth(), (int64_t)v, /*isSigned=*/true,
                         /*implicitTrunc=*/true));
  return constant(DenseElementsAttr::get(RankedTensorType::get(shape, type), ints));
}

LogicalResult NodeImporter::importMelWeightMatrix() {
  if (failed(requireInputs(5)))
    return failure();
  auto bins = constInts(0, "num_mel_bins");
  auto dftLength = constInts(1, "dft_length");
  auto sampleRate = constInts(2, "sample_rate");
  auto lower = constAttr(3, "lower_edge_hertz");
  auto upper = constAttr(4, "upper_edge_hertz");
  if (failed(bins) || failed(dftLength) || failed(sampleRate) || failed(lower) ||
      failed(upper))
    return failure();
  if (bins->size() != 1 || dftLength->size() != 1 || sampleRate->size() != 1 ||
      lower->getNumElements() != 1 || upper->getNumElements() != 1 ||
      !isa<FloatType>(lower->getElementType()) || !isa<FloatType>(upper->getElementType()))
    return error() << "expects scalar inputs (three integers, two floats)";
  auto type = outputDatatype();
  if (failed(type))
    return failure();
  const int64_t melBins = bins->front(), n = dftLength->front(), rate = sampleRate->front();
  if (melBins < 1 || n < 1 || rate < 1)
    return error() << "num_mel_bins, dft_length and sample_rate must be positive";
  const int64_t spectrogramBins = n / 2 + 1;
  if (spectrogramBins * melBins > kMaxFoldedElements)
    return error() << "a " << spectrogramBins << "x" << melBins
                   << " matrix is too large to fold";
  // As onnx's reference: mel = 2595 log10(1 + hz / 700), edges spaced evenly
  // in mel, then mapped to DFT bins by floor((n + 1) * hz / rate).
  auto asDouble = [](DenseElementsAttr a) {
    return (*a.getValues<APFloat>().begin()).convertToDouble();
  };
  auto toMel = [](double hz) { return 2595 * std::log1p(hz / 700) / std::log(10.0); };
  double lowMel = toMel(asDouble(*lower)), highMel = toMel(asDouble(*upper));
  double melStep = (highMel - lowMel) / double(melBins + 2);
  std::vector<int64_t> edges(melBins + 2);
  for (int64_t i = 0; i < melBins + 2; ++i) {
    double hz = 700 * std::expm1((double(i) * melStep + lowMel) / 2595 * std::log(10.0));
    edges[i] = (int64_t)std::floor(double(n + 1) * hz / double(rate));
    if (edges[i] < 0 || edges[i] >= spectrogramBins + 1)
      return error() << "mel edge " << i << " falls on DFT bin " << edges[i]
                     << ", outside the " << spectrogramBins << " bins";
  }
  std::vector<double> values(spectrogramBins * melBins, 0);
  auto set = [&](int64_t bin, int64_t mel, double v) -> LogicalResult {
    if (bin >= spectrogramBins)
      return error() << "mel band " << mel << " reaches DFT bin " << bin
                     << ", outside the " << spectrogramBins << " bins";
    values[bin * melBins + mel] = v;
    return success();
  };
  for (int64_t i = 0; i < melBins; ++i) {
    int64_t left = edges[i], center = edges[i + 1], right = edges[i + 2];
    if (center == left) {
      if (failed(set(center, i, 1)))
        return failure();
    } else {
      for (int64_t j = left; j <= center; ++j)
        if (failed(set(j, i, double(j - left) / double(center - left))))
          return failure();
    }
    for (int64_t j = center; j < right; ++j)
      if (failed(set(j, i, double(right - j) / double(right - center))))
        return failure();
  }
  return setOutput(0, typedConstant({spectrogramBins, melBins}, values, *type));
}
