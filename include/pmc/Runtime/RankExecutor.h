//===- RankExecutor.h - one rank of a bundle, on the host or a GPU -*- C++ -*-===//
//
// A Session holds one RankExecutor per rank it runs and runs them all the same
// way; only open() knows the target. Both executors run a program validated
// by the same rules (ProgramTable.h: the host commands' meaning of each
// command, ProgramRules, the liveness of BufferPlan): the host one runs the
// RankProgram's commands on this process's memory, the CUDA one the rank's
// CudaProgram on its device (CudaRanks).
//
#ifndef PMC_RUNTIME_RANKEXECUTOR_H
#define PMC_RUNTIME_RANKEXECUTOR_H

#include "pmc/Support/HostTensor.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace pmc::runtime {
class Communicator;
class RankProgram;
namespace cuda {
class CudaRanks;
}

class RankExecutor {
public:
  virtual ~RankExecutor();
  /// Runs the program once on this rank's local input shards (`inputs[i]`,
  /// null for inputs it does not read); in a pipeline bundle one step, of
  /// `microbatch`. Returns this rank's local shard of every manifest output
  /// (an empty tensor for the outputs of other stages). An output `o` with
  /// `keep[o]` is returned empty and kept for copyOutput.
  virtual std::vector<HostTensor> run(const std::vector<const void *> &inputs,
                                      int64_t microbatch,
                                      const std::vector<bool> &keep = {}) = 0;
  /// Copies kept output `o` of the last run (`bytes`, its local size) into
  /// host memory `to`.
  virtual void copyOutput(size_t o, void *to, size_t bytes) = 0;
  /// Whether the program has a buffer for manifest input `input`.
  virtual bool readsInput(size_t input) const = 0;
  /// Bytes of the temp arena (after liveness reuse), and of all temps if
  /// none shared memory.
  virtual size_t arenaBytes() const = 0;
  virtual size_t tempBytes() const = 0;
  /// Bytes of weights and scratch the rank holds besides the arena, and of
  /// the local shards of the inputs it reads but those marked in `skip` (a
  /// device rank: 0, its device memory is not counted here).
  virtual size_t otherBytes() const = 0;
  virtual size_t inputBytes(const std::vector<bool> &skip) const = 0;
  /// The host program, or null for a rank on a device.
  virtual const RankProgram *hostProgram() const { return nullptr; }
};

/// The host executor of `program`, whose collectives and transfers go
/// through `comm` (which must outlive it).
std::unique_ptr<RankExecutor> makeHostExecutor(std::unique_ptr<RankProgram> program,
                                               Communicator &comm);
/// The executor of rank `rank` of `ranks` (which it keeps alive).
std::unique_ptr<RankExecutor> makeCudaExecutor(std::shared_ptr<cuda::CudaRanks> ranks,
                                               int rank);

} // namespace pmc::runtime

#endif // PMC_RUNTIME_RANKEXECUTOR_H
