//===- RuntimeTest.cpp - running hand-built bundles end to end -------------===//

#include "TestUtil.h"
#include "pmc/Runtime/RankProgram.h"
#include "pmc/Runtime/Session.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace pmc;
using namespace pmc::test;
using runtime::FeedError;
using runtime::Session;

namespace {

const char *kKernels = R"(
void add_f32_8(void **a) {
  const float *x = a[0], *y = a[1]; float *z = a[2];
  for (int i = 0; i < 8; ++i) z[i] = x[i] + y[i];
}
void scale2_f32_256(void **a) {
  const float *x = a[0]; float *y = a[1];
  for (int i = 0; i < 256; ++i) y[i] = 2.0f * x[i];
}
)";

json buffer(int id, const std::string &dtype, const std::vector<int64_t> &shape,
            const std::string &kind) {
  return {{"id", id}, {"dtype", dtype}, {"shape", shape}, {"kind", kind}};
}
json inputBuffer(int id, const std::string &dtype, const std::vector<int64_t> &shape,
                 int input) {
  json b = buffer(id, dtype, shape, "input");
  b["input"] = input;
  return b;
}

HostTensor floats(const std::vector<int64_t> &shape, std::vector<float> values) {
  HostTensor t;
  t.dtype = DType::Float32;
  t.shape = shape;
  t.data.resize(values.size() * 4);
  std::memcpy(t.data.data(), values.data(), t.data.size());
  return t;
}

std::string dt(DType d) { return std::string(dtypeName(d)); }

/// Naive reference: c = op(a) op(b) with numpy batch broadcasting.
HostTensor referenceMatmul(const HostTensor &a, const HostTensor &b, bool ta, bool tb,
                           const std::vector<int64_t> &cShape) {
  HostTensor c;
  c.dtype = a.dtype;
  c.shape = cShape;
  c.data.assign(c.numBytes(), 0);
  size_t rc = cShape.size(), ra = a.shape.size(), rb = b.shape.size();
  int64_t M = cShape[rc - 2], N = cShape[rc - 1];
  int64_t K = ta ? a.shape[ra - 2] : a.shape[ra - 1];
  int64_t batches = c.numElements() / std::max<int64_t>(1, M * N);
  for (int64_t bi = 0; bi < batches; ++bi) {
    // Unravel bi over c's batch dims, then map into a's and b's.
    std::vector<int64_t> idx(rc - 2);
    int64_t rem = bi;
    for (int64_t d = static_cast<int64_t>(rc) - 3; d >= 0; --d) {
      idx[d] = rem % cShape[d];
      rem /= cShape[d];
    }
    auto offset = [&](const HostTensor &t) {
      size_t r = t.shape.size();
      int64_t off = 0;
      for (size_t d = 0; d + 2 < r; ++d) {
        int64_t cd = idx[d + (rc - r)];
        off = off * t.shape[d] + (t.shape[d] == 1 ? 0 : cd);
      }
      return off * t.shape[r - 2] * t.shape[r - 1];
    };
    int64_t oa = offset(a), ob = offset(b);
    int64_t a1 = a.shape[ra - 1], b1 = b.shape[rb - 1];
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        double s = 0;
        for (int64_t k = 0; k < K; ++k) {
          double av = valueAt(a, oa + (ta ? k * a1 + m : m * a1 + k));
          double bv = valueAt(b, ob + (tb ? n * b1 + k : k * b1 + n));
          s += av * bv;
        }
        setValue(c, bi * M * N + m * N + n, s);
      }
  }
  return c;
}

struct ConvCase {
  std::vector<int64_t> x, w, strides, pads, dilations;
  int64_t group;
  bool bias;
  DType dtype = DType::Float32;
};

std::vector<int64_t> convOutShape(const ConvCase &c) {
  size_t r = c.x.size() - 2;
  std::vector<int64_t> y = {c.x[0], c.w[0]};
  for (size_t d = 0; d < r; ++d) {
    int64_t span = c.dilations[d] * (c.w[d + 2] - 1) + 1;
    y.push_back((c.x[d + 2] + c.pads[d] + c.pads[r + d] - span) / c.strides[d] + 1);
  }
  return y;
}

