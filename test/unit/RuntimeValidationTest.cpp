//===- RuntimeValidationTest.cpp - bad bundles rejected before running -----===//

#include "TestUtil.h"
#include "pmc/Runtime/Session.h"
#include "pmc/Support/CPUFeatures.h"

#include <algorithm>
#include <set>

#include <gtest/gtest.h>

using namespace pmc;
using namespace pmc::test;
using runtime::RuntimeError;
using runtime::Session;

namespace {

const char *kKernels = R"(
void add_f32_8(void **a) {
  const float *x = a[0], *y = a[1]; float *z = a[2];
  for (int i = 0; i < 8; ++i) z[i] = x[i] + y[i];
}
)";

json buffer(int id, const std::string &dtype, const std::vector<int64_t> &shape,
            const std::string &kind) {
  return {{"id", id}, {"dtype", dtype}, {"shape", shape}, {"kind", kind}};
}

/// A valid bundle: z = add(x, w) then matmul(view(z), w2); tests break one thing.
struct Fixture {
  json manifest = test::manifest({spec("x", "float32", {8})},
                                 {spec("z", "float32", {8}), spec("mm", "float32", {2, 2})});
  json program = {
      {"rank", 0},
      {"buffers",
       {{{"id", 0}, {"dtype", "float32"}, {"shape", json::array({8})}, {"kind", "input"}, {"input", 0}},
        {{"id", 1}, {"dtype", "float32"}, {"shape", json::array({8})}, {"kind", "weight"}, {"section", "w/0"}},
        buffer(2, "float32", {8}, "temp"),
        {{"id", 3}, {"dtype", "float32"}, {"shape", {2, 4}}, {"kind", "view"}, {"of", 2}},
        {{"id", 4}, {"dtype", "float32"}, {"shape", {4, 2}}, {"kind", "view"}, {"of", 1}},
        buffer(5, "float32", {2, 2}, "temp")}},
      {"commands",
       {{{"op", "kernel"}, {"symbol", "add_f32_8"}, {"inputs", {0, 1}}, {"outputs", json::array({2})}},
        {{"op", "matmul"}, {"a", 3}, {"b", 4}, {"c", 5}}}},
      {"outputs", {2, 5}}};
  std::vector<std::pair<std::string, std::string>> extra = {
      {"w/0", std::string(32, '\0')}};
};

class Validation : public ::testing::Test {
protected:
  void SetUp() override { lib = compileKernelLibrary(dir, kKernels); }

  /// Writes `f` and expects Session::open to fail with `needle` in the message.
  void expectRejected(const Fixture &f, const std::string &needle, int rank = 0,
                      bool withKernels = true) {
    expectRejectedWith(f, withKernels ? lib : "", needle, rank);
  }
  /// The same with the kernel library `kernels`.
  void expectRejectedWith(const Fixture &f, const std::string &kernels,
                          const std::string &needle, int rank = 0) {
    std::string path = writeBundle(dir, "v.pmc", f.manifest, f.program, kernels, f.extra);
    try {
      Session::open(path, rank);
      FAIL() << "expected RuntimeError containing '" << needle << "'";
    } catch (const RuntimeError &e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
          << "message: " << e.what() << "\nexpected to contain: " << needle;
      EXPECT_EQ(std::string(e.what()).rfind(path, 0), 0u) << "names the file: " << e.what();
    }
  }

  TempDir dir;
  std::string lib;
};

} // namespace

TEST_F(Validation, TheFixtureIsValid) {
  Fixture f;
  auto s = Session::open(writeBundle(dir, "ok.pmc", f.manifest, f.program, lib, f.extra));
  HostTensor x;
  x.dtype = DType::Float32;
  x.shape = {8};
  x.data.assign(32, 0);
  auto out = s->run({{"x", x}});
  EXPECT_EQ(out.size(), 2u);
}

TEST_F(Validation, ManifestErrors) {
  Fixture f;
  f.manifest["format_version"] = 2;
  expectRejected(f, "manifest: unsupported format_version 2");
  f = Fixture();
  f.manifest["target"] = "tpu";
  expectRejected(f, "manifest: target 'tpu' is not supported");
  f = Fixture();
  f.manifest["inputs"][0]["dtype"] = "float7";
  expectRejected(f, "manifest: inputs[0] 'x': field 'dtype' names an unknown dtype 'float7'");
  f = Fixture();
  f.manifest.erase("outputs");
  expectRejected(f, "manifest: missing field 'outputs'");
  f = Fixture();
  expectRejected(f, "rank 1 is out of range: the bundle has 1 rank(s)", 1);
  f = Fixture();
  f.manifest["kernel_library"] = "kernels.gpu";
  expectRejected(f, "missing section 'kernels.gpu'");
}

