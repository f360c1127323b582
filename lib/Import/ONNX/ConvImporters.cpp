//===- ConvImporters.cpp - Convolutions, pooling and LRN --------------------===//
//
// Window operators: Conv, MaxPool, AveragePool, the global pools and LRN;
// auto_pad becomes explicit pads (`windowPads`). ConvTranspose is in
// ConvTransposeImporter.cpp.
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

void NodeImporter::registerConvImporters(OpImporterRegistry &r) {
  r.add("Conv", 1, [](NodeImporter &n) { return n.importConv(); });
  r.add("ConvTranspose", 1, [](NodeImporter &n) { return n.importConvTranspose(); });
  r.add("MaxPool", 1, [](NodeImporter &n) { return n.importPool(true); });
  r.add("AveragePool", 1, [](NodeImporter &n) { return n.importPool(false); });
  r.add("GlobalAveragePool", 1, [](NodeImporter &n) { return n.importGlobalPool(false); });
  r.add("GlobalMaxPool", 1, [](NodeImporter &n) { return n.importGlobalPool(true); });
  r.add("LpPool", 1, [](NodeImporter &n) { return n.importPool(false, /*lp=*/true); });
  r.add("LRN", 1, [](NodeImporter &n) { return n.importLRN(); });
}

FailureOr<SmallVector<int64_t>>
NodeImporter::windowPads(ArrayRef<int64_t> spatialIn, ArrayRef<int64_t> kernel,
                         ArrayRef<int64_t> strides, ArrayRef<int64_t> dilations) {
  size_t n = spatialIn.size();
  for (size_t i = 0; i < n; ++i)
    for (auto [what, v] : {std::pair<const char *, int64_t>{"kernel_shape", kernel[i]},
                           {"strides", strides[i]}, {"dilations", dilations[i]}})
      if (v < 1 || v > (int64_t(1) << 32))
        return error() << what << "[" << i << "] is " << v << ", expected 1 to 2^32";
  std::string autoPad = getString("auto_pad", "NOTSET");
  SmallVector<int64_t> pads(2 * n, 0);
  if (autoPad == "NOTSET") {
    if (auto given = getInts("pads")) {
      if (given->size() != 2 * n)
        return error() << "pads has " << given->size() << " entries, expected "
                       << 2 * n;
      pads = *given;
    }
    return pads;
  }
  if (autoPad == "VALID")
    return pads;
  if (autoPad != "SAME_UPPER" && autoPad != "SAME_LOWER")
    return error() << "auto_pad '" << autoPad << "' is invalid";
  for (size_t i = 0; i < n; ++i) {
    int64_t out = (spatialIn[i] + strides[i] - 1) / strides[i];
    int64_t span = dilations[i] * (kernel[i] - 1) + 1;
    int64_t total = std::max<int64_t>(0, (out - 1) * strides[i] + span - spatialIn[i]);
    int64_t small = total / 2, large = total - small;
    pads[i] = autoPad == "SAME_UPPER" ? small : large;
    pads[i + n] = autoPad == "SAME_UPPER" ? large : small;
  }
  return pads;
}

