//===- RankProgram.h - the validated command list of one rank ---*- C++ -*-===//
#ifndef PMC_RUNTIME_RANKPROGRAM_H
#define PMC_RUNTIME_RANKPROGRAM_H

#include "pmc/Runtime/Buffer.h"
#include "pmc/Runtime/BufferPlan.h"
#include "pmc/Runtime/Command.h"
#include "pmc/Runtime/Comm/FaultInjection.h"
#include "pmc/Runtime/Manifest.h"
#include "pmc/Schedule/PipelineSchedule.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace pmc::bundle {
class BundleReader;
}

namespace pmc::runtime {

class CollectiveWorker;
struct OverlapPlan;

/// The outputs of a pipeline stage over its schedule (the microbatch loop of
/// Session.cpp, one RankExecutor::run per step): a microbatched
/// output stacks step m at rows [m*b, (m+1)*b) of dimension 0 (b the step's
/// rows; Pipeline.h's rankOutputShape), any other output keeps the last
/// step's value, and outputs of other stages stay empty tensors.
///
///   StackedOutputs stacked({true}, schedule.computeActions(rank), "rank1.program");
///   for (const schedule::Action &a : schedule.computeActions(rank))
///     stacked.place(0, a.microbatch, DType::Float32, {2, 10}, stepOutput);
///   std::vector<HostTensor> outputs = stacked.take();   // y: [2 * M, 10]
class StackedOutputs {
public:
  /// `microbatched[o]` per manifest output; `steps` the compute actions of
  /// this rank. Throws RuntimeError("<where>: schedule step B0 is a backward
  /// step; ...") for any but a forward (forward programs only).
  StackedOutputs(std::vector<bool> microbatched, const std::vector<schedule::Action> &steps,
                 const std::string &where);
  /// The microbatches of the schedule (1 + the largest microbatch).
  int64_t microbatches() const { return numMicrobatches; }
  /// Copies output `o` of the step of `microbatch` (a dense `dtype` tensor of
  /// the step's `shape` at `data`) into its place.
  void place(size_t o, int64_t microbatch, DType dtype, const std::vector<int64_t> &shape,
             const void *data);
  /// The outputs, in manifest order.
  std::vector<HostTensor> take() { return std::move(results); }

private:
  std::vector<bool> microbatched, allocated;
  int64_t numMicrobatches = 0;
  std::vector<HostTensor> results;
};

/// One rank's program: buffer table, commands and arena plan, validated in full
/// on load, plus the memory to run it (arena, scratch, staged inputs). Input
/// and output buffers hold the rank's local shards (manifest sharding).
/// A RankProgram runs one call at a time.
class RankProgram {
public:
  /// Parses section `manifest.rankPrograms[rank]`, verifies the weight
  /// sections it references, validates every buffer and command and plans the
  /// arena. `kernels` may be null when the program has no kernel command.
  /// Throws RuntimeError naming the section, buffer or command.
  static std::unique_ptr<RankProgram> load(const Manifest &manifest,
                                           const bundle::BundleReader &reader,
                                           int rank, const KernelLibrary *kernels);
  ~RankProgram();

  /// Runs the commands. `inputs[i]` points to the dense bytes of this rank's
  /// local shard of manifest input i (already checked by the caller; may be
  /// null for inputs the program does not read); collectives go through
  /// `comm`. In a pipeline bundle this is one step, of `microbatch` (the
  /// blocks of that microbatch; send/recv derive their wire tags from it).
  /// Returns this rank's local shard of every manifest output, in order (an
  /// empty tensor for outputs another pipeline stage computes). An output
  /// `o` with `keep[o]` is returned empty: it stays where the program wrote
  /// it, for copyOutput (a train step's state update, copied over the state
  /// once every rank has finished).
  std::vector<HostTensor> run(const std::vector<const void *> &inputs, Communicator &comm,
                              int64_t microbatch = 0, const std::vector<bool> &keep = {});
  /// Copies output `o` of the last run (`bytes`, its local size) to `to`,
  /// which may be the memory of the input it was computed from. Valid until
  /// the next run.
  void copyOutput(size_t o, void *to, size_t bytes) const;
  /// Whether the program has a buffer for manifest input `input`.
  bool readsInput(size_t input) const {
    return input < readsInputs.size() && readsInputs[input];
  }

  /// Installs test hooks (FaultInjection.h) consulted before each command.
  void setFaultInjection(const FaultInjection &hooks) { faults = hooks; }

  int rank() const { return rankIndex; }
  const std::vector<BufferDesc> &buffers() const { return bufferTable; }
  const std::vector<std::unique_ptr<Command>> &commands() const { return commandList; }
  const ArenaPlan &plan() const { return arenaPlan; }
  /// Bytes of the temp arena (after liveness reuse).
  size_t arenaBytes() const { return arenaPlan.arenaBytes; }
  /// Bytes of scratch memory (the largest any command needs).
  size_t scratchBytes() const { return scratchSize; }
  /// Bytes of the copies of unaligned feeds made so far (kept for reuse).
  size_t stagedBytes() const;
  /// Bytes of the local shards of the manifest inputs the program reads,
  /// but those marked in `skip`.
  size_t inputBytes(const std::vector<bool> &skip) const;
  /// Bytes of the weights the program reads (mapped from the bundle).
  size_t weightBytes() const;

private:
  RankProgram() = default;
  void allocate();
  /// Data pointers of every buffer for `inputs`.
  std::vector<void *> bind(const std::vector<const void *> &inputs);
  /// Runs the commands on `ptrs` as step `microbatch`.
  void execute(const std::vector<void *> &ptrs, Communicator &comm, int64_t microbatch);

  int rankIndex = 0;
  std::string sectionName;
  FaultInjection faults;
  std::vector<BufferDesc> bufferTable;
  std::vector<std::unique_ptr<Command>> commandList;
  /// Buffer of each manifest output; -1 for outputs of other stages.
  std::vector<int> outputIds;
  /// Per manifest input: whether a buffer reads it.
  std::vector<bool> readsInputs;
  ArenaPlan arenaPlan;
  size_t scratchSize = 0;
  /// Data pointers of weights (into the mapped bundle), by buffer id.
  std::vector<const void *> weightData;
  /// Per manifest input: its copy when a feed was not 64-byte aligned.
  std::vector<AlignedBytes> staged;
  void *arena = nullptr;
  void *scratch = nullptr;
  /// The buffers' data pointers in the last run that finished (copyOutput).
  std::vector<void *> lastRun;
  /// Collectives run beside the commands (CollectiveOverlap.h); null when
  /// none overlaps anything or $PMC_SYNC_COLLECTIVES is set.
  std::unique_ptr<OverlapPlan> overlap;
  std::unique_ptr<CollectiveWorker> worker;
};

} // namespace pmc::runtime

#endif // PMC_RUNTIME_RANKPROGRAM_H