TEST_F(Validation, ProgramErrors) {
  Fixture f;
  f.program["buffers"][2]["id"] = 7;
  expectRejected(f, "rank0.program: buffer 2: field 'id' is 7");
  f = Fixture();
  f.program["buffers"][1]["section"] = "w/9";
  expectRejected(f, "buffer 1 (weight float32[8]): section 'w/9' does not exist");
  f = Fixture();
  f.extra[0].second = std::string(16, '\0');
  expectRejected(f, "buffer 1 (weight float32[8]): section 'w/0' holds 16 bytes, expected 32");
  f = Fixture();
  f.program["buffers"][3]["shape"] = {3, 3};
  expectRejected(f, "buffer 3 (view float32[3x3]): holds 36 bytes but its base buffer 2");
  f = Fixture();
  f.program["buffers"][0]["shape"] = json::array({4});
  expectRejected(f, "buffer 0 (input float32[4]): does not match manifest input 'x: float32[8]'");
  f = Fixture();
  f.program["buffers"][2]["kind"] = "scratch";
  expectRejected(f, "buffer 2: unknown kind 'scratch'");
  f = Fixture();
  f.program["outputs"] = json::array({2});
  expectRejected(f, "'outputs' lists 1 buffers, the manifest declares 2 outputs");
  f = Fixture();
  f.program["outputs"] = {2, 3};
  expectRejected(f, "outputs[1]: buffer 3 (view float32[2x4]) does not match manifest output "
                    "'mm: float32[2x2]'");
  f = Fixture();
  f.program["rank"] = 3;
  expectRejected(f, "field 'rank' is 3, expected 0");
}

TEST_F(Validation, CommandErrors) {
  Fixture f;
  f.program["commands"][0]["symbol"] = "no_such_kernel";
  expectRejected(f, "rank0.program: command 0 (kernel): symbol 'no_such_kernel' is not "
                    "defined in the kernel library (section 'kernels.cpu')");
  f = Fixture();
  expectRejected(f, "missing section 'kernels.cpu'", 0, false);
  f.manifest.erase("kernel_library");
  expectRejected(f, "command 0 (kernel): calls kernel 'add_f32_8' but the bundle has no "
                    "kernel library", 0, false);
  f = Fixture();
  f.program["commands"][1]["b"] = 3;
  expectRejected(f, "command 1 (matmul): contraction sizes differ");
  f = Fixture();
  f.program["commands"][1]["op"] = "gemm";
  expectRejected(f, "command 1: unknown op 'gemm' (known: all_gather, all_reduce, all_to_all, conv, copy, kernel, matmul, recv, reduce_scatter, send, shard)");
  f = Fixture();
  f.program["commands"][1]["a"] = int64_t(1) << 32;
  expectRejected(f, "command 1 (matmul): field 'a' holds 4294967296, which is not a buffer id");
  f = Fixture();
  f.program["commands"][1]["a"] = 42;
  expectRejected(f, "command 1 (matmul): operand 'a' refers to buffer 42, which does not exist");
  f = Fixture();
  std::swap(f.program["commands"][0], f.program["commands"][1]);
  expectRejected(f, "command 0 (matmul): reads buffer 3 (view float32[2x4]) before any command "
                    "writes buffer 2 (temp float32[8])");
  f = Fixture();
  f.program["commands"].push_back({{"op", "copy"}, {"from", 0}, {"to", 2}});
  expectRejected(f, "command 2 (copy): writes buffer 2 (temp float32[8]), already written by "
                    "command 0");
  f = Fixture();
  f.program["commands"][0]["outputs"] = json::array({1});
  expectRejected(f, "command 0 (kernel): writes buffer 1 (weight float32[8]); only temps may "
                    "be written");
  f = Fixture();
  f.program["commands"][1]["c"] = 3;
  f.program["commands"][1]["b"] = 1;
  expectRejected(f, "command 1 (matmul)");
  f = Fixture();
  f.program["commands"][1]["trans_a"] = "yes";
  expectRejected(f, "command 1 (matmul): field 'trans_a' must be true or false");
  f = Fixture();
  f.program["commands"].push_back(
      {{"op", "conv"}, {"x", 3}, {"w", 3}, {"y", 5}, {"strides", json::array({1})}, {"pads", json::array({})},
       {"dilations", json::array({})}, {"group", 1}});
  expectRejected(f, "command 2 (conv): operand 'x' buffer 3 (view float32[2x4]) must have rank >= 3");
}

