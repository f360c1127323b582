//===- CudaExecutorTest.cpp - running cuda bundles on a GPU ----------------===//
//
// These tests need a CUDA driver and a GPU; without them each test is
// skipped with the reason (never passed without running).
//
#include "CudaTestBundles.h"
#include "pmc/Bundle/Bundle.h"
#include "pmc/Runtime/CUDA/CudaExecutor.h"
#include "pmc/Runtime/CUDA/CudaLibraries.h"
#include "pmc/Runtime/CUDA/CudaProgram.h"
#include "pmc/Runtime/Session.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

using namespace pmc;
using namespace pmc::test;
using namespace pmc::runtime;
using namespace pmc::runtime::cuda;

namespace {

/// Empty when a GPU is usable, else why not.
std::string noGpuReason() {
  try {
    const DriverApi &cu = CudaLibraries::driver();
    int count = 0;
    if (cu.deviceGetCount(&count) != CUDA_SUCCESS || count == 0)
      return "the CUDA driver sees no GPU";
    return "";
  } catch (const RuntimeError &e) {
    return e.what();
  }
}

#define REQUIRE_GPU()                                                                    \
  if (std::string why = noGpuReason(); !why.empty())                                     \
  GTEST_SKIP() << "no GPU: " << why

/// y = x·w - rowmax(x·w), in double.
std::vector<double> reference(const HostTensor &x, const HostTensor &w) {
  std::vector<double> h(64), y(64);
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 16; ++c) {
      double acc = 0;
      for (int k = 0; k < 8; ++k)
        acc += valueAt(x, r * 8 + k) * valueAt(w, k * 16 + c);
      h[r * 16 + c] = acc;
    }
  for (int r = 0; r < 4; ++r) {
    double m = h[r * 16];
    for (int c = 1; c < 16; ++c)
      m = std::max(m, h[r * 16 + c]);
    for (int c = 0; c < 16; ++c)
      y[r * 16 + c] = h[r * 16 + c] - m;
  }
  return y;
}

void expectClose(const HostTensor &got, const std::vector<double> &want, double tol) {
  ASSERT_EQ(static_cast<size_t>(got.numElements()), want.size());
  for (size_t i = 0; i < want.size(); ++i)
    ASSERT_NEAR(valueAt(got, static_cast<int64_t>(i)), want[i], tol) << "element " << i;
}

TEST(CudaExecutor, MatmulThenLaunchesSharingScratch) {
  REQUIRE_GPU();
  TempDir dir;
  HostTensor w = randomTensor(DType::Float32, {8, 16}, 3);
  std::string path = writeCudaBundle(dir, "m.pmc", w);
  auto reader = bundle::BundleReader::open(path);
  Manifest m = Manifest::parse(reader->section("manifest"));
  std::unique_ptr<CudaProgram> program = CudaProgram::load(m, *reader, 0);
  CudaExecutor exe(*program, *reader, {}, nullptr, false);
  EXPECT_EQ(exe.ptxChip(), "sm_80");
  EXPECT_TRUE(exe.graphDecision().capture) << exe.graphDecision().reason;
  for (int run = 0; run < 4; ++run) {
    HostTensor x = randomTensor(DType::Float32, {4, 8}, 10 + run);
    std::vector<HostTensor> out = exe.run({x.data.data()});
    ASSERT_EQ(out.size(), 1u);
    // fp32 accumulation without TF32: close to the double reference.
    expectClose(out[0], reference(x, w), 1e-5);
    // Run 0 is eager, run 1 captures and replays, later runs replay.
    EXPECT_EQ(exe.replayedGraph(), run >= 1) << "run " << run;
  }
  AllocatorStats stats = exe.allocatorStats();
  EXPECT_GT(stats.bytesInUse, 0u);
}

