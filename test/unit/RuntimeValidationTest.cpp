//===- RuntimeValidationTest.cpp - bad bundles rejected before running -----===//

#include "TestUtil.h"
#include "pmc/Runtime/Session.h"

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
    std::string path = writeBundle(dir, "v.pmc", f.manifest, f.program,
                                   withKernels ? lib : "", f.extra);
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
