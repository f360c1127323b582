//===- CudaExecutor.cpp - streams, memory, modules, libraries, graphs ------===//

#include "pmc/Runtime/CUDA/CudaExecutor.h"
#include "pmc/Bundle/Bundle.h"
#include "pmc/Runtime/CUDA/CudaLibraries.h"
#include "pmc/Runtime/CUDA/CudaProgram.h"
#include "pmc/Runtime/CUDA/DeviceCollectives.h"

#include <cstring>
#include <map>

namespace pmc::runtime::cuda {

namespace {

/// cuBLASLt's workspace (the size its documentation recommends for Hopper).
constexpr size_t kCublasWorkspace = 32u << 20;
/// The most workspace a cuDNN algorithm may ask for.
constexpr size_t kCudnnWorkspaceLimit = 256u << 20;

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

/// The alpha/beta scalars of a library call: double for float64, else float.
struct Scalars {
  float f[2];
  double d[2];
  const void *alpha(DType t) const { return t == DType::Float64 ? (const void *)&d[0] : &f[0]; }
  const void *beta(DType t) const { return t == DType::Float64 ? (const void *)&d[1] : &f[1]; }
};
constexpr Scalars kOneZero{{1.0f, 0.0f}, {1.0, 0.0}};
constexpr Scalars kOneOne{{1.0f, 1.0f}, {1.0, 1.0}};

struct LtMatmul {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};
};

struct DnnConv {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnConvolutionFwdAlgo_t algo{};
  size_t workspace = 0;
};

} // namespace

struct CudaExecutor::State {
  const CudaProgram &program;
  const DriverApi &cu;
  DeviceCollectives *collectives;
  CUdevice device = 0;
  CUcontext context = nullptr;
  CUstream compute = nullptr, comm = nullptr;
  CUmodule module = nullptr;
  std::unique_ptr<CachingAllocator> allocator;
  /// Device address of every buffer (views share their root's).
  std::vector<uint64_t> address;
  uint64_t arena = 0;
  std::vector<uint64_t> owned;
  /// By step index: launch functions and parameters, library plans, events.
  std::vector<CUfunction> functions;
  std::vector<std::unique_ptr<KernelParams>> params;
  std::vector<LtMatmul> matmuls;
  std::vector<DnnConv> convs;
  std::vector<CUevent> ready, done;
  std::vector<std::vector<int>> waits;
  const CublasLtApi *lt = nullptr;
  cublasLtHandle_t ltHandle = nullptr;
  uint64_t ltWorkspace = 0;
  const CudnnApi *dnn = nullptr;
  cudnnHandle_t dnnHandle = nullptr;
  uint64_t dnnWorkspace = 0;
  size_t dnnWorkspaceBytes = 0;
  CUgraph graph = nullptr;
  CUgraphExec graphExec = nullptr;
  int runs = 0;

  State(const CudaProgram &program, const DriverApi &cu, DeviceCollectives *collectives)
      : program(program), cu(cu), collectives(collectives) {}
  void check(CUresult r, const std::string &what) const { checkCu(cu, r, what); }
  void release();
};

void CudaExecutor::State::release() {
  if (!context)
    return;
  cu.ctxSetCurrent(context);
  if (compute)
    cu.streamSynchronize(compute);
  if (comm)
    cu.streamSynchronize(comm);
  if (graphExec)
    cu.graphExecDestroy(graphExec);
  if (graph)
    cu.graphDestroy(graph);
  if (lt) {
    for (LtMatmul &m : matmuls) {
      if (m.a)
        lt->layoutDestroy(m.a);
      if (m.b)
        lt->layoutDestroy(m.b);
      if (m.d)
        lt->layoutDestroy(m.d);
      if (m.desc)
        lt->matmulDescDestroy(m.desc);
    }
    if (ltHandle)
      lt->destroy(ltHandle);
  }
  if (dnn) {
    for (DnnConv &c : convs) {
      for (cudnnTensorDescriptor_t t : {c.x, c.y, c.bias})
        if (t)
          dnn->destroyTensorDescriptor(t);
      if (c.w)
        dnn->destroyFilterDescriptor(c.w);
      if (c.conv)
        dnn->destroyConvolutionDescriptor(c.conv);
    }
    if (dnnHandle)
      dnn->destroy(dnnHandle);
  }
  for (std::vector<CUevent> *events : {&ready, &done})
    for (CUevent e : *events)
      if (e)
        cu.eventDestroy(e);
  allocator.reset();
  if (module)
    cu.moduleUnload(module);
  if (compute)
    cu.streamDestroy(compute);
  if (comm)
    cu.streamDestroy(comm);
  cu.primaryCtxRelease(device);
  context = nullptr;
}

