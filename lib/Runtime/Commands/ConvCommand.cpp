//===- ConvCommand.cpp - N-d grouped convolution as im2col + GEMM ----------===//

#include "BuiltinCommands.h"
#include "CommandOperands.h"
#include "../BlasOps.h"
#include "../Json.h"

#include <algorithm>
#include <cstring>

namespace pmc::runtime {

namespace {

/// {"op": "conv", "x", "w", "bias" (or -1), "y", "strides", "pads",
/// "dilations", "group"}: ONNX Conv on layout N C spatial...; per batch and
/// group, y[Mg, P] = w[Mg, Cg*K] · im2col(x)[Cg*K, P] (+ bias).
class ConvCommand : public Command {
public:
  ConvCommand(const nlohmann::json &o, int index) : Command(index) {
    x = json::getId(o, "x", where());
    w = json::getId(o, "w", where());
    bias = json::getIdOr(o, "bias", -1, where());
    y = json::getId(o, "y", where());
    strides = json::getIntList(o, "strides", where());
    pads = json::getIntList(o, "pads", where());
    dilations = json::getIntList(o, "dilations", where());
    group = json::getIntOr(o, "group", 1, where());
  }
  std::string_view op() const override { return "conv"; }
  ConvOperands operands() const {
    return ConvOperands{x, w, bias, y, strides, pads, dilations, group};
  }
  std::vector<int> reads() const override {
    if (bias >= 0)
      return {x, w, bias};
    return {x, w};
  }
  std::vector<int> writes() const override { return {y}; }

  void validate(const ValidateContext &ctx) override {
    const BufferDesc &X = operand(ctx, x, "x");
    const BufferDesc &W = operand(ctx, w, "w");
    const BufferDesc &Y = operand(ctx, y, "y");
    if (X.dtype != DType::Float32 && X.dtype != DType::Float64 &&
        X.dtype != DType::Float16 && X.dtype != DType::BFloat16)
      fail("dtype " + std::string(dtypeName(X.dtype)) +
           " is not supported (float32, float64, float16 and bfloat16 only)");
    dtype = X.dtype;
    if (X.shape.size() < 3)
      fail("operand 'x' " + X.describe() + " must have rank >= 3 (N, C, spatial...)");
    size_t rank = X.shape.size() - 2;
    for (const BufferDesc *buf : {&W, &Y}) {
      if (buf->dtype != dtype)
        fail(buf->describe() + " has a different dtype than 'x' " + X.describe());
      if (buf->shape.size() != X.shape.size())
        fail(buf->describe() + " must have the rank of 'x' " + X.describe());
    }
    if (strides.empty())
      strides.assign(rank, 1);
    if (dilations.empty())
      dilations.assign(rank, 1);
    if (pads.empty())
      pads.assign(2 * rank, 0);
    if (strides.size() != rank)
      fail("'strides' " + listToString(strides) + " must have " + std::to_string(rank) +
           " entries");
    if (dilations.size() != rank)
      fail("'dilations' " + listToString(dilations) + " must have " +
           std::to_string(rank) + " entries");
    if (pads.size() != 2 * rank)
      fail("'pads' " + listToString(pads) + " must have " + std::to_string(2 * rank) +
           " entries (begins then ends)");
    for (size_t d = 0; d < rank; ++d) {
      if (strides[d] < 1 || dilations[d] < 1)
        fail("strides and dilations must be >= 1, got strides " + listToString(strides) +
             ", dilations " + listToString(dilations));
      if (pads[d] < 0 || pads[rank + d] < 0)
        fail("'pads' " + listToString(pads) + " must be non-negative");
      for (int64_t v : {strides[d], dilations[d], pads[d], pads[rank + d]})
        if (v > blas::kMaxDim)
          fail("strides, dilations and pads must be below 2^31");
    }
    batch = X.shape[0];
    channels = X.shape[1];
    filters = W.shape[0];
    if (group < 1 || channels % group || filters % group)
      fail("group " + std::to_string(group) + " must divide the channels of 'x' (" +
           std::to_string(channels) + ") and the filters of 'w' (" +
           std::to_string(filters) + ")");
    if (W.shape[1] * group != channels)
      fail("operand 'w' " + W.describe() + " must have " +
           std::to_string(channels / group) + " channels per filter (C/group)");
    geom.in.assign(X.shape.begin() + 2, X.shape.end());
    geom.kernel.assign(W.shape.begin() + 2, W.shape.end());
    geom.strides = strides;
    geom.dilations = dilations;
    geom.padsBegin.assign(pads.begin(), pads.begin() + rank);
    geom.out.clear();
    for (size_t d = 0; d < rank; ++d) {
      int64_t span = dilations[d] * (geom.kernel[d] - 1) + 1;
      int64_t padded = geom.in[d] + pads[d] + pads[rank + d];
      if (geom.kernel[d] < 1 || padded < span)
        fail("spatial dim " + std::to_string(d) + ": kernel " + W.describe() +
             " with dilation " + std::to_string(dilations[d]) +
             " does not fit the padded input (" + std::to_string(padded) + ")");
      geom.out.push_back((padded - span) / strides[d] + 1);
    }
    std::vector<int64_t> want = {batch, filters};
    want.insert(want.end(), geom.out.begin(), geom.out.end());
    if (Y.shape != want)
      fail("operand 'y' " + Y.describe() + " must have shape " + shapeToString(want));
    if (bias >= 0) {
      const BufferDesc &Bv = operand(ctx, bias, "bias");
      if (Bv.dtype != dtype || Bv.shape != std::vector<int64_t>{filters})
        fail("operand 'bias' " + Bv.describe() + " must be " +
             std::string(dtypeName(dtype)) + "[" + std::to_string(filters) + "]");
    }
    int64_t rows = (channels / group) * geom.kernelSize();
    for (int64_t v : {rows, geom.outSize(), filters})
      if (v > blas::kMaxDim)
        fail("a GEMM dimension exceeds the BLAS limit of 2^31-1");
    // A 1x1 kernel with unit strides and no padding needs no unfolding.
    direct = true;
    for (size_t d = 0; d < rank; ++d)
      direct = direct && geom.kernel[d] == 1 && strides[d] == 1 && pads[d] == 0 &&
               pads[rank + d] == 0;
    scratch = direct ? 0 : static_cast<size_t>(rows * geom.outSize()) * dtypeSize(dtype);
  }

