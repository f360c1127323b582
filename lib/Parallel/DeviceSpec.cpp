//===- DeviceSpec.cpp - built-in device specs and their JSON form ----------===//
#include "pmc/Parallel/DeviceSpec.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <thread>
#include <unistd.h>

using namespace mlir::pmc;
using llvm::createStringError;
using llvm::Error;
using llvm::Expected;
using llvm::StringRef;

static constexpr const char *kDTypeNames[kNumPeakDTypes] = {"f64", "f32",  "tf32",
                                                            "bf16", "f16", "i8"};

StringRef mlir::pmc::peakDTypeName(PeakDType dtype) {
  return kDTypeNames[static_cast<unsigned>(dtype)];
}

double DeviceSpec::peak(PeakDType dtype) const {
  double value = peakFlops[static_cast<unsigned>(dtype)];
  return value > 0 ? value : peakFlops[static_cast<unsigned>(PeakDType::F32)];
}

static Error fieldError(const std::string &field, const std::string &what) {
  return createStringError(llvm::inconvertibleErrorCode(), "device spec field '%s': %s",
                           field.c_str(), what.c_str());
}

static bool positive(double x) { return std::isfinite(x) && x > 0; }

Error DeviceSpec::validate() const {
  if (name.empty())
    return fieldError("name", "must not be empty");
  if (!positive(peak(PeakDType::F32)))
    return fieldError("peak_flops.f32", "expected a positive number");
  for (unsigned i = 0; i < kNumPeakDTypes; ++i)
    if (!std::isfinite(peakFlops[i]) || peakFlops[i] < 0)
      return fieldError(std::string("peak_flops.") + kDTypeNames[i],
                        "expected a non-negative number");
  if (!positive(vectorFlops))
    return fieldError("vector_flops", "expected a positive number");
  if (!positive(memoryBandwidth))
    return fieldError("memory_bandwidth", "expected a positive number");
  if (!positive(memoryBytes))
    return fieldError("memory_bytes", "expected a positive number");
  if (!std::isfinite(launchOverhead) || launchOverhead < 0)
    return fieldError("launch_overhead", "expected a non-negative number");
  if (levels.empty())
    return fieldError("levels", "expected at least one link level");
  for (auto [i, level] : llvm::enumerate(levels)) {
    std::string at = "levels[" + std::to_string(i) + "]";
    if (level.name.empty())
      return fieldError(at + ".name", "must not be empty");
    bool last = i + 1 == levels.size();
    if (last && level.devicesPerGroup != 0)
      return fieldError(at + ".devices", "the last level must span every device (0)");
    if (!last && level.devicesPerGroup < 2)
      return fieldError(at + ".devices", "expected at least 2 devices per group "
                                         "(0 only on the last level)");
    if (!last && i > 0 && level.devicesPerGroup <= levels[i - 1].devicesPerGroup)
      return fieldError(at + ".devices", "groups must grow from one level to the next");
    if (!positive(level.bandwidth))
      return fieldError(at + ".bandwidth", "expected a positive number");
    if (!std::isfinite(level.latency) || level.latency < 0)
      return fieldError(at + ".latency", "expected a non-negative number");
  }
  return Error::success();
}

//===----------------------------------------------------------------------===//
// Built-ins. Peaks are NVIDIA's published dense figures (datasheets; the
// "with sparsity" numbers are twice these). Link bandwidths are achievable bus
// bandwidths (NCCL all_reduce busbw), not the marketing bidirectional figure.
//===----------------------------------------------------------------------===//

namespace {
DeviceSpec makeSpec(StringRef name, double f64, double f32, double tf32, double bf16,
                    double f16, double i8, double vector, double bw, double bytes,
                    double launch, std::vector<LinkLevel> levels) {
  DeviceSpec spec;
  spec.name = name.str();
  spec.peakFlops = {f64, f32, tf32, bf16, f16, i8};
  spec.vectorFlops = vector;
  spec.memoryBandwidth = bw;
  spec.memoryBytes = bytes;
  spec.launchOverhead = launch;
  spec.levels = std::move(levels);
  return spec;
}

/// This machine: cores x 32 f32 FLOP/cycle (AVX2: 2 FMA units x 8 lanes x 2)
/// at ~2.5 GHz, DRAM ~20 GB/s, the physical memory; ranks are threads that
/// exchange through shared memory. `pmc-opt calibrate --target cpu` measures
/// the real numbers.
DeviceSpec cpuSpec() {
  double cores = std::max(1u, std::thread::hardware_concurrency());
  double f32 = cores * 32 * 2.5e9;
  long pages = sysconf(_SC_PHYS_PAGES), pageSize = sysconf(_SC_PAGE_SIZE);
  double memory = pages > 0 && pageSize > 0 ? double(pages) * pageSize : 16e9;
  return makeSpec("cpu", f32 / 2, f32, 0, 0, 0, 0, f32 / 4, 20e9, memory, 2e-6,
                  {{"shared-memory", 0, 5e9, 20e-6}});
}
} // namespace

