//===- Timeline.cpp - simulate a pipeline schedule; draw it as SVG ---------===//

#include "pmc/Schedule/Timeline.h"

#include <algorithm>
#include <cstdio>

namespace pmc::schedule {

StageTimes StageTimes::uniform(int64_t stages, double forward, double backward,
                               double weightGradient, double transferSeconds) {
  StageTimes t;
  t.forward.assign(stages, forward);
  t.backward.assign(stages, backward);
  t.weightGradient.assign(stages, weightGradient);
  t.transferSeconds = transferSeconds;
  return t;
}

namespace {

constexpr double kNotYet = -1;

/// When each (kind, stage, microbatch) ended, -1 before.
struct EndTimes {
  int64_t microbatches;
  std::vector<double> forward, backward, weight;
  EndTimes(int64_t stages, int64_t m)
      : microbatches(m), forward(stages * m, kNotYet), backward(stages * m, kNotYet),
        weight(stages * m, kNotYet) {}
  double &of(ActionKind kind, int64_t stage, int64_t mb) {
    std::vector<double> &v = kind == ActionKind::Forward    ? forward
                             : kind == ActionKind::Backward ? backward
                                                            : weight;
    return v[stage * microbatches + mb];
  }
};

/// The action `a` waits for: (kind, stage) of the same microbatch, on
/// which rank; nullopt for the first stage's forwards.
struct Dependency {
  ActionKind kind;
  int64_t stage;
};

std::optional<Dependency> dependencyOf(const Action &a, int64_t lastStage) {
  switch (a.kind) {
  case ActionKind::Forward:
    if (a.stage == 0)
      return std::nullopt;
    return Dependency{ActionKind::Forward, a.stage - 1};
  case ActionKind::Backward:
    if (a.stage == lastStage)
      return Dependency{ActionKind::Forward, a.stage};
    return Dependency{ActionKind::Backward, a.stage + 1};
  default:
    return Dependency{ActionKind::Backward, a.stage};
  }
}

} // namespace

Timeline simulate(const PipelineSchedule &schedule, const StageTimes &times) {
  const int64_t p = schedule.ranks(), m = schedule.microbatches(), stages = schedule.stages();
  for (const auto *list : {&times.forward, &times.backward, &times.weightGradient})
    if (static_cast<int64_t>(list->size()) != stages)
      throw ScheduleError("pipeline timeline: " + std::to_string(list->size()) +
                          " stage times for a schedule of " + std::to_string(stages) +
                          " stages");
  const bool split = schedule.splitsBackward();
  auto duration = [&](const Action &a) {
    if (a.kind == ActionKind::Forward)
      return times.forward[a.stage];
    if (a.kind == ActionKind::WeightGradient)
      return times.weightGradient[a.stage];
    return times.backward[a.stage] + (split ? 0 : times.weightGradient[a.stage]);
  };

  std::vector<std::vector<Action>> lists(p);
  for (int64_t r = 0; r < p; ++r)
    lists[r] = schedule.computeActions(r);
  Timeline t;
  t.ranks.resize(p);
  t.peakInFlight.assign(p, 0);
  std::vector<size_t> next(p, 0);
  std::vector<double> free(p, 0);
  std::vector<int64_t> inFlight(p, 0);
  EndTimes ends(stages, m);
  const ActionKind lastPart = split ? ActionKind::WeightGradient : ActionKind::Backward;

  for (bool progress = true; progress;) {
    progress = false;
    for (int64_t r = 0; r < p; ++r) {
      while (next[r] < lists[r].size()) {
        const Action &a = lists[r][next[r]];
        double ready = free[r];
        if (std::optional<Dependency> dep = dependencyOf(a, stages - 1)) {
          double end = ends.of(dep->kind, dep->stage, a.microbatch);
          if (end == kNotYet)
            break;
          bool crossesRanks = schedule.rankOf(dep->stage) != r;
          ready = std::max(ready, end + (crossesRanks ? times.transferSeconds : 0));
        }
        double end = ready + duration(a);
        ends.of(a.kind, a.stage, a.microbatch) = end;
        t.ranks[r].push_back({a, ready, end});
        free[r] = end;
        // A rank runs one action at a time, so a forward holds one more
        // microbatch than the backwards (last parts) before it freed.
        if (a.kind == ActionKind::Forward)
          t.peakInFlight[r] = std::max(t.peakInFlight[r], ++inFlight[r]);
        else if (a.kind == lastPart)
          --inFlight[r];
        ++next[r];
        progress = true;
      }
    }
  }

  std::string stuck;
  for (int64_t r = 0; r < p; ++r) {
    if (next[r] == lists[r].size())
      continue;
    const Action &a = lists[r][next[r]];
    std::optional<Dependency> dep = dependencyOf(a, stages - 1);
    Action waited{dep->kind, a.microbatch, dep->stage, -1};
    stuck += (stuck.empty() ? "" : "; ") + std::string("rank ") + std::to_string(r) + " at " +
             a.toString(true) + " waits for " + waited.toString(true) + " on rank " +
             std::to_string(schedule.rankOf(dep->stage));
  }
  if (!stuck.empty())
    throw ScheduleError(std::string("schedule ") + scheduleKindName(schedule.kind()) +
                        " deadlocks: " + stuck);

  double busy = 0, first = 0, last = 0;
  bool any = false;
  for (const auto &rank : t.ranks)
    for (const TimedAction &a : rank) {
      busy += a.end - a.start;
      first = any ? std::min(first, a.start) : a.start;
      last = any ? std::max(last, a.end) : a.end;
      any = true;
    }
  t.stepSeconds = last - first;
  t.bubbleFraction = t.stepSeconds > 0 ? 1 - busy / (static_cast<double>(p) * t.stepSeconds) : 0;
  return t;
}

std::string renderTimelineSVG(const PipelineSchedule &schedule, const Timeline &timeline) {
  constexpr double kLeft = 70, kTop = 40, kRow = 28, kWidth = 960;
  const double span = timeline.stepSeconds > 0 ? timeline.stepSeconds : 1;
  const double scale = kWidth / span;
  const bool withStage = schedule.virtualStages() > 1;
  auto fmt = [](const char *f, auto... args) {
    char buf[256];
    std::snprintf(buf, sizeof buf, f, args...);
    return std::string(buf);
  };
  const double height = kTop + kRow * static_cast<double>(schedule.ranks()) + 30;
  std::string svg = fmt("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" "
                        "height=\"%.0f\" font-family=\"sans-serif\" font-size=\"11\">\n",
                        kLeft + kWidth + 20, height);
  svg += fmt("<text x=\"%.0f\" y=\"20\" font-size=\"14\">%s: %lld ranks, %lld microbatches%s, "
             "step %.4g s, bubble %.1f%%</text>\n",
             kLeft, scheduleKindName(schedule.kind()),
             static_cast<long long>(schedule.ranks()),
             static_cast<long long>(schedule.microbatches()),
             withStage ? fmt(", %lld stages per rank",
                             static_cast<long long>(schedule.virtualStages())).c_str()
                       : "",
             timeline.stepSeconds, 100 * timeline.bubbleFraction);
  for (size_t r = 0; r < timeline.ranks.size(); ++r) {
    double y = kTop + kRow * static_cast<double>(r);
    svg += fmt("<text x=\"8\" y=\"%.1f\">rank %zu</text>\n", y + kRow * 0.6, r);
    for (const TimedAction &a : timeline.ranks[r]) {
      // Forward blue, backward teal, weight gradient green; a chunk's stage
      // shades the colour when the schedule interleaves.
      const char *colour = a.action.kind == ActionKind::Forward    ? "#4c78a8"
                           : a.action.kind == ActionKind::Backward ? "#54a2a8"
                                                                   : "#72b04c";
      double x = kLeft + a.start * scale; // the simulation starts at 0
      double w = std::max((a.end - a.start) * scale, 0.5);
      double opacity = withStage ? 1.0 - 0.5 * static_cast<double>(
                                                  a.action.stage / schedule.ranks()) /
                                             static_cast<double>(schedule.virtualStages())
                                 : 1.0;
      svg += fmt("<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"%s\" "
                 "fill-opacity=\"%.2f\" stroke=\"white\" stroke-width=\"0.5\"><title>%s "
                 "%.4g-%.4g s</title></rect>\n",
                 x, y + 2, w, kRow - 4, colour, opacity, a.action.toString(true).c_str(),
                 a.start, a.end);
      std::string label = a.action.toString(withStage);
      if (w > 7.0 * static_cast<double>(label.size()))
        svg += fmt("<text x=\"%.2f\" y=\"%.1f\" fill=\"white\" text-anchor=\"middle\">%s</text>\n",
                   x + w / 2, y + kRow * 0.62, label.c_str());
    }
  }
  svg += fmt("<text x=\"%.0f\" y=\"%.1f\">F forward, B backward%s; time to the right</text>\n",
             kLeft, height - 10,
             schedule.splitsBackward() ? " (input gradient), W weight gradient" : "");
  svg += "</svg>\n";
  return svg;
}

} // namespace pmc::schedule
