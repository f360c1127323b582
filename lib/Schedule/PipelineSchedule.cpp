//===- PipelineSchedule.cpp - gpipe, 1f1b, interleaved and zb-h1 orders ----===//

#include "pmc/Schedule/PipelineSchedule.h"

#include <algorithm>

namespace pmc::schedule {

namespace {

constexpr struct {
  ScheduleKind kind;
  const char *name;
} kKindNames[] = {{ScheduleKind::GPipe, "gpipe"},
                  {ScheduleKind::OneFOneB, "1f1b"},
                  {ScheduleKind::Interleaved, "interleaved"},
                  {ScheduleKind::ZeroBubbleH1, "zb-h1"}};

Action compute(ActionKind kind, int64_t microbatch, int64_t stage) {
  return Action{kind, microbatch, stage, -1};
}

/// gpipe and 1f1b (v = 1): stage = rank.
std::vector<Action> oneStagePerRank(int64_t rank, int64_t m, int64_t warm, bool training) {
  std::vector<Action> out;
  for (int64_t f = 0; f < warm; ++f)
    out.push_back(compute(ActionKind::Forward, f, rank));
  if (!training)
    return out;
  int64_t nextForward = warm, nextBackward = 0;
  while (nextForward < m) {
    out.push_back(compute(ActionKind::Forward, nextForward++, rank));
    out.push_back(compute(ActionKind::Backward, nextBackward++, rank));
  }
  while (nextBackward < m)
    out.push_back(compute(ActionKind::Backward, nextBackward++, rank));
  return out;
}

/// zb-h1: 1f1b's F and B, and the W of microbatch k after the B of
/// microbatch k + rank (the last W's at the end). Rank s then holds at most
/// (p - s - 1) + 1 + s = p microbatches, 1f1b's peak on stage 0, and its W's
/// fill the bubble 1f1b leaves while the later stages drain.
std::vector<Action> zeroBubbleH1(int64_t rank, int64_t p, int64_t m) {
  std::vector<Action> out;
  int64_t warm = std::min(p - rank - 1, m);
  for (int64_t f = 0; f < warm; ++f)
    out.push_back(compute(ActionKind::Forward, f, rank));
  int64_t nextForward = warm, nextBackward = 0, nextWeight = 0;
  while (nextBackward < m) {
    if (nextForward < m)
      out.push_back(compute(ActionKind::Forward, nextForward++, rank));
    out.push_back(compute(ActionKind::Backward, nextBackward++, rank));
    if (nextBackward - nextWeight > rank)
      out.push_back(compute(ActionKind::WeightGradient, nextWeight++, rank));
  }
  while (nextWeight < m)
    out.push_back(compute(ActionKind::WeightGradient, nextWeight++, rank));
  return out;
}

/// Megatron-LM's interleaved 1F1B (forward_backward_pipelining_with_
/// interleaving): the k-th forward of a rank is microbatch
/// (k / (p v)) p + k mod p of its chunk (k mod (p v)) / p; the k-th backward
/// walks the chunks in reverse. Warm-up: 2 (p - rank - 1) + (v - 1) p
/// forwards (all of them when m = p).
std::vector<Action> interleaved(int64_t rank, int64_t p, int64_t m, int64_t v, bool training) {
  const int64_t total = m * v;
  auto microbatchOf = [&](int64_t k) { return (k / (p * v)) * p + k % p; };
  auto forwardStage = [&](int64_t k) { return ((k % (p * v)) / p) * p + rank; };
  auto backwardStage = [&](int64_t k) { return (v - 1 - (k % (p * v)) / p) * p + rank; };
  int64_t warm = total;
  if (training && m != p)
    warm = std::min(2 * (p - rank - 1) + (v - 1) * p, total);
  std::vector<Action> out;
  for (int64_t k = 0; k < warm; ++k)
    out.push_back(compute(ActionKind::Forward, microbatchOf(k), forwardStage(k)));
  if (!training)
    return out;
  int64_t b = 0;
  for (int64_t k = warm; k < total; ++k, ++b) {
    out.push_back(compute(ActionKind::Forward, microbatchOf(k), forwardStage(k)));
    out.push_back(compute(ActionKind::Backward, microbatchOf(b), backwardStage(b)));
  }
  for (; b < total; ++b)
    out.push_back(compute(ActionKind::Backward, microbatchOf(b), backwardStage(b)));
  return out;
}

} // namespace

const char *scheduleKindName(ScheduleKind kind) {
  for (const auto &k : kKindNames)
    if (k.kind == kind)
      return k.name;
  return "?";
}

std::optional<ScheduleKind> parseScheduleKind(std::string_view name) {
  for (const auto &k : kKindNames)
    if (name == k.name)
      return k.kind;
  return std::nullopt;
}

const char *scheduleKindChoices() { return "gpipe, 1f1b, interleaved or zb-h1"; }

std::string Action::toString(bool withStage) const {
  const char *letter = "F";
  if (kind == ActionKind::Backward || kind == ActionKind::SendGradient ||
      kind == ActionKind::RecvGradient)
    letter = "B";
  else if (kind == ActionKind::WeightGradient)
    letter = "W";
  std::string s = letter + std::to_string(microbatch);
  if (withStage)
    s += "@s" + std::to_string(stage);
  switch (kind) {
  case ActionKind::SendActivation:
  case ActionKind::SendGradient:
    return "send " + s + ">r" + std::to_string(peer);
  case ActionKind::RecvActivation:
  case ActionKind::RecvGradient:
    return "recv " + s + "<r" + std::to_string(peer);
  default:
    return s;
  }
}

PipelineSchedule PipelineSchedule::create(ScheduleKind kind, int64_t ranks,
                                          int64_t microbatches, int64_t virtualStages,
                                          bool training) {
  std::string name = scheduleKindName(kind);
  if (ranks < 1)
    throw ScheduleError("schedule " + name + ": pipeline ranks must be at least 1, got " +
                        std::to_string(ranks));
  if (microbatches < 1)
    throw ScheduleError("schedule " + name + ": microbatches must be at least 1, got " +
                        std::to_string(microbatches));
  if (kind == ScheduleKind::Interleaved) {
    if (virtualStages < 2)
      throw ScheduleError("schedule interleaved: virtual stages per rank must be at least 2, "
                          "got " + std::to_string(virtualStages));
    if (microbatches % ranks != 0)
      throw ScheduleError("schedule interleaved: " + std::to_string(microbatches) +
                          " microbatches are no multiple of the " + std::to_string(ranks) +
                          " pipeline ranks");
  } else if (virtualStages != 1) {
    throw ScheduleError("schedule " + name + " has one stage per rank; virtual stages " +
                        std::to_string(virtualStages) + " need the interleaved schedule");
  }
  PipelineSchedule s;
  s.scheduleKind = kind;
  s.numRanks = ranks;
  s.numMicrobatches = microbatches;
  s.numVirtual = virtualStages;
  s.isTraining = training;
  s.perRank.resize(ranks);
  for (int64_t r = 0; r < ranks; ++r) {
    if (kind == ScheduleKind::Interleaved)
      s.perRank[r] = interleaved(r, ranks, microbatches, virtualStages, training);
    else if (kind == ScheduleKind::ZeroBubbleH1 && training)
      s.perRank[r] = zeroBubbleH1(r, ranks, microbatches);
    else
      s.perRank[r] = oneStagePerRank(r, microbatches, s.warmup(r), training);
  }
  s.addTransfers();
  return s;
}

void PipelineSchedule::addTransfers() {
  const int64_t last = stages() - 1;
  for (int64_t r = 0; r < numRanks; ++r) {
    std::vector<Action> withTransfers;
    for (const Action &a : perRank[r]) {
      auto transfer = [&](ActionKind kind, int64_t otherStage) {
        if (rankOf(otherStage) != r)
          withTransfers.push_back(Action{kind, a.microbatch, a.stage, rankOf(otherStage)});
      };
      if (a.kind == ActionKind::Forward && a.stage > 0)
        transfer(ActionKind::RecvActivation, a.stage - 1);
      if (a.kind == ActionKind::Backward && a.stage < last)
        transfer(ActionKind::RecvGradient, a.stage + 1);
      withTransfers.push_back(a);
      if (a.kind == ActionKind::Forward && a.stage < last)
        transfer(ActionKind::SendActivation, a.stage + 1);
      if (a.kind == ActionKind::Backward && a.stage > 0)
        transfer(ActionKind::SendGradient, a.stage - 1);
    }
    perRank[r] = std::move(withTransfers);
  }
}

const std::vector<Action> &PipelineSchedule::actions(int64_t rank) const {
  if (rank < 0 || rank >= numRanks)
    throw ScheduleError("schedule: pipeline rank " + std::to_string(rank) +
                        " is out of range [0, " + std::to_string(numRanks) + ")");
  return perRank[rank];
}

std::vector<Action> PipelineSchedule::computeActions(int64_t rank) const {
  std::vector<Action> out;
  for (const Action &a : actions(rank))
    if (a.isCompute())
      out.push_back(a);
  return out;
}

int64_t PipelineSchedule::warmup(int64_t rank) const {
  if (rank < 0 || rank >= numRanks)
    throw ScheduleError("schedule: pipeline rank " + std::to_string(rank) +
                        " is out of range [0, " + std::to_string(numRanks) + ")");
  if (!isTraining || scheduleKind == ScheduleKind::GPipe)
    return numMicrobatches * numVirtual;
  if (scheduleKind == ScheduleKind::Interleaved)
    return numMicrobatches == numRanks
               ? numMicrobatches * numVirtual
               : std::min(2 * (numRanks - rank - 1) + (numVirtual - 1) * numRanks,
                          numMicrobatches * numVirtual);
  return std::min(numRanks - rank - 1, numMicrobatches);
}

std::string PipelineSchedule::toString(const std::vector<Action> &actions, bool withStage) {
  std::string s;
  for (const Action &a : actions)
    s += (s.empty() ? "" : " ") + a.toString(withStage);
  return s;
}

double bubbleFraction(ScheduleKind kind, int64_t ranks, int64_t microbatches,
                      int64_t virtualStages, double forward, double backward,
                      double weightGradient) {
  const double p = static_cast<double>(ranks), m = static_cast<double>(microbatches);
  switch (kind) {
  case ScheduleKind::GPipe:
  case ScheduleKind::OneFOneB:
    return (p - 1) / (m + p - 1);
  case ScheduleKind::Interleaved:
    return (p - 1) / (static_cast<double>(virtualStages) * m + p - 1);
  case ScheduleKind::ZeroBubbleH1: {
    double idle = (p - 1) * std::max(forward + backward - weightGradient, 0.0);
    double busy = m * (forward + backward + weightGradient);
    return idle / (busy + idle);
  }
  }
  return 0;
}

double inFlightMicrobatches(ScheduleKind kind, int64_t ranks, int64_t microbatches,
                            int64_t virtualStages) {
  const double p = static_cast<double>(ranks), m = static_cast<double>(microbatches);
  switch (kind) {
  case ScheduleKind::GPipe:
    return m;
  case ScheduleKind::OneFOneB:
  case ScheduleKind::ZeroBubbleH1:
    return std::min(p, m);
  case ScheduleKind::Interleaved:
    if (microbatches == ranks)
      return m;
    return std::min(p + (p - 1) / static_cast<double>(virtualStages), m);
  }
  return m;
}

} // namespace pmc::schedule