TEST(CudaExecutor, SessionRunsWithoutGraphs) {
  REQUIRE_GPU();
  TempDir dir;
  HostTensor w = randomTensor(DType::Float32, {8, 16}, 4);
  SessionOptions options;
  options.cudaGraphs = false;
  auto session = Session::open(writeCudaBundle(dir, "s.pmc", w), options);
  HostTensor x = randomTensor(DType::Float32, {4, 8}, 5);
  for (int run = 0; run < 2; ++run) {
    NamedOutputs out = session->run({{"x", x}});
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].first, "y");
    expectClose(out[0].second, reference(x, w), 1e-5);
  }
}

TEST(CudaExecutor, VirtualRanksAllReduceThroughHost) {
  REQUIRE_GPU();
  TempDir dir;
  auto rankProgram = [](int r) {
    return json{{"rank", r},
                {"buffers",
                 {{{"id", 0}, {"dtype", "float32"}, {"shape", {2, 3}}, {"kind", "input"}, {"input", 0}},
                  {{"id", 1}, {"dtype", "float32"}, {"shape", {3, 4}}, {"kind", "weight"},
                   {"section", "w/" + std::to_string(r)}},
                  {{"id", 2}, {"dtype", "float32"}, {"shape", {2, 4}}, {"kind", "temp"}},
                  {{"id", 3}, {"dtype", "float32"}, {"shape", {2, 4}}, {"kind", "temp"}}}},
                {"commands",
                 {{{"op", "matmul"}, {"a", 0}, {"b", 1}, {"c", 2}},
                  {{"op", "all_reduce"}, {"in", 2}, {"out", 3}, {"axes", {"tp"}}, {"reduction", "sum"}}}},
                {"outputs", {3}}};
  };
  HostTensor w0 = randomTensor(DType::Float32, {3, 4}, 1), w1 = randomTensor(DType::Float32, {3, 4}, 2);
  json man = cudaManifest(spec("x", "float32", {2, 3}), spec("y", "float32", {2, 4}), 2, false);
  std::string path = writeBundle(dir, "ar.pmc", man, rankProgram(0), "",
                                 {{"rank1.program", rankProgram(1).dump()},
                                  {"w/0", bytesOf(w0)},
                                  {"w/1", bytesOf(w1)}});
  SessionOptions options;
  options.virtualRanks = true;
  auto session = Session::open(path, options);
  HostTensor x = randomTensor(DType::Float32, {2, 3}, 9);
  NamedOutputs out = session->run({{"x", x}});
  std::vector<double> want(8);
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 4; ++c)
      for (int k = 0; k < 3; ++k)
        want[r * 4 + c] += valueAt(x, r * 3 + k) * (valueAt(w0, k * 4 + c) + valueAt(w1, k * 4 + c));
  expectClose(out[0].second, want, 1e-5);
}

/// ONNX Conv (NCHW, symmetric pads), in double.
std::vector<double> referenceConv(const HostTensor &x, const HostTensor &w, const HostTensor &b,
                                  int64_t group, int64_t stride, int64_t pad, int64_t dil,
                                  const std::vector<int64_t> &y) {
  int64_t n = x.shape[0], c = x.shape[1], h = x.shape[2], wd = x.shape[3];
  int64_t m = w.shape[0], cg = w.shape[1], kh = w.shape[2], kw = w.shape[3];
  std::vector<double> out(n * m * y[2] * y[3]);
  for (int64_t in = 0; in < n; ++in)
    for (int64_t f = 0; f < m; ++f) {
      int64_t g = f / (m / group);
      for (int64_t oy = 0; oy < y[2]; ++oy)
        for (int64_t ox = 0; ox < y[3]; ++ox) {
          double acc = valueAt(b, f);
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int64_t ky = 0; ky < kh; ++ky)
              for (int64_t kx = 0; kx < kw; ++kx) {
                int64_t iy = oy * stride - pad + ky * dil, ix = ox * stride - pad + kx * dil;
                if (iy < 0 || iy >= h || ix < 0 || ix >= wd)
                  continue;
                int64_t ch = g * cg + ci;
                acc += valueAt(x, ((in * c + ch) * h + iy) * wd + ix) *
                       valueAt(w, ((f * cg + ci) * kh + ky) * kw + kx);
              }
          out[((in * m + f) * y[2] + oy) * y[3] + ox] = acc;
        }
    }
  return out;
}

