//===- ScheduleTest.cpp - pipeline schedules and their timelines -----------===//
//
// PipelineSchedule (the per-rank action lists of gpipe, 1f1b, interleaved
// and zb-h1) and simulate() (their step time, bubble and in-flight
// activations on modelled stage times) against the closed forms of
// docs/design/pipeline.md, over a sweep of ranks, microbatches and virtual
// stages.
//
#include "pmc/Schedule/PipelineSchedule.h"
#include "pmc/Schedule/Timeline.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

using namespace pmc::schedule;

namespace {

std::string order(const PipelineSchedule &s, int64_t rank, bool withStage = false) {
  return PipelineSchedule::toString(s.computeActions(rank), withStage);
}

constexpr ScheduleKind kAllKinds[] = {ScheduleKind::GPipe, ScheduleKind::OneFOneB,
                                      ScheduleKind::Interleaved, ScheduleKind::ZeroBubbleH1};

/// Every legal (kind, p, m, v) of a sweep.
std::vector<PipelineSchedule> sweep(bool training = true) {
  std::vector<PipelineSchedule> out;
  for (ScheduleKind kind : kAllKinds)
    for (int64_t p = 1; p <= 6; ++p)
      for (int64_t m = 1; m <= 12; ++m)
        for (int64_t v : {1, 2, 3}) {
          bool interleaved = kind == ScheduleKind::Interleaved;
          if ((interleaved && (v < 2 || m % p)) || (!interleaved && v != 1))
            continue;
          out.push_back(PipelineSchedule::create(kind, p, m, v, training));
        }
  return out;
}

std::string name(const PipelineSchedule &s) {
  return std::string(scheduleKindName(s.kind())) + " p=" + std::to_string(s.ranks()) +
         " m=" + std::to_string(s.microbatches()) + " v=" + std::to_string(s.virtualStages());
}

} // namespace

TEST(PipelineSchedule, KindNamesRoundTrip) {
  for (ScheduleKind kind : kAllKinds)
    EXPECT_EQ(parseScheduleKind(scheduleKindName(kind)), kind);
  EXPECT_FALSE(parseScheduleKind("zigzag"));
  EXPECT_STREQ(scheduleKindChoices(), "gpipe, 1f1b, interleaved or zb-h1");
}

TEST(PipelineSchedule, GPipeAndOneFOneB) {
  auto gpipe = PipelineSchedule::create(ScheduleKind::GPipe, 4, 3);
  EXPECT_EQ(order(gpipe, 1), "F0 F1 F2 B0 B1 B2");
  auto s = PipelineSchedule::create(ScheduleKind::OneFOneB, 4, 8);
  EXPECT_EQ(order(s, 0), "F0 F1 F2 F3 B0 F4 B1 F5 B2 F6 B3 F7 B4 B5 B6 B7");
  EXPECT_EQ(order(s, 2), "F0 F1 B0 F2 B1 F3 B2 F4 B3 F5 B4 F6 B5 F7 B6 B7");
  EXPECT_EQ(order(s, 3), "F0 B0 F1 B1 F2 B2 F3 B3 F4 B4 F5 B5 F6 B6 F7 B7");
  EXPECT_EQ(s.warmup(1), 2);
  // Fewer microbatches than the warm-up: all forwards first.
  EXPECT_EQ(order(PipelineSchedule::create(ScheduleKind::OneFOneB, 4, 2), 0), "F0 F1 B0 B1");
}

TEST(PipelineSchedule, InferenceRunsTheForwardsOnly) {
  for (ScheduleKind kind : {ScheduleKind::GPipe, ScheduleKind::OneFOneB,
                            ScheduleKind::ZeroBubbleH1}) {
    auto s = PipelineSchedule::create(kind, 3, 4, 1, /*training=*/false);
    for (int64_t r = 0; r < 3; ++r)
      EXPECT_EQ(order(s, r), "F0 F1 F2 F3") << scheduleKindName(kind);
  }
  auto s = PipelineSchedule::create(ScheduleKind::Interleaved, 2, 2, 2, false);
  EXPECT_EQ(order(s, 1, true), "F0@s1 F1@s1 F0@s3 F1@s3");
}

