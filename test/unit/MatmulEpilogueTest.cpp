//===- MatmulEpilogueTest.cpp - matmul commands with bias and activation ---===//
//
// The CPU runtime's matmul epilogue (bundle.md, "matmul": `bias`,
// `activation`) against a reference computed in double from the same
// (rounded) inputs, for every float dtype, batched and transposed operands.
//
#include "TestUtil.h"
#include "pmc/Runtime/Session.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace pmc;
using namespace pmc::test;
using runtime::RuntimeError;
using runtime::Session;

namespace {

json buffer(int id, DType dtype, const std::vector<int64_t> &shape, const std::string &kind) {
  return {{"id", id}, {"dtype", std::string(dtypeName(dtype))}, {"shape", shape}, {"kind", kind}};
}
json inputBuffer(int id, DType dtype, const std::vector<int64_t> &shape, int input) {
  json b = buffer(id, dtype, shape, "input");
  b["input"] = input;
  return b;
}

/// Random values in [-2, 2) of any float dtype (16-bit types rounded).
HostTensor randomOf(DType dtype, const std::vector<int64_t> &shape, unsigned seed) {
  HostTensor f = randomTensor(DType::Float32, shape, seed);
  std::vector<float> v(f.numElements());
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = 2.0f * static_cast<float>(valueAt(f, i));
  HostTensor t;
  t.dtype = dtype;
  t.shape = shape;
  t.data.resize(t.numBytes());
  if (dtype == DType::Float64) {
    for (size_t i = 0; i < v.size(); ++i)
      reinterpret_cast<double *>(t.data.data())[i] = v[i];
  } else {
    fromFloat32(dtype, v.data(), t.data.data(), v.size());
  }
  return t;
}

/// Element i of a tensor of any float dtype.
double at(const HostTensor &t, int64_t i) {
  if (t.dtype == DType::Float32 || t.dtype == DType::Float64)
    return valueAt(t, i);
  float f;
  toFloat32(t.dtype, t.data.data() + i * dtypeSize(t.dtype), &f, 1);
  return f;
}

double activate(const std::string &act, double x) {
  if (act == "relu")
    return x > 0 ? x : 0;
  if (act == "gelu")
    return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
  if (act == "gelu_tanh")
    return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
  return x;
}

struct EpilogueCase {
  DType dtype;
  /// a is [batch, m, k] (or [batch, k, m] with ta; batch 0: rank 2), b [k, n]
  /// (or [n, k] with tb; batchB: [batch, ...]).
  int64_t batch, m, k, n;
  bool ta, tb, batchB;
  std::vector<int64_t> bias; // empty: none
  std::string activation;
};

std::vector<int64_t> withBatch(int64_t batch, std::vector<int64_t> shape) {
  if (batch > 0)
    shape.insert(shape.begin(), batch);
  return shape;
}

class MatmulEpilogue : public ::testing::TestWithParam<EpilogueCase> {};

TEST_P(MatmulEpilogue, MatchesReference) {
  const EpilogueCase &c = GetParam();
  TempDir dir;
  std::string d(dtypeName(c.dtype));
  int64_t batches = std::max<int64_t>(1, c.batch);
  std::vector<int64_t> sa = withBatch(c.batch, c.ta ? std::vector<int64_t>{c.k, c.m}
                                                    : std::vector<int64_t>{c.m, c.k});
  std::vector<int64_t> sb = withBatch(c.batchB ? c.batch : 0,
                                      c.tb ? std::vector<int64_t>{c.n, c.k}
                                           : std::vector<int64_t>{c.k, c.n});
  std::vector<int64_t> sc = withBatch(c.batch, {c.m, c.n});
  json inputs = {spec("a", d, sa), spec("b", d, sb)};
  json buffers = {inputBuffer(0, c.dtype, sa, 0), inputBuffer(1, c.dtype, sb, 1),
                  buffer(2, c.dtype, sc, "temp")};
  json command = {{"op", "matmul"}, {"a", 0}, {"b", 1}, {"c", 2},
                  {"trans_a", c.ta}, {"trans_b", c.tb}};
  if (!c.bias.empty()) {
    inputs.push_back(spec("bias", d, c.bias));
    buffers.push_back(inputBuffer(3, c.dtype, c.bias, 2));
    command["bias"] = 3;
  }
  if (!c.activation.empty())
    command["activation"] = c.activation;
  json p = {{"rank", 0},
            {"buffers", buffers},
            {"commands", json::array({command})},
            {"outputs", json::array({2})}};
  auto s = Session::open(writeBundle(dir, "e.pmc", manifest(inputs, {spec("c", d, sc)}, false), p));
  HostTensor a = randomOf(c.dtype, sa, 1), b = randomOf(c.dtype, sb, 2),
             bias = randomOf(c.dtype, c.bias.empty() ? std::vector<int64_t>{1} : c.bias, 3);
  std::vector<std::pair<std::string, HostTensor>> feeds = {{"a", a}, {"b", b}};
  if (!c.bias.empty())
    feeds.push_back({"bias", bias});
  auto out = s->run(std::map<std::string, HostTensor>(feeds.begin(), feeds.end()));
  const HostTensor &got = out[0].second;
  ASSERT_EQ(got.shape, sc);
  // 16-bit: the product is rounded before the epilogue and the result after.
  double tol = c.dtype == DType::Float64 ? 1e-12
               : c.dtype == DType::Float32 ? 1e-5
               : c.dtype == DType::BFloat16 ? 0.1 : 0.02;
  for (int64_t bt = 0; bt < batches; ++bt)
    for (int64_t i = 0; i < c.m; ++i)
      for (int64_t j = 0; j < c.n; ++j) {
        double acc = 0;
        int64_t oa = bt * c.m * c.k, ob = c.batchB ? bt * c.k * c.n : 0;
        for (int64_t x = 0; x < c.k; ++x)
          acc += at(a, oa + (c.ta ? x * c.m + i : i * c.k + x)) *
                 at(b, ob + (c.tb ? j * c.k + x : x * c.n + j));
        if (!c.bias.empty())
          acc += at(bias, j);
        double want = activate(c.activation, acc);
        int64_t e = (bt * c.m + i) * c.n + j;
        ASSERT_NEAR(at(got, e), want, tol * std::max(1.0, std::abs(want)))
            << "batch " << bt << " row " << i << " col " << j;
      }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, MatmulEpilogue,
    ::testing::Values(
        EpilogueCase{DType::Float32, 0, 4, 16, 8, false, false, false, {8}, ""},
        EpilogueCase{DType::Float32, 0, 4, 16, 8, false, false, false, {}, "relu"},
        // Folded batch (a shared weight), a [1, n] bias.
        EpilogueCase{DType::Float32, 3, 5, 16, 8, false, false, false, {1, 8}, "relu"},
        // One GEMM per batch.
        EpilogueCase{DType::Float32, 2, 3, 7, 6, false, false, true, {6}, "gelu"},
        EpilogueCase{DType::Float32, 2, 3, 7, 6, true, true, true, {1, 1, 6}, "gelu_tanh"},
        EpilogueCase{DType::Float32, 0, 4, 16, 8, false, true, false, {}, "gelu_tanh"},
        EpilogueCase{DType::Float64, 0, 3, 5, 4, false, false, false, {4}, "gelu"},
        EpilogueCase{DType::BFloat16, 0, 4, 16, 8, false, false, false, {8}, "gelu"},
        EpilogueCase{DType::BFloat16, 2, 4, 16, 8, false, true, false, {8}, "relu"},
        EpilogueCase{DType::Float16, 2, 4, 16, 8, false, false, false, {8}, "gelu_tanh"},
        EpilogueCase{DType::Float16, 0, 4, 16, 8, false, false, false, {8}, ""}));

/// Opens a [4, 16] x [16, 8] matmul bundle with `bias` / `activation`
/// changed and expects the error `needle`.
void expectRejected(const json &biasBuffer, const json &activation, const std::string &needle) {
  TempDir dir;
  json buffers = {inputBuffer(0, DType::Float32, {4, 16}, 0),
                  inputBuffer(1, DType::Float32, {16, 8}, 1),
                  buffer(2, DType::Float32, {4, 8}, "temp"), biasBuffer};
  json command = {{"op", "matmul"}, {"a", 0}, {"b", 1}, {"c", 2}, {"bias", 3}};
  if (!activation.is_null())
    command["activation"] = activation;
  json p = {{"rank", 0},
            {"buffers", buffers},
            {"commands", json::array({command})},
            {"outputs", json::array({2})}};
  json m = manifest({spec("a", "float32", {4, 16}), spec("b", "float32", {16, 8})},
                    {spec("c", "float32", {4, 8})}, false);
  std::string path = writeBundle(dir, "bad.pmc", m, p);
  try {
    Session::open(path);
    FAIL() << "expected RuntimeError containing '" << needle << "'";
  } catch (const RuntimeError &e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(MatmulEpilogue, RejectsBadBiasAndActivation) {
  expectRejected(buffer(3, DType::Float32, {4, 8}, "temp"), nullptr,
                 "command 0 (matmul): operand 'bias' buffer 3");
  expectRejected(buffer(3, DType::Float32, {4, 8}, "temp"), nullptr,
                 "must have shape [8] or [1, ..., 1, 8] (the last dim of 'c'");
  expectRejected(buffer(3, DType::Float32, {4}, "temp"), nullptr, "must have shape [8]");
  expectRejected(buffer(3, DType::Float64, {8}, "temp"), nullptr,
                 "has a different dtype than 'a'");
  expectRejected(buffer(3, DType::Float32, {8}, "temp"), "swish",
                 "command 0 (matmul): unknown activation 'swish' (none, relu, gelu or gelu_tanh)");
}

} // namespace
