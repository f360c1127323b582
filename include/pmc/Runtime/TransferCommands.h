//===- TransferCommands.h - send/recv between pipeline stages ---*- C++ -*-===//
//
// docs/design/pipeline.md, "Bundle": a rank of stage s exchanges activations
// with the rank of stage t that has the same coordinates on every other axis:
//
//   {"op": "send", "in": 5, "to_stage": 1, "tag": 0}
//   {"op": "recv", "out": 2, "from_stage": 0, "tag": 0}
//
// `tag` is the index of the transfer edge, the same on both sides; in
// microbatch m the message travels with wire tag pipelineWireTag(tag, m, M)
// (Pipeline.h), so every (edge, microbatch) has its own. A recv of another
// size than its `out` buffer fails; a recv that waits longer than the
// collective timeout fails on every rank with
// "recv of microbatch 3 from stage 0 (rank 1) on rank 3: timed out after 60 s".
//
#ifndef PMC_RUNTIME_TRANSFERCOMMANDS_H
#define PMC_RUNTIME_TRANSFERCOMMANDS_H

#include "pmc/Runtime/Command.h"

namespace pmc::runtime {

struct Manifest;
class RankProgram;

/// send or recv: what both share.
class TransferCommand : public Command {
public:
  TransferCommand(const nlohmann::json &object, int index, bool isSend);

  std::string_view op() const override { return sending ? "send" : "recv"; }
  std::vector<int> reads() const override;
  std::vector<int> writes() const override;
  /// Checks the buffer, the stage (in range, not this rank's own) and the tag
  /// (non-negative, fits the wire tags), and finds the peer rank.
  void validate(const ValidateContext &ctx) override;
  void execute(const ExecContext &ctx) const override;

  bool isSend() const { return sending; }
  /// The buffer sent or received.
  int buffer() const { return bufferId; }
  /// `to_stage` of a send, `from_stage` of a recv.
  int64_t otherStage() const { return stage; }
  int64_t tag() const { return edgeTag; }
  /// The peer rank (valid after validate()).
  int peer() const { return peerRank; }

private:
  bool sending;
  int bufferId = -1;
  int64_t stage = 0, edgeTag = 0, microbatches = 1;
  int peerRank = -1;
  size_t bytes = 0;
};

/// Checks, across the loaded `programs` (by rank, null for ranks not loaded;
/// only pairs with both ends loaded are checked), that every send has the
/// matching recv on its peer (same tag, opposite stages) with the same dtype
/// and shape, and vice versa. Throws RuntimeError naming both programs.
void checkTransferPairs(const Manifest &manifest,
                        const std::vector<const RankProgram *> &programs);

} // namespace pmc::runtime

#endif // PMC_RUNTIME_TRANSFERCOMMANDS_H
