//===- PipelineTest.cpp - pipeline time and memory against hand values ----===//
//
// The pipeline formulas of docs/design/cost-model.md ("Pipelines") and one
// scored pipeline plan, on the h100-sxm built-in: f32 66.9e12 FLOP/s, HBM
// 3.35e12 B/s, launch 5e-6 s, NVLink 370e9 B/s with alpha 3e-6 s.
//
#include "pmc/Dialect/PMC/IR/PMCDialect.h"
#include "pmc/Parallel/CostModel.h"
#include "pmc/Parallel/Planner.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace mlir::pmc;

namespace {
#define EXPECT_CLOSE(actual, expected)                                           \
  EXPECT_NEAR(actual, expected, std::abs(double(expected)) * 1e-9)

TEST(PipelineTest, StepTimeIsStepsTimesSlowestStage) {
  // Stage 0: 2 ms + 0.5 ms send; stage 1: 3 ms. M = 4, K = 2:
  // (4 + 2 - 1) x 3 ms = 15 ms; bubble (2 - 1) / 5 = 0.2.
  PipelineTime time = pipelineTime({2e-3, 3e-3}, {0.5e-3, 0}, 4);
  EXPECT_CLOSE(time.stepTimeS, 15e-3);
  EXPECT_CLOSE(time.stageStepS, 3e-3);
  EXPECT_EQ(time.bottleneck, 1u);
  EXPECT_CLOSE(time.bubbleFraction, 0.2);
  // The send makes stage 0 the slowest: (1 + 4 - 1) x (2 + 1.5) ms, bubble 3/4.
  PipelineTime sendBound = pipelineTime({2e-3, 1e-3, 1e-3, 1e-3}, {1.5e-3, 0, 0, 0}, 1);
  EXPECT_CLOSE(sendBound.stepTimeS, 4 * 3.5e-3);
  EXPECT_EQ(sendBound.bottleneck, 0u);
  EXPECT_CLOSE(sendBound.bubbleFraction, 0.75);
  // One stage: no bubble, M steps.
  PipelineTime single = pipelineTime({1e-3}, {0}, 8);
  EXPECT_CLOSE(single.stepTimeS, 8e-3);
  EXPECT_EQ(single.bubbleFraction, 0);
}

TEST(PipelineTest, InFlightMicrobatches) {
  using ::pmc::schedule::ScheduleKind;
  EXPECT_EQ(::pmc::schedule::inFlightMicrobatches(ScheduleKind::GPipe, 4, 8), 8);
  EXPECT_EQ(::pmc::schedule::inFlightMicrobatches(ScheduleKind::OneFOneB, 4, 8), 4);
  EXPECT_EQ(::pmc::schedule::inFlightMicrobatches(ScheduleKind::OneFOneB, 4, 2), 2);
}

TEST(PipelineTest, SendRecvIsAlphaBeta) {
  LinkLevel nvlink;
  nvlink.bandwidth = 370e9;
  nvlink.latency = 3e-6;
  EXPECT_CLOSE(sendRecvSeconds(1e6, nvlink), 3e-6 + 1e6 / 370e9);
  EXPECT_EQ(sendRecvSeconds(0, nvlink), 0);
}

TEST(PipelineTest, ScoredPlanMatchesHandValues) {
  MLIRContext context;
  context.loadDialect<PMCDialect, func::FuncDialect>();
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(R"mlir(
    func.func @main(%x: tensor<8x256xf32>) -> tensor<8x256xf32> {
      %w0 = pmc.constant dense<1.0> : tensor<256x256xf32>
      %w1 = pmc.constant dense<1.0> : tensor<256x256xf32>
      %a = pmc.matmul %x, %w0 : (tensor<8x256xf32>, tensor<256x256xf32>) -> tensor<8x256xf32>
      %b = pmc.matmul %a, %w1 : (tensor<8x256xf32>, tensor<256x256xf32>) -> tensor<8x256xf32>
      return %b : tensor<8x256xf32>
    })mlir",
                                                             &context);
  ASSERT_TRUE(module);
  ASSERT_EQ(collectPlanLayers(*module).size(), 2u);
  PlannerOptions options;
  options.devices = 2;
  options.spec = llvm::cantFail(getBuiltinDeviceSpec("h100-sxm"));
  // pp = 2 stages of one device, M = 2 microbatches of 4 rows, 1F1B.
  FailureOr<PlanCandidate> plan = scorePipelinePlan(
      *module, options, 2, 1, 1, 2, ::pmc::schedule::ScheduleKind::OneFOneB, {-1, -1}, {0});
  ASSERT_TRUE(succeeded(plan));
  // Each matmul per microbatch: 2 * 4 * 256 * 256 = 524288 FLOP (7.8 ns at
  // 66.9 TFLOP/s) < bytes (4*256 + 256*256 + 4*256) * 4 = 270336 / 3.35e12:
  // memory bound, plus the 5 us launch.
  double matmul = 270336 / 3.35e12 + 5e-6;
  // Stage 0 sends %a (4 x 256 x 4 = 4096 bytes) over NVLink.
  double send = 3e-6 + 4096 / 370e9;
  ASSERT_EQ(plan->stages.size(), 2u);
  EXPECT_CLOSE(plan->stages[0].stepTimeS, matmul + send);
  EXPECT_CLOSE(plan->stages[0].sendBytes, 4096);
  EXPECT_CLOSE(plan->stages[1].stepTimeS, matmul);
  // (M + K - 1) = 3 steps of the slowest stage; bubble 1/3.
  EXPECT_CLOSE(plan->stepTimeS, 3 * (matmul + send));
  EXPECT_CLOSE(plan->bubbleFraction, 1.0 / 3);
  // Memory per device: the stage's weight (256 x 256 x 4) + its peak
  // activations (operand and result of one microbatch: 2 x 4096) x the
  // in-flight microbatches of 1F1B, min(K, M) = 2.
  EXPECT_CLOSE(plan->stages[0].memoryBytes, 262144 + 2 * 8192);
  EXPECT_CLOSE(plan->stages[1].memoryBytes, 262144 + 2 * 8192);
  ASSERT_EQ(plan->memoryPerDeviceBytes.size(), 2u);
  EXPECT_TRUE(plan->fits);
  // GPipe holds all M = 2 as well here; with M = 4 it holds 4, 1F1B 2.
  FailureOr<PlanCandidate> gpipe = scorePipelinePlan(
      *module, options, 2, 1, 1, 4, ::pmc::schedule::ScheduleKind::GPipe, {-1, -1}, {0});
  FailureOr<PlanCandidate> oneF = scorePipelinePlan(
      *module, options, 2, 1, 1, 4, ::pmc::schedule::ScheduleKind::OneFOneB, {-1, -1}, {0});
  ASSERT_TRUE(succeeded(gpipe) && succeeded(oneF));
  // Microbatches of 2 rows: 2 x 256 x 4 = 2048 bytes per activation.
  EXPECT_CLOSE(gpipe->stages[1].memoryBytes, 262144 + 4 * 4096);
  EXPECT_CLOSE(oneF->stages[1].memoryBytes, 262144 + 2 * 4096);
  EXPECT_CLOSE(gpipe->stepTimeS, oneF->stepTimeS);
  // Bad cuts are an error, not a crash.
  FailureOr<PlanCandidate> bad = scorePipelinePlan(
      *module, options, 2, 1, 1, 1, ::pmc::schedule::ScheduleKind::GPipe, {-1, -1}, {5});
  EXPECT_TRUE(failed(bad));
}
} // namespace
