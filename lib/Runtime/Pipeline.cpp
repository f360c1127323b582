//===- Pipeline.cpp - microbatch slices, stage peers and output sources ---===//

#include "pmc/Runtime/Pipeline.h"
#include "pmc/Runtime/Error.h"

namespace pmc::runtime {

int pipelineWireTag(int64_t tag, int64_t microbatch, int64_t microbatches) {
  if (tag < 0 || microbatch < 0 || microbatch >= microbatches ||
      tag > (kPipelineTagMax - kPipelineTagBase + 1) / microbatches - 1)
    throw RuntimeError("tag " + std::to_string(tag) + " with " +
                       std::to_string(microbatches) +
                       " microbatches does not fit the wire tags: (tag + 1) x microbatches "
                       "must be at most " +
                       std::to_string(kPipelineTagMax - kPipelineTagBase + 1));
  return static_cast<int>(kPipelineTagBase + tag * microbatches + microbatch);
}

int stagePeer(const Manifest &manifest, int rank, int64_t stage) {
  if (!manifest.pipeline || manifest.mesh.axisIndex(manifest.pipeline->axis) != 0)
    throw RuntimeError("rank " + std::to_string(rank) + " has no peer in stage " +
                       std::to_string(stage) + ": the bundle has no pipeline axis");
  std::vector<int> group = manifest.mesh.group(rank, {manifest.pipeline->axis});
  if (stage < 0 || stage >= static_cast<int64_t>(group.size()))
    throw RuntimeError("stage " + std::to_string(stage) + " is out of range [0, " +
                       std::to_string(group.size()) + ")");
  return group[stage];
}

bool computesOutput(const Manifest &manifest, size_t o, int rank) {
  return !manifest.pipeline || manifest.stageOf(rank) == manifest.outputs[o].stage;
}

bool isOutputSource(const Manifest &manifest, size_t o, int rank) {
  if (!computesOutput(manifest, o, rank))
    return false;
  const TensorSpec &spec = manifest.outputs[o];
  std::vector<int64_t> c = manifest.mesh.coordinates(rank);
  for (size_t i = 0; i < manifest.mesh.axes.size(); ++i) {
    const std::string &axis = manifest.mesh.axes[i].name;
    if (manifest.pipeline && axis == manifest.pipeline->axis)
      continue;
    bool named = false;
    for (const auto &dim : spec.sharding)
      for (const std::string &a : dim)
        named = named || a == axis;
    if (!named && c[i] != 0)
      return false;
  }
  return true;
}

std::vector<int64_t> rankOutputShape(const Manifest &manifest, size_t o) {
  const TensorSpec &spec = manifest.outputs[o];
  std::vector<int64_t> shape = manifest.stepShape(spec);
  if (manifest.pipeline && spec.microbatched)
    shape[0] *= manifest.pipeline->microbatches;
  return shape;
}

void placeOutput(const Manifest &manifest, size_t o, int rank, const void *local, void *full) {
  const TensorSpec &spec = manifest.outputs[o];
  const std::vector<int64_t> step = manifest.stepShape(spec);
  const std::vector<int64_t> stacked = rankOutputShape(manifest, o);
  const std::vector<int64_t> mbShape = manifest.microbatchShape(spec);
  std::vector<int64_t> at = shardOffsets(mbShape, spec.sharding, manifest.mesh, rank);
  const int64_t steps = manifest.pipeline && spec.microbatched ? manifest.pipeline->microbatches : 1;
  std::vector<int64_t> from(step.size(), 0);
  for (int64_t m = 0; m < steps; ++m) {
    std::vector<int64_t> to = at;
    if (steps > 1) {
      from[0] = m * step[0];
      to[0] += m * mbShape[0];
    }
    copyBlock(local, stacked, from, full, spec.shape, to, step, dtypeSize(spec.dtype));
  }
}

std::vector<int64_t> inputBlockOffsets(const Manifest &manifest, size_t i, int rank,
                                       int64_t microbatch) {
  const TensorSpec &spec = manifest.inputs[i];
  std::vector<int64_t> mbShape = manifest.microbatchShape(spec);
  std::vector<int64_t> at = shardOffsets(mbShape, spec.sharding, manifest.mesh, rank);
  if (manifest.pipeline && spec.microbatched)
    at[0] += microbatch * mbShape[0];
  return at;
}

bool isContiguousBlock(const Manifest &manifest, size_t i) {
  const TensorSpec &spec = manifest.inputs[i];
  std::vector<int64_t> step = manifest.stepShape(spec);
  for (size_t d = 1; d < step.size(); ++d)
    if (step[d] != spec.shape[d])
      return false;
  return true;
}

} // namespace pmc::runtime
