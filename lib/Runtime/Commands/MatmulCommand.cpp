//===- MatmulCommand.cpp - batched, broadcasting GEMM through BLAS ---------===//

#include "BuiltinCommands.h"
#include "CommandOperands.h"
#include "../BlasOps.h"
#include "../Json.h"

namespace pmc::runtime {

namespace {

/// {"op": "matmul", "a": id, "b": id, "c": id, "trans_a": bool, "trans_b": bool,
///  "bias": id (optional), "activation": "none" | "relu" | "gelu" | "gelu_tanh"
///  (optional)}: c = act(op(a) · op(b) + bias), leading dims broadcast as in
/// numpy, the bias ([n] or [1, ..., 1, n]) along c's last dim. float16 and
/// bfloat16 accumulate in float (blas::gemm); the epilogue reads the rounded
/// product, computes in float and rounds once (blas::epilogue).
class MatmulCommand : public Command {
public:
  MatmulCommand(const nlohmann::json &o, int index) : Command(index) {
    a = json::getId(o, "a", where());
    b = json::getId(o, "b", where());
    c = json::getId(o, "c", where());
    transA = json::getBoolOr(o, "trans_a", false, where());
    transB = json::getBoolOr(o, "trans_b", false, where());
    bias = json::getIdOr(o, "bias", -1, where());
    std::string name = o.contains("activation") ? json::getString(o, "activation", where())
                                                : std::string("none");
    if (!blas::parseActivation(name, activation))
      fail("unknown activation '" + name + "' (none, relu, gelu or gelu_tanh)");
    activationName = name;
  }
  MatmulOperands operands() const {
    return MatmulOperands{a, b, c, bias, transA, transB, activationName};
  }
  std::string_view op() const override { return "matmul"; }
  std::vector<int> reads() const override {
    if (bias >= 0)
      return {a, b, bias};
    return {a, b};
  }
  std::vector<int> writes() const override { return {c}; }

