//===- Timeline.h - a pipeline schedule run on modelled stage times -*- C++ -*-===//
//
// simulate() plays a PipelineSchedule the way the runtime runs it: each rank
// takes its actions in order, one at a time; an action starts when its rank
// is free and its inputs have arrived (F of stage s after F of stage s-1,
// B of stage s after B of stage s+1 (the last stage's after its own F), W
// after its B; a value crossing ranks arrives `transferSeconds` later). The
// result is what the planner scores and what --explain draws: every
// action's start and end, the step time, the idle (bubble) fraction and the
// activations each rank holds at its peak.
//
//   Timeline t = simulate(PipelineSchedule::create(ScheduleKind::OneFOneB, 4, 8),
//                         StageTimes::uniform(4, /*forward=*/1, /*backward=*/2));
//   t.stepSeconds;    // 33 = (m + p - 1) (F + B)
//   t.bubbleFraction; // 3/11 = (p - 1) / (m + p - 1)
//
//===----------------------------------------------------------------------===//
#ifndef PMC_SCHEDULE_TIMELINE_H
#define PMC_SCHEDULE_TIMELINE_H

#include "pmc/Schedule/PipelineSchedule.h"

namespace pmc::schedule {

/// The modelled seconds of one microbatch's work on each (virtual) stage.
struct StageTimes {
  /// Per stage: forward, backward (the input gradient; with the weight
  /// gradient when the schedule does not split it off) and weight gradient.
  std::vector<double> forward, backward, weightGradient;
  /// Seconds for an activation or its gradient to reach another rank.
  double transferSeconds = 0;

  /// S stages of equal times.
  static StageTimes uniform(int64_t stages, double forward, double backward,
                            double weightGradient = 0, double transferSeconds = 0);
};

struct TimedAction {
  Action action;
  double start = 0, end = 0;
};

struct Timeline {
  /// Per pipeline rank, its compute actions in the order run.
  std::vector<std::vector<TimedAction>> ranks;
  /// From the first start to the last end.
  double stepSeconds = 0;
  /// 1 - (busy seconds summed over ranks) / (ranks x stepSeconds).
  double bubbleFraction = 0;
  /// Per rank, the most (microbatch, stage) pairs whose forward has started
  /// and whose last backward part (B, or W when split) has not ended: the
  /// activations it holds at its peak, in chunks (one stage's share).
  std::vector<int64_t> peakInFlight;
};

/// Runs `schedule` on `times` (one entry per stage of the schedule). Throws
/// ScheduleError when the times do not fit the schedule or when the
/// schedule deadlocks (naming each rank's blocked action and what it waits
/// for).
Timeline simulate(const PipelineSchedule &schedule, const StageTimes &times);

/// The timeline as an SVG picture: one row per rank, one box per F / B / W
/// (labelled with its microbatch, and its stage when v > 1), time to the
/// right, the step time and bubble fraction in the title.
std::string renderTimelineSVG(const PipelineSchedule &schedule, const Timeline &timeline);

} // namespace pmc::schedule

#endif // PMC_SCHEDULE_TIMELINE_H
