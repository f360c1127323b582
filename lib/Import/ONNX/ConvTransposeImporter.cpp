//===- ConvTransposeImporter.cpp - ONNX ConvTranspose as a pmc.conv -------===//
//
// A transposed convolution is the convolution of the input with zeros inserted
// between its elements (stride - 1 per gap), padded by dilation * (k - 1) -
// pads (a negative pad crops), with the kernel flipped and its two channel
// dims swapped per group. Every step is exact data movement, so the result
// equals ONNX's definition, and the conv's sharding rule, lowering and library
// call serve it unchanged:
//
//   W [C, M/g, k..] -> reshape [g, C/g, M/g, k..] -> transpose [g, M/g, C/g, k..]
//     -> reshape [M, C/g, k..] -> flip k.. (slices of step -1)
//   X [N, C, d..] -> reshape [N, C, d, 1, ..] -> pad the 1s to s -> reshape
//     [N, C, d * s, ..] -> pad (begin, end - (s - 1)) -> pmc.conv (stride 1)
//
#include "ImporterImpl.h"

#include <numeric>

using namespace mlir;
using namespace mlir::pmc;
using namespace ::pmc::onnx_import;

/// The convolution kernel of a ConvTranspose weight W [C, F/g, k...]:
/// channels and filters swapped per group, spatial dims flipped.
FailureOr<Value> NodeImporter::convTransposeKernel(Value w, int64_t group,
                                                   ArrayRef<int64_t> kernel) {
  ArrayRef<int64_t> wShape = shapeOf(w);
  int64_t channels = wShape[0], filters = wShape[1] * group;
  int64_t n = kernel.size(), rank = n + 2;
  SmallVector<int64_t> grouped = {group, channels / group, filters / group};
  llvm::append_range(grouped, kernel);
  auto wg = reshape(w, grouped);
  if (failed(wg))
    return failure();
  SmallVector<int64_t> perm = {0, 2, 1};
  for (int64_t i = 0; i < n; ++i)
    perm.push_back(3 + i);
  auto swapped = inferred<TransposeOp>(*wg, {b.getNamedAttr("perm", b.getDenseI64ArrayAttr(perm))});
  if (failed(swapped))
    return failure();
  SmallVector<int64_t> convShape = {filters, channels / group};
  llvm::append_range(convShape, kernel);
  auto kernelValue = reshape(*swapped, convShape);
  if (failed(kernelValue))
    return failure();
  SmallVector<int64_t> starts(rank, 0), steps(rank, 1);
  for (int64_t i = 0; i < n; ++i) {
    starts[2 + i] = kernel[i] - 1;
    steps[2 + i] = -1;
  }
  return typed<SliceOp>(tensorType(*kernelValue), *kernelValue,
                        {b.getNamedAttr("starts", b.getDenseI64ArrayAttr(starts)),
                         b.getNamedAttr("steps", b.getDenseI64ArrayAttr(steps))});

}

/// `x` with stride - 1 `zero`s after every element of each spatial dim.
FailureOr<Value> NodeImporter::spreadInput(Value x, ArrayRef<int64_t> strides, Value zero) {
  ArrayRef<int64_t> xShape = shapeOf(x);
  int64_t n = strides.size(), channels = xShape[1];
  if (llvm::none_of(strides, [](int64_t s) { return s > 1; }))
    return x;
  SmallVector<int64_t> interleaved = {xShape[0], channels}, spreadShape = {xShape[0], channels};
  SmallVector<int64_t> gaps(2 * (2 + 2 * n), 0);
  for (int64_t i = 0; i < n; ++i) {
    interleaved.push_back(xShape[2 + i]);
    interleaved.push_back(1);
    gaps[2 + 2 * n + 3 + 2 * i] = strides[i] - 1; // end pad of the 1
    spreadShape.push_back(xShape[2 + i] * strides[i]);
  }
  // The zeros between the elements must not make a tensor beyond the
  // importer's element bound (kMaxTensorElements).
  int64_t elements = 1;
  for (int64_t d : spreadShape)
    if (d > 0 && (__builtin_mul_overflow(elements, d, &elements) || elements > kMaxTensorElements))
      return error() << "strides [" << strides << "] spread the input " << xShape
                     << " to more than 2^40 elements";
  auto split = reshape(x, interleaved);
  if (failed(split))
    return failure();
  auto padded = inferred<PadOp>({*split, zero},
                                {b.getNamedAttr("pads", b.getDenseI64ArrayAttr(gaps)),
                                 b.getNamedAttr("mode", b.getStringAttr("constant"))});
  if (failed(padded))
    return failure();
  auto merged = reshape(*padded, spreadShape);
  if (failed(merged))
    return failure();
  return *merged;
}

