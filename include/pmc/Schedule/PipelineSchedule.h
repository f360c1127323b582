//===- PipelineSchedule.h - pipeline schedules as per-rank action lists -*- C++ -*-===//
//
// A pipeline of S stages on p ranks runs m microbatches. A schedule says, per
// rank, in which order it runs the forward (F), backward (B) and, when the
// backward is split, weight-gradient (W) work of each (microbatch, stage),
// and where it sends and receives activations and their gradients. The
// compiler's planner scores it (Timeline.h), --explain prints and draws it,
// and the runtime executes it; all three read this one list.
//
//   gpipe        all forwards, then all backwards
//   1f1b         a warm-up of min(p-s-1, m) forwards, then one forward and one
//                backward alternately, then the remaining backwards
//   interleaved  Megatron-LM's interleaved 1F1B: v model chunks per rank
//                (stage j on rank j mod p, S = p*v); needs m a multiple of p
//   zb-h1        zero-bubble H1: 1F1B with the backward split into B (input
//                gradient) and W (weight gradient), stage s deferring its W's
//                by s microbatches into the bubble; 1F1B's peak memory
//
// Inference (training = false) runs only the forwards, in the order of the
// schedule's forwards (F0 ... F(m-1) for all but interleaved).
//
//   PipelineSchedule s = PipelineSchedule::create(ScheduleKind::OneFOneB,
//                                                 /*ranks=*/4, /*microbatches=*/8);
//   PipelineSchedule::toString(s.computeActions(2));
//   // "F0 F1 B0 F2 B1 F3 B2 F4 B3 F5 B4 F6 B5 F7 B6 B7"
//
//===----------------------------------------------------------------------===//
#ifndef PMC_SCHEDULE_PIPELINESCHEDULE_H
#define PMC_SCHEDULE_PIPELINESCHEDULE_H

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace pmc::schedule {

/// A schedule that cannot be built or simulated (bad sizes, a deadlock).
class ScheduleError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

enum class ScheduleKind { GPipe, OneFOneB, Interleaved, ZeroBubbleH1 };

/// "gpipe", "1f1b", "interleaved", "zb-h1".
const char *scheduleKindName(ScheduleKind kind);
/// The inverse of scheduleKindName; nullopt for another name.
std::optional<ScheduleKind> parseScheduleKind(std::string_view name);
/// "gpipe, 1f1b, interleaved or zb-h1", for messages.
const char *scheduleKindChoices();

enum class ActionKind : uint8_t {
  Forward,        ///< F: the forward of one microbatch through one stage
  Backward,       ///< B: its input gradient (and weight gradient unless W is split)
  WeightGradient, ///< W: its weight gradient (zb-h1)
  SendActivation, ///< the stage's forward result to the next stage's rank
  RecvActivation, ///< the previous stage's forward result
  SendGradient,   ///< the stage's input gradient to the previous stage's rank
  RecvGradient,   ///< the next stage's input gradient
};

struct Action {
  ActionKind kind = ActionKind::Forward;
  int64_t microbatch = 0;
  /// The (virtual) stage computed; for a transfer the stage on this rank
  /// whose forward sends / receives, or whose backward does.
  int64_t stage = 0;
  /// For a transfer: the pipeline rank on the other side; else -1.
  int64_t peer = -1;

  bool isCompute() const { return kind <= ActionKind::WeightGradient; }
  bool operator==(const Action &o) const {
    return kind == o.kind && microbatch == o.microbatch && stage == o.stage && peer == o.peer;
  }
  /// "F3", "B0", "W2"; with `withStage` "F3@s5"; transfers "send F3>r1",
  /// "recv F3<r0", "send B3>r0", "recv B3<r2".
  std::string toString(bool withStage = false) const;
};

class PipelineSchedule {
public:
  /// `ranks` p >= 1 (the size of the pipeline axis), `microbatches` m >= 1,
  /// `virtualStages` v (stages per rank): 1 for all kinds but interleaved,
  /// which needs v >= 2 and m a multiple of p. Throws ScheduleError naming
  /// the value at fault.
  static PipelineSchedule create(ScheduleKind kind, int64_t ranks, int64_t microbatches,
                                 int64_t virtualStages = 1, bool training = true);

  ScheduleKind kind() const { return scheduleKind; }
  int64_t ranks() const { return numRanks; }
  int64_t microbatches() const { return numMicrobatches; }
  int64_t virtualStages() const { return numVirtual; }
  /// S = p * v.
  int64_t stages() const { return numRanks * numVirtual; }
  bool training() const { return isTraining; }
  /// Whether the backward is split into B and W actions (zb-h1, training).
  bool splitsBackward() const {
    return isTraining && scheduleKind == ScheduleKind::ZeroBubbleH1;
  }
  /// The rank that runs (virtual) stage `stage`: stage mod p.
  int64_t rankOf(int64_t stage) const { return stage % numRanks; }

  /// Rank `rank`'s actions in order, transfers included (a recv right
  /// before the compute that needs it, a send right after the compute that
  /// makes it; none between stages of one rank). Throws for a bad rank.
  const std::vector<Action> &actions(int64_t rank) const;
  /// Only its F / B / W actions.
  std::vector<Action> computeActions(int64_t rank) const;
  /// Forwards rank `rank` runs before its first backward.
  int64_t warmup(int64_t rank) const;

  /// "F0 F1 B0 ..." (with stages when v > 1).
  static std::string toString(const std::vector<Action> &actions, bool withStage = false);

private:
  PipelineSchedule() = default;
  void addTransfers();

  ScheduleKind scheduleKind = ScheduleKind::GPipe;
  int64_t numRanks = 1, numMicrobatches = 1, numVirtual = 1;
  bool isTraining = true;
  std::vector<std::vector<Action>> perRank;
};

/// The closed forms the cost model's formulas come from (docs/design/
/// pipeline.md), for equal stages with forward : backward : weight-gradient
/// times F : B : W (B includes W when the schedule does not split it):
/// the idle fraction of the step (gpipe and 1f1b (p-1)/(m+p-1), interleaved
/// (p-1)/(v*m+p-1), zb-h1 (p-1)(F+B-W) / (m(F+B+W) + (p-1)(F+B-W))).
double bubbleFraction(ScheduleKind kind, int64_t ranks, int64_t microbatches,
                      int64_t virtualStages = 1, double forward = 1, double backward = 1,
                      double weightGradient = 1);
/// The most microbatches whose activations a rank holds at once, in units of
/// a whole rank's share of the model (a chunk counts 1/v): gpipe m, 1f1b and
/// zb-h1 min(p, m), interleaved p (1 + (p-1)/(p v)) (m when m = p).
double inFlightMicrobatches(ScheduleKind kind, int64_t ranks, int64_t microbatches,
                            int64_t virtualStages = 1);

} // namespace pmc::schedule

#endif // PMC_SCHEDULE_PIPELINESCHEDULE_H
