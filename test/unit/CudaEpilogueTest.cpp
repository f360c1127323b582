//===- CudaEpilogueTest.cpp - matmul bias/activation on cuBLASLt, no GPU ---===//
//
// planLtEpilogue (which cuBLASLt epilogue, which bias dimension) and the
// validation of a matmul step's `bias` / `activation` in CudaProgram.
//
#include "CudaTestBundles.h"
#include "pmc/Bundle/Bundle.h"
#include "pmc/Runtime/CUDA/CudaPlanning.h"
#include "pmc/Runtime/CUDA/CudaProgram.h"

#include <gtest/gtest.h>

#include <functional>

using namespace pmc;
using namespace pmc::test;
using namespace pmc::runtime;
using namespace pmc::runtime::cuda;

namespace {

std::string errorOf(const std::function<void()> &f) {
  try {
    f();
  } catch (const RuntimeError &e) {
    return e.what();
  }
  return "";
}

TEST(CudaEpilogue, ActivationAndBiasPickTheEpilogue) {
  LtMatmulPlan p = planLtMatmul({4, 16}, {16, 8}, {4, 8}, false, false);
  std::vector<int64_t> bias = {8};
  struct Case {
    const char *activation;
    bool bias;
    LtEpilogue want;
  };
  for (const Case &c : {Case{"none", false, LtEpilogue::Default},
                        Case{"none", true, LtEpilogue::Bias},
                        Case{"relu", false, LtEpilogue::Relu},
                        Case{"relu", true, LtEpilogue::ReluBias},
                        Case{"gelu_tanh", false, LtEpilogue::Gelu},
                        Case{"gelu_tanh", true, LtEpilogue::GeluBias}}) {
    LtEpiloguePlan e = planLtEpilogue(p, c.activation, c.bias ? &bias : nullptr);
    EXPECT_EQ(e.epilogue, c.want) << c.activation << " bias=" << c.bias;
    EXPECT_EQ(e.hasBias(), c.bias);
    EXPECT_EQ(e.biasLength, c.bias ? 8 : 0);
  }
}

/// cuBLASLt adds bias[r] to row r of every column of D. With D = c^T that
/// must be c's column r, i.e. c[i, j] + bias[j]: simulate on a plan.
TEST(CudaEpilogue, BiasRunsAlongTheLastDimOfC) {
  for (bool transposed : {false, true}) {
    std::vector<int64_t> a = transposed ? std::vector<int64_t>{3, 5, 2}
                                        : std::vector<int64_t>{3, 2, 5};
    LtMatmulPlan p = planLtMatmul(a, {5, 4}, {3, 2, 4}, transposed, false);
    std::vector<int64_t> biasShape = {1, 4};
    LtEpiloguePlan e = planLtEpilogue(p, "none", &biasShape);
    // The bias vector has as many elements as D has rows, shared by batches.
    ASSERT_EQ(static_cast<uint64_t>(e.biasLength), p.layoutD.rows);
    EXPECT_EQ(e.biasBatchStride, 0);
    std::vector<double> bias = {10, 20, 30, 40};
    std::vector<double> d(p.batches * p.m * p.n, 0); // the product is 0 here
    for (int64_t bt = 0; bt < p.batches; ++bt)
      for (uint64_t col = 0; col < p.layoutD.cols; ++col)
        for (uint64_t r = 0; r < p.layoutD.rows; ++r)
          d[bt * p.layoutD.batchStride + col * p.layoutD.ld + r] +=
              bias[bt * e.biasBatchStride + r];
    // Read back as row-major c[3, 2, 4]: each row is the bias.
    for (int64_t i = 0; i < 3 * 2; ++i)
      for (int64_t j = 0; j < 4; ++j)
        EXPECT_EQ(d[i * 4 + j], bias[j]) << "row " << i << " col " << j;
  }
}

TEST(CudaEpilogue, RejectsWhatCublasLtHasNot) {
  LtMatmulPlan p = planLtMatmul({4, 16}, {16, 8}, {4, 8}, false, false);
  std::vector<int64_t> bias = {8}, perRow = {4, 1}, full = {4, 8}, wrong = {7};
  EXPECT_NE(errorOf([&] { planLtEpilogue(p, "gelu", &bias); })
                .find("activation 'gelu' (the erf form) has no cuBLASLt epilogue"),
            std::string::npos);
  EXPECT_NE(errorOf([&] { planLtEpilogue(p, "swish", nullptr); })
                .find("unknown activation 'swish'"),
            std::string::npos);
  for (const std::vector<int64_t> *s : {&perRow, &full, &wrong})
    EXPECT_NE(errorOf([&] { planLtEpilogue(p, "relu", s); })
                  .find("must be [8] or [1, ..., 1, 8] (the last dim of 'c')"),
              std::string::npos);
}

/// cudaProgram() with the matmul given a bias input `b` and `activation`.
std::unique_ptr<CudaProgram> loadWithEpilogue(const std::vector<int64_t> &biasShape,
                                              const std::string &biasDType,
                                              const std::string &activation) {
  TempDir dir;
  json program = cudaProgram();
  program["buffers"].push_back({{"id", 5}, {"dtype", biasDType}, {"shape", biasShape},
                                {"kind", "input"}, {"input", 1}});
  program["commands"][0]["bias"] = 5;
  program["commands"][0]["activation"] = activation;
  json man = cudaManifest(json::array({spec("x", "float32", {4, 8}), spec("b", biasDType, biasShape)}),
                          json::array({spec("y", "float32", {4, 16})}));
  std::string path = writeCudaBundle(dir, "e.pmc", randomTensor(DType::Float32, {8, 16}, 7),
                                     program, man);
  auto reader = bundle::BundleReader::open(path);
  Manifest m = Manifest::parse(reader->section("manifest"));
  return CudaProgram::load(m, *reader, 0);
}

TEST(CudaEpilogue, ProgramLoadsTheEpilogue) {
  std::unique_ptr<CudaProgram> p = loadWithEpilogue({16}, "float32", "gelu_tanh");
  const CudaStep &st = p->steps()[0];
  ASSERT_EQ(st.kind, CudaStepKind::Matmul);
  EXPECT_EQ(st.matmul.bias, 5);
  EXPECT_EQ(st.matmul.epilogue.epilogue, LtEpilogue::GeluBias);
  EXPECT_EQ(st.matmul.epilogue.biasLength, 16);
  EXPECT_EQ(st.reads, (std::vector<int>{0, 1, 5}));
}

TEST(CudaEpilogue, ProgramRejectsBadEpilogues) {
  auto error = [](const std::vector<int64_t> &shape, const char *dtype, const char *act) {
    return errorOf([&] { loadWithEpilogue(shape, dtype, act); });
  };
  std::string e = error({16}, "float32", "gelu");
  EXPECT_NE(e.find("command 0 (matmul): activation 'gelu' (the erf form) has no cuBLASLt"),
            std::string::npos)
      << e;
  e = error({4, 16}, "float32", "relu");
  EXPECT_NE(e.find("command 0 (matmul): operand 'bias' buffer 5 (input float32[4x16]) must "
                   "have shape [16] or [1, ..., 1, 16]"),
            std::string::npos)
      << e;
  e = error({16}, "float64", "none");
  EXPECT_NE(e.find("has a different dtype than 'a'"), std::string::npos) << e;
}

} // namespace