/// Naive N-d grouped convolution (ONNX Conv semantics).
HostTensor referenceConv(const ConvCase &c, const HostTensor &x, const HostTensor &w,
                         const HostTensor *bias) {
  HostTensor y;
  y.dtype = x.dtype;
  y.shape = convOutShape(c);
  y.data.assign(y.numBytes(), 0);
  size_t r = c.x.size() - 2;
  int64_t C = c.x[1], M = c.w[0], cg = C / c.group, mg = M / c.group;
  int64_t outSize = 1, kSize = 1, inSize = 1;
  for (size_t d = 0; d < r; ++d) {
    outSize *= y.shape[d + 2];
    kSize *= c.w[d + 2];
    inSize *= c.x[d + 2];
  }
  std::vector<int64_t> o(r), k(r);
  for (int64_t n = 0; n < c.x[0]; ++n)
    for (int64_t m = 0; m < M; ++m) {
      int64_t g = m / mg;
      for (int64_t op = 0; op < outSize; ++op) {
        int64_t rem = op;
        for (int64_t d = r - 1; d >= 0; --d) {
          o[d] = rem % y.shape[d + 2];
          rem /= y.shape[d + 2];
        }
        double s = bias ? valueAt(*bias, m) : 0.0;
        for (int64_t ci = 0; ci < cg; ++ci)
          for (int64_t kp = 0; kp < kSize; ++kp) {
            int64_t kr = kp;
            for (int64_t d = r - 1; d >= 0; --d) {
              k[d] = kr % c.w[d + 2];
              kr /= c.w[d + 2];
            }
            int64_t xi = 0;
            bool inside = true;
            for (size_t d = 0; d < r; ++d) {
              int64_t i = o[d] * c.strides[d] - c.pads[d] + k[d] * c.dilations[d];
              inside = inside && i >= 0 && i < c.x[d + 2];
              xi = xi * c.x[d + 2] + i;
            }
            if (!inside)
              continue;
            double xv = valueAt(x, (n * C + g * cg + ci) * inSize + xi);
            double wv = valueAt(w, (m * cg + ci) * kSize + kp);
            s += xv * wv;
          }
        setValue(y, (n * M + m) * outSize + op, s);
      }
    }
  return y;
}

void expectClose(const HostTensor &got, const HostTensor &want, double tol) {
  ASSERT_EQ(got.dtype, want.dtype);
  ASSERT_EQ(got.shape, want.shape);
  for (int64_t i = 0; i < want.numElements(); ++i)
    ASSERT_NEAR(valueAt(got, i), valueAt(want, i), tol) << "element " << i;
}

} // namespace

TEST(Runtime, RunsAKernelFromTheBundle) {
  TempDir dir;
  std::string lib = compileKernelLibrary(dir, kKernels);
  json m = manifest({spec("x", "float32", {8}), spec("y", "float32", {8})},
                    {spec("z", "float32", {8})});
  json p = {{"rank", 0},
            {"buffers", {inputBuffer(0, "float32", {8}, 0), inputBuffer(1, "float32", {8}, 1),
                         buffer(2, "float32", {8}, "temp")}},
            {"commands", json::array({{{"op", "kernel"}, {"symbol", "add_f32_8"}, {"inputs", {0, 1}},
                           {"outputs", json::array({2})}}})},
            {"outputs", json::array({2})}};
  auto s = Session::open(writeBundle(dir, "add.pmc", m, p, lib));
  ASSERT_EQ(s->inputs().size(), 2u);
  EXPECT_EQ(s->inputs()[1].toString(), "y: float32[8]");
  EXPECT_EQ(s->outputs()[0].name, "z");
  HostTensor x = floats({8}, {1, 2, 3, 4, 5, 6, 7, 8});
  HostTensor y = floats({8}, {10, 20, 30, 40, 50, 60, 70, 80});
  for (int rep = 0; rep < 2; ++rep) {
    runtime::NamedOutputs out = s->run({{"x", x}, {"y", y}});
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].first, "z");
    for (int i = 0; i < 8; ++i)
      EXPECT_FLOAT_EQ(valueAt(out[0].second, i), 11.0 * (i + 1));
  }
  // A misaligned borrowed feed is staged, not rejected.
  std::vector<char> raw(8 * 4 + 4);
  std::memcpy(raw.data() + 4, x.data.data(), 32);
  runtime::TensorRef xr{DType::Float32, {8}, raw.data() + 4, 32};
  runtime::TensorRef yr{DType::Float32, {8}, y.data.data(), 32};
  runtime::NamedOutputs out = s->run(std::map<std::string, runtime::TensorRef>{{"x", xr}, {"y", yr}});
  EXPECT_FLOAT_EQ(valueAt(out[0].second, 7), 88.0);
}

