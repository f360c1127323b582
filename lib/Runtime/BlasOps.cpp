//===- BlasOps.cpp - GEMM through CBLAS and N-d im2col ----------------------===//

#include "BlasOps.h"

#include <algorithm>
#include <cmath>
#include <cblas.h>
#include <cstring>
#include <vector>

namespace pmc::runtime::blas {

void gemm(DType dtype, bool transA, bool transB, int64_t m, int64_t n, int64_t k,
          const void *a, int64_t lda, const void *b, int64_t ldb, void *c,
          int64_t ldc, bool accumulate) {
  if (m == 0 || n == 0)
    return;
  size_t elt = dtypeSize(dtype);
  if (k == 0) {
    if (!accumulate)
      for (int64_t i = 0; i < m; ++i)
        std::memset(static_cast<char *>(c) + i * ldc * elt, 0, n * elt);
    return;
  }
  CBLAS_TRANSPOSE ta = transA ? CblasTrans : CblasNoTrans;
  CBLAS_TRANSPOSE tb = transB ? CblasTrans : CblasNoTrans;
  if (dtype == DType::Float16 || dtype == DType::BFloat16) {
    // Widen the stored blocks (keeping their row strides), multiply and
    // accumulate in float, round the result once.
    auto extent = [](int64_t rows, int64_t cols, int64_t ld) {
      return static_cast<size_t>((rows - 1) * ld + cols);
    };
    size_t na = transA ? extent(k, m, lda) : extent(m, k, lda);
    size_t nb = transB ? extent(n, k, ldb) : extent(k, n, ldb);
    size_t nc = extent(m, n, ldc);
    std::vector<float> fa(na), fb(nb), fc(nc, 0.0f);
    toFloat32(dtype, a, fa.data(), na);
    toFloat32(dtype, b, fb.data(), nb);
    if (accumulate)
      toFloat32(dtype, c, fc.data(), nc);
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, 1.0f, fa.data(), lda, fb.data(), ldb,
                accumulate ? 1.0f : 0.0f, fc.data(), ldc);
    if (ldc == n) {
      fromFloat32(dtype, fc.data(), c, nc);
    } else {
      // Rows of c are separated by columns this product does not own.
      for (int64_t i = 0; i < m; ++i)
        fromFloat32(dtype, fc.data() + i * ldc,
                    static_cast<char *>(c) + i * ldc * elt, n);
    }
    return;
  }
  if (dtype == DType::Float32)
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, 1.0f, static_cast<const float *>(a),
                lda, static_cast<const float *>(b), ldb, accumulate ? 1.0f : 0.0f,
                static_cast<float *>(c), ldc);
  else
    cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, 1.0, static_cast<const double *>(a),
                lda, static_cast<const double *>(b), ldb, accumulate ? 1.0 : 0.0,
                static_cast<double *>(c), ldc);
}

bool parseActivation(const std::string &name, Activation &out) {
  if (name == "none")
    out = Activation::None;
  else if (name == "relu")
    out = Activation::Relu;
  else if (name == "gelu")
    out = Activation::Gelu;
  else if (name == "gelu_tanh")
    out = Activation::GeluTanh;
  else
    return false;
  return true;
}

namespace {

template <typename T>
T activate(Activation act, T x) {
  switch (act) {
  case Activation::None:
    return x;
  case Activation::Relu:
    return x > T(0) ? x : T(0);
  case Activation::Gelu:
    return T(0.5) * x * (T(1) + std::erf(x * T(M_SQRT1_2)));
  case Activation::GeluTanh: {
    const T k = T(0.7978845608028654); // sqrt(2 / pi)
    return T(0.5) * x * (T(1) + std::tanh(k * (x + T(0.044715) * x * x * x)));
  }
  }
  return x;
}

/// c[rows, n] = act(c + bias) in T.
template <typename T>
void epilogueTyped(int64_t rows, int64_t n, const T *bias, Activation act, T *c) {
  for (int64_t i = 0; i < rows; ++i) {
    T *row = c + i * n;
    if (bias)
      for (int64_t j = 0; j < n; ++j)
        row[j] += bias[j];
    if (act != Activation::None)
      for (int64_t j = 0; j < n; ++j)
        row[j] = activate(act, row[j]);
  }
}

} // namespace

