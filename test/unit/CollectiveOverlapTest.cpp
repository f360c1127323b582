//===- CollectiveOverlapTest.cpp - wait points, lifetimes, the worker ------===//

#include "pmc/Runtime/Buffer.h"
#include "pmc/Runtime/CollectiveOverlap.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>

using namespace pmc::runtime;

namespace {

std::vector<BufferDesc> temps(int n) {
  std::vector<BufferDesc> buffers(n);
  for (int i = 0; i < n; ++i) {
    buffers[i].id = i;
    buffers[i].root = i;
    buffers[i].bytes = 256;
  }
  return buffers;
}

} // namespace

TEST(CollectiveOverlap, WaitsBeforeTheFirstReaderOfTheResult) {
  // 0: kernel -> 1;  1: all_reduce 1 -> 2;  2: kernel 0 -> 3;  3: kernel 2 -> 4
  std::vector<BufferDesc> buffers = temps(5);
  std::vector<BufferAccess> accesses = {{{0}, {1}}, {{1}, {2}}, {{0}, {3}}, {{2, 3}, {4}}};
  OverlapPlan plan = planCollectiveOverlap(buffers, accesses, {false, true, false, false},
                                           {false, false, false, false});
  EXPECT_EQ(plan.waitBefore, (std::vector<int>{-1, 3, -1, -1}));
  EXPECT_TRUE(plan.any());
  // The input (1) and output (2) stay live to command 3.
  std::vector<int> outputs = {4};
  extendLifetimesForOverlap(plan, accesses, outputs);
  EXPECT_EQ(accesses[3].reads, (std::vector<int>{2, 3, 1, 2}));
  std::vector<Lifetime> lifetimes = computeLifetimes(buffers, accesses, outputs);
  for (const Lifetime &l : lifetimes)
    if (l.buffer == 1)
      EXPECT_EQ(l.last, 3);
}

TEST(CollectiveOverlap, AResultReadNextOrThroughAViewRunsInOrder) {
  // 1: all_reduce 0 -> 1, read at once by 2; 3: all_reduce 2 -> 3, whose
  // view 4 is read by command 5.
  std::vector<BufferDesc> buffers = temps(6);
  buffers[4].kind = BufferKind::View;
  buffers[4].of = 3;
  buffers[4].root = 3;
  std::vector<BufferAccess> accesses = {{{}, {0}}, {{0}, {1}}, {{1}, {2}},
                                        {{2}, {3}}, {{0}, {5}}, {{4}, {}}};
  OverlapPlan plan = planCollectiveOverlap(buffers, accesses,
                                           {false, true, false, true, false, false},
                                           std::vector<bool>(6, false));
  EXPECT_EQ(plan.waitBefore[1], -1);
  EXPECT_EQ(plan.waitBefore[3], 5);
}

TEST(CollectiveOverlap, ResultsNobodyReadsAreWaitedForAtTheEnd) {
  std::vector<BufferDesc> buffers = temps(3);
  std::vector<BufferAccess> accesses = {{{0}, {1}}, {{0}, {2}}};
  OverlapPlan plan = planCollectiveOverlap(buffers, accesses, {true, false}, {false, false});
  EXPECT_EQ(plan.waitBefore[0], 2);
  std::vector<int> outputs;
  extendLifetimesForOverlap(plan, accesses, outputs);
  EXPECT_EQ(outputs, (std::vector<int>{0, 1}));
}

TEST(CollectiveOverlap, AtMostTwoCollectivesInFlight) {
  // Collectives at 0, 1, 2, 3 whose results are all read by command 5: the
  // one at 0 finishes before the one at 2 starts, 1 before 3.
  std::vector<BufferDesc> buffers = temps(9);
  std::vector<BufferAccess> accesses = {{{0}, {4}}, {{1}, {5}}, {{2}, {6}},
                                        {{3}, {7}}, {{0}, {8}}, {{4, 5, 6, 7}, {}}};
  OverlapPlan plan = planCollectiveOverlap(buffers, accesses,
                                           {true, true, true, true, false, false},
                                           std::vector<bool>(6, false));
  ASSERT_EQ(kMaxCollectivesInFlight, 2u);
  EXPECT_EQ(plan.waitBefore, (std::vector<int>{2, 3, 5, 5, -1, -1}));
}

TEST(CollectiveOverlap, TransfersWaitForEverything) {
  std::vector<BufferDesc> buffers = temps(3);
  std::vector<BufferAccess> accesses = {{{0}, {1}}, {{0}, {}}, {{1}, {2}}};
  OverlapPlan plan = planCollectiveOverlap(buffers, accesses, {true, false, false},
                                           {false, true, false});
  EXPECT_EQ(plan.drainsBefore, (std::vector<bool>{false, true, false}));
  EXPECT_EQ(plan.waitBefore[0], 2);
}

TEST(CollectiveWorker, RunsTasksBesideTheCallerInOrder) {
  CollectiveWorker worker;
  std::atomic<bool> released{false};
  std::vector<int> order;
  // The first task waits for the caller: it can only finish if it runs on
  // another thread while the caller goes on.
  uint64_t first = worker.submit([&] {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!released && std::chrono::steady_clock::now() < deadline)
      std::this_thread::yield();
    order.push_back(1);
  });
  uint64_t second = worker.submit([&] { order.push_back(2); });
  EXPECT_TRUE(worker.pending());
  released = true;
  worker.wait(second);
  EXPECT_EQ(first, 1u);
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  EXPECT_FALSE(worker.pending());
}

TEST(CollectiveWorker, RethrowsAFailureAndSkipsTheTasksAfterIt) {
  CollectiveWorker worker;
  bool ranAfter = false;
  worker.submit([] { throw std::runtime_error("all_reduce (command 3): timed out"); });
  uint64_t after = worker.submit([&] { ranAfter = true; });
  try {
    worker.wait(after);
    FAIL() << "no exception";
  } catch (const std::runtime_error &e) {
    EXPECT_STREQ(e.what(), "all_reduce (command 3): timed out");
  }
  EXPECT_FALSE(ranAfter);
  // Once everything was waited for, the next run starts afresh.
  bool ran = false;
  worker.wait(worker.submit([&] { ran = true; }));
  EXPECT_TRUE(ran);
}