CudaExecutor::CudaExecutor(const CudaProgram &program, const bundle::BundleReader &reader,
                           const CudaExecutorOptions &options, DeviceCollectives *collectives,
                           bool collectivesCapturable) {
  const DriverApi &cu = CudaLibraries::driver();
  state = std::make_unique<State>(program, cu, collectives);
  State &s = *state;
  const std::string &section = program.section();
  try {
    int count = 0;
    s.check(cu.deviceGetCount(&count), "cuDeviceGetCount");
    if (count == 0)
      throw RuntimeError("the CUDA driver sees no GPU");
    if (options.device < 0 || options.device >= count)
      throw RuntimeError("CUDA device " + std::to_string(options.device) +
                         " does not exist (this machine has " + std::to_string(count) +
                         " CUDA device(s))");
    s.check(cu.deviceGet(&s.device, options.device), "cuDeviceGet");
    char name[256] = {0};
    s.check(cu.deviceGetName(name, sizeof(name) - 1, s.device), "cuDeviceGetName");
    int major = 0, minor = 0;
    s.check(cu.deviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, s.device),
            "cuDeviceGetAttribute");
    s.check(cu.deviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, s.device),
            "cuDeviceGetAttribute");
    deviceText = std::string(name) + " (device " + std::to_string(options.device) +
                 ", compute capability " + std::to_string(major) + "." + std::to_string(minor) +
                 ")";
    s.check(cu.primaryCtxRetain(&s.context, s.device), "cuDevicePrimaryCtxRetain");
    s.check(cu.ctxSetCurrent(s.context), "cuCtxSetCurrent");
    s.check(cu.streamCreate(&s.compute, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
    s.check(cu.streamCreate(&s.comm, CU_STREAM_NON_BLOCKING), "cuStreamCreate");

    // Memory: arena, weights (uploaded once), one buffer per input.
    const DriverApi *api = &cu;
    s.allocator = std::make_unique<CachingAllocator>(
        [api](size_t bytes) -> uint64_t {
          CUdeviceptr p = 0;
          CUresult r = api->memAlloc(&p, bytes);
          if (r == CUDA_ERROR_OUT_OF_MEMORY)
            return 0;
          checkCu(*api, r, "cuMemAlloc of " + std::to_string(bytes) + " bytes");
          return p;
        },
        [api](uint64_t p) { api->memFree(static_cast<CUdeviceptr>(p)); });
    const std::vector<BufferDesc> &buffers = program.buffers();
    s.address.assign(buffers.size(), 0);
    s.arena = s.allocator->allocate(program.plan().arenaBytes);
    std::map<int, uint64_t> inputAddress;
    for (const BufferDesc &b : buffers) {
      switch (b.kind) {
      case BufferKind::Temp:
        if (program.plan().offsets[b.id] >= 0)
          s.address[b.id] = s.arena + static_cast<uint64_t>(program.plan().offsets[b.id]);
        break;
      case BufferKind::Weight: {
        s.address[b.id] = s.allocator->allocate(b.bytes);
        std::string_view bytes = reader.section(b.section);
        if (b.bytes)
          s.check(cu.memcpyHtoDAsync(s.address[b.id], bytes.data(), b.bytes, s.compute),
                  b.describe() + ": uploading section '" + b.section + "'");
        break;
      }
      case BufferKind::Input: {
        auto it = inputAddress.find(b.input);
        if (it == inputAddress.end())
          it = inputAddress.emplace(b.input, s.allocator->allocate(b.bytes)).first;
        s.address[b.id] = it->second;
        break;
      }
      case BufferKind::View:
        break;
      }
    }
    for (const BufferDesc &b : buffers)
      if (b.kind == BufferKind::View)
        s.address[b.id] = s.address[b.root];

    const std::vector<CudaStep> &steps = program.steps();
    s.functions.assign(steps.size(), nullptr);
    s.params.resize(steps.size());
    s.matmuls.resize(steps.size());
    s.convs.resize(steps.size());
    s.ready.assign(steps.size(), nullptr);
    s.done.assign(steps.size(), nullptr);

    // The PTX module of the newest chip the device runs.
    if (program.has(CudaStepKind::Launch)) {
      std::vector<std::string> chips;
      for (const PtxModule &m : program.ptx())
        chips.push_back(m.chip);
      const PtxModule &m = program.ptx()[selectPtxChip(chips, major, minor, name)];
      chip = m.chip;
      std::string ptx(reader.section(m.section)); // NUL-terminated copy
      std::vector<char> log(16384, 0);
      CUjit_option opts[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
      void *values[] = {log.data(), reinterpret_cast<void *>(static_cast<uintptr_t>(log.size() - 1))};
      CUresult r = cu.moduleLoadDataEx(&s.module, ptx.c_str(), 2, opts, values);
      if (r != CUDA_SUCCESS) {
        std::string jitLog(log.data());
        try {
          s.check(r, "loading PTX section '" + m.section + "' (cuModuleLoadDataEx)");
        } catch (const RuntimeError &e) {
          throw RuntimeError(std::string(e.what()) +
                             (jitLog.empty() ? "" : "; JIT log: " + jitLog));
        }
      }
      std::map<std::string, CUfunction> byName;
      for (const CudaStep &st : steps) {
        if (st.kind != CudaStepKind::Launch)
          continue;
        auto it = byName.find(st.launch.function);
        if (it == byName.end()) {
          CUfunction f = nullptr;
          CUresult fr = cu.moduleGetFunction(&f, s.module, st.launch.function.c_str());
          if (fr == CUDA_ERROR_NOT_FOUND)
            throw RuntimeError(st.where() + ": function '" + st.launch.function +
                               "' is not an entry of PTX section '" + m.section + "'");
          s.check(fr, st.where() + ": cuModuleGetFunction('" + st.launch.function + "')");
          it = byName.emplace(st.launch.function, f).first;
        }
        s.functions[st.index] = it->second;
        // Dynamic shared memory above the default 48 KiB must be opted into.
        if (st.launch.sharedBytes > 48u * 1024)
          s.check(cu.funcSetAttribute(it->second, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                      static_cast<int>(st.launch.sharedBytes)),
                  st.where() + ": cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES, " +
                      std::to_string(st.launch.sharedBytes) + ")");
        s.params[st.index] = std::make_unique<KernelParams>(st.launch.args, s.address);
      }
    }

    // cuBLASLt plans.
    if (program.has(CudaStepKind::Matmul)) {
      for (const CudaStep &st : steps)
        if (st.kind == CudaStepKind::Matmul && !s.lt)
          s.lt = &CudaLibraries::cublasLt(st.where());
      const CublasLtApi &lt = *s.lt;
      checkCublas(lt, lt.create(&s.ltHandle), "cublasLtCreate");
      s.ltWorkspace = s.allocator->allocate(kCublasWorkspace);
      for (const CudaStep &st : steps) {
        if (st.kind != CudaStepKind::Matmul)
          continue;
        const LtMatmulPlan &p = st.matmul.plan;
        if (p.m == 0 || p.n == 0 || p.k == 0)
          continue; // empty result, or zeros (run() clears c)
        const std::string w = st.where();
        LtMatmul &mm = s.matmuls[st.index];
        DType t = st.matmul.dtype;
        bool f64 = t == DType::Float64;
        // float32: CUBLAS_COMPUTE_32F, never the TF32 fast mode.
        checkCublas(lt, lt.matmulDescCreate(&mm.desc, f64 ? CUBLAS_COMPUTE_64F : CUBLAS_COMPUTE_32F,
                                            f64 ? CUDA_R_64F : CUDA_R_32F),
                    w + ": cublasLtMatmulDescCreate");
        cublasOperation_t opA = p.transA ? CUBLAS_OP_T : CUBLAS_OP_N;
        cublasOperation_t opB = p.transB ? CUBLAS_OP_T : CUBLAS_OP_N;
        checkCublas(lt, lt.matmulDescSetAttribute(mm.desc, CUBLASLT_MATMUL_DESC_TRANSA, &opA, sizeof(opA)),
                    w + ": CUBLASLT_MATMUL_DESC_TRANSA");
        checkCublas(lt, lt.matmulDescSetAttribute(mm.desc, CUBLASLT_MATMUL_DESC_TRANSB, &opB, sizeof(opB)),
                    w + ": CUBLASLT_MATMUL_DESC_TRANSB");
        int32_t batch = p.strided ? static_cast<int32_t>(p.batches) : 1;
        auto layout = [&](cublasLtMatrixLayout_t &l, const LtLayout &d, const char *which) {
          checkCublas(lt, lt.layoutCreate(&l, cudaType(t), d.rows, d.cols, d.ld),
                      w + ": cublasLtMatrixLayoutCreate(" + which + ")");
          if (batch > 1) {
            int64_t stride = d.batchStride;
            checkCublas(lt, lt.layoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batch, sizeof(batch)),
                        w + ": CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT");
            checkCublas(lt, lt.layoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride)),
                        w + ": CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET");
          }
        };
        layout(mm.a, p.layoutA, "A");
        layout(mm.b, p.layoutB, "B");
        layout(mm.d, p.layoutD, "D");
        cublasLtMatmulPreference_t pref = nullptr;
        checkCublas(lt, lt.preferenceCreate(&pref), w + ": cublasLtMatmulPreferenceCreate");
        uint64_t ws = kCublasWorkspace;
        lt.preferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
        cublasLtMatmulHeuristicResult_t result{};
        int found = 0;
        cublasStatus_t hs = lt.algoGetHeuristic(s.ltHandle, mm.desc, mm.a, mm.b, mm.d, mm.d, pref,
                                                1, &result, &found);
        lt.preferenceDestroy(pref);
        checkCublas(lt, hs, w + ": cublasLtMatmulAlgoGetHeuristic");
        if (found == 0)
          throw RuntimeError(w + ": cuBLASLt has no algorithm for this " +
                             std::string(dtypeName(t)) + " matmul (m=" + std::to_string(p.m) +
                             ", n=" + std::to_string(p.n) + ", k=" + std::to_string(p.k) + ")");
        mm.algo = result.algo;
      }
    }

    // cuDNN plans.
    if (program.has(CudaStepKind::Conv)) {
      for (const CudaStep &st : steps)
        if (st.kind == CudaStepKind::Conv && !s.dnn)
          s.dnn = &CudaLibraries::cudnn(st.where());
      const CudnnApi &dnn = *s.dnn;
      checkCudnn(dnn, dnn.create(&s.dnnHandle), "cudnnCreate");
      checkCudnn(dnn, dnn.setStream(s.dnnHandle, s.compute), "cudnnSetStream");
      for (const CudaStep &st : steps) {
        if (st.kind != CudaStepKind::Conv)
          continue;
        const std::string w = st.where();
        const ConvStep &c = st.conv;
        DnnConv &dc = s.convs[st.index];
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
        auto dense = [](const std::vector<int> &dims) {
          std::vector<int> st(dims.size(), 1);
          for (size_t i = dims.size() - 1; i > 0; --i)
            st[i - 1] = st[i] * dims[i];
          return st;
        };
        cudnnDataType_t dt = cudnnType(c.dtype);
        cudnnDataType_t computeT = c.dtype == DType::Float64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
        int nd = static_cast<int>(x.size());
        checkCudnn(dnn, dnn.createTensorDescriptor(&dc.x), w + ": cudnnCreateTensorDescriptor");
        checkCudnn(dnn, dnn.setTensorNdDescriptor(dc.x, dt, nd, x.data(), dense(x).data()), w + ": x descriptor");
        checkCudnn(dnn, dnn.createTensorDescriptor(&dc.y), w + ": cudnnCreateTensorDescriptor");
        checkCudnn(dnn, dnn.setTensorNdDescriptor(dc.y, dt, nd, y.data(), dense(y).data()), w + ": y descriptor");
        checkCudnn(dnn, dnn.createFilterDescriptor(&dc.w), w + ": cudnnCreateFilterDescriptor");
        checkCudnn(dnn, dnn.setFilterNdDescriptor(dc.w, dt, CUDNN_TENSOR_NCHW, nd, f.data()), w + ": w descriptor");
        checkCudnn(dnn, dnn.createConvolutionDescriptor(&dc.conv), w + ": cudnnCreateConvolutionDescriptor");
        checkCudnn(dnn, dnn.setConvolutionNdDescriptor(dc.conv, nd - 2, pads.data(), strides.data(), dil.data(),
                                                       CUDNN_CROSS_CORRELATION, computeT),
                   w + ": cudnnSetConvolutionNdDescriptor");
        checkCudnn(dnn, dnn.setConvolutionGroupCount(dc.conv, static_cast<int>(c.group)), w + ": group count");
        // float32 stays float32: FMA math, no TF32 tensor cores.
        cudnnMathType_t math = c.dtype == DType::Float32   ? CUDNN_FMA_MATH
                               : c.dtype == DType::Float64 ? CUDNN_DEFAULT_MATH
                                                           : CUDNN_TENSOR_OP_MATH;
        checkCudnn(dnn, dnn.setConvolutionMathType(dc.conv, math), w + ": math type");
        cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
        int returned = 0;
        checkCudnn(dnn, dnn.getConvolutionForwardAlgorithm(s.dnnHandle, dc.x, dc.w, dc.conv, dc.y,
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
          if (dnn.getConvolutionForwardWorkspaceSize(s.dnnHandle, dc.x, dc.w, dc.conv, dc.y, perf[i].algo,
                                                     &bytes) != CUDNN_STATUS_SUCCESS)
            continue;
          dc.algo = perf[i].algo;
          dc.workspace = bytes;
          chosen = true;
        }
        if (!chosen)
          throw RuntimeError(w + ": cuDNN has no forward algorithm for this " +
                             std::string(dtypeName(c.dtype)) + " convolution");
        s.dnnWorkspaceBytes = std::max(s.dnnWorkspaceBytes, dc.workspace);
        if (c.bias >= 0) {
          std::vector<int> b(nd, 1);
          b[1] = f[0];
          checkCudnn(dnn, dnn.createTensorDescriptor(&dc.bias), w + ": cudnnCreateTensorDescriptor");
          checkCudnn(dnn, dnn.setTensorNdDescriptor(dc.bias, dt, nd, b.data(), dense(b).data()),
                     w + ": bias descriptor");
        }
      }
      s.dnnWorkspace = s.allocator->allocate(s.dnnWorkspaceBytes);
    }

    // Events of the collectives and the waits of the compute stream.
    for (const CudaStep &st : steps) {
      if (!st.communicates())
        continue;
      if (!collectives)
        throw RuntimeError(st.where() + ": the program has collectives but no device "
                                        "collectives were set up");
      s.check(cu.eventCreate(&s.ready[st.index], CU_EVENT_DISABLE_TIMING), "cuEventCreate");
      s.check(cu.eventCreate(&s.done[st.index], CU_EVENT_DISABLE_TIMING), "cuEventCreate");
    }
    s.waits = planCollectiveWaits(program.accesses());
    graph = decideGraphCapture(options.graphs, steps.size(), program.collectiveCount(),
                               collectivesCapturable);
    s.check(cu.streamSynchronize(s.compute), "uploading the weights (cuStreamSynchronize)");
  } catch (const CudaUnavailableError &) {
    s.release();
    throw;
  } catch (const RuntimeError &e) {
    s.release();
    throw RuntimeError(section + ": " + e.what());
  } catch (const bundle::BundleError &e) {
    s.release();
    throw RuntimeError(section + ": " + e.what());
  }
}

