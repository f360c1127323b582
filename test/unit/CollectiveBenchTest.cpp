//===- CollectiveBenchTest.cpp - the collective bench and its alpha-beta fit ===//

#include "pmc/Runtime/Comm/CollectiveBench.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace pmc::runtime;

namespace {

/// Exact timings of the ring model for `alpha` and `bandwidth`.
std::vector<CollectiveSample> synthetic(CollectiveKind kind, int ranks, double alpha,
                                        double bandwidth) {
  std::vector<CollectiveSample> samples;
  for (double bytes : {4096.0, 65536.0, 1048576.0, 8388608.0})
    samples.push_back({kind, ranks, bytes,
                       collectiveSteps(kind, ranks) * alpha +
                           collectiveBusFactor(kind, ranks) * bytes / bandwidth});
  return samples;
}

TEST(CollectiveBench, RingFactors) {
  EXPECT_DOUBLE_EQ(collectiveSteps(CollectiveKind::AllReduce, 4), 6);
  EXPECT_DOUBLE_EQ(collectiveBusFactor(CollectiveKind::AllReduce, 4), 1.5);
  EXPECT_DOUBLE_EQ(collectiveSteps(CollectiveKind::AllGather, 4), 3);
  EXPECT_DOUBLE_EQ(collectiveBusFactor(CollectiveKind::ReduceScatter, 4), 0.75);
  EXPECT_DOUBLE_EQ(collectiveBusFactor(CollectiveKind::AllToAll, 2), 0.5);
  EXPECT_STREQ(collectiveKindName(CollectiveKind::ReduceScatter), "reduce_scatter");
}

TEST(CollectiveBench, FitRecoversSyntheticAlphaBeta) {
  for (CollectiveKind kind : kBenchCollectives)
    for (int ranks : {2, 3, 8}) {
      AlphaBeta fit = fitAlphaBeta(synthetic(kind, ranks, 5e-6, 12e9));
      EXPECT_NEAR(fit.alpha, 5e-6, 5e-6 * 1e-6) << collectiveKindName(kind) << " p=" << ranks;
      EXPECT_NEAR(fit.bandwidth, 12e9, 12e9 * 1e-6) << collectiveKindName(kind);
    }
}

TEST(CollectiveBench, JointFitOverKindsAndRankCounts) {
  std::vector<CollectiveSample> all;
  for (CollectiveKind kind : kBenchCollectives)
    for (int ranks : {2, 4}) {
      auto s = synthetic(kind, ranks, 20e-6, 3e9);
      all.insert(all.end(), s.begin(), s.end());
    }
  AlphaBeta fit = fitAlphaBeta(all);
  EXPECT_NEAR(fit.alpha, 20e-6, 20e-6 * 1e-6);
  EXPECT_NEAR(fit.bandwidth, 3e9, 3e9 * 1e-6);
}

TEST(CollectiveBench, FitClampsNegativeLatency) {
  // Times a little below the pure bandwidth line would need alpha < 0.
  std::vector<CollectiveSample> s = synthetic(CollectiveKind::AllReduce, 2, 0, 1e9);
  s[0].seconds *= 0.5;
  AlphaBeta fit = fitAlphaBeta(s);
  EXPECT_EQ(fit.alpha, 0);
  EXPECT_GT(fit.bandwidth, 0.9e9);
  EXPECT_LT(fit.bandwidth, 2e9);
}

TEST(CollectiveBench, FitWithoutGrowthUsesLargestMessage) {
  // Flat times (latency-bound): bandwidth from the largest message.
  std::vector<CollectiveSample> s = synthetic(CollectiveKind::AllGather, 2, 1e-3, 1e15);
  for (CollectiveSample &x : s)
    x.seconds = 1e-3;
  s[1].seconds = 2e-3; // Noise that would give a negative slope.
  AlphaBeta fit = fitAlphaBeta(s);
  EXPECT_TRUE(std::isfinite(fit.bandwidth));
  EXPECT_GT(fit.bandwidth, 0);
  EXPECT_GE(fit.alpha, 0);
}

TEST(CollectiveBench, FitRejectsNothingToFit) {
  EXPECT_THROW(fitAlphaBeta({}), RuntimeError);
  EXPECT_THROW(fitAlphaBeta({{CollectiveKind::AllReduce, 1, 4096, 1e-3}}), RuntimeError);
  EXPECT_THROW(fitAlphaBeta({{CollectiveKind::AllReduce, 2, 4096, 0}}), RuntimeError);
}

TEST(CollectiveBench, LocalRunGivesPositiveFiniteNumbers) {
  CollectiveBenchOptions options;
  options.sizes = {4096, 262144};
  options.repetitions = 3;
  CollectiveBenchResult r = runLocalCollectiveBench(2, options);
  EXPECT_EQ(r.ranks, 2);
  ASSERT_EQ(r.collectives.size(), 4u);
  for (const CollectiveFit &fit : r.collectives) {
    ASSERT_EQ(fit.samples.size(), 2u);
    EXPECT_EQ(fit.samples[0].bytes, 4096);
    for (const CollectiveSample &s : fit.samples)
      EXPECT_GT(s.seconds, 0);
    EXPECT_TRUE(std::isfinite(fit.fit.bandwidth) && fit.fit.bandwidth > 0);
    EXPECT_TRUE(std::isfinite(fit.fit.alpha) && fit.fit.alpha >= 0);
  }
  EXPECT_GT(r.level.bandwidth, 0);
  EXPECT_TRUE(std::isfinite(r.level.bandwidth));
}

TEST(CollectiveBench, SizesRoundToWholePartsPerRank) {
  CollectiveBenchOptions options;
  options.sizes = {10}; // 3 floats, rounded up to 3 ranks' parts: 3 floats.
  options.repetitions = 1;
  CollectiveBenchResult r = runLocalCollectiveBench(3, options);
  EXPECT_EQ(r.collectives[0].samples[0].bytes, 12);
  options.sizes = {20}; // 5 floats -> 6.
  r = runLocalCollectiveBench(3, options);
  EXPECT_EQ(r.collectives[1].samples[0].bytes, 24);
}

TEST(CollectiveBench, RejectsOneRankAndBadOptions) {
  EXPECT_THROW(runLocalCollectiveBench(1, CollectiveBenchOptions::quick()), RuntimeError);
  CollectiveBenchOptions options;
  options.sizes = {-1};
  try {
    runLocalCollectiveBench(2, options);
    FAIL() << "expected an error";
  } catch (const RuntimeError &e) {
    EXPECT_NE(std::string(e.what()).find("out of range"), std::string::npos) << e.what();
  }
}

TEST(CollectiveBench, JsonRoundTrip) {
  CollectiveBenchResult r;
  r.ranks = 4;
  r.level = {2e-6, 7e9};
  CollectiveFit fit;
  fit.kind = CollectiveKind::AllToAll;
  fit.fit = {3e-6, 6e9};
  fit.samples = {{CollectiveKind::AllToAll, 4, 4096, 1e-5}};
  r.collectives.push_back(fit);
  std::string text = collectiveBenchJson(r, "mpi", "network");
  EXPECT_NE(text.find("\"all_to_all\""), std::string::npos);
  EXPECT_NE(text.find("\"bus_factor\": 0.75"), std::string::npos) << text;
  LinksFile links = parseLinksJson(text, "links.json");
  EXPECT_EQ(links.communicator, "mpi");
  EXPECT_EQ(links.ranks, 4);
  EXPECT_EQ(links.levelName, "network");
  EXPECT_DOUBLE_EQ(links.bandwidth, 7e9);
  EXPECT_DOUBLE_EQ(links.latency, 2e-6);
  EXPECT_EQ(links.devices, -1);
}

TEST(CollectiveBench, LinksErrorsNameTheField) {
  auto message = [](const std::string &text) {
    try {
      parseLinksJson(text, "l.json");
    } catch (const RuntimeError &e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("{").find("l.json"), std::string::npos);
  EXPECT_NE(message(R"({"communicator": "mpi", "ranks": 1, "level": {}})").find("'ranks'"),
            std::string::npos);
  std::string bad = message(R"({"communicator": "mpi", "ranks": 2, "level":
      {"name": "x", "bandwidth_bytes_per_s": -3, "latency_s": 0}})");
  EXPECT_NE(bad.find("'bandwidth_bytes_per_s': expected a positive number"), std::string::npos)
      << bad;
  std::string missing = message(R"({"communicator": "mpi", "ranks": 2, "level":
      {"name": "x", "bandwidth_bytes_per_s": 3}})");
  EXPECT_NE(missing.find("latency_s"), std::string::npos) << missing;
}

} // namespace