  size_t scratchBytes() const override { return scratch; }

  void execute(const ExecContext &ctx) const override {
    const size_t elt = dtypeSize(dtype);
    const char *px = static_cast<const char *>(ctx.buffers[x]);
    const char *pw = static_cast<const char *>(ctx.buffers[w]);
    const char *pbias = bias >= 0 ? static_cast<const char *>(ctx.buffers[bias]) : nullptr;
    char *py = static_cast<char *>(ctx.buffers[y]);
    const int64_t cg = channels / group, mg = filters / group;
    const int64_t kSize = geom.kernelSize(), inSize = geom.inSize(), P = geom.outSize();
    const int64_t rows = cg * kSize;
    for (int64_t nIdx = 0; nIdx < batch; ++nIdx) {
      for (int64_t g = 0; g < group; ++g) {
        const char *xg = px + ((nIdx * channels + g * cg) * inSize) * elt;
        const char *wg = pw + (g * mg * rows) * elt;
        char *yg = py + ((nIdx * filters + g * mg) * P) * elt;
        const void *col = xg;
        if (!direct) {
          blas::im2col(dtype, geom, cg, xg, ctx.scratch);
          col = ctx.scratch;
        }
        // 16-bit types start from the bias and accumulate onto it in float,
        // so the output is rounded once.
        bool half = dtypeSize(dtype) == 2;
        if (half)
          fillBias(yg, pbias ? pbias + g * mg * elt : nullptr, mg, P);
        blas::gemm(dtype, false, false, mg, P, rows, wg, std::max<int64_t>(1, rows), col,
                   std::max<int64_t>(1, P), yg, std::max<int64_t>(1, P),
                   /*accumulate=*/half);
        if (pbias && !half)
          addBias(yg, pbias + g * mg * elt, mg, P);
      }
    }
  }

private:
  /// Sets each row m of the 16-bit yg[rowsOut, P] to b[m] (zero without a bias).
  static void fillBias(char *yg, const char *b, int64_t rowsOut, int64_t P) {
    for (int64_t m = 0; m < rowsOut; ++m) {
      uint16_t v = 0;
      if (b)
        std::memcpy(&v, b + 2 * m, 2);
      uint16_t *row = reinterpret_cast<uint16_t *>(yg) + m * P;
      std::fill(row, row + P, v);
    }
  }

  void addBias(char *yg, const char *b, int64_t rowsOut, int64_t P) const {
    for (int64_t m = 0; m < rowsOut; ++m) {
      if (dtype == DType::Float32) {
        float v = reinterpret_cast<const float *>(b)[m];
        float *row = reinterpret_cast<float *>(yg) + m * P;
        for (int64_t p = 0; p < P; ++p)
          row[p] += v;
      } else {
        double v = reinterpret_cast<const double *>(b)[m];
        double *row = reinterpret_cast<double *>(yg) + m * P;
        for (int64_t p = 0; p < P; ++p)
          row[p] += v;
      }
    }
  }

  int x = 0, w = 0, bias = -1, y = 0;
  std::vector<int64_t> strides, pads, dilations;
  int64_t group = 1;
  DType dtype = DType::Float32;
  int64_t batch = 0, channels = 0, filters = 0;
  blas::ConvGeometry geom;
  bool direct = false;
  size_t scratch = 0;
};

} // namespace

std::optional<ConvOperands> convOperands(const Command &command) {
  if (auto *conv = dynamic_cast<const ConvCommand *>(&command))
    return conv->operands();
  return std::nullopt;
}

std::unique_ptr<Command> makeConvCommand(const nlohmann::json &object, int index) {
  return std::make_unique<ConvCommand>(object, index);
}

} // namespace pmc::runtime