TEST(PipelineSchedule, InterleavedIsMegatronsOrder) {
  // p = 2, v = 2, m = 4: stage j on rank j mod 2; rank 0 warms up with
  // 2 (p - 1) + (v - 1) p = 4 forwards.
  auto s = PipelineSchedule::create(ScheduleKind::Interleaved, 2, 4, 2);
  EXPECT_EQ(s.stages(), 4);
  EXPECT_EQ(s.warmup(0), 4);
  EXPECT_EQ(s.warmup(1), 2);
  EXPECT_EQ(order(s, 0, true), "F0@s0 F1@s0 F0@s2 F1@s2 F2@s0 B0@s2 F3@s0 B1@s2 F2@s2 B0@s0 "
                               "F3@s2 B1@s0 B2@s2 B3@s2 B2@s0 B3@s0");
  EXPECT_EQ(order(s, 1, true), "F0@s1 F1@s1 F0@s3 B0@s3 F1@s3 B1@s3 F2@s1 B0@s1 F3@s1 B1@s1 "
                               "F2@s3 B2@s3 F3@s3 B3@s3 B2@s1 B3@s1");
  // m = p: every forward first, as Megatron does.
  auto equal = PipelineSchedule::create(ScheduleKind::Interleaved, 2, 2, 2);
  EXPECT_EQ(order(equal, 1, true), "F0@s1 F1@s1 F0@s3 F1@s3 B0@s3 B1@s3 B0@s1 B1@s1");
}

TEST(PipelineSchedule, ZeroBubbleH1DefersWeightGradients) {
  auto s = PipelineSchedule::create(ScheduleKind::ZeroBubbleH1, 4, 6);
  EXPECT_TRUE(s.splitsBackward());
  EXPECT_EQ(order(s, 0), "F0 F1 F2 F3 B0 W0 F4 B1 W1 F5 B2 W2 B3 W3 B4 W4 B5 W5");
  EXPECT_EQ(order(s, 2), "F0 F1 B0 F2 B1 F3 B2 W0 F4 B3 W1 F5 B4 W2 B5 W3 W4 W5");
  EXPECT_EQ(order(s, 3), "F0 B0 F1 B1 F2 B2 F3 B3 W0 F4 B4 W1 F5 B5 W2 W3 W4 W5");
  EXPECT_FALSE(PipelineSchedule::create(ScheduleKind::ZeroBubbleH1, 4, 6, 1, false)
                   .splitsBackward());
}

TEST(PipelineSchedule, EveryWorkItemOnceAndInOrder) {
  for (const PipelineSchedule &s : sweep()) {
    std::map<std::tuple<int, int64_t, int64_t>, size_t> at; // (kind, stage, mb) -> position
    for (int64_t r = 0; r < s.ranks(); ++r) {
      std::vector<Action> list = s.computeActions(r);
      for (size_t i = 0; i < list.size(); ++i) {
        const Action &a = list[i];
        ASSERT_EQ(s.rankOf(a.stage), r) << name(s) << ": " << a.toString(true);
        bool fresh =
            at.emplace(std::make_tuple(static_cast<int>(a.kind), a.stage, a.microbatch), i)
                .second;
        ASSERT_TRUE(fresh) << name(s) << ": " << a.toString(true) << " twice";
      }
    }
    size_t perItem = s.splitsBackward() ? 3 : 2;
    ASSERT_EQ(at.size(), perItem * static_cast<size_t>(s.stages() * s.microbatches())) << name(s);
    for (int64_t st = 0; st < s.stages(); ++st)
      for (int64_t mb = 0; mb < s.microbatches(); ++mb) {
        auto pos = [&](ActionKind k) {
          return at.at(std::make_tuple(static_cast<int>(k), st, mb));
        };
        EXPECT_LT(pos(ActionKind::Forward), pos(ActionKind::Backward)) << name(s);
        if (s.splitsBackward())
          EXPECT_LT(pos(ActionKind::Backward), pos(ActionKind::WeightGradient)) << name(s);
      }
  }
}

