//===- Stages.h - pipeline stages of @main (pmc.stage) ----------*- C++ -*-===//
#ifndef PMC_DIALECT_PMC_TRANSFORMS_STAGES_H
#define PMC_DIALECT_PMC_TRANSFORMS_STAGES_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"

#include <cstdint>
#include <optional>

namespace mlir::pmc {

/// The op attribute naming the pipeline stage that computes an op.
constexpr llvm::StringLiteral kStageAttrName = "pmc.stage";
/// The module attribute describing the pipeline: {stages, microbatches, schedule}.
constexpr llvm::StringLiteral kPipelineAttrName = "pmc.pipeline";

/// The stage of `op` (its `pmc.stage`), or nullopt when it has none.
std::optional<int64_t> getStage(Operation *op);

/// Sets `pmc.stage = stage` on `op`.
void setStage(Operation *op, int64_t stage);

/// The FLOPs of `op` used to balance stages: the op's CostOpInterface
/// formula (the cost model's) on its whole shapes, at least 1.
double estimateFlops(Operation *op);

/// Checks the stages of `func` against a pipeline of `numStages` stages:
/// every op but constants, the terminator and ops in `allowUnstaged` mode
/// has a stage in [0, numStages), and no op reads a value of a later stage
/// unless `allowDecreasing` (a train step, whose backward flows from the last
/// stage back to the first). Errors name the op and the operand.
LogicalResult verifyStages(func::FuncOp func, int64_t numStages,
                           bool allowUnstaged = false, bool allowDecreasing = false);

/// Whether `module` holds a train step (pmc.train_step, set when the step
/// is built): its pipeline stages may decrease along use-def edges.
bool isTrainStepModule(ModuleOp module);

/// Sets `pmc.stage` on the ops of `func` (not constants, not the terminator):
/// contiguous runs in program order with about equal estimated FLOPs, each
/// stage at least one op. Fails when there are fewer ops than stages.
LogicalResult assignEvenStages(func::FuncOp func, int64_t numStages);

} // namespace mlir::pmc

#endif // PMC_DIALECT_PMC_TRANSFORMS_STAGES_H
