//===- DeviceSpecTest.cpp - built-in specs, JSON round trip, validation ---===//
#include "pmc/Parallel/DeviceSpec.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

using namespace mlir::pmc;

namespace {
std::string errorOf(llvm::StringRef json) {
  llvm::Expected<DeviceSpec> spec = parseDeviceSpec(json);
  if (spec)
    return "(no error)";
  return llvm::toString(spec.takeError());
}

const char *kValid = R"({"name": "t", "peak_flops": {"f32": 1e12, "bf16": 4e12},
  "vector_flops": 1e12, "memory_bandwidth": 1e11, "memory_bytes": 1e10,
  "launch_overhead": 1e-6,
  "levels": [{"name": "nvlink", "devices": 4, "bandwidth": 1e11, "latency": 1e-6},
             {"name": "network", "devices": 0, "bandwidth": 1e10, "latency": 1e-5}]})";
} // namespace

TEST(DeviceSpec, BuiltinsAreValidAndCiteDenseFigures) {
  for (llvm::StringRef name : builtinDeviceSpecNames()) {
    llvm::Expected<DeviceSpec> spec = getBuiltinDeviceSpec(name);
    ASSERT_TRUE(bool(spec)) << llvm::toString(spec.takeError());
    EXPECT_FALSE(bool(spec->validate())) << name.str();
    EXPECT_EQ(spec->name, name.str());
  }
  DeviceSpec h100 = llvm::cantFail(getBuiltinDeviceSpec("h100-sxm"));
  EXPECT_DOUBLE_EQ(h100.peak(PeakDType::BF16), 989.4e12); // dense, not 1979 sparse
  EXPECT_DOUBLE_EQ(h100.memoryBandwidth, 3.35e12);
  EXPECT_DOUBLE_EQ(h100.memoryBytes, 80e9);
  ASSERT_EQ(h100.levels.size(), 2u);
  EXPECT_EQ(h100.levels[0].name, "nvlink");
  EXPECT_EQ(h100.levels[0].devicesPerGroup, 8);
  EXPECT_DOUBLE_EQ(h100.levels[0].bandwidth, 370e9);
  DeviceSpec cpu = llvm::cantFail(getBuiltinDeviceSpec("cpu"));
  // The CPU has no bf16 peak: it falls back to f32.
  EXPECT_DOUBLE_EQ(cpu.peak(PeakDType::BF16), cpu.peak(PeakDType::F32));
}

TEST(DeviceSpec, UnknownBuiltinListsNames) {
  llvm::Expected<DeviceSpec> spec = getBuiltinDeviceSpec("tpu");
  ASSERT_FALSE(bool(spec));
  std::string message = llvm::toString(spec.takeError());
  EXPECT_NE(message.find("unknown device spec 'tpu'"), std::string::npos) << message;
  EXPECT_NE(message.find("h100-sxm"), std::string::npos) << message;
}

TEST(DeviceSpec, JsonRoundTrip) {
  for (llvm::StringRef name : builtinDeviceSpecNames()) {
    DeviceSpec spec = llvm::cantFail(getBuiltinDeviceSpec(name));
    std::string text = printDeviceSpec(spec);
    llvm::Expected<DeviceSpec> back = parseDeviceSpec(text);
    ASSERT_TRUE(bool(back)) << llvm::toString(back.takeError()) << "\n" << text;
    EXPECT_EQ(back->name, spec.name);
    EXPECT_EQ(back->peakFlops, spec.peakFlops);
    EXPECT_EQ(back->vectorFlops, spec.vectorFlops);
    EXPECT_EQ(back->memoryBandwidth, spec.memoryBandwidth);
    EXPECT_EQ(back->memoryBytes, spec.memoryBytes);
    EXPECT_EQ(back->launchOverhead, spec.launchOverhead);
    ASSERT_EQ(back->levels.size(), spec.levels.size());
    for (size_t i = 0; i < spec.levels.size(); ++i) {
      EXPECT_EQ(back->levels[i].name, spec.levels[i].name);
      EXPECT_EQ(back->levels[i].devicesPerGroup, spec.levels[i].devicesPerGroup);
      EXPECT_EQ(back->levels[i].bandwidth, spec.levels[i].bandwidth);
      EXPECT_EQ(back->levels[i].latency, spec.levels[i].latency);
    }
    EXPECT_EQ(printDeviceSpec(*back), text);
  }
  llvm::Expected<DeviceSpec> spec = parseDeviceSpec(kValid);
  ASSERT_TRUE(bool(spec)) << llvm::toString(spec.takeError());
  EXPECT_DOUBLE_EQ(spec->peak(PeakDType::BF16), 4e12);
  EXPECT_DOUBLE_EQ(spec->peak(PeakDType::F16), 1e12); // absent: the f32 peak
}

