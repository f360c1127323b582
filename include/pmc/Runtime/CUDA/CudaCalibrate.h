//===- CudaCalibrate.h - measure one GPU for a device spec ------*- C++ -*-===//
//
// What `pmc-opt calibrate --target cuda` and `pmc-run --calibrate-device`
// measure on a GPU: dense GEMM FLOP/s per dtype through cuBLASLt (f32 with
// TF32 off, tf32, bf16, f16; best over a few square sizes), device memory
// bandwidth (device-to-device copies, read + write bytes), the cost of one
// tiny asynchronous operation (launch overhead) and the memory size. The
// driver and cuBLASLt are dlopen'ed (CudaLibraries.h); this header needs no
// CUDA headers, and a build without them throws "built without CUDA support".
//
//   CudaDeviceCalibration c = calibrateCudaDevice(0, /*quick=*/true);
//   std::string json = cudaCalibrationJson(c);  // device-spec fields
//
#ifndef PMC_RUNTIME_CUDA_CUDACALIBRATE_H
#define PMC_RUNTIME_CUDA_CUDACALIBRATE_H

#include <cstdint>
#include <string>
#include <vector>

namespace pmc::runtime::cuda {

struct CudaGemmPeak {
  /// The device-spec key: "f32", "tf32", "bf16" or "f16".
  std::string dtype;
  /// Best FLOP/s (2 n^3 per n x n x n GEMM) and the n it was reached at; 0
  /// when cuBLASLt offered no algorithm for the dtype (`note` says so).
  double flops = 0;
  int64_t size = 0;
  std::string note;
};

struct CudaDeviceCalibration {
  int device = 0;
  /// cuDeviceGetName, e.g. "NVIDIA H100 80GB HBM3".
  std::string deviceName;
  double memoryBytes = 0;
  /// Bytes/s read plus written by cuMemcpyDtoDAsync.
  double memoryBandwidth = 0;
  /// Seconds per tiny cuMemsetD8Async, enqueued back to back.
  double launchOverhead = 0;
  std::vector<CudaGemmPeak> gemms;
};

/// Measures GPU `device` (an ordinal). Throws CudaUnavailableError when the
/// driver or cuBLASLt cannot be loaded ("no CUDA driver was found ..."),
/// RuntimeError for an ordinal past the device count or a failing call.
CudaDeviceCalibration calibrateCudaDevice(int device, bool quick);

/// `calibration` as device-spec JSON fields ("name", "peak_flops",
/// "vector_flops" = the f32 GEMM peak (CUDA cores), "memory_bandwidth",
/// "memory_bytes", "launch_overhead") plus "device": {"index", "name"}.
std::string cudaCalibrationJson(const CudaDeviceCalibration &calibration);

} // namespace pmc::runtime::cuda

#endif // PMC_RUNTIME_CUDA_CUDACALIBRATE_H
