//===- TrainingState.h - ZeRO: a train step's state over dp -----*- C++ -*-===//
//
// A train step (pmc-train-step) carries, beside its inputs, parameters
// (kParameterAttrName arguments), their optimizer state
// (kOptimizerStateAttrName arguments), their gradients (kGradientOfAttrName
// ops) and the state updates it returns (kStateUpdateAttrName results).
// Once the parameters have their shardings (the planner's tp choices or the
// user's), the rest follows them, and ZeRO's stage splits more of it over
// the data-parallel axis "dp" as well:
//
//   stage   optimizer state   gradient (as the update reads it)   parameter
//   0       as parameter      as parameter: all-reduced over dp     as given
//   1       + dp              as parameter: all-reduced              as given
//   2       + dp              + dp: reduce-scattered                 as given
//   3       + dp              + dp: reduce-scattered                 + dp
//
// Every state update keeps its argument's sharding, so state stays where it
// is across steps (a parameter replicated over dp is all-gathered after its
// sharded update). The partitioner inserts the collectives.
//
#ifndef PMC_PARALLEL_TRAININGSTATE_H
#define PMC_PARALLEL_TRAININGSTATE_H

#include "pmc/Dialect/PMC/IR/PMCAttrs.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace mlir::pmc {

/// `sharding` of a tensor of `shape` also split over "dp": on the first
/// dimension not split yet that dp divides, else on a split one whose shard
/// it divides; unchanged when none is (or the mesh has no dp).
ShardingAttr withDataParallel(ShardingAttr sharding, llvm::ArrayRef<int64_t> shape,
                              MeshAttr mesh);

/// Annotates the optimizer state, gradients and state updates of the train
/// step `func` from its parameters' shardings at ZeRO `stage` (0-3; see
/// above). A parameter without a sharding is replicated first at stages
/// 1-3; at stage 0 it and its state are left to propagation. A no-op on a
/// function that is no train step.
void shardTrainingState(func::FuncOp func, MeshAttr mesh, int stage);

} // namespace mlir::pmc

#endif // PMC_PARALLEL_TRAININGSTATE_H
