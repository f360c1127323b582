//===- EmitSupport.h - what the lowering and the bundle writer share ------===//
//
// pmc-lower-to-runtime-program (LowerToRuntimeProgram.cpp) builds the
// pmcrt programs; the bundle writer (BundleEmitter.cpp) serializes them
// (docs/design/bundle.md). Both read the module's pipeline and spell dtypes
// and shardings the same way.
//
#ifndef PMC_LIB_TARGET_EMIT_EMITSUPPORT_H
#define PMC_LIB_TARGET_EMIT_EMITSUPPORT_H

#include "pmc/Dialect/PMC/IR/PMCAttrs.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/JSON.h"

#include <optional>
#include <string>

namespace pmc::bundle_emitter {

namespace json = llvm::json;

/// numpy's name of a pmc element type, or "" when the bundle has none.
std::string dtypeName(mlir::Type type);
/// `[2, 3]`: a shape (or any list of integers) as JSON.
json::Array i64Array(llvm::ArrayRef<int64_t> values);
/// `[["dp"], []]`: the manifest spelling of a sharding.
json::Array shardingJSON(mlir::pmc::ShardingAttr sharding);

/// The module's `pmc.pipeline`, checked against its mesh.
struct PipelineInfo {
  bool enabled = false;
  int64_t stages = 1;
  int64_t microbatches = 1;
  std::string schedule;
  /// The mesh axis `pp`, when the mesh has it.
  std::optional<unsigned> ppAxis;
};
mlir::FailureOr<PipelineInfo> pipelineInfo(mlir::ModuleOp module,
                                           mlir::pmc::MeshAttr mesh);

/// The pipeline stage of rank `r` (0 without a pipeline).
int64_t stageOfRank(const PipelineInfo &pipeline, mlir::pmc::MeshAttr mesh, int64_t r);

} // namespace pmc::bundle_emitter

#endif // PMC_LIB_TARGET_EMIT_EMITSUPPORT_H
