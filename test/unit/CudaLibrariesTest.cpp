//===- CudaLibrariesTest.cpp - dlopen of the CUDA libraries and its errors -===//

#include "pmc/Runtime/CUDA/CudaLibraries.h"

#include <gtest/gtest.h>

#include <dlfcn.h>

using namespace pmc::runtime;
using namespace pmc::runtime::cuda;

namespace {

bool loadable(const std::vector<std::string> &names) {
  for (const std::string &n : names)
    if (void *h = dlopen(n.c_str(), RTLD_NOW | RTLD_LOCAL)) {
      dlclose(h);
      return true;
    }
  return false;
}

TEST(CudaLibraries, MissingLibraryNamesEveryCandidateAndTheUser) {
  try {
    openLibrary({"libpmc-missing.so.13", "libpmc-missing.so.12"},
                "matmul (command 3) needs cuBLASLt");
    FAIL() << "expected an error";
  } catch (const CudaUnavailableError &e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("matmul (command 3) needs cuBLASLt: libpmc-missing.so.13 not found "
                       "(also tried libpmc-missing.so.12)"),
              std::string::npos)
        << msg;
  }
}

TEST(CudaLibraries, MissingSymbolNamesLibraryAndSymbol) {
  void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(libc, nullptr);
  EXPECT_NE(resolveSymbol(libc, "malloc", "libc"), nullptr);
  try {
    resolveSymbol(libc, "cublasLtMatmulPmcMissing", "cuBLASLt");
    FAIL() << "expected an error";
  } catch (const CudaUnavailableError &e) {
    EXPECT_NE(std::string(e.what()).find("cuBLASLt lacks the function cublasLtMatmulPmcMissing"),
              std::string::npos)
        << e.what();
  }
  dlclose(libc);
}

TEST(CudaLibraries, NoDriverIsReportedClearly) {
  if (loadable(CudaLibraries::driverNames()))
    GTEST_SKIP() << "libcuda.so.1 is installed here; the no-driver error cannot be observed";
  for (int attempt = 0; attempt < 2; ++attempt) { // the failure is remembered
    try {
      CudaLibraries::driver();
      FAIL() << "expected an error";
    } catch (const CudaUnavailableError &e) {
      EXPECT_NE(std::string(e.what()).find(
                    "no CUDA driver was found (libcuda.so.1 could not be loaded): libcuda.so.1"),
                std::string::npos)
          << e.what();
    }
  }
}

// cuBLASLt and cuDNN load and report their versions without a GPU: every
// symbol of the tables resolves in the installed libraries.
TEST(CudaLibraries, CublasLtResolvesEverySymbol) {
  if (!loadable(CudaLibraries::cublasLtNames()))
    GTEST_SKIP() << "no libcublasLt.so here";
  const CublasLtApi &lt = CudaLibraries::cublasLt("test");
#define PMC_EXPECT_RESOLVED(member, symbol) EXPECT_NE(lt.member, nullptr) << #symbol;
  PMC_CUBLASLT_FUNCTIONS(PMC_EXPECT_RESOLVED)
#undef PMC_EXPECT_RESOLVED
  EXPECT_GE(lt.getVersion(), 120000u);
  EXPECT_STREQ(lt.getStatusName(CUBLAS_STATUS_NOT_SUPPORTED), "CUBLAS_STATUS_NOT_SUPPORTED");
  try {
    checkCublas(lt, CUBLAS_STATUS_NOT_SUPPORTED, "command 2 (matmul): cublasLtMatmul");
    FAIL();
  } catch (const RuntimeError &e) {
    EXPECT_STREQ(e.what(), "command 2 (matmul): cublasLtMatmul: CUBLAS_STATUS_NOT_SUPPORTED");
  }
}

TEST(CudaLibraries, CudnnResolvesEverySymbol) {
  if (!loadable(CudaLibraries::cudnnNames()))
    GTEST_SKIP() << "no libcudnn.so here";
  const CudnnApi &dnn = CudaLibraries::cudnn("test");
#define PMC_EXPECT_RESOLVED(member, symbol) EXPECT_NE(dnn.member, nullptr) << #symbol;
  PMC_CUDNN_FUNCTIONS(PMC_EXPECT_RESOLVED)
#undef PMC_EXPECT_RESOLVED
  EXPECT_GE(dnn.getVersion(), 90000u);
  EXPECT_NE(std::string(dnn.getErrorString(CUDNN_STATUS_BAD_PARAM)).find("BAD_PARAM"),
            std::string::npos);
}

} // namespace
