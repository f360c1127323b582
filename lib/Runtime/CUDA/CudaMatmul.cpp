//===- CudaMatmul.cpp - plan and enqueue matmul steps on cuBLASLt ----------===//

#include "CudaMatmul.h"
#include "CudaScalars.h"

namespace pmc::runtime::cuda {

namespace {

/// cuBLASLt's workspace (the size its documentation recommends for Hopper).
constexpr size_t kCublasWorkspace = 32u << 20;

cudaDataType_t cudaType(DType t) {
  switch (t) {
  case DType::Float64:
    return CUDA_R_64F;
  case DType::Float16:
    return CUDA_R_16F;
  case DType::BFloat16:
    return CUDA_R_16BF;
  default:
    return CUDA_R_32F;
  }
}

// CudaPlanning's LtEpilogue mirrors cublasLtEpilogue_t.
static_assert(int(LtEpilogue::Default) == CUBLASLT_EPILOGUE_DEFAULT);
static_assert(int(LtEpilogue::Relu) == CUBLASLT_EPILOGUE_RELU);
static_assert(int(LtEpilogue::Bias) == CUBLASLT_EPILOGUE_BIAS);
static_assert(int(LtEpilogue::ReluBias) == CUBLASLT_EPILOGUE_RELU_BIAS);
static_assert(int(LtEpilogue::Gelu) == CUBLASLT_EPILOGUE_GELU);
static_assert(int(LtEpilogue::GeluBias) == CUBLASLT_EPILOGUE_GELU_BIAS);

/// The heuristic derives the bias alignment from the pointer it sees; the
/// caching allocator's blocks are 256-byte aligned (CudaAllocator.h), so it
/// plans with a placeholder of that alignment and enqueue() sets the real one.
constexpr uintptr_t kBiasAlignmentPlaceholder = 256;

} // namespace

CudaMatmuls::CudaMatmuls(const CudaProgram &program, const DriverApi &cu,
                         CachingAllocator &allocator)
    : program(program), cu(cu), plans(program.steps().size()) {
  try {
    for (const CudaStep &st : program.steps())
      if (st.kind == CudaStepKind::Matmul && !lt)
        lt = &CudaLibraries::cublasLt(st.where());
    if (!lt)
      return;
    checkCublas(*lt, lt->create(&handle), "cublasLtCreate");
    workspace = allocator.allocate(kCublasWorkspace);
    for (const CudaStep &st : program.steps())
      if (st.kind == CudaStepKind::Matmul)
        plan(st);
  } catch (...) {
    destroy();
    throw;
  }
}

CudaMatmuls::~CudaMatmuls() { destroy(); }

void CudaMatmuls::destroy() {
  if (!lt)
    return;
  for (Plan &m : plans) {
    for (cublasLtMatrixLayout_t *l : {&m.a, &m.b, &m.d})
      if (*l)
        lt->layoutDestroy(*l), *l = nullptr;
    if (m.desc)
      lt->matmulDescDestroy(m.desc), m.desc = nullptr;
  }
  if (handle)
    lt->destroy(handle), handle = nullptr;
}

void CudaMatmuls::plan(const CudaStep &st) {
  const LtMatmulPlan &p = st.matmul.plan;
  if (p.m == 0 || p.n == 0 || p.k == 0)
    return; // empty result, or zeros (enqueue() clears c)
  const CublasLtApi &api = *lt;
  const std::string w = st.where();
  Plan &mm = plans[st.index];
  DType t = st.matmul.dtype;
  bool f64 = t == DType::Float64;
  // float32: CUBLAS_COMPUTE_32F, never the TF32 fast mode.
  checkCublas(api, api.matmulDescCreate(&mm.desc, f64 ? CUBLAS_COMPUTE_64F : CUBLAS_COMPUTE_32F,
                                        f64 ? CUDA_R_64F : CUDA_R_32F),
              w + ": cublasLtMatmulDescCreate");
  cublasOperation_t opA = p.transA ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t opB = p.transB ? CUBLAS_OP_T : CUBLAS_OP_N;
  checkCublas(api, api.matmulDescSetAttribute(mm.desc, CUBLASLT_MATMUL_DESC_TRANSA, &opA, sizeof(opA)),
              w + ": CUBLASLT_MATMUL_DESC_TRANSA");
  checkCublas(api, api.matmulDescSetAttribute(mm.desc, CUBLASLT_MATMUL_DESC_TRANSB, &opB, sizeof(opB)),
              w + ": CUBLASLT_MATMUL_DESC_TRANSB");
  const LtEpiloguePlan &e = st.matmul.epilogue;
  if (e.epilogue != LtEpilogue::Default) {
    auto epilogue = static_cast<cublasLtEpilogue_t>(e.epilogue);
    checkCublas(api, api.matmulDescSetAttribute(mm.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)),
                w + ": CUBLASLT_MATMUL_DESC_EPILOGUE");
  }
  if (e.hasBias()) {
    // The bias has D's type (the default of CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, set
    // explicitly) and one element per row of D = c^T (CudaPlanning.h).
    int32_t biasType = cudaType(t);
    checkCublas(api, api.matmulDescSetAttribute(mm.desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &biasType, sizeof(biasType)),
                w + ": CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE");
    int64_t biasStride = e.biasBatchStride;
    checkCublas(api, api.matmulDescSetAttribute(mm.desc, CUBLASLT_MATMUL_DESC_BIAS_BATCH_STRIDE, &biasStride, sizeof(biasStride)),
                w + ": CUBLASLT_MATMUL_DESC_BIAS_BATCH_STRIDE");
    const void *placeholder = reinterpret_cast<const void *>(kBiasAlignmentPlaceholder);
    checkCublas(api, api.matmulDescSetAttribute(mm.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &placeholder, sizeof(placeholder)),
                w + ": CUBLASLT_MATMUL_DESC_BIAS_POINTER");
  }
  int32_t batch = p.strided ? static_cast<int32_t>(p.batches) : 1;
  auto layout = [&](cublasLtMatrixLayout_t &l, const LtLayout &d, const char *which) {
    checkCublas(api, api.layoutCreate(&l, cudaType(t), d.rows, d.cols, d.ld),
                w + ": cublasLtMatrixLayoutCreate(" + which + ")");
    if (batch > 1) {
      int64_t stride = d.batchStride;
      checkCublas(api, api.layoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batch, sizeof(batch)),
                  w + ": CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT");
      checkCublas(api, api.layoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride)),
                  w + ": CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET");
    }
  };
  layout(mm.a, p.layoutA, "A");
  layout(mm.b, p.layoutB, "B");
  layout(mm.d, p.layoutD, "D");
  cublasLtMatmulPreference_t pref = nullptr;
  checkCublas(api, api.preferenceCreate(&pref), w + ": cublasLtMatmulPreferenceCreate");
  uint64_t ws = kCublasWorkspace;
  api.preferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  cublasStatus_t hs = api.algoGetHeuristic(handle, mm.desc, mm.a, mm.b, mm.d, mm.d, pref, 1,
                                           &result, &found);
  api.preferenceDestroy(pref);
  checkCublas(api, hs, w + ": cublasLtMatmulAlgoGetHeuristic");
  if (found == 0)
    throw RuntimeError(w + ": cuBLASLt has no algorithm for this " + std::string(dtypeName(t)) +
                       " matmul (m=" + std::to_string(p.m) + ", n=" + std::to_string(p.n) +
                       ", k=" + std::to_string(p.k) + ")");
  mm.algo = result.algo;
}

