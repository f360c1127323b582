//===- UserPlan.h - a plan given by hand: --mesh, --shard, --stages -*- C++ -*-===//
//
// The spellings of the flags (`dp=2,tp=2`, `w_fc=,tp`) and what applying them
// does to a module; the passes pmc-apply-shardings and pmc-annotate-pipeline
// run these, and pmc-opt compile / pmc.compile build those passes.
//
#ifndef PMC_PARALLEL_USERPLAN_H
#define PMC_PARALLEL_USERPLAN_H

#include "mlir/IR/BuiltinOps.h"

#include <string>
#include <utility>
#include <vector>

namespace mlir::pmc {

/// Named mesh axes in order, e.g. {("dp", 2), ("tp", 2)}.
using MeshSpec = std::vector<std::pair<std::string, int64_t>>;
/// Per tensor name, the mesh axes of each dimension (major first).
using ShardingSpecs =
    std::vector<std::pair<std::string, std::vector<std::vector<std::string>>>>;

/// A letter or '_' then letters, digits or '_'.
bool isAxisName(llvm::StringRef name);
/// Parses `dp=2,tp=2`; on a malformed value returns false and sets `error`.
bool parseMeshSpec(llvm::StringRef text, MeshSpec &mesh, std::string &error);
/// Parses one `NAME=DIMS` (`w_fc=,tp`: dimensions separated by commas, each
/// a `+`-joined list of axes, empty = replicated) and appends it.
bool parseShardingSpec(llvm::StringRef text, ShardingSpecs &shardings, std::string &error);
/// `dp=2,tp=2`, the inverse of parseMeshSpec.
std::string formatMeshSpec(const MeshSpec &mesh);
/// `w_fc=,tp`, the inverse of parseShardingSpec.
std::string formatShardingSpec(const std::string &name,
                               const std::vector<std::vector<std::string>> &dims);

/// Sets the module's `pmc.mesh`, the `pmc.sharding` of the named graph inputs
/// and `pmc.shardings` of the named weights (the `pmc.constant` whose
/// location is the initializer's name), `pmc.plan` (the plan as text) and
/// `pmc.plan_source = "user"`. Fails with a diagnostic naming the input,
/// weight or axis at fault. Nothing happens for an empty mesh.
LogicalResult applyShardings(ModuleOp module, const MeshSpec &mesh,
                             const ShardingSpecs &shardings, int zero = 0);

/// Marks a hand-made pipeline: `pmc.pipeline = {stages, microbatches,
/// schedule}`, the even cut of @main into `stages` (pmc.stage on the ops)
/// and, with `dataParallel`, the batch of every input split over the mesh's
/// `dp` axis.
LogicalResult annotatePipeline(ModuleOp module, int64_t stages, int64_t microbatches,
                               llvm::StringRef schedule, bool dataParallel);

} // namespace mlir::pmc

#endif // PMC_PARALLEL_USERPLAN_H
