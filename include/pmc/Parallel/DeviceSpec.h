//===- DeviceSpec.h - what a device can do: peaks, memory, links -*- C++ -*-===//
//
// The numbers the cost model (CostModel.h) reads: peak FLOP/s per dtype, HBM
// (or DRAM) bandwidth and size, kernel launch overhead, and the link levels
// that connect devices (fastest first). Built-ins for common GPUs and the CPU;
// JSON files written by `pmc-opt calibrate` or by hand (docs/design/cost-model.md):
//
//   {"name": "h100-sxm", "peak_flops": {"bf16": 989.4e12, "f32": 66.9e12},
//    "vector_flops": 66.9e12, "memory_bandwidth": 3.35e12,
//    "memory_bytes": 80e9, "launch_overhead": 5e-6,
//    "levels": [{"name": "nvlink", "devices": 8, "bandwidth": 370e9,
//                "latency": 3e-6},
//               {"name": "network", "devices": 0, "bandwidth": 40e9,
//                "latency": 10e-6}]}
//
#ifndef PMC_PARALLEL_DEVICESPEC_H
#define PMC_PARALLEL_DEVICESPEC_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace mlir::pmc {

/// The dtypes a spec gives a peak for. Integer types other than i8 and
/// anything unknown use the f32 peak.
enum class PeakDType : uint8_t { F64, F32, TF32, BF16, F16, I8 };
inline constexpr unsigned kNumPeakDTypes = 6;
/// "f64", "f32", "tf32", "bf16", "f16", "i8": the JSON keys.
llvm::StringRef peakDTypeName(PeakDType dtype);

/// One level of the interconnect: groups of `devicesPerGroup` neighbouring
/// ranks share it (0: every device, the last level).
struct LinkLevel {
  std::string name;
  int64_t devicesPerGroup = 0;
  /// Achievable bus bandwidth per device, bytes/s (NCCL's "busbw": the rate
  /// at which each device's data crosses its link in a ring collective).
  double bandwidth = 0;
  /// Per-message latency (the alpha of the alpha-beta model), seconds.
  double latency = 0;
};

/// What one device can do, and how devices are connected.
struct DeviceSpec {
  std::string name;
  /// Dense peak FLOP/s of matrix work (matmul, conv) per dtype; 0 = not
  /// supported natively, the f32 peak is used instead.
  std::array<double, kNumPeakDTypes> peakFlops{};
  /// Peak FLOP/s of element-wise work (vector units, no tensor cores).
  double vectorFlops = 0;
  /// Memory bandwidth, bytes/s, and capacity, bytes.
  double memoryBandwidth = 0;
  double memoryBytes = 0;
  /// Fixed cost of every op (kernel launch, dispatch), seconds.
  double launchOverhead = 0;
  /// Fastest first; the last level spans every device.
  std::vector<LinkLevel> levels;

  /// The matrix peak for `dtype`, falling back to f32 when it is 0.
  double peak(PeakDType dtype) const;
  /// Checks every number is positive and finite, levels are ordered (group
  /// sizes grow) and the last spans every device; the error names the field.
  llvm::Error validate() const;
};

/// The names of the built-in specs: h100-sxm, h100-pcie, h200, a100, cpu.
llvm::ArrayRef<llvm::StringRef> builtinDeviceSpecNames();
/// A built-in spec by name, or an error listing the names.
llvm::Expected<DeviceSpec> getBuiltinDeviceSpec(llvm::StringRef name);

/// Parses and validates a spec from JSON text; errors name the field
/// ("levels[1].bandwidth: expected a positive number").
llvm::Expected<DeviceSpec> parseDeviceSpec(llvm::StringRef json);
/// Serializes `spec` (parseDeviceSpec reads it back unchanged).
std::string printDeviceSpec(const DeviceSpec &spec);
/// A built-in name, or else a path to a JSON file.
llvm::Expected<DeviceSpec> loadDeviceSpec(llvm::StringRef nameOrPath);

} // namespace mlir::pmc

#endif // PMC_PARALLEL_DEVICESPEC_H