// The kernel library says which CPU its code needs (pmc/Support/CPUFeatures.h);
// the runtime refuses it, before any kernel runs, on a CPU that lacks an
// extension, instead of dying of an illegal instruction.
TEST_F(Validation, KernelCpuRecord) {
  Fixture f;
  auto s = Session::open(writeBundle(dir, "ok.pmc", f.manifest, f.program, lib, f.extra));
  ASSERT_NE(s->kernelTarget(), nullptr);
  EXPECT_EQ(s->kernelTarget()->cpu, "x86-64");
  EXPECT_TRUE(s->kernelTarget()->features.empty());

  expectRejectedWith(f, compileKernelLibrary(dir, kKernels, std::nullopt),
                     "section 'kernels.cpu': the kernel library does not say which CPU it "
                     "was compiled for (no 'pmc_kernel_target'");
  expectRejectedWith(f, compileKernelLibrary(dir, kKernels, "features=avx"),
                     "section 'kernels.cpu': the kernel library's CPU record "
                     "'features=avx' is malformed");
  // sse2 is part of x86-64 (every host passes it); the second name is no
  // extension any CPU reports.
  expectRejectedWith(f,
                     compileKernelLibrary(dir, kKernels,
                                          "cpu=futurelake;features=sse2,no-such-isa"),
                     "section 'kernels.cpu': the kernels were compiled for CPU 'futurelake' "
                     "and use no-such-isa, which this CPU does not support; compile the "
                     "model on this machine, or with --cpu x86-64-v2");
}

TEST(KernelTarget, RecordRoundTrips) {
  KernelTarget target{"sapphirerapids", {"avx", "avx2", "avx512f"}};
  std::string text = formatKernelTarget(target);
  EXPECT_EQ(text, "cpu=sapphirerapids;features=avx,avx2,avx512f");
  std::optional<KernelTarget> parsed = parseKernelTarget(text);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->cpu, target.cpu);
  EXPECT_EQ(parsed->features, target.features);
  parsed = parseKernelTarget("cpu=x86-64;features=");
  ASSERT_TRUE(parsed);
  EXPECT_TRUE(parsed->features.empty());
  for (const char *bad : {"", "cpu=;features=", "cpu=a", "features=avx", "cpu=a;features=avx,",
                          "cpu=a;features=,avx", "cpu=a;features=avx,,sse2",
                          "cpu=a;b;features=avx", "cpu=a;features=x=y"})
    EXPECT_FALSE(parseKernelTarget(bad)) << "'" << bad << "'";
}

TEST(KernelTarget, MissingFeaturesKeepTheRecordsOrder) {
  KernelTarget target{"znver4", {"avx2", "avx512f", "bmi2", "avx512bw"}};
  auto host = [](std::string_view name) { return name == "avx2" || name == "bmi2"; };
  EXPECT_EQ(missingFeatures(target, host),
            (std::vector<std::string>{"avx512f", "avx512bw"}));
  EXPECT_TRUE(missingFeatures({"x86-64", {}}, host).empty());
}

TEST(KernelTarget, HostFeatures) {
#if defined(__x86_64__)
  // x86-64 guarantees SSE2 and CMOV; an AVX-512 subset implies AVX-512F;
  // AVX2 and AVX-512F need the OS to save their registers, which CPUID's own
  // bits do not say, so these implications also test the XCR0 check.
  EXPECT_TRUE(hostHasX86Feature("sse2"));
  EXPECT_TRUE(hostHasX86Feature("cmov"));
  if (hostHasX86Feature("avx512bw"))
    EXPECT_TRUE(hostHasX86Feature("avx512f"));
  if (hostHasX86Feature("avx2"))
    EXPECT_TRUE(hostHasX86Feature("avx"));
  if (hostHasX86Feature("avx10.2"))
    EXPECT_TRUE(hostHasX86Feature("avx10.1"));
#endif
  EXPECT_FALSE(hostHasX86Feature("no-such-isa"));
  EXPECT_FALSE(hostHasX86Feature("evex512")); // an LLVM name, no CPUID bit
  const auto &names = checkableX86Features();
  EXPECT_NE(std::find(names.begin(), names.end(), "avx512f"), names.end());
  EXPECT_EQ(std::set<std::string_view>(names.begin(), names.end()).size(), names.size())
      << "X86Features.def names an extension twice";
}

TEST_F(Validation, SyntaxErrors) {
  Fixture f;
  std::string path = dir.file("json.pmc");
  bundle::BundleWriter w;
  w.addSection("manifest", f.manifest.dump());
  w.addSection("rank0.program", "{\"rank\": 0, \"buffers\": [");
  w.addSection("kernels.cpu", lib);
  w.write(path);
  try {
    Session::open(path);
    FAIL();
  } catch (const RuntimeError &e) {
    EXPECT_NE(std::string(e.what()).find(path + ": rank0.program: invalid JSON"),
              std::string::npos)
        << e.what();
  }
  bundle::BundleWriter w2;
  w2.addSection("manifest", f.manifest.dump());
  w2.addSection("rank0.program", f.program.dump());
  w2.addSection("kernels.cpu", "not an ELF file");
  w2.addSection("w/0", std::string(32, '\0'));
  w2.write(path);
  try {
    Session::open(path);
    FAIL();
  } catch (const RuntimeError &e) {
    EXPECT_NE(std::string(e.what()).find("section 'kernels.cpu': the kernel library is not an "
                                         "ELF shared object"),
              std::string::npos)
        << e.what();
  }
}