LogicalResult NodeImporter::importConv() {
  if (failed(requireInputs(2)))
    return failure();
  ArrayRef<int64_t> xShape = shapeOf(input(0)), wShape = shapeOf(input(1));
  if (xShape.size() < 3 || wShape.size() != xShape.size())
    return error() << "X and W must have the same rank >= 3";
  size_t n = xShape.size() - 2;
  SmallVector<int64_t> kernel =
      getInts("kernel_shape").value_or(SmallVector<int64_t>(wShape.drop_front(2)));
  if (ArrayRef<int64_t>(kernel) != wShape.drop_front(2))
    return error() << "kernel_shape [" << ArrayRef<int64_t>(kernel)
                   << "] differs from the weight's spatial dims ["
                   << wShape.drop_front(2) << "]";
  SmallVector<int64_t> strides = getInts("strides").value_or(SmallVector<int64_t>(n, 1));
  SmallVector<int64_t> dilations =
      getInts("dilations").value_or(SmallVector<int64_t>(n, 1));
  if (strides.size() != n || dilations.size() != n)
    return error() << "strides and dilations need " << n << " entries";
  auto pads = windowPads(xShape.drop_front(2), kernel, strides, dilations);
  if (failed(pads))
    return failure();
  SmallVector<Value> operands = {input(0), input(1)};
  if (input(2))
    operands.push_back(input(2));
  return setOutput(0, inferred<ConvOp>(
                          operands,
                          {b.getNamedAttr("strides", b.getDenseI64ArrayAttr(strides)),
                           b.getNamedAttr("pads", b.getDenseI64ArrayAttr(*pads)),
                           b.getNamedAttr("dilations", b.getDenseI64ArrayAttr(dilations)),
                           b.getNamedAttr("group", b.getI64IntegerAttr(getInt("group", 1)))}));
}

/// LpPool is (sum of |x|^p over the window)^(1/p): the sum is an average
/// pool of |x|^p that counts the (zero) pads, times the window size.
LogicalResult NodeImporter::importPool(bool max, bool lp) {
  if (failed(requireInputs(1)))
    return failure();
  if (max && node.output_size() > 1 && !node.output(1).empty())
    return error() << "the optional output 'Indices' is unsupported";
  // storage_order only orders the Indices output, which is refused above.
  if (max)
    acceptAttribute("storage_order");
  ArrayRef<int64_t> xShape = shapeOf(input(0));
  if (xShape.size() < 3)
    return error() << "X must have rank >= 3";
  size_t n = xShape.size() - 2;
  auto kernel = getInts("kernel_shape");
  if (!kernel || kernel->size() != n)
    return error() << "kernel_shape must have " << n << " entries";
  SmallVector<int64_t> strides = getInts("strides").value_or(SmallVector<int64_t>(n, 1));
  SmallVector<int64_t> dilations =
      getInts("dilations").value_or(SmallVector<int64_t>(n, 1));
  if (strides.size() != n || dilations.size() != n)
    return error() << "strides and dilations need " << n << " entries";
  auto pads = windowPads(xShape.drop_front(2), *kernel, strides, dilations);
  if (failed(pads))
    return failure();
  SmallVector<NamedAttribute> attrs = {
      b.getNamedAttr("kernel_shape", b.getDenseI64ArrayAttr(*kernel)),
      b.getNamedAttr("strides", b.getDenseI64ArrayAttr(strides)),
      b.getNamedAttr("pads", b.getDenseI64ArrayAttr(*pads)),
      b.getNamedAttr("dilations", b.getDenseI64ArrayAttr(dilations))};
  if (getInt("ceil_mode", 0))
    attrs.push_back(b.getNamedAttr("ceil_mode", b.getUnitAttr()));
  if (max)
    return setOutput(0, inferred<MaxPoolOp>(input(0), attrs));
  if (lp) {
    Value x = input(0);
    Type t = elementOf(x);
    if (!isa<FloatType>(t))
      return error() << "X must be a float tensor, got " << x.getType();
    int64_t p = getInt("p", 2);
    if (p <= 0)
      return error() << "p must be positive, got " << p;
    TRY(magnitude, unary(AbsOp::getOperationName(), x));
    Value powered = magnitude;
    for (int64_t i = 1; i < p; ++i) {
      TRY(next, inferred<MulOp>({powered, magnitude}));
      powered = next;
    }
    attrs.push_back(b.getNamedAttr("count_include_pad", b.getUnitAttr()));
    TRY(mean, inferred<AvgPoolOp>(powered, attrs));
    TRY(sum, inferred<MulOp>({mean, scalar(t, (double)product(*kernel))}));
    if (p == 1)
      return setOutput(0, sum);
    if (p == 2)
      return setOutput(0, unary(SqrtOp::getOperationName(), sum));
    return setOutput(0, inferred<PowOp>({sum, scalar(t, 1.0 / p)}));
  }
  if (getInt("count_include_pad", 0))
    attrs.push_back(b.getNamedAttr("count_include_pad", b.getUnitAttr()));
  return setOutput(0, inferred<AvgPoolOp>(input(0), attrs));
}

