//===- Reshard.h - converting a value between two shardings -----*- C++ -*-===//
//
// Resharding: given a value held per rank under a source sharding, the
// cheapest sequence of collectives and local slices that leaves every rank
// holding its block under a target sharding (docs/design/parallel.md).
//
// The plan is computed over shardings only (planReshard) and then emitted as
// pmc collectives in local shapes (emitReshard). The algorithm, with the cost
// of each step as the bytes a rank sends for a local block of s bytes and a
// group of g ranks:
//
//   1. Pending partial axes the target does not keep are reduced first, while
//      the data is smallest:
//        - reduce_scatter (g-1)/g*s, when the target splits some dimension
//          on those axes right after what that dimension is already split
//          on (the reduction then also performs the split);
//        - all_reduce 2(g-1)/g*s, for the remaining partial axes.
//   2. Then, repeatedly, the first applicable of:
//        a. all_to_all (g-1)/g*s: an axis that is the innermost split of
//           dimension e, which the target wants next on dimension d, moves
//           from e to d (cheaper than all_gather + slice: (g-1)*s);
//        b. pmc.shard, free: axes no dimension uses yet that the target wants
//           next on some dimensions are sliced locally (all in one op);
//        c. all_gather (g-1)*s: the innermost split axes of a dimension
//           that the target does not split that way are gathered; axes the
//           target wants on another dimension are gathered one at a time so
//           that a later all_to_all can move them instead.
//      Slicing before gathering keeps the gathered data small. Every step
//      puts an axis at its final place or removes one from a wrong place, so
//      the loop ends after at most 2 * (number of axes) steps.
//   3. share, free: axes the target is partial on and the source is not (an
//      addend joining a pending sum, ShardingRule::addends) scale the value
//      by 1/g, so that the g ranks' shares sum to it; a pending max takes the
//      value unchanged. Only floating-point values can be shared.
//
// Example (mesh dp=2, tp=2, global 8x8):
//   [{"dp"}, {}], partial_sum={"tp"} -> [{"dp", "tp"}, {}]:
//       reduce_scatter {axes=["tp"], dim=0} : 4x8 -> 2x8
//   [{"tp"}, {}] -> [{}, {"tp"}]:   all_to_all {axes=["tp"], split_dim=1, concat_dim=0}
//   [{}, {}] -> [{"dp"}, {"tp"}]:    pmc.shard {sharding=[{"dp"}, {"tp"}]}
//
#ifndef PMC_DIALECT_PMC_TRANSFORMS_RESHARD_H
#define PMC_DIALECT_PMC_TRANSFORMS_RESHARD_H

#include "pmc/Dialect/PMC/IR/PMCAttrs.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/Value.h"

namespace mlir::pmc {

/// One step of a resharding plan.
struct ReshardStep {
  enum class Kind : uint8_t { AllReduce, ReduceScatter, AllGather, AllToAll, Shard, Share };
  Kind kind;
  /// The mesh axes of the collective's group (for Shard: unused).
  llvm::SmallVector<llvm::StringRef> axes;
  /// AllGather / ReduceScatter: the dimension; AllToAll: split_dim.
  int64_t dim = 0;
  /// AllToAll: concat_dim.
  int64_t concatDim = 0;
  /// AllReduce / ReduceScatter / Share: what the pending partial value waits
  /// for.
  PartialKind reduction = PartialKind::Sum;
  /// Shard: the axes to slice each dimension on (relative to the current
  /// block: they are appended as the innermost splits).
  llvm::SmallVector<llvm::SmallVector<llvm::StringRef>> shardDims;
};

/// The steps converting `source` into `target` for a tensor of `globalShape`
/// on `mesh`, or a failure reported through `emitError` (a target that is
/// partial on axes the source is not partial on, mismatched partial kinds,
/// ranks that differ, or shardings invalid for the shape).
FailureOr<llvm::SmallVector<ReshardStep>>
planReshard(ShardingAttr source, ShardingAttr target, MeshAttr mesh,
            llvm::ArrayRef<int64_t> globalShape,
            llvm::function_ref<InFlightDiagnostic()> emitError);

/// Emits the plan's ops at `builder`'s insertion point: `value` is a rank's
/// local block under `source` of a tensor of global type `globalType`; the
/// result is its local block under `target`. Returns `value` itself when the
/// shardings are equal.
FailureOr<Value> emitReshard(OpBuilder &builder, Location loc, Value value,
                             RankedTensorType globalType, ShardingAttr source,
                             ShardingAttr target, MeshAttr mesh,
                             llvm::function_ref<InFlightDiagnostic()> emitError);

/// Prints a plan as `all_gather{dp}@0; shard[{},{tp}]`: for tests and
/// debugging.
void printReshardPlan(llvm::ArrayRef<ReshardStep> plan, llvm::raw_ostream &os);

/// Whether a reshard of `value` is made again at each use rather than once
/// per target sharding: a train step's parameter (a kParameterAttrName
/// argument, or its cast to the compute type), so that under ZeRO-3 it is
/// gathered before each use and freed after it, and no full copy lives from
/// the forward to the backward. The partitioner and the cost model agree.
bool reshardsAtEachUse(Value value);

} // namespace mlir::pmc

#endif // PMC_DIALECT_PMC_TRANSFORMS_RESHARD_H
