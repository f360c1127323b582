//===- Pipeline.h - where microbatches and stages live in tensors -*- C++ -*-===//
//
// docs/design/pipeline.md, "Concrete contract": microbatch m of a microbatched
// tensor of batch B is rows [m*B/M, (m+1)*B/M) of dimension 0, then split by
// the tensor's sharding over the mesh; stage s runs on the ranks whose
// coordinate on the pipeline axis (the first mesh axis) is s. These helpers
// let the Session slice feeds per (rank, microbatch) and assemble outputs
// from the ranks of the stage that computes them. Without a pipeline they
// reduce to the sharding rules of parallel.md (one microbatch, one stage).
//
// A rank's "stacked" local output holds its shard of every microbatch, in
// microbatch order along dimension 0:
//
//   // y: [8, 10] microbatched, M = 4, sharding [["dp"], []] on pp=2 x dp=2
//   rankOutputShape(manifest, 0);  // {4, 10}: 4 steps of a [1, 10] shard
//
#ifndef PMC_RUNTIME_PIPELINE_H
#define PMC_RUNTIME_PIPELINE_H

#include "pmc/Runtime/Manifest.h"

#include <cstdint>
#include <vector>

namespace pmc::runtime {

/// Pipeline messages use wire tags in [kPipelineTagBase, kPipelineTagMax];
/// the Session's output assembly uses the tags below (one per output).
/// kPipelineTagMax is the smallest MPI_TAG_UB the MPI standard allows.
inline constexpr int64_t kPipelineTagBase = 16384;
inline constexpr int64_t kPipelineTagMax = 32767;

/// The wire tag of transfer edge `tag` in `microbatch`: unique per (edge,
/// microbatch). Throws RuntimeError when it does not fit below kPipelineTagMax.
int pipelineWireTag(int64_t tag, int64_t microbatch, int64_t microbatches);

/// The rank of `stage` with the same coordinates as `rank` on every axis but
/// the pipeline axis.
int stagePeer(const Manifest &manifest, int rank, int64_t stage);

/// Whether `rank` runs the stage that computes output `o` (every rank
/// without a pipeline).
bool computesOutput(const Manifest &manifest, size_t o, int rank);
/// Whether `rank`'s local output `o` is assembled into the full output: it
/// computes it and has coordinate 0 on every non-pipeline axis the output's
/// sharding does not name (exactly one rank for a replicated output).
bool isOutputSource(const Manifest &manifest, size_t o, int rank);
/// The shape of a rank's local output `o` over the whole run: the stacked
/// step shards of a microbatched output, else its step shape.
std::vector<int64_t> rankOutputShape(const Manifest &manifest, size_t o);
/// Copies `local` (rank `rank`'s output `o`, of rankOutputShape()) into its
/// place in `full` (dense, the output's full shape).
void placeOutput(const Manifest &manifest, size_t o, int rank, const void *local, void *full);

/// The elements offsets of `rank`'s block of input `i` in `microbatch`
/// inside the full input (the block has shape manifest.stepShape()).
std::vector<int64_t> inputBlockOffsets(const Manifest &manifest, size_t i, int rank,
                                       int64_t microbatch);
/// Whether that block is one contiguous run of the full input (it can be
/// read in place).
bool isContiguousBlock(const Manifest &manifest, size_t i);

} // namespace pmc::runtime

#endif // PMC_RUNTIME_PIPELINE_H