// The GPU calibration's JSON and its failure without a driver live beside the
// collective bench: both feed `pmc-opt calibrate`.
#include "pmc/Runtime/CUDA/CudaCalibrate.h"

#include <nlohmann/json.hpp>
#include <unistd.h>

namespace {

TEST(CudaCalibrate, JsonHasDeviceSpecFields) {
  pmc::runtime::cuda::CudaDeviceCalibration c;
  c.device = 1;
  c.deviceName = "NVIDIA H100 80GB HBM3";
  c.memoryBytes = 85e9;
  c.memoryBandwidth = 3e12;
  c.launchOverhead = 2e-6;
  c.gemms = {{"f32", 50e12, 8192, ""}, {"bf16", 700e12, 8192, ""},
             {"f16", 0, 0, "cuBLASLt offers no f16 algorithm on this GPU"}};
  auto j = nlohmann::json::parse(pmc::runtime::cuda::cudaCalibrationJson(c));
  EXPECT_EQ(j["name"], "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(j["peak_flops"]["bf16"], 700e12);
  EXPECT_FALSE(j["peak_flops"].contains("f16")); // Not measured: not written.
  EXPECT_EQ(j["notes"]["f16"], "cuBLASLt offers no f16 algorithm on this GPU");
  EXPECT_EQ(j["vector_flops"], 50e12);
  EXPECT_EQ(j["memory_bandwidth"], 3e12);
  EXPECT_EQ(j["memory_bytes"], 85e9);
  EXPECT_EQ(j["launch_overhead"], 2e-6);
  EXPECT_EQ(j["device"]["index"], 1);
}

TEST(CudaCalibrate, FailsClearlyWithoutDriver) {
  if (access("/dev/nvidiactl", F_OK) == 0)
    GTEST_SKIP() << "a GPU driver is present";
  try {
    pmc::runtime::cuda::calibrateCudaDevice(0, true);
    FAIL() << "expected an error";
  } catch (const RuntimeError &e) {
    std::string m = e.what();
    EXPECT_TRUE(m.find("no CUDA driver") != std::string::npos ||
                m.find("built without") != std::string::npos)
        << m;
  }
}

} // namespace