LogicalResult NodeImporter::importConvTranspose() {
  if (failed(requireInputs(2)))
    return failure();
  Value x = input(0), w = input(1);
  ArrayRef<int64_t> xShape = shapeOf(x), wShape = shapeOf(w);
  Type element = tensorType(x).getElementType();
  if (!isa<FloatType>(element))
    return error() << "X must be a floating-point tensor";
  if (xShape.size() < 3 || wShape.size() != xShape.size())
    return error() << "X and W must have the same rank >= 3";
  int64_t rank = xShape.size(), n = rank - 2;
  int64_t group = getInt("group", 1);
  int64_t channels = xShape[1];
  if (group < 1 || channels % group != 0 || wShape[0] != channels)
    return error() << "W's first dim (" << wShape[0] << ") must be the " << channels
                   << " input channels, and group (" << group << ") must divide them";
  SmallVector<int64_t> kernel(wShape.drop_front(2));
  if (auto given = getInts("kernel_shape"); given && ArrayRef<int64_t>(*given) != ArrayRef<int64_t>(kernel))
    return error() << "kernel_shape [" << ArrayRef<int64_t>(*given)
                   << "] differs from the weight's spatial dims [" << ArrayRef(kernel) << "]";
  auto listOr = [&](StringRef attrName, int64_t fill) -> FailureOr<SmallVector<int64_t>> {
    SmallVector<int64_t> v = getInts(attrName).value_or(SmallVector<int64_t>(n, fill));
    if ((int64_t)v.size() != n)
      return error() << attrName << " needs " << n << " entries";
    return v;
  };
  auto strides = listOr("strides", 1), dilations = listOr("dilations", 1),
       outputPadding = listOr("output_padding", 0);
  if (failed(strides) || failed(dilations) || failed(outputPadding))
    return failure();
  for (int64_t i = 0; i < n; ++i)
    if ((*strides)[i] < 1 || (*dilations)[i] < 1 || kernel[i] < 1 ||
        (*outputPadding)[i] < 0 || (*outputPadding)[i] >= std::max((*strides)[i], (*dilations)[i]))
      return error() << "spatial dim " << i << ": strides and dilations must be positive, "
                     << "output_padding in [0, max(stride, dilation))";
  // Bounds that keep the size formulas below inside int64 (a dim is at
  // most 2^40, kMaxTensorElements): stride x dim and dilation x kernel stay
  // below 2^60, and the sums of a few of them below 2^63.
  constexpr int64_t kMaxFactor = int64_t(1) << 20;
  for (int64_t i = 0; i < n; ++i)
    if ((*strides)[i] > kMaxFactor || (*dilations)[i] > kMaxFactor)
      return error() << "spatial dim " << i << ": strides and dilations above 2^20 are not "
                     << "supported (got " << (*strides)[i] << " and " << (*dilations)[i] << ")";
  auto outOfRange = [](ArrayRef<int64_t> values) {
    return llvm::any_of(values, [](int64_t v) {
      return v < -kMaxTensorElements || v > kMaxTensorElements;
    });
  };

  // pads: given, or from output_shape / auto_pad (ONNX's formulas).
  std::string autoPad = getString("auto_pad", "NOTSET");
  SmallVector<int64_t> pads(2 * n, 0);
  std::optional<SmallVector<int64_t>> outputShape = getInts("output_shape");
  if (outputShape && (int64_t)outputShape->size() == n + 2)
    outputShape = SmallVector<int64_t>(outputShape->begin() + 2, outputShape->end());
  if (outputShape && (int64_t)outputShape->size() != n)
    return error() << "output_shape needs " << n << " spatial entries";
  if (outputShape && outOfRange(*outputShape))
    return error() << "output_shape [" << ArrayRef<int64_t>(*outputShape)
                   << "] has an entry beyond 2^40";
  if (outputShape || autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
    for (int64_t i = 0; i < n; ++i) {
      int64_t in = xShape[2 + i], s = (*strides)[i];
      int64_t out = outputShape ? (*outputShape)[i] : in * s;
      // A negative total (an output_shape beyond the natural size) pads
      // the result; halves round down as in ONNX's reference.
      int64_t total = s * (in - 1) + (*outputPadding)[i] +
                      ((kernel[i] - 1) * (*dilations)[i] + 1) - out;
      int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2);
      bool upper = autoPad == "SAME_UPPER";
      pads[i] = upper ? half : total - half;
      pads[n + i] = upper ? total - half : half;
    }
  } else if (autoPad == "NOTSET") {
    if (auto given = getInts("pads")) {
      if ((int64_t)given->size() != 2 * n)
        return error() << "pads needs " << 2 * n << " entries";
      if (outOfRange(*given))
        return error() << "pads [" << ArrayRef<int64_t>(*given) << "] has an entry beyond 2^40";
      pads = *given;
    }
  } else if (autoPad != "VALID") {
    return error() << "auto_pad '" << autoPad << "' is not NOTSET, SAME_UPPER, SAME_LOWER "
                   << "or VALID";
  }

  FailureOr<Value> flipped = convTransposeKernel(w, group, kernel);
  if (failed(flipped))
    return failure();
  Value zero = scalar(element, 0.0);
  FailureOr<Value> spreadOrFailure = spreadInput(x, *strides, zero);
  if (failed(spreadOrFailure))
    return failure();
  Value spread = *spreadOrFailure;
  // Padding of the equivalent convolution (negative: a crop), less the
  // zeros after the last element.
  SmallVector<int64_t> convPads(2 * rank, 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t reach = (*dilations)[i] * (kernel[i] - 1);
    convPads[2 + i] = reach - pads[i];
    convPads[rank + 2 + i] = reach - pads[n + i] + (*outputPadding)[i] - ((*strides)[i] - 1);
  }
  Value convInput = spread;
  if (llvm::any_of(convPads, [](int64_t p) { return p != 0; })) {
    auto padded = inferred<PadOp>({spread, zero},
                                  {b.getNamedAttr("pads", b.getDenseI64ArrayAttr(convPads)),
                                   b.getNamedAttr("mode", b.getStringAttr("constant"))});
    if (failed(padded))
      return failure();
    convInput = *padded;
  }
  for (int64_t i = 0; i < n; ++i)
    if (shapeOf(convInput)[2 + i] < (*dilations)[i] * (kernel[i] - 1) + 1)
      return error() << "the padding leaves spatial dim " << i << " empty";
  SmallVector<Value> operands = {convInput, *flipped};
  if (input(2))
    operands.push_back(input(2));
  return setOutput(0, inferred<ConvOp>(
                          operands,
                          {b.getNamedAttr("strides", b.getDenseI64ArrayAttr(SmallVector<int64_t>(n, 1))),
                           b.getNamedAttr("pads", b.getDenseI64ArrayAttr(SmallVector<int64_t>(2 * n, 0))),
                           b.getNamedAttr("dilations", b.getDenseI64ArrayAttr(*dilations)),
                           b.getNamedAttr("group", b.getI64IntegerAttr(group))}));
}
