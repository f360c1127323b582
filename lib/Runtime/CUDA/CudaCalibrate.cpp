//===- CudaCalibrate.cpp - GEMM peaks, bandwidth and overhead of one GPU ---===//

#include "pmc/Runtime/CUDA/CudaCalibrate.h"
#include "pmc/Runtime/CUDA/CudaLibraries.h"

#include <algorithm>
#include <chrono>
#include <functional>

namespace pmc::runtime::cuda {
namespace {
using Clock = std::chrono::steady_clock;

/// The device state of one calibration, released on every exit path.
struct Device {
  const DriverApi &cu;
  CUdevice device = 0;
  CUcontext context = nullptr;
  CUstream stream = nullptr;
  std::vector<CUdeviceptr> allocations;

  explicit Device(const DriverApi &cu) : cu(cu) {}
  ~Device() {
    if (stream)
      cu.streamSynchronize(stream);
    for (CUdeviceptr p : allocations)
      cu.memFree(p);
    if (stream)
      cu.streamDestroy(stream);
    if (context)
      cu.primaryCtxRelease(device);
  }
  CUdeviceptr allocate(size_t bytes, const std::string &what) {
    CUdeviceptr p = 0;
    checkCu(cu, cu.memAlloc(&p, bytes),
            "cuMemAlloc of " + std::to_string(bytes) + " bytes (" + what + ")");
    allocations.push_back(p);
    return p;
  }
  void sync(const std::string &what) { checkCu(cu, cu.streamSynchronize(stream), what); }

  /// Seconds per call of `enqueue` (asynchronous work on `stream`): one
  /// warm-up, then batches sized to last about `budget` seconds; the best
  /// batch's average.
  double time(const std::function<void()> &enqueue, double budget, const std::string &what) {
    enqueue();
    sync(what);
    auto t0 = Clock::now();
    enqueue();
    sync(what);
    double once = std::chrono::duration<double>(Clock::now() - t0).count();
    int calls = static_cast<int>(std::clamp(budget / 3 / std::max(once, 1e-7), 3.0, 2000.0));
    double best = once;
    for (int batch = 0; batch < 3; ++batch) {
      auto start = Clock::now();
      for (int i = 0; i < calls; ++i)
        enqueue();
      sync(what);
      best = std::min(best, std::chrono::duration<double>(Clock::now() - start).count() / calls);
    }
    return best;
  }
};

struct GemmKind {
  const char *dtype;
  cublasComputeType_t compute;
  cudaDataType_t type;
  size_t elementBytes;
};

/// Best FLOP/s of square GEMMs of `kind` over `sizes` (operands hold a small
/// non-zero pattern: 0x3c bytes).
CudaGemmPeak measureGemm(Device &d, const CublasLtApi &lt, cublasLtHandle_t handle,
                         const GemmKind &kind, const std::vector<int64_t> &sizes,
                         CUdeviceptr workspace, size_t workspaceBytes, double budget) {
  CudaGemmPeak peak;
  peak.dtype = kind.dtype;
  const int64_t largest = *std::max_element(sizes.begin(), sizes.end());
  const size_t bytes = static_cast<size_t>(largest * largest) * kind.elementBytes;
  CUdeviceptr a = d.allocate(bytes, std::string(kind.dtype) + " gemm A");
  CUdeviceptr b = d.allocate(bytes, std::string(kind.dtype) + " gemm B");
  CUdeviceptr c = d.allocate(bytes, std::string(kind.dtype) + " gemm C");
  for (CUdeviceptr p : {a, b, c})
    checkCu(d.cu, d.cu.memsetD8Async(p, 0x3c, bytes, d.stream), "cuMemsetD8Async");
  const float one = 1, zero = 0;
  for (int64_t n : sizes) {
    std::string what = std::string(kind.dtype) + " gemm " + std::to_string(n) + "^3";
    cublasLtMatmulDesc_t desc = nullptr;
    cublasLtMatrixLayout_t layout = nullptr;
    cublasLtMatmulPreference_t pref = nullptr;
    auto release = [&] {
      if (pref)
        lt.preferenceDestroy(pref);
      if (layout)
        lt.layoutDestroy(layout);
      if (desc)
        lt.matmulDescDestroy(desc);
    };
    try {
      checkCublas(lt, lt.matmulDescCreate(&desc, kind.compute, CUDA_R_32F),
                  what + ": cublasLtMatmulDescCreate");
      checkCublas(lt, lt.layoutCreate(&layout, kind.type, n, n, n),
                  what + ": cublasLtMatrixLayoutCreate");
      checkCublas(lt, lt.preferenceCreate(&pref), what + ": cublasLtMatmulPreferenceCreate");
      uint64_t ws = workspaceBytes;
      checkCublas(lt,
                  lt.preferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
                                            sizeof(ws)),
                  what + ": CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES");
      cublasLtMatmulHeuristicResult_t heuristic{};
      int found = 0;
      cublasStatus_t status = lt.algoGetHeuristic(handle, desc, layout, layout, layout, layout,
                                                  pref, 1, &heuristic, &found);
      if (status != CUBLAS_STATUS_SUCCESS || found == 0) {
        peak.note = "cuBLASLt offers no " + std::string(kind.dtype) + " algorithm on this GPU";
        release();
        continue;
      }
      double seconds = d.time(
          [&] {
            checkCublas(lt,
                        lt.matmul(handle, desc, &one, reinterpret_cast<const void *>(a), layout,
                                  reinterpret_cast<const void *>(b), layout, &zero,
                                  reinterpret_cast<const void *>(c), layout,
                                  reinterpret_cast<void *>(c), layout, &heuristic.algo,
                                  reinterpret_cast<void *>(workspace), workspaceBytes,
                                  d.stream),
                        what + ": cublasLtMatmul");
          },
          budget, what);
      double flops = 2.0 * n * n * n / seconds;
      if (flops > peak.flops) {
        peak.flops = flops;
        peak.size = n;
        peak.note.clear();
      }
    } catch (...) {
      release();
      throw;
    }
    release();
  }
  return peak;
}
} // namespace

