//===- CalibrateCuda.cpp - measure a GPU for `pmc-opt calibrate` -----------===//
#include "Calibrate.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"

#include "pmc/Runtime/CUDA/CudaCalibrate.h"

#include <dlfcn.h>

using mlir::pmc::DeviceSpec;
using mlir::pmc::PeakDType;

namespace pmc::calibrate {
namespace {
//===----------------------------------------------------------------------===//
// CUDA.
//===----------------------------------------------------------------------===//

/// Fails clearly when no CUDA driver or device is present; returns the
/// number of devices.
int findCudaDevices() {
  void *driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!driver)
    throw CalibrateError(std::string("--target cuda: no CUDA driver found (libcuda.so.1 cannot "
                                     "be loaded: ") +
                         dlerror() +
                         "); run calibrate on a machine with an NVIDIA GPU and its driver, or "
                         "use a built-in spec (h100-sxm, h100-pcie, h200, a100)");
  using InitFn = int (*)(unsigned);
  using CountFn = int (*)(int *);
  auto init = reinterpret_cast<InitFn>(dlsym(driver, "cuInit"));
  auto count = reinterpret_cast<CountFn>(dlsym(driver, "cuDeviceGetCount"));
  int devices = 0;
  int status = init && count ? init(0) : -1;
  if (status == 0)
    status = count(&devices);
  if (status != 0 || devices == 0)
    throw CalibrateError("--target cuda: no CUDA device found (the driver loaded, but "
                         "cuInit/cuDeviceGetCount reported " +
                         (status != 0 ? "error " + std::to_string(status)
                                      : std::string("0 devices")) +
                         ")");
  return devices;
}

/// The built-in spec whose link levels a measured GPU gets by default.
std::string baseSpecFor(llvm::StringRef deviceName) {
  if (deviceName.contains("H200"))
    return "h200";
  if (deviceName.contains("H100"))
    return deviceName.contains("PCIe") ? "h100-pcie" : "h100-sxm";
  if (deviceName.contains("A100"))
    return "a100";
  return "";
}

} // namespace

/// Measures GPU `device` into `spec` (peaks, vector FLOP/s, memory, launch
/// overhead); the levels come from `base` (or the GPU's built-in) unless
/// links were given.
void measureCuda(DeviceSpec &spec, int device, bool quick, std::string base,
                 bool haveLinks) {
  int devices = findCudaDevices();
  if (device >= devices)
    throw CalibrateError("--device " + std::to_string(device) + ": this machine has " +
                         std::to_string(devices) + " CUDA device(s)");
  pmc::runtime::cuda::CudaDeviceCalibration c =
      pmc::runtime::cuda::calibrateCudaDevice(device, quick);
  llvm::errs() << "  " << c.deviceName << " (device " << device << ")\n";
  if (base.empty())
    base = baseSpecFor(c.deviceName);
  if (base.empty() && !haveLinks)
    throw CalibrateError("--target cuda: no built-in spec matches '" + c.deviceName +
                         "' for the link levels; give --base h100-sxm|h100-pcie|h200|a100 "
                         "or --links FILE");
  if (!base.empty()) {
    llvm::Expected<DeviceSpec> b = mlir::pmc::getBuiltinDeviceSpec(base);
    if (!b)
      throw CalibrateError("--base: " + llvm::toString(b.takeError()));
    spec.levels = b->levels;
    if (!haveLinks)
      llvm::errs() << "  link levels from the built-in '" << base << "' (NCCL links are not "
                   << "measured; give --links to replace them)\n";
  }
  spec.peakFlops = {};
  for (const pmc::runtime::cuda::CudaGemmPeak &g : c.gemms) {
    llvm::errs() << llvm::format("  %-5s gemm peak %10.2f TFLOP/s (at %lld^3)", g.dtype.c_str(),
                                 g.flops / 1e12, (long long)g.size)
                 << (g.note.empty() ? "" : "  " + g.note) << "\n";
    for (unsigned i = 0; i < mlir::pmc::kNumPeakDTypes; ++i)
      if (mlir::pmc::peakDTypeName(PeakDType(i)) == g.dtype)
        spec.peakFlops[i] = g.flops;
  }
  spec.vectorFlops = spec.peak(PeakDType::F32);
  spec.memoryBandwidth = c.memoryBandwidth;
  spec.memoryBytes = c.memoryBytes;
  spec.launchOverhead = c.launchOverhead;
  llvm::errs() << llvm::format("  memory (d2d)    %10.2f GB/s, %.1f GB\n",
                               c.memoryBandwidth / 1e9, c.memoryBytes / 1e9)
               << llvm::format("  launch          %10.3f us\n", c.launchOverhead * 1e6);
}

} // namespace pmc::calibrate