llvm::ArrayRef<StringRef> mlir::pmc::builtinDeviceSpecNames() {
  static const StringRef names[] = {"h100-sxm", "h100-pcie", "h200", "a100", "cpu"};
  return names;
}

Expected<DeviceSpec> mlir::pmc::getBuiltinDeviceSpec(StringRef name) {
  // NVLink levels: 8 GPUs per node (HGX boards). Network: one 400 Gb/s NDR
  // InfiniBand NIC per GPU (50 GB/s, ~40 GB/s achieved) on H100/H200, one
  // 200 Gb/s HDR NIC per GPU (~20 GB/s) on A100. Latencies are typical NCCL
  // per-step figures.
  if (name == "h100-sxm")
    // H100 SXM5 80GB: FP64 34, FP64 tensor 67, FP32 67, TF32 tensor 494.7,
    // BF16/FP16 tensor 989.4, INT8 tensor 1979 (TFLOP/s / TOPS, dense);
    // HBM3 3.35 TB/s; NVLink 4 900 GB/s bidirectional, ~370 GB/s busbw.
    return makeSpec(name, 66.9e12, 66.9e12, 494.7e12, 989.4e12, 989.4e12, 1979e12,
                    66.9e12, 3.35e12, 80e9, 5e-6,
                    {{"nvlink", 8, 370e9, 3e-6}, {"network", 0, 40e9, 10e-6}});
  if (name == "h100-pcie")
    // H100 PCIe 80GB: FP64 tensor 51, FP32 51, TF32 378, BF16/FP16 756,
    // INT8 1513 (dense); HBM2e 2.0 TB/s; GPUs talk over PCIe Gen5 x16
    // (64 GB/s per direction, ~40 GB/s achieved) within a node.
    return makeSpec(name, 51.2e12, 51.2e12, 378e12, 756e12, 756e12, 1513e12, 51.2e12,
                    2.0e12, 80e9, 5e-6,
                    {{"pcie", 8, 40e9, 5e-6}, {"network", 0, 40e9, 10e-6}});
  if (name == "h200")
    // H200 SXM 141GB: the H100 SXM compute (same GH100 die and clocks),
    // HBM3e 4.8 TB/s, 141 GB; NVLink 4 as on H100 SXM.
    return makeSpec(name, 66.9e12, 66.9e12, 494.7e12, 989.4e12, 989.4e12, 1979e12,
                    66.9e12, 4.8e12, 141e9, 5e-6,
                    {{"nvlink", 8, 370e9, 3e-6}, {"network", 0, 40e9, 10e-6}});
  if (name == "a100")
    // A100 SXM4 80GB: FP64 tensor 19.5, FP32 19.5, TF32 156, BF16/FP16 312,
    // INT8 624 (dense); HBM2e 2.039 TB/s; NVLink 3 600 GB/s bidirectional,
    // ~230 GB/s busbw.
    return makeSpec(name, 19.5e12, 19.5e12, 156e12, 312e12, 312e12, 624e12, 19.5e12,
                    2.039e12, 80e9, 5e-6,
                    {{"nvlink", 8, 230e9, 3e-6}, {"network", 0, 20e9, 10e-6}});
  if (name == "cpu")
    return cpuSpec();
  std::string known;
  for (StringRef n : builtinDeviceSpecNames())
    known += (known.empty() ? "" : ", ") + n.str();
  return createStringError(llvm::inconvertibleErrorCode(),
                           "unknown device spec '%s' (built-ins: %s; or a path to "
                           "a .json file)",
                           name.str().c_str(), known.c_str());
}

//===----------------------------------------------------------------------===//
// JSON. Parsed without exceptions (the compiler builds with -fno-exceptions):
// every access checks the type first.
//===----------------------------------------------------------------------===//

namespace {
using json = nlohmann::json;

Error readNumber(const json &object, const char *key, const std::string &at, double &out,
                 bool optional = false) {
  auto it = object.find(key);
  std::string field = at.empty() ? key : at + "." + key;
  if (it == object.end()) {
    if (optional)
      return Error::success();
    return fieldError(field, "missing");
  }
  if (!it->is_number())
    return fieldError(field, "expected a number, got " + std::string(it->type_name()));
  out = it->get<double>();
  return Error::success();
}

Error readString(const json &object, const char *key, const std::string &at,
                 std::string &out) {
  auto it = object.find(key);
  std::string field = at.empty() ? key : at + "." + key;
  if (it == object.end())
    return fieldError(field, "missing");
  if (!it->is_string())
    return fieldError(field, "expected a string, got " + std::string(it->type_name()));
  out = it->get<std::string>();
  return Error::success();
}
} // namespace

