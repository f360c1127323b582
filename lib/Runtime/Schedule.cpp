//===- Schedule.cpp - gpipe and 1f1b step orders --------------------------===//

#include "pmc/Runtime/Schedule.h"
#include "pmc/Runtime/Error.h"

#include <algorithm>

namespace pmc::runtime {

const char *scheduleKindName(ScheduleKind kind) {
  return kind == ScheduleKind::GPipe ? "gpipe" : "1f1b";
}

ScheduleKind parseScheduleKind(const std::string &name, const std::string &where) {
  if (name == "gpipe")
    return ScheduleKind::GPipe;
  if (name == "1f1b")
    return ScheduleKind::OneFOneB;
  throw RuntimeError(where + ": schedule '" + name + "' is unknown (expected gpipe or 1f1b)");
}

std::string ScheduleStep::toString() const {
  return (kind == StepKind::Forward ? "F" : "B") + std::to_string(microbatch);
}

Schedule::Schedule(int64_t stages, int64_t microbatches, ScheduleKind kind, bool training)
    : numStages(stages), numMicrobatches(microbatches), scheduleKind(kind),
      isTraining(training) {
  if (stages < 1)
    throw RuntimeError("schedule: stages must be at least 1, got " + std::to_string(stages));
  if (microbatches < 1)
    throw RuntimeError("schedule: microbatches must be at least 1, got " +
                       std::to_string(microbatches));
}

int64_t Schedule::warmup(int64_t stage) const {
  if (stage < 0 || stage >= numStages)
    throw RuntimeError("schedule: stage " + std::to_string(stage) + " is out of range [0, " +
                       std::to_string(numStages) + ")");
  if (!isTraining || scheduleKind == ScheduleKind::GPipe)
    return numMicrobatches;
  return std::min(numStages - stage - 1, numMicrobatches);
}

std::vector<ScheduleStep> Schedule::steps(int64_t stage) const {
  const int64_t warm = warmup(stage), m = numMicrobatches;
  std::vector<ScheduleStep> out;
  out.reserve(isTraining ? 2 * m : m);
  for (int64_t f = 0; f < warm; ++f)
    out.push_back({f, StepKind::Forward});
  if (!isTraining)
    return out;
  // Steady state: one forward, one backward; then the cool-down backwards.
  int64_t nextForward = warm, nextBackward = 0;
  while (nextForward < m) {
    out.push_back({nextForward++, StepKind::Forward});
    out.push_back({nextBackward++, StepKind::Backward});
  }
  while (nextBackward < m)
    out.push_back({nextBackward++, StepKind::Backward});
  return out;
}

std::string Schedule::toString(const std::vector<ScheduleStep> &steps) {
  std::string s;
  for (const ScheduleStep &step : steps)
    s += (s.empty() ? "" : " ") + step.toString();
  return s;
}

} // namespace pmc::runtime
