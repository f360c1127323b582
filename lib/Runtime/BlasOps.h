//===- BlasOps.h - GEMM through CBLAS and im2col (internal) ------*- C++ -*-===//
#ifndef PMC_LIB_RUNTIME_BLASOPS_H
#define PMC_LIB_RUNTIME_BLASOPS_H

#include "pmc/Support/HostTensor.h"

#include <cstdint>
#include <string>
#include <vector>

namespace pmc::runtime::blas {

/// Largest dimension or leading dimension CBLAS (32-bit ints) accepts.
inline constexpr int64_t kMaxDim = 0x7fffffff;

/// Row-major C[m,n] = op(A)[m,k] · op(B)[k,n] (+ C when `accumulate`), where
/// op transposes when trans* is set; lda/ldb/ldc are the row lengths of the
/// stored matrices. dtype is Float32, Float64, Float16 or BFloat16; the 16-bit
/// types are widened to float, multiplied and accumulated by sgemm and rounded
/// once into C. Handles m, n or k of zero.
void gemm(DType dtype, bool transA, bool transB, int64_t m, int64_t n, int64_t k,
          const void *a, int64_t lda, const void *b, int64_t ldb, void *c,
          int64_t ldc, bool accumulate = false);

/// The activation of a matmul epilogue (bundle.md, "matmul").
enum class Activation { None, Relu, Gelu, GeluTanh };

/// Parses a bundle `activation` ("none", "relu", "gelu", "gelu_tanh");
/// false for anything else.
bool parseActivation(const std::string &name, Activation &out);

/// In place on the row-major c[rows, n] (contiguous): c[i, j] = act(c[i, j] +
/// bias[j]) where `bias` (n elements of `dtype`, or null) is optional.
/// gelu is ONNX Gelu's exact form 0.5·x·(1 + erf(x/√2)), gelu_tanh its
/// approximation 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). The 16-bit
/// types are computed in float and rounded once per element.
void epilogue(DType dtype, int64_t rows, int64_t n, const void *bias, Activation act,
              void *c);

/// Geometry of one N-d convolution (spatial dims only).
struct ConvGeometry {
  std::vector<int64_t> in, kernel, out, strides, padsBegin, dilations;
  int64_t inSize() const;
  int64_t kernelSize() const;
  int64_t outSize() const;
};

/// Unfolds `channels` channels of `x` (each inSize() elements) into
/// col[channels * kernelSize(), outSize()] (zero where the window hits padding).
/// dtype is Float32, Float64, Float16 or BFloat16.
void im2col(DType dtype, const ConvGeometry &g, int64_t channels, const void *x,
            void *col);

} // namespace pmc::runtime::blas

#endif // PMC_LIB_RUNTIME_BLASOPS_H
