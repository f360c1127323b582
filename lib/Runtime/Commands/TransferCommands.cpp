//===- TransferCommands.cpp - send/recv between pipeline stages -----------===//

#include "pmc/Runtime/TransferCommands.h"
#include "BuiltinCommands.h"
#include "../Json.h"
#include "pmc/Runtime/Comm/Communicator.h"
#include "pmc/Runtime/Manifest.h"
#include "pmc/Runtime/Pipeline.h"
#include "pmc/Runtime/RankProgram.h"

#include <map>
#include <tuple>

namespace pmc::runtime {

TransferCommand::TransferCommand(const nlohmann::json &o, int index, bool isSend)
    : Command(index), sending(isSend) {
  bufferId = json::getId(o, sending ? "in" : "out", where());
  stage = json::getInt(o, sending ? "to_stage" : "from_stage", where());
  edgeTag = json::getInt(o, "tag", where());
}

std::vector<int> TransferCommand::reads() const {
  return sending ? std::vector<int>{bufferId} : std::vector<int>{};
}

std::vector<int> TransferCommand::writes() const {
  return sending ? std::vector<int>{} : std::vector<int>{bufferId};
}

void TransferCommand::validate(const ValidateContext &ctx) {
  const char *field = sending ? "to_stage" : "from_stage";
  const BufferDesc &b = operand(ctx, bufferId, sending ? "in" : "out");
  if (!ctx.pipeline)
    fail("needs a pipeline bundle (the manifest has no 'pipeline')");
  const PipelineSpec &p = *ctx.pipeline;
  if (stage < 0 || stage >= p.stages)
    fail(std::string("field '") + field + "' is " + std::to_string(stage) +
         ", out of range [0, " + std::to_string(p.stages) + ")");
  // Without the axis (a 1-stage pipeline) every rank is stage 0.
  const bool hasAxis = ctx.mesh.axisIndex(p.axis) >= 0;
  int64_t own = hasAxis ? ctx.mesh.positionInGroup(ctx.rank, {p.axis}) : 0;
  if (stage == own)
    fail(std::string("field '") + field + "' is " + std::to_string(stage) +
         ", this rank's own stage");
  std::vector<int> group = ctx.mesh.group(ctx.rank, {p.axis});
  if (edgeTag < 0)
    fail("field 'tag' is " + std::to_string(edgeTag) + ", expected a non-negative integer");
  try {
    pipelineWireTag(edgeTag, p.microbatches - 1, p.microbatches);
  } catch (const RuntimeError &e) {
    fail(std::string("field 'tag': ") + e.what());
  }
  peerRank = group[stage];
  microbatches = p.microbatches;
  bytes = b.bytes;
}

void TransferCommand::execute(const ExecContext &ctx) const {
  int wire = pipelineWireTag(edgeTag, ctx.microbatch, microbatches);
  std::string label = std::string(sending ? "send" : "recv") + " of microbatch " +
                      std::to_string(ctx.microbatch) + (sending ? " to" : " from") +
                      " stage " + std::to_string(stage) + " (rank " +
                      std::to_string(peerRank) + ")";
  if (sending)
    ctx.comm.send(ctx.buffers[bufferId], bytes, peerRank, wire, label);
  else
    ctx.comm.recv(ctx.buffers[bufferId], bytes, peerRank, wire, label);
}

void registerTransferCommands(std::map<std::string, CommandFactory> &factories) {
  factories["send"] = [](const nlohmann::json &o, int index) -> std::unique_ptr<Command> {
    return std::make_unique<TransferCommand>(o, index, true);
  };
  factories["recv"] = [](const nlohmann::json &o, int index) -> std::unique_ptr<Command> {
    return std::make_unique<TransferCommand>(o, index, false);
  };
}

void checkTransferPairs(const Manifest &manifest,
                        const std::vector<const RankProgram *> &programs) {
  // (rank, tag, isSend) -> command, for every loaded program.
  std::map<std::tuple<int, int64_t, bool>, const TransferCommand *> ends;
  for (const RankProgram *p : programs)
    if (p)
      for (const auto &cmd : p->commands())
        if (auto *t = dynamic_cast<const TransferCommand *>(cmd.get()))
          ends[{p->rank(), t->tag(), t->isSend()}] = t;
  for (const auto &[key, t] : ends) {
    const auto &[rank, tag, isSend] = key;
    const RankProgram *peer = programs[t->peer()];
    if (!peer)
      continue;
    std::string here = manifest.rankPrograms[rank] + ": " + t->where() + " (tag " +
                       std::to_string(tag) + ")";
    auto it = ends.find({t->peer(), tag, !isSend});
    const int64_t ownStage = manifest.stageOf(rank);
    if (it == ends.end() || it->second->otherStage() != ownStage)
      throw RuntimeError(here + ": " + manifest.rankPrograms[t->peer()] + " (stage " +
                         std::to_string(t->otherStage()) + ") has no " +
                         (isSend ? "recv" : "send") + " with tag " + std::to_string(tag) +
                         (isSend ? " from" : " to") + " stage " + std::to_string(ownStage));
    const BufferDesc &mine = programs[rank]->buffers()[t->buffer()];
    const BufferDesc &theirs = peer->buffers()[it->second->buffer()];
    if (mine.dtype != theirs.dtype || mine.shape != theirs.shape)
      throw RuntimeError(here + ": " + (isSend ? "sends " : "receives ") + mine.describe() +
                         " but " + manifest.rankPrograms[t->peer()] + ": " +
                         it->second->where() + (isSend ? " receives " : " sends ") +
                         theirs.describe());
  }
}

} // namespace pmc::runtime
