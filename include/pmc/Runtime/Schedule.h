//===- Schedule.h - the order of microbatch steps of pipeline stages -*- C++ -*-===//
//
// docs/design/pipeline.md: a pipeline of K stages runs M microbatches; a
// schedule orders, per stage, the forward (and, when training, backward)
// steps of the microbatches.
//
//   gpipe: F0 F1 ... F(M-1), then B0 B1 ... B(M-1)
//   1f1b:  a warm-up of min(K-s-1, M) forwards, then one forward and one
//          backward alternately, then the remaining backwards
//
// For inference (no backward steps) both are F0 ... F(M-1) on every stage.
//
//   Schedule s(4, 8, ScheduleKind::OneFOneB, /*training=*/true);
//   s.steps(2); // F0 F1 B0 F2 B1 F3 B2 F4 B3 F5 B4 F6 B5 F7 B6 B7
//
#ifndef PMC_RUNTIME_SCHEDULE_H
#define PMC_RUNTIME_SCHEDULE_H

#include <cstdint>
#include <string>
#include <vector>

namespace pmc::runtime {

enum class ScheduleKind { GPipe, OneFOneB };

/// "gpipe", "1f1b".
const char *scheduleKindName(ScheduleKind kind);
/// Parses "gpipe" or "1f1b"; throws RuntimeError("<where>: ...") otherwise.
ScheduleKind parseScheduleKind(const std::string &name, const std::string &where);

enum class StepKind { Forward, Backward };

/// One step of a stage: the forward or backward pass of one microbatch.
struct ScheduleStep {
  int64_t microbatch = 0;
  StepKind kind = StepKind::Forward;
  bool operator==(const ScheduleStep &o) const {
    return microbatch == o.microbatch && kind == o.kind;
  }
  /// "F3", "B0".
  std::string toString() const;
};

class Schedule {
public:
  /// Throws RuntimeError when `stages` or `microbatches` is below 1.
  Schedule(int64_t stages, int64_t microbatches, ScheduleKind kind, bool training = false);

  int64_t stages() const { return numStages; }
  int64_t microbatches() const { return numMicrobatches; }
  ScheduleKind kind() const { return scheduleKind; }
  bool training() const { return isTraining; }

  /// The ordered steps of `stage` (in [0, stages), else RuntimeError): M
  /// forwards, and M backwards when training.
  std::vector<ScheduleStep> steps(int64_t stage) const;
  /// Forwards `stage` runs before its first backward: M for gpipe (and for
  /// inference), min(K - stage - 1, M) for 1f1b.
  int64_t warmup(int64_t stage) const;
  /// "F0 F1 B0 ...", for messages and tests.
  static std::string toString(const std::vector<ScheduleStep> &steps);

private:
  int64_t numStages, numMicrobatches;
  ScheduleKind scheduleKind;
  bool isTraining;
};

} // namespace pmc::runtime

#endif // PMC_RUNTIME_SCHEDULE_H