void CudaMatmuls::enqueue(const CudaStep &st, const std::vector<uint64_t> &address,
                          CUstream stream) const {
  const MatmulStep &m = st.matmul;
  const LtMatmulPlan &p = m.plan;
  uint64_t c = address[m.c];
  if (p.m == 0 || p.n == 0)
    return;
  if (p.k == 0) {
    checkCu(cu, cu.memsetD8Async(c, 0, program.buffers()[m.c].bytes, stream), "cuMemsetD8Async");
    return;
  }
  const Plan &mm = plans[st.index];
  if (m.epilogue.hasBias()) {
    // The same bias vector for every call and batch matrix.
    const void *bias = reinterpret_cast<const void *>(address[m.bias]);
    checkCublas(*lt, lt->matmulDescSetAttribute(mm.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)),
                st.where() + ": CUBLASLT_MATMUL_DESC_BIAS_POINTER");
  }
  size_t elt = dtypeSize(m.dtype);
  // cuBLASLt's A is pmc's b, its B pmc's a (CudaPlanning.h).
  uint64_t A = address[m.b], B = address[m.a];
  int64_t calls = p.strided ? 1 : p.batches;
  for (int64_t i = 0; i < calls; ++i) {
    uint64_t a = A, b = B, d = c;
    if (!p.strided) {
      a += static_cast<uint64_t>(p.offsetsA[i]) * elt;
      b += static_cast<uint64_t>(p.offsetsB[i]) * elt;
      d += static_cast<uint64_t>(i * p.m * p.n) * elt;
    }
    checkCublas(*lt,
                lt->matmul(handle, mm.desc, kOneZero.alpha(m.dtype),
                           reinterpret_cast<const void *>(a), mm.a,
                           reinterpret_cast<const void *>(b), mm.b, kOneZero.beta(m.dtype),
                           reinterpret_cast<const void *>(d), mm.d, reinterpret_cast<void *>(d),
                           mm.d, &mm.algo, reinterpret_cast<void *>(workspace), kCublasWorkspace,
                           stream),
                "cublasLtMatmul");
  }
}

} // namespace pmc::runtime::cuda
