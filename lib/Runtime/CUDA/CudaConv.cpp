//===- CudaConv.cpp - plan and enqueue conv steps on cuDNN -----------------===//

#include "CudaConv.h"
#include "CudaScalars.h"

#include <algorithm>

namespace pmc::runtime::cuda {

namespace {

/// The most workspace a cuDNN algorithm may ask for.
constexpr size_t kCudnnWorkspaceLimit = 256u << 20;

cudnnDataType_t cudnnType(DType t) {
  switch (t) {
  case DType::Float64:
    return CUDNN_DATA_DOUBLE;
  case DType::Float16:
    return CUDNN_DATA_HALF;
  case DType::BFloat16:
    return CUDNN_DATA_BFLOAT16;
  default:
    return CUDNN_DATA_FLOAT;
  }
}

/// Row-major strides of dense `dims`.
std::vector<int> denseStrides(const std::vector<int> &dims) {
  std::vector<int> st(dims.size(), 1);
  for (size_t i = dims.size() - 1; i > 0; --i)
    st[i - 1] = st[i] * dims[i];
  return st;
}

} // namespace

CudaConvs::CudaConvs(const CudaProgram &program, CachingAllocator &allocator, CUstream stream)
    : plans(program.steps().size()) {
  try {
    for (const CudaStep &st : program.steps())
      if (st.kind == CudaStepKind::Conv && !dnn)
        dnn = &CudaLibraries::cudnn(st.where());
    if (!dnn)
      return;
    checkCudnn(*dnn, dnn->create(&handle), "cudnnCreate");
    checkCudnn(*dnn, dnn->setStream(handle, stream), "cudnnSetStream");
    for (const CudaStep &st : program.steps())
      if (st.kind == CudaStepKind::Conv)
        plan(st);
    workspace = allocator.allocate(workspaceBytes);
  } catch (...) {
    destroy();
    throw;
  }
}

CudaConvs::~CudaConvs() { destroy(); }

void CudaConvs::destroy() {
  if (!dnn)
    return;
  for (Plan &c : plans) {
    for (cudnnTensorDescriptor_t *t : {&c.x, &c.y, &c.bias})
      if (*t)
        dnn->destroyTensorDescriptor(*t), *t = nullptr;
    if (c.w)
      dnn->destroyFilterDescriptor(c.w), c.w = nullptr;
    if (c.conv)
      dnn->destroyConvolutionDescriptor(c.conv), c.conv = nullptr;
  }
  if (handle)
    dnn->destroy(handle), handle = nullptr;
}

void CudaConvs::plan(const CudaStep &st) {
  const CudnnApi &api = *dnn;
  const std::string w = st.where();
  const ConvStep &c = st.conv;
  Plan &dc = plans[st.index];
  // cuDNN wants 4-d or 5-d tensors: a 1-d conv gets a trailing 1.
  std::vector<int> x(c.xShape.begin(), c.xShape.end()), f(c.wShape.begin(), c.wShape.end()),
      y(c.yShape.begin(), c.yShape.end());
  std::vector<int> pads, strides, dil;
  size_t spatial = c.xShape.size() - 2;
  for (size_t d = 0; d < spatial; ++d) {
    pads.push_back(static_cast<int>(c.pads[d]));
    strides.push_back(static_cast<int>(c.strides[d]));
    dil.push_back(static_cast<int>(c.dilations[d]));
  }
  if (spatial == 1) {
    x.push_back(1), f.push_back(1), y.push_back(1);
    pads.push_back(0), strides.push_back(1), dil.push_back(1);
  }
  cudnnDataType_t dt = cudnnType(c.dtype);
  cudnnDataType_t computeT = c.dtype == DType::Float64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
  int nd = static_cast<int>(x.size());
  checkCudnn(api, api.createTensorDescriptor(&dc.x), w + ": cudnnCreateTensorDescriptor");
  checkCudnn(api, api.setTensorNdDescriptor(dc.x, dt, nd, x.data(), denseStrides(x).data()),
             w + ": x descriptor");
  checkCudnn(api, api.createTensorDescriptor(&dc.y), w + ": cudnnCreateTensorDescriptor");
  checkCudnn(api, api.setTensorNdDescriptor(dc.y, dt, nd, y.data(), denseStrides(y).data()),
             w + ": y descriptor");
  checkCudnn(api, api.createFilterDescriptor(&dc.w), w + ": cudnnCreateFilterDescriptor");
  checkCudnn(api, api.setFilterNdDescriptor(dc.w, dt, CUDNN_TENSOR_NCHW, nd, f.data()),
             w + ": w descriptor");
  checkCudnn(api, api.createConvolutionDescriptor(&dc.conv),
             w + ": cudnnCreateConvolutionDescriptor");
  checkCudnn(api, api.setConvolutionNdDescriptor(dc.conv, nd - 2, pads.data(), strides.data(),
                                                 dil.data(), CUDNN_CROSS_CORRELATION, computeT),
             w + ": cudnnSetConvolutionNdDescriptor");
  checkCudnn(api, api.setConvolutionGroupCount(dc.conv, static_cast<int>(c.group)),
             w + ": group count");
  // float32 stays float32: FMA math, no TF32 tensor cores.
  cudnnMathType_t math = c.dtype == DType::Float32   ? CUDNN_FMA_MATH
                         : c.dtype == DType::Float64 ? CUDNN_DEFAULT_MATH
                                                     : CUDNN_TENSOR_OP_MATH;
  checkCudnn(api, api.setConvolutionMathType(dc.conv, math), w + ": math type");
  cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
  int returned = 0;
  checkCudnn(api,
             api.getConvolutionForwardAlgorithm(handle, dc.x, dc.w, dc.conv, dc.y,
                                                CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned, perf),
             w + ": cudnnGetConvolutionForwardAlgorithm_v7");
  bool chosen = false;
  for (int i = 0; i < returned && !chosen; ++i) {
    if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].memory > kCudnnWorkspaceLimit)
      continue;
    if (c.dtype == DType::Float32 && perf[i].mathType != CUDNN_FMA_MATH &&
        perf[i].mathType != CUDNN_DEFAULT_MATH)
      continue;
    size_t bytes = 0;
    if (api.getConvolutionForwardWorkspaceSize(handle, dc.x, dc.w, dc.conv, dc.y, perf[i].algo,
                                               &bytes) != CUDNN_STATUS_SUCCESS)
      continue;
    dc.algo = perf[i].algo;
    dc.workspace = bytes;
    chosen = true;
  }
  if (!chosen)
    throw RuntimeError(w + ": cuDNN has no forward algorithm for this " +
                       std::string(dtypeName(c.dtype)) + " convolution");
  workspaceBytes = std::max(workspaceBytes, dc.workspace);
  if (c.bias >= 0) {
    std::vector<int> b(nd, 1);
    b[1] = f[0];
    checkCudnn(api, api.createTensorDescriptor(&dc.bias), w + ": cudnnCreateTensorDescriptor");
    checkCudnn(api, api.setTensorNdDescriptor(dc.bias, dt, nd, b.data(), denseStrides(b).data()),
               w + ": bias descriptor");
  }
}

void CudaConvs::enqueue(const CudaStep &st, const std::vector<uint64_t> &address) const {
  const ConvStep &c = st.conv;
  const Plan &dc = plans[st.index];
  checkCudnn(*dnn,
             dnn->convolutionForward(handle, kOneZero.alpha(c.dtype), dc.x,
                                     reinterpret_cast<const void *>(address[c.x]), dc.w,
                                     reinterpret_cast<const void *>(address[c.w]), dc.conv,
                                     dc.algo, reinterpret_cast<void *>(workspace), dc.workspace,
                                     kOneZero.beta(c.dtype), dc.y,
                                     reinterpret_cast<void *>(address[c.y])),
             "cudnnConvolutionForward");
  if (c.bias >= 0)
    checkCudnn(*dnn,
               dnn->addTensor(handle, kOneOne.alpha(c.dtype), dc.bias,
                              reinterpret_cast<const void *>(address[c.bias]),
                              kOneOne.beta(c.dtype), dc.y,
                              reinterpret_cast<void *>(address[c.y])),
               "cudnnAddTensor (bias)");
}

} // namespace pmc::runtime::cuda