TEST(DeviceSpec, ValidationErrorsNameTheField) {
  auto replace = [](std::string text, const std::string &from, const std::string &to) {
    size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return text.replace(at, from.size(), to);
  };
  std::string valid = kValid;
  EXPECT_EQ(errorOf("{"), "device spec: not valid JSON");
  EXPECT_EQ(errorOf("[]"), "device spec field '(top level)': expected an object");
  EXPECT_EQ(errorOf(replace(valid, R"("name": "t", )", "")),
            "device spec field 'name': missing");
  EXPECT_EQ(errorOf(replace(valid, R"("f32": 1e12)", R"("f32": "fast")")),
            "device spec field 'peak_flops.f32': expected a number, got string");
  EXPECT_EQ(errorOf(replace(valid, R"("bf16": 4e12)", R"("fp4": 4e12)")),
            "device spec field 'peak_flops.fp4': unknown dtype (expected f64, f32, "
            "tf32, bf16, f16, i8)");
  EXPECT_EQ(errorOf(replace(valid, R"("memory_bandwidth": 1e11)",
                            R"("memory_bandwidth": -1)")),
            "device spec field 'memory_bandwidth': expected a positive number");
  EXPECT_EQ(errorOf(replace(valid, R"("bandwidth": 1e10)", R"("bandwidth": 0)")),
            "device spec field 'levels[1].bandwidth': expected a positive number");
  EXPECT_EQ(errorOf(replace(valid, R"("devices": 0)", R"("devices": 16)")),
            "device spec field 'levels[1].devices': the last level must span every "
            "device (0)");
  EXPECT_EQ(errorOf(replace(valid, R"("devices": 4)", R"("devices": 2.5)")),
            "device spec field 'levels[0].devices': expected a non-negative integer");
  EXPECT_EQ(errorOf(replace(valid, R"(, "latency": 1e-5)", "")),
            "device spec field 'levels[1].latency': missing");
  EXPECT_EQ(errorOf(replace(valid, R"("levels": [)", R"("levels": [], "x": [)")),
            "device spec field 'levels': expected at least one link level");
}

TEST(DeviceSpec, LoadFromFileOrBuiltin) {
  llvm::Expected<DeviceSpec> builtin = loadDeviceSpec("a100");
  ASSERT_TRUE(bool(builtin)) << llvm::toString(builtin.takeError());
  EXPECT_DOUBLE_EQ(builtin->peak(PeakDType::BF16), 312e12);

  llvm::SmallString<64> path;
  ASSERT_FALSE(llvm::sys::fs::createTemporaryFile("spec", "json", path));
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(path, ec);
    os << R"({"name": "bad", "peak_flops": {"f32": 1e12}})";
  }
  llvm::Expected<DeviceSpec> bad = loadDeviceSpec(path);
  ASSERT_FALSE(bool(bad));
  std::string message = llvm::toString(bad.takeError());
  EXPECT_NE(message.find(path.str().str() + ": device spec field 'vector_flops': missing"),
            std::string::npos)
      << message;
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(path, ec);
    os << printDeviceSpec(llvm::cantFail(getBuiltinDeviceSpec("h200")));
  }
  llvm::Expected<DeviceSpec> h200 = loadDeviceSpec(path);
  ASSERT_TRUE(bool(h200)) << llvm::toString(h200.takeError());
  EXPECT_DOUBLE_EQ(h200->memoryBandwidth, 4.8e12);
  llvm::sys::fs::remove(path);

  llvm::Expected<DeviceSpec> missing = loadDeviceSpec("/nonexistent/spec.json");
  ASSERT_FALSE(bool(missing));
  EXPECT_NE(llvm::toString(missing.takeError())
                .find("cannot read device spec '/nonexistent/spec.json'"),
            std::string::npos);
  llvm::Expected<DeviceSpec> unknown = loadDeviceSpec("b200");
  ASSERT_FALSE(bool(unknown));
  EXPECT_NE(llvm::toString(unknown.takeError()).find("unknown device spec 'b200'"),
            std::string::npos);
}