Expected<DeviceSpec> mlir::pmc::parseDeviceSpec(StringRef text) {
  json root = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded())
    return createStringError(llvm::inconvertibleErrorCode(),
                             "device spec: not valid JSON");
  if (!root.is_object())
    return fieldError("(top level)", "expected an object");
  DeviceSpec spec;
  if (Error e = readString(root, "name", "", spec.name))
    return std::move(e);
  auto peaks = root.find("peak_flops");
  if (peaks == root.end())
    return fieldError("peak_flops", "missing");
  if (!peaks->is_object())
    return fieldError("peak_flops", "expected an object of dtype -> FLOP/s");
  for (auto it = peaks->begin(); it != peaks->end(); ++it) {
    const char *const *known = llvm::find(kDTypeNames, it.key());
    if (known == std::end(kDTypeNames))
      return fieldError("peak_flops." + it.key(),
                        "unknown dtype (expected f64, f32, tf32, bf16, f16, i8)");
  }
  for (unsigned i = 0; i < kNumPeakDTypes; ++i)
    if (Error e = readNumber(*peaks, kDTypeNames[i], "peak_flops", spec.peakFlops[i],
                             /*optional=*/i != unsigned(PeakDType::F32)))
      return std::move(e);
  if (Error e = readNumber(root, "vector_flops", "", spec.vectorFlops))
    return std::move(e);
  if (Error e = readNumber(root, "memory_bandwidth", "", spec.memoryBandwidth))
    return std::move(e);
  if (Error e = readNumber(root, "memory_bytes", "", spec.memoryBytes))
    return std::move(e);
  if (Error e = readNumber(root, "launch_overhead", "", spec.launchOverhead))
    return std::move(e);
  auto levels = root.find("levels");
  if (levels == root.end())
    return fieldError("levels", "missing");
  if (!levels->is_array())
    return fieldError("levels", "expected an array");
  for (size_t i = 0; i < levels->size(); ++i) {
    const json &entry = (*levels)[i];
    std::string at = "levels[" + std::to_string(i) + "]";
    if (!entry.is_object())
      return fieldError(at, "expected an object");
    LinkLevel level;
    double devices = 0;
    if (Error e = readString(entry, "name", at, level.name))
      return std::move(e);
    if (Error e = readNumber(entry, "devices", at, devices))
      return std::move(e);
    if (devices < 0 || devices != std::floor(devices) || devices > 1e9)
      return fieldError(at + ".devices", "expected a non-negative integer");
    level.devicesPerGroup = static_cast<int64_t>(devices);
    if (Error e = readNumber(entry, "bandwidth", at, level.bandwidth))
      return std::move(e);
    if (Error e = readNumber(entry, "latency", at, level.latency))
      return std::move(e);
    spec.levels.push_back(std::move(level));
  }
  if (Error e = spec.validate())
    return std::move(e);
  return spec;
}

std::string mlir::pmc::printDeviceSpec(const DeviceSpec &spec) {
  json root = json::object();
  root["name"] = spec.name;
  json peaks = json::object();
  for (unsigned i = 0; i < kNumPeakDTypes; ++i)
    if (spec.peakFlops[i] > 0)
      peaks[kDTypeNames[i]] = spec.peakFlops[i];
  root["peak_flops"] = peaks;
  root["vector_flops"] = spec.vectorFlops;
  root["memory_bandwidth"] = spec.memoryBandwidth;
  root["memory_bytes"] = spec.memoryBytes;
  root["launch_overhead"] = spec.launchOverhead;
  json levels = json::array();
  for (const LinkLevel &level : spec.levels)
    levels.push_back({{"name", level.name},
                      {"devices", level.devicesPerGroup},
                      {"bandwidth", level.bandwidth},
                      {"latency", level.latency}});
  root["levels"] = levels;
  return root.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

Expected<DeviceSpec> mlir::pmc::loadDeviceSpec(StringRef nameOrPath) {
  if (llvm::is_contained(builtinDeviceSpecNames(), nameOrPath))
    return getBuiltinDeviceSpec(nameOrPath);
  bool looksLikePath = nameOrPath.contains('/') || nameOrPath.ends_with(".json");
  if (!looksLikePath && !llvm::sys::fs::exists(nameOrPath))
    return getBuiltinDeviceSpec(nameOrPath); // The error lists the built-ins.
  auto buffer = llvm::MemoryBuffer::getFile(nameOrPath);
  if (!buffer)
    return createStringError(buffer.getError(), "cannot read device spec '%s': %s",
                             nameOrPath.str().c_str(),
                             buffer.getError().message().c_str());
  Expected<DeviceSpec> spec = parseDeviceSpec((*buffer)->getBuffer());
  if (!spec)
    return createStringError(llvm::inconvertibleErrorCode(), "%s: %s",
                             nameOrPath.str().c_str(),
                             llvm::toString(spec.takeError()).c_str());
  return spec;
}