  void validate(const ValidateContext &ctx) override {
    const BufferDesc &A = operand(ctx, a, "a");
    const BufferDesc &B = operand(ctx, b, "b");
    const BufferDesc &C = operand(ctx, c, "c");
    using Named = std::pair<const char *, const BufferDesc *>;
    for (const auto &[name, buf] : {Named{"a", &A}, Named{"b", &B}, Named{"c", &C}}) {
      if (buf->shape.size() < 2)
        fail("operand '" + std::string(name) + "' " + buf->describe() +
             " must have rank >= 2");
      if (buf->dtype != A.dtype)
        fail("operand '" + std::string(name) + "' " + buf->describe() +
             " has a different dtype than 'a' " + A.describe());
    }
    if (A.dtype != DType::Float32 && A.dtype != DType::Float64 &&
        A.dtype != DType::Float16 && A.dtype != DType::BFloat16)
      fail("dtype " + std::string(dtypeName(A.dtype)) +
           " is not supported (float32, float64, float16 and bfloat16 only)");
    dtype = A.dtype;
    size_t ra = A.shape.size(), rb = B.shape.size(), rc = C.shape.size();
    int64_t a0 = A.shape[ra - 2], a1 = A.shape[ra - 1];
    int64_t b0 = B.shape[rb - 2], b1 = B.shape[rb - 1];
    m = transA ? a1 : a0;
    k = transA ? a0 : a1;
    int64_t kb = transB ? b1 : b0;
    n = transB ? b0 : b1;
    if (k != kb)
      fail("contraction sizes differ: op(a) of " + A.describe() + " is " +
           std::to_string(m) + "x" + std::to_string(k) + ", op(b) of " + B.describe() +
           " is " + std::to_string(kb) + "x" + std::to_string(n));
    if (C.shape[rc - 2] != m || C.shape[rc - 1] != n)
      fail("operand 'c' " + C.describe() + " must end in " + std::to_string(m) + "x" +
           std::to_string(n));
    for (int64_t v : {m, n, k, a1, b1})
      if (v > blas::kMaxDim)
        fail("a dimension exceeds the BLAS limit of 2^31-1");
    lda = std::max<int64_t>(1, a1);
    ldb = std::max<int64_t>(1, b1);
    ldc = std::max<int64_t>(1, n);
    if (bias >= 0) {
      const BufferDesc &Bias = operand(ctx, bias, "bias");
      if (Bias.dtype != A.dtype)
        fail("operand 'bias' " + Bias.describe() + " has a different dtype than 'a' " +
             A.describe());
      bool lastDim = !Bias.shape.empty() && Bias.shape.size() <= rc && Bias.shape.back() == n;
      for (size_t d = 0; lastDim && d + 1 < Bias.shape.size(); ++d)
        lastDim = Bias.shape[d] == 1;
      if (!lastDim)
        fail("operand 'bias' " + Bias.describe() + " must have shape [" + std::to_string(n) +
             "] or [1, ..., 1, " + std::to_string(n) + "] (the last dim of 'c' " +
             C.describe() + ")");
    }

    // Batch dims: a's and b's broadcast (right-aligned) must equal c's.
    std::vector<int64_t> ba(A.shape.begin(), A.shape.end() - 2);
    std::vector<int64_t> bb(B.shape.begin(), B.shape.end() - 2);
    std::vector<int64_t> bc(C.shape.begin(), C.shape.end() - 2);
    size_t nb = std::max(ba.size(), bb.size());
    if (bc.size() != nb)
      fail("operand 'c' " + C.describe() + " has " + std::to_string(bc.size()) +
           " batch dims, expected " + std::to_string(nb) + " (from 'a' " +
           A.describe() + " and 'b' " + B.describe() + ")");
    ba.insert(ba.begin(), nb - ba.size(), 1);
    bb.insert(bb.begin(), nb - bb.size(), 1);
    for (size_t d = 0; d < nb; ++d) {
      if (ba[d] != bb[d] && ba[d] != 1 && bb[d] != 1)
        fail("batch dim " + std::to_string(d) + " of 'a' " + A.describe() + " and 'b' " +
             B.describe() + " do not broadcast (" + std::to_string(ba[d]) + " vs " +
             std::to_string(bb[d]) + ")");
      int64_t want = ba[d] == 1 ? bb[d] : ba[d];
      if (bc[d] != want)
        fail("batch dim " + std::to_string(d) + " of 'c' " + C.describe() + " is " +
             std::to_string(bc[d]) + ", expected " + std::to_string(want));
    }
    // Element offsets of a and b for each batch of c (row-major order).
    int64_t batches = 1, batchA = 1, batchB = 1;
    for (size_t d = 0; d < nb; ++d) {
      batches *= bc[d];
      batchA *= ba[d];
      batchB *= bb[d];
    }
    offsetsA.assign(batches, 0);
    offsetsB.assign(batches, 0);
    std::vector<int64_t> idx(nb, 0);
    for (int64_t i = 0; i < batches; ++i) {
      int64_t oa = 0, ob = 0;
      for (size_t d = 0; d < nb; ++d) {
        oa = oa * ba[d] + (ba[d] == 1 ? 0 : idx[d]);
        ob = ob * bb[d] + (bb[d] == 1 ? 0 : idx[d]);
      }
      offsetsA[i] = oa * a0 * a1;
      offsetsB[i] = ob * b0 * b1;
      for (int64_t d = static_cast<int64_t>(nb) - 1; d >= 0; --d) {
        if (++idx[d] < bc[d])
          break;
        idx[d] = 0;
      }
    }
    // A shared b and a plain, unbroadcast a fold the batch into the rows:
    // one [batches*m, k] x [k, n] GEMM.
    folded = !transA && batchB == 1 && batchA == batches && batches > 1 &&
             batches * m <= blas::kMaxDim;
  }

  void execute(const ExecContext &ctx) const override {
    const char *pa = static_cast<const char *>(ctx.buffers[a]);
    const char *pb = static_cast<const char *>(ctx.buffers[b]);
    char *pc = static_cast<char *>(ctx.buffers[c]);
    size_t elt = dtypeSize(dtype);
    if (folded) {
      blas::gemm(dtype, false, transB, m * offsetsA.size(), n, k, pa, lda, pb, ldb, pc,
                 ldc);
    } else {
      for (size_t i = 0; i < offsetsA.size(); ++i)
        blas::gemm(dtype, transA, transB, m, n, k, pa + offsetsA[i] * elt, lda,
                   pb + offsetsB[i] * elt, ldb, pc + i * m * n * elt, ldc);
    }
    // c is dense: every batch's rows, n apart.
    const void *pbias = bias >= 0 ? ctx.buffers[bias] : nullptr;
    blas::epilogue(dtype, m * static_cast<int64_t>(offsetsA.size()), n, pbias, activation,
                   pc);
  }

private:
  int a = 0, b = 0, c = 0, bias = -1;
  blas::Activation activation = blas::Activation::None;
  std::string activationName;
  bool transA = false, transB = false;
  DType dtype = DType::Float32;
  int64_t m = 0, n = 0, k = 0, lda = 1, ldb = 1, ldc = 1;
  std::vector<int64_t> offsetsA, offsetsB;
  bool folded = false;
};

} // namespace

std::optional<MatmulOperands> matmulOperands(const Command &command) {
  if (auto *matmul = dynamic_cast<const MatmulCommand *>(&command))
    return matmul->operands();
  return std::nullopt;
}

std::unique_ptr<Command> makeMatmulCommand(const nlohmann::json &object, int index) {
  return std::make_unique<MatmulCommand>(object, index);
}

} // namespace pmc::runtime