TEST(Runtime, WeightsViewsCopiesAndInputOutputs) {
  TempDir dir;
  std::string lib = compileKernelLibrary(dir, kKernels);
  HostTensor w = floats({2, 4}, {1, 1, 1, 1, 2, 2, 2, 2});
  json m = manifest({spec("x", "float32", {8})},
                    {spec("z", "float32", {2, 4}), spec("echo", "float32", {8}),
                     spec("w", "float32", {8})});
  json wb = buffer(1, "float32", {2, 4}, "weight");
  wb["section"] = "w/0";
  json view = buffer(2, "float32", {8}, "view");
  view["of"] = 1;
  json zview = buffer(5, "float32", {2, 4}, "view");
  zview["of"] = 4;
  json p = {{"rank", 0},
            {"buffers", {inputBuffer(0, "float32", {8}, 0), wb, view,
                         buffer(3, "float32", {8}, "temp"), buffer(4, "float32", {8}, "temp"),
                         zview}},
            {"commands",
             {{{"op", "kernel"}, {"symbol", "add_f32_8"}, {"inputs", {0, 2}}, {"outputs", json::array({3})}},
              {{"op", "copy"}, {"from", 3}, {"to", 4}}}},
            {"outputs", {5, 0, 2}}};
  auto s = Session::open(writeBundle(dir, "w.pmc", m, p, lib, {{"w/0", bytesOf(w)}}));
  auto out = s->run({{"x", floats({8}, {0, 1, 2, 3, 4, 5, 6, 7})}});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].second.shape, (std::vector<int64_t>{2, 4}));
  for (int i = 0; i < 8; ++i) {
    EXPECT_FLOAT_EQ(valueAt(out[0].second, i), i + (i < 4 ? 1 : 2));
    EXPECT_FLOAT_EQ(valueAt(out[1].second, i), i);
    EXPECT_FLOAT_EQ(valueAt(out[2].second, i), i < 4 ? 1 : 2);
  }
}

namespace {
struct MatmulCase {
  std::vector<int64_t> a, b, c;
  bool ta, tb;
  DType dtype;
};
} // namespace

TEST(Runtime, MatmulMatchesReference) {
  TempDir dir;
  std::vector<MatmulCase> cases = {
      {{3, 4}, {4, 5}, {3, 5}, false, false, DType::Float32},
      {{4, 3}, {4, 5}, {3, 5}, true, false, DType::Float32},
      {{3, 4}, {5, 4}, {3, 5}, false, true, DType::Float32},
      {{4, 3}, {5, 4}, {3, 5}, true, true, DType::Float64},
      {{3, 2, 4}, {3, 4, 5}, {3, 2, 5}, false, false, DType::Float32},
      {{2, 1, 3, 4}, {5, 4, 6}, {2, 5, 3, 6}, false, false, DType::Float32},
      {{2, 1, 4, 3}, {5, 6, 4}, {2, 5, 3, 6}, true, true, DType::Float64},
      {{4, 3, 5}, {5, 2}, {4, 3, 2}, false, false, DType::Float32}, // folded batch
      {{3, 5}, {4, 5, 2}, {4, 3, 2}, false, false, DType::Float32}, // broadcast a
      {{2, 0}, {0, 3}, {2, 3}, false, false, DType::Float32},       // K = 0
  };
  int id = 0;
  for (const MatmulCase &c : cases) {
    SCOPED_TRACE("case " + std::to_string(id));
    std::string d = dt(c.dtype);
    json m = manifest({spec("a", d, c.a), spec("b", d, c.b)}, {spec("c", d, c.c)}, false);
    json p = {{"rank", 0},
              {"buffers", {inputBuffer(0, d, c.a, 0), inputBuffer(1, d, c.b, 1),
                           buffer(2, d, c.c, "temp")}},
              {"commands", json::array({{{"op", "matmul"}, {"a", 0}, {"b", 1}, {"c", 2},
                             {"trans_a", c.ta}, {"trans_b", c.tb}}})},
              {"outputs", json::array({2})}};
    auto s = Session::open(writeBundle(dir, "mm" + std::to_string(id) + ".pmc", m, p));
    HostTensor a = randomTensor(c.dtype, c.a, 1 + id), b = randomTensor(c.dtype, c.b, 100 + id);
    auto out = s->run({{"a", a}, {"b", b}});
    expectClose(out[0].second, referenceMatmul(a, b, c.ta, c.tb, c.c),
                c.dtype == DType::Float32 ? 1e-5 : 1e-12);
    ++id;
  }
}