TEST(PipelineSchedule, SendsMatchReceives) {
  for (const PipelineSchedule &s : sweep()) {
    // (from, to, kind, microbatch, stage of the sender) in the order sent / received.
    std::map<std::pair<int64_t, int64_t>, std::vector<std::string>> sent, received;
    for (int64_t r = 0; r < s.ranks(); ++r) {
      const std::vector<Action> &list = s.actions(r);
      for (size_t i = 0; i < list.size(); ++i) {
        const Action &a = list[i];
        bool forward = a.kind == ActionKind::SendActivation || a.kind == ActionKind::RecvActivation;
        std::string what = (forward ? "F" : "B") + std::to_string(a.microbatch);
        switch (a.kind) {
        case ActionKind::SendActivation:
        case ActionKind::SendGradient:
          ASSERT_GT(i, 0u);
          EXPECT_TRUE(list[i - 1].isCompute() && list[i - 1].stage == a.stage) << name(s);
          sent[{r, a.peer}].push_back(what + "@" + std::to_string(a.stage));
          break;
        case ActionKind::RecvActivation:
          received[{a.peer, r}].push_back(what + "@" + std::to_string(a.stage - 1));
          break;
        case ActionKind::RecvGradient:
          received[{a.peer, r}].push_back(what + "@" + std::to_string(a.stage + 1));
          break;
        default:
          break;
        }
        if (!a.isCompute())
          EXPECT_NE(a.peer, r) << name(s) << ": a transfer to itself";
      }
    }
    // Each pair's messages arrive in the order sent, so the lists are equal
    // as multisets and every receive finds its send.
    for (auto &[pair, list] : sent) {
      std::multiset<std::string> a(list.begin(), list.end()),
          b(received[pair].begin(), received[pair].end());
      EXPECT_EQ(a, b) << name(s) << " rank " << pair.first << " -> " << pair.second;
    }
    EXPECT_EQ(sent.size(), received.size()) << name(s);
  }
}

TEST(PipelineSchedule, RejectsBadSizes) {
  EXPECT_THROW(PipelineSchedule::create(ScheduleKind::GPipe, 0, 4), ScheduleError);
  EXPECT_THROW(PipelineSchedule::create(ScheduleKind::OneFOneB, 2, 0), ScheduleError);
  EXPECT_THROW(PipelineSchedule::create(ScheduleKind::OneFOneB, 2, 4, 2), ScheduleError);
  EXPECT_THROW(PipelineSchedule::create(ScheduleKind::Interleaved, 2, 4, 1), ScheduleError);
  try {
    PipelineSchedule::create(ScheduleKind::Interleaved, 4, 6, 2);
    FAIL();
  } catch (const ScheduleError &e) {
    EXPECT_STREQ(e.what(), "schedule interleaved: 6 microbatches are no multiple of the 4 "
                           "pipeline ranks");
  }
  auto s = PipelineSchedule::create(ScheduleKind::GPipe, 2, 2);
  EXPECT_THROW(s.actions(2), ScheduleError);
}

TEST(Timeline, EverySweptScheduleRunsToTheEnd) {
  for (const PipelineSchedule &s : sweep()) {
    Timeline t = simulate(s, StageTimes::uniform(s.stages(), 1, 1.5, 0.5, 0.1));
    size_t actions = 0;
    for (const auto &rank : t.ranks)
      actions += rank.size();
    EXPECT_EQ(actions, (s.splitsBackward() ? 3u : 2u) * s.stages() * s.microbatches())
        << name(s);
    EXPECT_GT(t.stepSeconds, 0) << name(s);
    EXPECT_GE(t.bubbleFraction, 0) << name(s);
  }
}