TEST(CudaExecutor, GroupedConvWithBiasOnCudnn) {
  REQUIRE_GPU();
  TempDir dir;
  // x[2,4,7,7], w[6,2,3,3], group 2, stride 2, pad 1, dilation 1 -> y[2,6,4,4].
  std::vector<int64_t> ys = {2, 6, 4, 4};
  json program = {
      {"rank", 0},
      {"buffers",
       {{{"id", 0}, {"dtype", "float32"}, {"shape", {2, 4, 7, 7}}, {"kind", "input"}, {"input", 0}},
        {{"id", 1}, {"dtype", "float32"}, {"shape", {6, 2, 3, 3}}, {"kind", "weight"}, {"section", "w/0"}},
        {{"id", 2}, {"dtype", "float32"}, {"shape", {6}}, {"kind", "weight"}, {"section", "w/1"}},
        {{"id", 3}, {"dtype", "float32"}, {"shape", ys}, {"kind", "temp"}}}},
      {"commands",
       {{{"op", "conv"}, {"x", 0}, {"w", 1}, {"bias", 2}, {"y", 3}, {"strides", {2, 2}},
         {"pads", {1, 1, 1, 1}}, {"dilations", {1, 1}}, {"group", 2}}}},
      {"outputs", {3}}};
  json man = cudaManifest(spec("x", "float32", {2, 4, 7, 7}), spec("y", "float32", ys), 1, false);
  HostTensor w = randomTensor(DType::Float32, {6, 2, 3, 3}, 1);
  HostTensor b = randomTensor(DType::Float32, {6}, 2);
  std::string path =
      writeBundle(dir, "conv.pmc", man, program, "", {{"w/0", bytesOf(w)}, {"w/1", bytesOf(b)}});
  auto session = Session::open(path);
  HostTensor x = randomTensor(DType::Float32, {2, 4, 7, 7}, 3);
  for (int run = 0; run < 3; ++run) { // eager, capture, replay
    NamedOutputs out = session->run({{"x", x}});
    expectClose(out[0].second, referenceConv(x, w, b, 2, 2, 1, 1, ys), 1e-5);
  }
}

TEST(CudaExecutor, NoSuchDevice) {
  REQUIRE_GPU();
  TempDir dir;
  SessionOptions options;
  options.device = 4096;
  try {
    Session::open(writeCudaBundle(dir, "d.pmc", randomTensor(DType::Float32, {8, 16}, 1)), options);
    FAIL() << "expected an error";
  } catch (const RuntimeError &e) {
    EXPECT_NE(std::string(e.what()).find("CUDA device 4096 does not exist"), std::string::npos)
        << e.what();
  }
}

} // namespace

/// A 2-stage pipeline on mesh pp=2, M = 2: stage 0 computes h = x·w of its
/// microbatch x[2, 3] and sends it; stage 1 receives it and outputs it, so
/// y[4, 4] stacks both microbatches.
std::string writePipelineBundle(const TempDir &dir, const HostTensor &w) {
  json man = cudaManifest(spec("x", "float32", {4, 3}), spec("y", "float32", {4, 4}), 2, false);
  man["mesh"] = {{"axes", {{{"name", "pp"}, {"size", 2}}}}};
  man["outputs"][0]["stage"] = 1;
  man["pipeline"] = {{"axis", "pp"}, {"stages", 2}, {"microbatches", 2}, {"schedule", "gpipe"},
                     {"microbatched_inputs", {"x"}}, {"microbatched_outputs", {"y"}}};
  json first = {{"rank", 0},
                {"buffers",
                 {{{"id", 0}, {"dtype", "float32"}, {"shape", {2, 3}}, {"kind", "input"}, {"input", 0}},
                  {{"id", 1}, {"dtype", "float32"}, {"shape", {3, 4}}, {"kind", "weight"}, {"section", "w/0"}},
                  {{"id", 2}, {"dtype", "float32"}, {"shape", {2, 4}}, {"kind", "temp"}}}},
                {"commands",
                 {{{"op", "matmul"}, {"a", 0}, {"b", 1}, {"c", 2}},
                  {{"op", "send"}, {"in", 2}, {"to_stage", 1}, {"tag", 0}}}},
                {"outputs", {-1}}};
  json second = {{"rank", 1},
                 {"buffers", {{{"id", 0}, {"dtype", "float32"}, {"shape", {2, 4}}, {"kind", "temp"}}}},
                 {"commands", {{{"op", "recv"}, {"out", 0}, {"from_stage", 0}, {"tag", 0}}}},
                 {"outputs", {0}}};
  return writeBundle(dir, "pp.pmc", man, first, "",
                     {{"rank1.program", second.dump()}, {"w/0", bytesOf(w)}});
}