TEST(Runtime, ConvMatchesReference) {
  TempDir dir;
  std::vector<ConvCase> cases = {
      {{1, 1, 5, 5}, {1, 1, 3, 3}, {1, 1}, {0, 0, 0, 0}, {1, 1}, 1, false},
      {{2, 4, 6, 7}, {6, 2, 3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}, 2, true},   // grouped
      {{1, 3, 9, 8}, {4, 3, 3, 2}, {2, 3}, {1, 0, 2, 1}, {1, 1}, 1, true},   // strided, pads
      {{1, 2, 9, 9}, {3, 2, 3, 3}, {1, 1}, {2, 2, 2, 2}, {2, 3}, 1, false},  // dilated
      {{2, 4, 5, 5}, {4, 1, 3, 3}, {1, 1}, {1, 1, 1, 1}, {1, 1}, 4, true},   // depthwise
      {{2, 3, 10}, {5, 3, 3}, {2}, {1, 2}, {2}, 1, true},                    // 1-d
      {{1, 2, 4, 5, 3}, {3, 2, 2, 3, 2}, {1, 2, 1}, {1, 0, 1, 0, 1, 1}, {1, 1, 2}, 1, true},
      {{2, 6, 4, 4}, {4, 6, 1, 1}, {1, 1}, {0, 0, 0, 0}, {1, 1}, 1, true},   // 1x1 direct
      {{1, 4, 7, 6}, {4, 2, 3, 3}, {2, 2}, {1, 1, 1, 1}, {1, 1}, 2, true, DType::Float64},
  };
  int id = 0;
  for (const ConvCase &c : cases) {
    SCOPED_TRACE("conv case " + std::to_string(id));
    std::string d = dt(c.dtype);
    std::vector<int64_t> y = convOutShape(c);
    json inputs = {spec("x", d, c.x), spec("w", d, c.w)};
    json buffers = {inputBuffer(0, d, c.x, 0), inputBuffer(1, d, c.w, 1), buffer(2, d, y, "temp")};
    if (c.bias) {
      inputs.push_back(spec("b", d, {c.w[0]}));
      buffers.push_back(inputBuffer(3, d, {c.w[0]}, 2));
    }
    json m = manifest(inputs, {spec("y", d, y)}, false);
    json p = {{"rank", 0},
              {"buffers", buffers},
              {"commands", json::array({{{"op", "conv"}, {"x", 0}, {"w", 1}, {"bias", c.bias ? 3 : -1},
                             {"y", 2}, {"strides", c.strides}, {"pads", c.pads},
                             {"dilations", c.dilations}, {"group", c.group}}})},
              {"outputs", json::array({2})}};
    auto s = Session::open(writeBundle(dir, "conv" + std::to_string(id) + ".pmc", m, p));
    HostTensor x = randomTensor(c.dtype, c.x, 7 + id), w = randomTensor(c.dtype, c.w, 70 + id);
    HostTensor b = randomTensor(c.dtype, {c.w[0]}, 700 + id);
    std::map<std::string, HostTensor> feeds = {{"x", x}, {"w", w}};
    if (c.bias)
      feeds["b"] = b;
    auto out = s->run(feeds);
    expectClose(out[0].second, referenceConv(c, x, w, c.bias ? &b : nullptr),
                c.dtype == DType::Float32 ? 1e-5 : 1e-12);
    ++id;
  }
}

TEST(Runtime, LivenessSharesArenaAlongAChain) {
  TempDir dir;
  std::string lib = compileKernelLibrary(dir, kKernels);
  const int steps = 6;
  json buffers = {inputBuffer(0, "float32", {256}, 0)};
  json commands = json::array();
  for (int i = 1; i <= steps; ++i) {
    buffers.push_back(buffer(i, "float32", {256}, "temp"));
    commands.push_back({{"op", "kernel"}, {"symbol", "scale2_f32_256"}, {"inputs", json::array({i - 1})},
                        {"outputs", json::array({i})}});
  }
  json m = manifest({spec("x", "float32", {256})}, {spec("y", "float32", {256})});
  json p = {{"rank", 0}, {"buffers", buffers}, {"commands", commands}, {"outputs", json::array({steps})}};
  auto s = Session::open(writeBundle(dir, "chain.pmc", m, p, lib));
  EXPECT_EQ(s->tempBytes(), steps * 1024u);
  EXPECT_EQ(s->arenaBytes(), 2 * 1024u); // at most two temps live at once
  // Offsets: neighbours in the chain never share memory.
  const auto &offsets = s->program().plan().offsets;
  for (int i = 1; i < steps; ++i)
    EXPECT_NE(offsets[i], offsets[i + 1]);
  HostTensor x = randomTensor(DType::Float32, {256}, 3);
  auto out = s->run({{"x", x}});
  for (int i = 0; i < 256; ++i)
    EXPECT_FLOAT_EQ(valueAt(out[0].second, i), 64.0f * static_cast<float>(valueAt(x, i)));
}