TEST(Timeline, UniformStagesGiveTheClosedForms) {
  for (const PipelineSchedule &s : sweep()) {
    const int64_t p = s.ranks(), m = s.microbatches(), v = s.virtualStages();
    // A chunk of an interleaved rank does 1/v of the rank's work.
    const double f = 1.0 / v, b = 1.0 / v, w = 1.0 / v;
    Timeline t = simulate(s, StageTimes::uniform(s.stages(), f, b, w));
    double busy = static_cast<double>(m) * (f + b + w) * v;
    // 1F1B and interleaved with m = p... run every forward first; all but
    // zb-h1 reach the closed form for any m >= p, and so does zb-h1.
    if (m >= p) {
      EXPECT_NEAR(t.bubbleFraction, bubbleFraction(s.kind(), p, m, v, f, b, w), 1e-9)
          << name(s);
      double bubble = t.stepSeconds - busy;
      if (s.kind() == ScheduleKind::ZeroBubbleH1)
        EXPECT_NEAR(bubble, (p - 1) * (f + b - w), 1e-9) << name(s);
      else
        EXPECT_NEAR(bubble, (p - 1) * (f + b + w), 1e-9) << name(s);
    }
    int64_t peak = *std::max_element(t.peakInFlight.begin(), t.peakInFlight.end());
    EXPECT_NEAR(static_cast<double>(peak) / v, inFlightMicrobatches(s.kind(), p, m, v), 1e-9)
        << name(s);
  }
}

TEST(Timeline, ZeroBubbleH1HasAThirdOfOneFOneBsBubble) {
  auto times = StageTimes::uniform(4, 1, 1, 1);
  Timeline oneF = simulate(PipelineSchedule::create(ScheduleKind::OneFOneB, 4, 8), times);
  Timeline zb = simulate(PipelineSchedule::create(ScheduleKind::ZeroBubbleH1, 4, 8), times);
  EXPECT_DOUBLE_EQ(oneF.stepSeconds, 8 * 3 + 3 * 3); // m (F+B+W) + (p-1)(F+B+W)
  EXPECT_DOUBLE_EQ(zb.stepSeconds, 8 * 3 + 3 * 1);   // m (F+B+W) + (p-1)(F+B-W)
  // Deferred W's keep activations longer on the later stages, never above
  // 1f1b's peak (stage 0's p microbatches).
  EXPECT_EQ(oneF.peakInFlight, (std::vector<int64_t>{4, 3, 2, 1}));
  EXPECT_EQ(zb.peakInFlight, (std::vector<int64_t>{4, 4, 4, 4}));
}

TEST(Timeline, TransfersAndUnequalStagesDelayTheStep) {
  auto s = PipelineSchedule::create(ScheduleKind::GPipe, 2, 2);
  StageTimes times = StageTimes::uniform(2, 1, 2);
  times.forward[1] = 3; // the slow stage bounds the step
  times.transferSeconds = 0.5;
  Timeline t = simulate(s, times);
  // rank 0: F0 [0,1] F1 [1,2]; rank 1: F0 [1.5,4.5] F1 [4.5,7.5] B0 [7.5,9.5]
  // B1 [9.5,11.5]; rank 0: B0 [10,12] B1 [12,14].
  EXPECT_DOUBLE_EQ(t.stepSeconds, 14);
  EXPECT_DOUBLE_EQ(t.ranks[1][0].start, 1.5);
  EXPECT_DOUBLE_EQ(t.ranks[0][2].start, 10);
  EXPECT_THROW(simulate(s, StageTimes::uniform(3, 1, 1)), ScheduleError);
}

TEST(Timeline, SvgDrawsEveryAction) {
  auto s = PipelineSchedule::create(ScheduleKind::Interleaved, 2, 4, 2);
  Timeline t = simulate(s, StageTimes::uniform(4, 1, 2));
  std::string svg = renderTimelineSVG(s, t);
  size_t boxes = 0;
  for (size_t at = svg.find("<rect"); at != std::string::npos; at = svg.find("<rect", at + 1))
    ++boxes;
  EXPECT_EQ(boxes, 2u * 4 * 4);
  EXPECT_NE(svg.find("interleaved: 2 ranks, 4 microbatches, 2 stages per rank"),
            std::string::npos);
  EXPECT_NE(svg.find("<title>B3@s1 "), std::string::npos);
  EXPECT_EQ(svg.rfind("</svg>\n"), svg.size() - 7);
}