TEST(CudaExecutor, PipelineOnVirtualRanksStacksMicrobatches) {
  REQUIRE_GPU();
  TempDir dir;
  HostTensor w = randomTensor(DType::Float32, {3, 4}, 4);
  SessionOptions options;
  options.virtualRanks = true;
  auto session = Session::open(writePipelineBundle(dir, w), options);
  HostTensor x = randomTensor(DType::Float32, {4, 3}, 5);
  std::vector<double> want(16);
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c)
      for (int k = 0; k < 3; ++k)
        want[r * 4 + c] += valueAt(x, r * 3 + k) * valueAt(w, k * 4 + c);
  for (int run = 0; run < 3; ++run) { // eager, then what capture allows
    NamedOutputs out = session->run({{"x", x}});
    ASSERT_EQ(out[0].second.shape, (std::vector<int64_t>{4, 4}));
    expectClose(out[0].second, want, 1e-5);
  }
}

/// Sets environment variables for the life of the object.
struct ScopedEnv {
  std::vector<std::string> names;
  ScopedEnv(std::initializer_list<std::pair<const char *, const char *>> vars) {
    for (auto [name, value] : vars) {
      setenv(name, value, 1);
      names.push_back(name);
    }
  }
  ~ScopedEnv() {
    for (const std::string &n : names)
      unsetenv(n.c_str());
  }
};

TEST(CudaExecutor, FaultHookFailsTheRankInItsMicrobatch) {
  REQUIRE_GPU();
  TempDir dir;
  std::string path = writePipelineBundle(dir, randomTensor(DType::Float32, {3, 4}, 4));
  SessionOptions options;
  options.virtualRanks = true;
  options.collectiveTimeout = 10;
  ScopedEnv env{{"PMC_TEST_FAIL_RANK", "0"}, {"PMC_TEST_FAIL_AT_COMMAND", "1"},
                {"PMC_TEST_AT_MICROBATCH", "1"}};
  auto session = Session::open(path, options);
  try {
    session->run({{"x", randomTensor(DType::Float32, {4, 3}, 5)}});
    FAIL() << "expected the test hook to fail rank 0";
  } catch (const RuntimeError &e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("command 1 (send): test hook: rank 0 fails here in microbatch 1 "
                       "(PMC_TEST_FAIL_RANK)"),
              std::string::npos)
        << msg;
  }
}

TEST(CudaExecutor, StallHookMakesEveryRankFail) {
  REQUIRE_GPU();
  TempDir dir;
  std::string path = writePipelineBundle(dir, randomTensor(DType::Float32, {3, 4}, 4));
  SessionOptions options;
  options.virtualRanks = true;
  options.collectiveTimeout = 2;
  ScopedEnv env{{"PMC_TEST_STALL_RANK", "0"}, {"PMC_TEST_STALL_AT_COMMAND", "1"}};
  auto session = Session::open(path, options);
  try {
    session->run({{"x", randomTensor(DType::Float32, {4, 3}, 5)}});
    FAIL() << "expected the stalled rank to make the run fail";
  } catch (const CollectiveError &e) {
    // Rank 1's recv times out waiting for the stalled rank 0.
    std::string msg = e.what();
    EXPECT_NE(msg.find("rank 0"), std::string::npos) << msg;
  }
}