LogicalResult NodeImporter::importGlobalPool(bool max) {
  if (failed(requireInputs(1)))
    return failure();
  int64_t rank = shapeOf(input(0)).size();
  if (rank < 3)
    return error() << "X must have rank >= 3";
  SmallVector<int64_t> axes;
  for (int64_t d = 2; d < rank; ++d)
    axes.push_back(d);
  SmallVector<NamedAttribute> attrs = {
      b.getNamedAttr("axes", b.getDenseI64ArrayAttr(axes)),
      b.getNamedAttr("keepdims", b.getUnitAttr())};
  if (max)
    return setOutput(0, inferred<ReduceMaxOp>(input(0), attrs));
  return setOutput(0, inferred<ReduceMeanOp>(input(0), attrs));
}

/// LRN over channels (dim 1): y = x / (bias + alpha / size * s)^beta where s
/// sums x^2 over the window [c - floor((size-1)/2), c + ceil((size-1)/2)],
/// built as the sum of `size` shifted slices of the zero-padded squares.
LogicalResult NodeImporter::importLRN() {
  if (failed(requireInputs(1)))
    return failure();
  Value x = input(0);
  ArrayRef<int64_t> shape = shapeOf(x);
  int64_t rank = shape.size();
  if (!isa<FloatType>(elementOf(x)))
    return error() << "input must be a floating-point tensor";
  if (rank < 3)
    return error() << "input must have rank >= 3 (N x C x D1 ...), got rank " << rank;
  const onnx::AttributeProto *sizeAttr = attr("size");
  if (!sizeAttr || sizeAttr->i() < 1)
    return error() << "attribute 'size' is required and must be positive";
  int64_t size = sizeAttr->i();
  double alpha = getFloat("alpha", 1e-4f), beta = getFloat("beta", 0.75f),
         bias = getFloat("bias", 1.0f);
  // Only window positions that reach a channel contribute: the padding never
  // needs to exceed C - 1 on either side (a huge `size` stays cheap).
  int64_t channels = shape[1];
  int64_t before = std::min((size - 1) / 2, channels - 1);
  int64_t after = std::min(size - 1 - (size - 1) / 2, channels - 1);
  int64_t positions = before + after + 1;
  Type element = elementOf(x);
  TRY(squares, inferred<MulOp>({x, x}));
  SmallVector<int64_t> pads(2 * rank, 0);
  pads[1] = before;
  pads[rank + 1] = after;
  TRY(padded, inferred<PadOp>({squares, scalar(element, 0.0)},
                              {b.getNamedAttr("pads", b.getDenseI64ArrayAttr(pads)),
                               b.getNamedAttr("mode", b.getStringAttr("constant"))}));
  Value sum;
  for (int64_t k = 0; k < positions; ++k) {
    SmallVector<int64_t> starts(rank, 0), steps(rank, 1);
    starts[1] = k;
    TRY(window, typed<SliceOp>(RankedTensorType::get(shape, element), padded,
                               {b.getNamedAttr("starts", b.getDenseI64ArrayAttr(starts)),
                                b.getNamedAttr("steps", b.getDenseI64ArrayAttr(steps))}));
    if (!sum) {
      sum = window;
      continue;
    }
    TRY(next, inferred<AddOp>({sum, window}));
    sum = next;
  }
  TRY(scaled, inferred<MulOp>({sum, scalar(element, alpha / size)}));
  TRY(shifted, inferred<AddOp>({scaled, scalar(element, bias)}));
  TRY(denominator, inferred<PowOp>({shifted, scalar(element, beta)}));
  return setOutput(0, inferred<DivOp>({x, denominator}));
}