void epilogue(DType dtype, int64_t rows, int64_t n, const void *bias, Activation act,
              void *c) {
  if (rows == 0 || n == 0 || (!bias && act == Activation::None))
    return;
  if (dtype == DType::Float32) {
    epilogueTyped(rows, n, static_cast<const float *>(bias), act, static_cast<float *>(c));
    return;
  }
  if (dtype == DType::Float64) {
    epilogueTyped(rows, n, static_cast<const double *>(bias), act,
                  static_cast<double *>(c));
    return;
  }
  // float16 / bfloat16: widen the bias once and each row, round once.
  size_t elt = dtypeSize(dtype);
  std::vector<float> fbias, row(n);
  if (bias) {
    fbias.resize(n);
    toFloat32(dtype, bias, fbias.data(), n);
  }
  for (int64_t i = 0; i < rows; ++i) {
    char *p = static_cast<char *>(c) + i * n * elt;
    toFloat32(dtype, p, row.data(), n);
    epilogueTyped<float>(1, n, bias ? fbias.data() : nullptr, act, row.data());
    fromFloat32(dtype, row.data(), p, n);
  }
}

int64_t ConvGeometry::inSize() const {
  int64_t n = 1;
  for (int64_t d : in)
    n *= d;
  return n;
}
int64_t ConvGeometry::kernelSize() const {
  int64_t n = 1;
  for (int64_t d : kernel)
    n *= d;
  return n;
}
int64_t ConvGeometry::outSize() const {
  int64_t n = 1;
  for (int64_t d : out)
    n *= d;
  return n;
}

namespace {
template <typename T>
void im2colTyped(const ConvGeometry &g, int64_t channels, const T *x, T *col) {
  const size_t rank = g.in.size();
  const int64_t inSize = g.inSize(), kSize = g.kernelSize(), outSize = g.outSize();
  const int64_t last = static_cast<int64_t>(rank) - 1;
  const int64_t outLast = g.out[last], inLast = g.in[last];
  const int64_t sLast = g.strides[last], dLast = g.dilations[last];
  std::vector<int64_t> kidx(rank), oidx(rank);
  for (int64_t c = 0; c < channels; ++c) {
    const T *xc = x + c * inSize;
    std::fill(kidx.begin(), kidx.end(), 0);
    for (int64_t kk = 0; kk < kSize; ++kk) {
      T *dst = col + (c * kSize + kk) * outSize;
      // Walk the output positions: an odometer over the leading dims, a
      // strided run over the last one.
      std::fill(oidx.begin(), oidx.end(), 0);
      for (int64_t o = 0; o < outSize; o += outLast) {
        bool inside = true;
        int64_t base = 0;
        for (size_t d = 0; d < rank - 1; ++d) {
          int64_t i = oidx[d] * g.strides[d] - g.padsBegin[d] + kidx[d] * g.dilations[d];
          if (i < 0 || i >= g.in[d]) {
            inside = false;
            break;
          }
          base = base * g.in[d] + i;
        }
        T *row = dst + o;
        if (!inside) {
          std::fill(row, row + outLast, T(0));
        } else {
          const T *src = xc + base * inLast;
          int64_t start = kidx[last] * dLast - g.padsBegin[last];
          for (int64_t ol = 0; ol < outLast; ++ol) {
            int64_t i = ol * sLast + start;
            row[ol] = (i >= 0 && i < inLast) ? src[i] : T(0);
          }
        }
        for (int64_t d = last - 1; d >= 0; --d) {
          if (++oidx[d] < g.out[d])
            break;
          oidx[d] = 0;
        }
      }
      for (int64_t d = last; d >= 0; --d) {
        if (++kidx[d] < g.kernel[d])
          break;
        kidx[d] = 0;
      }
    }
  }
}
} // namespace

void im2col(DType dtype, const ConvGeometry &g, int64_t channels, const void *x,
            void *col) {
  if (g.outSize() == 0)
    return;
  if (dtype == DType::Float32)
    im2colTyped(g, channels, static_cast<const float *>(x), static_cast<float *>(col));
  else if (dtypeSize(dtype) == 2) // f16/bf16 bits: zero padding is +0.0 in both
    im2colTyped(g, channels, static_cast<const uint16_t *>(x),
                static_cast<uint16_t *>(col));
  else
    im2colTyped(g, channels, static_cast<const double *>(x), static_cast<double *>(col));
}

} // namespace pmc::runtime::blas