CudaExecutor::~CudaExecutor() {
  if (state)
    state->release();
}

AllocatorStats CudaExecutor::allocatorStats() const { return state->allocator->stats(); }

void CudaExecutor::activate() {
  state->check(state->cu.ctxSetCurrent(state->context), "cuCtxSetCurrent");
}

void CudaExecutor::enqueueProgram() {
  State &s = *state;
  const DriverApi &cu = s.cu;
  const std::vector<CudaStep> &steps = s.program.steps();
  const std::vector<BufferDesc> &buffers = s.program.buffers();
  for (const CudaStep &st : steps) {
    try {
      for (int c : s.waits[st.index])
        s.check(cu.streamWaitEvent(s.compute, s.done[c], 0), "cuStreamWaitEvent");
      switch (st.kind) {
      case CudaStepKind::Launch: {
        const LaunchStep &l = st.launch;
        s.check(cu.launchKernel(s.functions[st.index], l.grid[0], l.grid[1], l.grid[2], l.block[0],
                                l.block[1], l.block[2], l.sharedBytes, s.compute,
                                s.params[st.index]->params(), nullptr),
                "cuLaunchKernel('" + l.function + "')");
        break;
      }
      case CudaStepKind::Matmul: {
        const MatmulStep &m = st.matmul;
        const LtMatmulPlan &p = m.plan;
        uint64_t c = s.address[m.c];
        if (p.m == 0 || p.n == 0)
          break;
        if (p.k == 0) {
          s.check(cu.memsetD8Async(c, 0, buffers[m.c].bytes, s.compute), "cuMemsetD8Async");
          break;
        }
        const LtMatmul &mm = s.matmuls[st.index];
        const CublasLtApi &lt = *s.lt;
        size_t elt = dtypeSize(m.dtype);
        // cuBLASLt's A is pmc's b, its B pmc's a (CudaPlanning.h).
        uint64_t A = s.address[m.b], B = s.address[m.a];
        int64_t calls = p.strided ? 1 : p.batches;
        for (int64_t i = 0; i < calls; ++i) {
          uint64_t a = A, b = B, d = c;
          if (!p.strided) {
            a += static_cast<uint64_t>(p.offsetsA[i]) * elt;
            b += static_cast<uint64_t>(p.offsetsB[i]) * elt;
            d += static_cast<uint64_t>(i * p.m * p.n) * elt;
          }
          checkCublas(lt,
                      lt.matmul(s.ltHandle, mm.desc, kOneZero.alpha(m.dtype),
                                reinterpret_cast<const void *>(a), mm.a,
                                reinterpret_cast<const void *>(b), mm.b, kOneZero.beta(m.dtype),
                                reinterpret_cast<const void *>(d), mm.d,
                                reinterpret_cast<void *>(d), mm.d, &mm.algo,
                                reinterpret_cast<void *>(s.ltWorkspace), kCublasWorkspace,
                                s.compute),
                      "cublasLtMatmul");
        }
        break;
      }
      case CudaStepKind::Conv: {
        const ConvStep &c = st.conv;
        const DnnConv &dc = s.convs[st.index];
        const CudnnApi &dnn = *s.dnn;
        checkCudnn(dnn,
                   dnn.convolutionForward(s.dnnHandle, kOneZero.alpha(c.dtype), dc.x,
                                          reinterpret_cast<const void *>(s.address[c.x]), dc.w,
                                          reinterpret_cast<const void *>(s.address[c.w]), dc.conv,
                                          dc.algo, reinterpret_cast<void *>(s.dnnWorkspace),
                                          dc.workspace, kOneZero.beta(c.dtype), dc.y,
                                          reinterpret_cast<void *>(s.address[c.y])),
                   "cudnnConvolutionForward");
        if (c.bias >= 0)
          checkCudnn(dnn,
                     dnn.addTensor(s.dnnHandle, kOneOne.alpha(c.dtype), dc.bias,
                                   reinterpret_cast<const void *>(s.address[c.bias]),
                                   kOneOne.beta(c.dtype), dc.y,
                                   reinterpret_cast<void *>(s.address[c.y])),
                     "cudnnAddTensor (bias)");
        break;
      }
      case CudaStepKind::Copy:
        if (st.bytes)
          s.check(cu.memcpyDtoDAsync(s.address[st.writes[0]], s.address[st.reads[0]], st.bytes,
                                     s.compute),
                  "cuMemcpyDtoDAsync");
        break;
      case CudaStepKind::Shard: {
        uint64_t src = s.address[st.reads[0]], dst = s.address[st.writes[0]];
        for (const Copy2D &c : st.copies) {
          if (c.height == 1) {
            s.check(cu.memcpyDtoDAsync(dst + c.dstOffset, src + c.srcOffset, c.widthBytes,
                                       s.compute),
                    "cuMemcpyDtoDAsync");
            continue;
          }
          CUDA_MEMCPY2D d;
          std::memset(&d, 0, sizeof(d));
          d.srcMemoryType = CU_MEMORYTYPE_DEVICE;
          d.srcDevice = src + c.srcOffset;
          d.srcPitch = c.srcPitch;
          d.dstMemoryType = CU_MEMORYTYPE_DEVICE;
          d.dstDevice = dst + c.dstOffset;
          d.dstPitch = c.dstPitch;
          d.WidthInBytes = c.widthBytes;
          d.Height = c.height;
          s.check(cu.memcpy2DAsync(&d, s.compute), "cuMemcpy2DAsync");
        }
        break;
      }
      case CudaStepKind::Collective:
      case CudaStepKind::Send:
      case CudaStepKind::Recv: {
        // The communication stream starts after the compute work so far.
        s.check(cu.eventRecord(s.ready[st.index], s.compute), "cuEventRecord");
        s.check(cu.streamWaitEvent(s.comm, s.ready[st.index], 0), "cuStreamWaitEvent");
        if (st.kind == CudaStepKind::Send) {
          s.collectives->send(reinterpret_cast<const void *>(s.address[st.reads[0]]), st.bytes,
                              st.peer, st.tag, s.comm);
        } else if (st.kind == CudaStepKind::Recv) {
          s.collectives->recv(reinterpret_cast<void *>(s.address[st.writes[0]]), st.bytes,
                              st.peer, st.tag, s.comm);
        } else {
          CollectiveCall call = st.call;
          call.in = reinterpret_cast<const void *>(s.address[st.reads[0]]);
          call.out = reinterpret_cast<void *>(s.address[st.writes[0]]);
          s.collectives->collective(call, s.comm);
        }
        s.check(cu.eventRecord(s.done[st.index], s.comm), "cuEventRecord");
        break;
      }
      }
    } catch (const CollectiveError &) {
      throw;
    } catch (const RuntimeError &e) {
      throw RuntimeError(st.where() + ": " + e.what());
    }
  }
  for (int c : s.waits.back())
    s.check(cu.streamWaitEvent(s.compute, s.done[c], 0), "cuStreamWaitEvent (end of program)");
}