TEST(Runtime, AssignOffsetsReusesFreedRanges) {
  using runtime::Lifetime;
  // 0 [0,1] 256B, 1 [1,2] 256B, 2 [2,3] 256B, 3 [0,3] 64B.
  runtime::ArenaPlan plan = runtime::assignOffsets(
      {{0, 0, 1, 256}, {1, 1, 2, 256}, {2, 2, 3, 256}, {3, 0, 3, 64}}, 5);
  EXPECT_EQ(plan.offsets[0], plan.offsets[2]);
  EXPECT_NE(plan.offsets[0], plan.offsets[1]);
  EXPECT_EQ(plan.offsets[4], -1);
  EXPECT_EQ(plan.arenaBytes, 576u);
  for (int64_t off : plan.offsets)
    EXPECT_EQ(off % 64 == 0 || off == -1, true);
}

TEST(Runtime, RejectsBadFeedsNamingTheInput) {
  TempDir dir;
  std::string lib = compileKernelLibrary(dir, kKernels);
  json m = manifest({spec("x", "float32", {8}), spec("y", "float32", {8})},
                    {spec("z", "float32", {8})});
  json p = {{"rank", 0},
            {"buffers", {inputBuffer(0, "float32", {8}, 0), inputBuffer(1, "float32", {8}, 1),
                         buffer(2, "float32", {8}, "temp")}},
            {"commands", json::array({{{"op", "kernel"}, {"symbol", "add_f32_8"}, {"inputs", {0, 1}},
                           {"outputs", json::array({2})}}})},
            {"outputs", json::array({2})}};
  auto s = Session::open(writeBundle(dir, "feeds.pmc", m, p, lib));
  HostTensor good = floats({8}, std::vector<float>(8, 1.0f));
  HostTensor wrongShape = floats({2, 4}, std::vector<float>(8, 1.0f));
  HostTensor wrongDtype;
  wrongDtype.dtype = DType::Float64;
  wrongDtype.shape = {8};
  wrongDtype.data.resize(64);
  HostTensor short_ = good;
  short_.data.resize(16);
  auto expectFeedError = [&](std::map<std::string, HostTensor> feeds, const std::string &needle) {
    try {
      s->run(feeds);
      FAIL() << "expected FeedError: " << needle;
    } catch (const FeedError &e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expectFeedError({{"x", good}, {"y", good}, {"q", good}},
                  "unknown input 'q' (the model's inputs are: x: float32[8], y: float32[8])");
  expectFeedError({{"x", good}}, "missing input 'y' (expected float32[8])");
  expectFeedError({{"x", good}, {"y", wrongDtype}},
                  "input 'y': expected dtype float32, got float64");
  expectFeedError({{"x", wrongShape}, {"y", good}}, "input 'x': expected shape [8], got [2x4]");
  expectFeedError({{"x", short_}, {"y", good}}, "input 'x': holds 16 bytes, expected 32");
}

TEST(Runtime, TwoSessionsKeepTheirOwnKernelLibraries) {
  TempDir dir;
  auto kernel = [](int factor) {
    return "void scale_f32_8(void **a) { const float *x = a[0]; float *y = a[1];"
           " for (int i = 0; i < 8; ++i) y[i] = " +
           std::to_string(factor) + ".0f * x[i]; }\n";
  };
  json m = manifest({spec("x", "float32", {8})}, {spec("y", "float32", {8})});
  json p = {{"rank", 0},
            {"buffers", {inputBuffer(0, "float32", {8}, 0), buffer(1, "float32", {8}, "temp")}},
            {"commands", json::array({{{"op", "kernel"}, {"symbol", "scale_f32_8"}, {"inputs", json::array({0})},
                           {"outputs", json::array({1})}}})},
            {"outputs", json::array({1})}};
  auto s3 = Session::open(writeBundle(dir, "s3.pmc", m, p, compileKernelLibrary(dir, kernel(3))));
  auto s5 = Session::open(writeBundle(dir, "s5.pmc", m, p, compileKernelLibrary(dir, kernel(5))));
  HostTensor x = floats({8}, std::vector<float>(8, 1.0f));
  EXPECT_FLOAT_EQ(valueAt(s3->run({{"x", x}})[0].second, 0), 3.0);
  EXPECT_FLOAT_EQ(valueAt(s5->run({{"x", x}})[0].second, 0), 5.0);
  s3.reset();
  auto s7 = Session::open(writeBundle(dir, "s7.pmc", m, p, compileKernelLibrary(dir, kernel(7))));
  EXPECT_FLOAT_EQ(valueAt(s7->run({{"x", x}})[0].second, 0), 7.0);
  EXPECT_FLOAT_EQ(valueAt(s5->run({{"x", x}})[0].second, 0), 5.0);
}