CudaDeviceCalibration calibrateCudaDevice(int device, bool quick) {
  const DriverApi &cu = CudaLibraries::driver();
  int count = 0;
  checkCu(cu, cu.deviceGetCount(&count), "cuDeviceGetCount");
  if (count == 0)
    throw RuntimeError("no CUDA device found (the driver loaded, but reports 0 devices)");
  if (device < 0 || device >= count)
    throw RuntimeError("CUDA device " + std::to_string(device) + " does not exist (this machine has " +
                       std::to_string(count) + ")");
  const CublasLtApi &lt = CudaLibraries::cublasLt("calibrate (GEMM peaks)");

  CudaDeviceCalibration result;
  result.device = device;
  Device d(cu);
  checkCu(cu, cu.deviceGet(&d.device, device), "cuDeviceGet");
  char name[256] = {};
  checkCu(cu, cu.deviceGetName(name, sizeof(name) - 1, d.device), "cuDeviceGetName");
  result.deviceName = name;
  size_t total = 0;
  checkCu(cu, cu.deviceTotalMem(&total, d.device), "cuDeviceTotalMem");
  result.memoryBytes = static_cast<double>(total);
  checkCu(cu, cu.primaryCtxRetain(&d.context, d.device), "cuDevicePrimaryCtxRetain");
  checkCu(cu, cu.ctxSetCurrent(d.context), "cuCtxSetCurrent");
  checkCu(cu, cu.streamCreate(&d.stream, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
  const double budget = quick ? 0.05 : 0.3;

  // Memory bandwidth: device-to-device copies move 2 x bytes.
  const size_t copyBytes = quick ? (size_t(64) << 20) : (size_t(512) << 20);
  CUdeviceptr src = d.allocate(copyBytes, "bandwidth source");
  CUdeviceptr dst = d.allocate(copyBytes, "bandwidth destination");
  checkCu(cu, cu.memsetD8Async(src, 1, copyBytes, d.stream), "cuMemsetD8Async");
  double copy = d.time(
      [&] { checkCu(cu, cu.memcpyDtoDAsync(dst, src, copyBytes, d.stream), "cuMemcpyDtoDAsync"); },
      budget, "device-to-device copy");
  result.memoryBandwidth = 2.0 * copyBytes / copy;

  // Launch overhead: a 4-byte memset per operation, back to back.
  constexpr int tiny = 200;
  result.launchOverhead =
      d.time(
          [&] {
            for (int i = 0; i < tiny; ++i)
              checkCu(cu, cu.memsetD8Async(dst, 0, 4, d.stream), "cuMemsetD8Async");
          },
          budget, "tiny memsets") /
      tiny;

  // GEMM peaks through cuBLASLt.
  cublasLtHandle_t handle = nullptr;
  checkCublas(lt, lt.create(&handle), "cublasLtCreate");
  try {
    const size_t workspaceBytes = size_t(32) << 20;
    CUdeviceptr workspace = d.allocate(workspaceBytes, "cuBLASLt workspace");
    const std::vector<int64_t> sizes = quick ? std::vector<int64_t>{2048, 4096}
                                             : std::vector<int64_t>{2048, 4096, 8192};
    const GemmKind kinds[] = {
        {"f32", CUBLAS_COMPUTE_32F, CUDA_R_32F, 4},
        {"tf32", CUBLAS_COMPUTE_32F_FAST_TF32, CUDA_R_32F, 4},
        {"bf16", CUBLAS_COMPUTE_32F, CUDA_R_16BF, 2},
        {"f16", CUBLAS_COMPUTE_32F, CUDA_R_16F, 2}};
    for (const GemmKind &kind : kinds) {
      result.gemms.push_back(
          measureGemm(d, lt, handle, kind, sizes, workspace, workspaceBytes, budget));
      // Each dtype's operands are freed before the next (all but the workspace).
      d.sync("gemm");
      while (d.allocations.size() > 3) {
        cu.memFree(d.allocations.back());
        d.allocations.pop_back();
      }
    }
  } catch (...) {
    d.sync("gemm");
    lt.destroy(handle);
    throw;
  }
  lt.destroy(handle);
  return result;
}

} // namespace pmc::runtime::cuda