std::vector<HostTensor> CudaExecutor::run(const std::vector<const void *> &inputs) {
  State &s = *state;
  const DriverApi &cu = s.cu;
  const CudaProgram &program = s.program;
  const std::vector<BufferDesc> &buffers = program.buffers();
  try {
    s.check(cu.ctxSetCurrent(s.context), "cuCtxSetCurrent");
    std::vector<bool> copied(inputs.size(), false);
    for (const BufferDesc &b : buffers) {
      if (b.kind != BufferKind::Input || copied.at(b.input) || !b.bytes)
        continue;
      copied[b.input] = true;
      s.check(cu.memcpyHtoDAsync(s.address[b.id], inputs.at(b.input), b.bytes, s.compute),
              "copying input " + std::to_string(b.input) + " to the device");
    }
    lastRunReplayed = false;
    if (!s.graphExec && graph.capture && s.runs >= 1) {
      // Capture on the second run: the first loaded and tuned everything.
      s.check(cu.streamBeginCapture(s.compute, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL),
              "cuStreamBeginCapture");
      std::string failure;
      try {
        enqueueProgram();
      } catch (const CollectiveError &) {
        CUgraph partial = nullptr;
        cu.streamEndCapture(s.compute, &partial);
        if (partial)
          cu.graphDestroy(partial);
        throw;
      } catch (const RuntimeError &e) {
        failure = e.what();
      }
      CUresult ended = cu.streamEndCapture(s.compute, &s.graph);
      if (failure.empty() && ended == CUDA_SUCCESS &&
          cu.graphInstantiate(&s.graphExec, s.graph, 0) != CUDA_SUCCESS) {
        s.graphExec = nullptr;
        failure = "cuGraphInstantiate failed";
      }
      if (failure.empty() && ended != CUDA_SUCCESS)
        failure = "cuStreamEndCapture failed";
      if (!failure.empty()) {
        // Not capturable after all: run the commands one by one from now on.
        if (s.graph)
          cu.graphDestroy(s.graph);
        s.graph = nullptr;
        s.graphExec = nullptr;
        graph = {false, "capture failed (" + failure + "); commands run one by one"};
      }
    }
    if (s.graphExec) {
      s.check(cu.graphLaunch(s.graphExec, s.compute), "cuGraphLaunch");
      lastRunReplayed = true;
    } else {
      enqueueProgram();
    }
    std::vector<HostTensor> results;
    for (int id : program.outputs()) {
      const BufferDesc &b = buffers[id];
      HostTensor t;
      t.dtype = b.dtype;
      t.shape = b.shape;
      t.data.resize(b.bytes);
      if (b.bytes)
        s.check(cu.memcpyDtoHAsync(t.data.data(), s.address[id], b.bytes, s.compute),
                "copying " + b.describe() + " to the host");
      results.push_back(std::move(t));
    }
    s.check(cu.streamSynchronize(s.compute), "running the program (cuStreamSynchronize)");
    ++s.runs;
    return results;
  } catch (const CollectiveError &) {
    throw;
  } catch (const RuntimeError &e) {
    throw RuntimeError(program.section() + ": " + e.what());
  }
}

} // namespace pmc::runtime::cuda
