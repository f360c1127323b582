//===- ProgramBuilder.h - the buffers and commands of one rank program ----===//
//
// The bundle emitter (BundleEmitter.cpp) walks @main once and fills one
// ProgramBuilder per pipeline stage (one in all without a pipeline): buffers
// (inputs, weights, temps, views, scratch), commands as JSON objects, and the
// weight sections the program's ranks read (docs/design/bundle.md).
//
#ifndef PMC_LIB_TARGET_BUNDLE_PROGRAMBUILDER_H
#define PMC_LIB_TARGET_BUNDLE_PROGRAMBUILDER_H

#include "pmc/Target/BundleEmitter.h"

#include "pmc/Dialect/PMC/IR/PMCAttrs.h"
#include "pmc/Dialect/PMC/IR/PMCOps.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/Support/JSON.h"

#include <map>
#include <vector>

namespace pmc::bundle_emitter {

namespace json = llvm::json;

/// numpy's name of a pmc element type, or "" when the bundle has none.
std::string dtypeName(mlir::Type type);
/// `[2, 3]`: a shape (or any list of integers) as JSON.
json::Array i64Array(llvm::ArrayRef<int64_t> values);
/// `[["dp"], []]`: the manifest spelling of a sharding.
json::Array shardingJSON(mlir::pmc::ShardingAttr sharding);

/// Builds the program that a set of ranks runs (all ranks, or those of one
/// pipeline stage) while walking @main.
class ProgramBuilder {
public:
  ProgramBuilder(BundleImage &image, mlir::pmc::MeshAttr mesh, unsigned &nextWeight,
                 std::vector<int64_t> ranks)
      : image(image), mesh(mesh), nextWeight(nextWeight), ranks(std::move(ranks)) {}

  /// Adds a buffer for `value`; returns its id, or -1 after an error.
  int64_t addBuffer(mlir::Value value, json::Object fields, mlir::Operation *at);
  /// Adds a buffer of `type` that no value names (a cuda scratch buffer).
  int64_t addBufferOfType(mlir::Type type, json::Object fields, mlir::Operation *at);
  int64_t addTemp(mlir::Value value, mlir::Operation *at) {
    return addBuffer(value, json::Object{{"kind", "temp"}}, at);
  }
  int64_t idOf(mlir::Value value) const { return ids.lookup(value); }
  bool hasId(mlir::Value value) const { return ids.count(value); }

  /// Adds a `w/<N>` section holding the bytes of `constant`, shared by all ranks.
  mlir::LogicalResult addWeight(mlir::pmc::ConstantOp constant);
  /// `pmc.shard(pmc.constant)`: each rank's block of the constant becomes a
  /// section `w/<N>/r<R>` (R: the first rank holding that block; ranks with
  /// the same block share it), and the result buffer of rank R names R's.
  mlir::LogicalResult addShardedWeight(mlir::pmc::ConstantOp constant,
                                       mlir::pmc::ShardOp shard);
  /// The buffer table of rank `r`: per-rank weight sections substituted.
  json::Array buffersOfRank(int64_t r) const;

  json::Array buffers;
  json::Array commands;

private:
  /// Fills `weight` with the bytes of `constant` (borrowed from a dense
  /// resource, or owned).
  static mlir::LogicalResult weightBytes(mlir::pmc::ConstantOp constant,
                                         BundleImage::Section &weight);
  /// The element offsets of rank `r`'s block of a tensor sharded by
  /// `sharding` whose local shape is `local` (docs/design/parallel.md).
  static std::vector<int64_t> blockOffsets(mlir::pmc::MeshAttr mesh,
                                           mlir::pmc::ShardingAttr sharding,
                                           llvm::ArrayRef<int64_t> local, int64_t r);
  /// Copies rank `r`'s block (at `offsets`) of the row-major `bytes`.
  static std::string sliceBlock(const char *bytes, llvm::ArrayRef<int64_t> global,
                                llvm::ArrayRef<int64_t> local,
                                const std::vector<int64_t> &offsets, size_t elementBytes);

  BundleImage &image;
  mlir::pmc::MeshAttr mesh;
  /// Buffer id -> the section of each rank (sharded weights).
  std::map<int64_t, std::map<int64_t, std::string>> rankSections;
  llvm::DenseMap<mlir::Value, int64_t> ids;
  /// Weight sections are numbered across all programs.
  unsigned &nextWeight;
  /// The ranks that run this program.
  std::vector<int64_t> ranks;
};

} // namespace pmc::bundle_emitter

#endif // PMC_LIB_TARGET_BUNDLE_PROGRAMBUILDER_H
