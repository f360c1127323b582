//===- PMCDialect.h - the pmc dialect ---------------------------*- C++ -*-===//
#ifndef PMC_DIALECT_PMC_IR_PMCDIALECT_H
#define PMC_DIALECT_PMC_IR_PMCDIALECT_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Dialect.h"

#include "pmc/Dialect/PMC/IR/PMCOpsDialect.h.inc"

namespace mlir::pmc {
/// The function a module runs: the imported ONNX graph, later each rank's
/// program (the stage functions of a pipeline are called from it).
inline constexpr llvm::StringLiteral kEntryFunctionName = "main";

// The roles of a train step's values (pmc-train-step), which the planner
// shards and prices as weights, gradients and optimizer state (ZeRO) and the
// runtime keeps across steps.
/// Argument: a trainable parameter (unit).
inline constexpr llvm::StringLiteral kParameterAttrName = "pmc.parameter";
/// Argument of a parameter: its value before the first step (an elements
/// attribute: the ONNX initializer), which the bundle carries.
inline constexpr llvm::StringLiteral kInitialValueAttrName = "pmc.initial_value";
/// Argument: state that is not trained but updated by the step (unit):
/// BatchNormalization's running statistics (lib/Import/ONNX/TrainingBatchNorm.h).
/// Carries its kInitialValueAttrName as a parameter does.
inline constexpr llvm::StringLiteral kBufferAttrName = "pmc.buffer";
/// The pmc.name of a train step's counter argument (f32 scalar, 1 at the
/// first step): the optimizer's bias correction and Dropout's masks read it.
inline constexpr llvm::StringLiteral kStepName = "pmc.step";
/// Dynamic loss scaling (pmc-train-step loss-scale): the scale and the count
/// of finite steps since it last changed (buffers), and the result that says
/// the step found inf or NaN gradients and changed nothing.
inline constexpr llvm::StringLiteral kLossScaleName = "pmc.loss_scale";
inline constexpr llvm::StringLiteral kGrowthTrackerName = "pmc.loss_scale_growth_tracker";
inline constexpr llvm::StringLiteral kFoundInfName = "pmc.found_inf";
/// Argument: optimizer state of the parameter it names (exp_avg, ...).
inline constexpr llvm::StringLiteral kOptimizerStateAttrName = "pmc.optimizer_state";
/// Op: its result is the gradient of the parameter it names, as the update
/// reads it (before clipping and weight decay).
inline constexpr llvm::StringLiteral kGradientOfAttrName = "pmc.gradient_of";
/// Result: the next value of the argument of the same pmc.name (a parameter,
/// buffer or optimizer state), which replaces it across steps (unit).
inline constexpr llvm::StringLiteral kStateUpdateAttrName = "pmc.state_update";
} // namespace mlir::pmc

#endif // PMC_DIALECT_PMC_IR_PMCDIALECT_H
