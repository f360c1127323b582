//===- Planner.h - automatic sharding search over meshes and weights -*- C++ -*-===//
//
// Chooses, for N devices, a mesh ("dp" x "tp") and a sharding of every weight
// and input by scoring candidates with the cost model (CostModel.h): each
// candidate is annotated on a clone of the module, completed by sharding
// propagation and estimated; plans that do not fit the device memory are
// rejected. Search and JSON: docs/design/planner.md.
//
//   PlannerOptions options;
//   options.devices = 8;
//   options.spec = cantFail(loadDeviceSpec("h100-sxm"));
//   FailureOr<Plan> plan = searchPlan(module, options);
//   if (succeeded(plan) && succeeded(applyPlan(module, *plan)))
//     llvm::outs() << explainPlan(*plan);
//
#ifndef PMC_PARALLEL_PLANNER_H
#define PMC_PARALLEL_PLANNER_H

#include "pmc/Parallel/CostModel.h"

#include "mlir/IR/BuiltinOps.h"

#include <string>
#include <vector>

namespace mlir::pmc {

struct PlannerOptions {
  int64_t devices = 1;
  DeviceSpec spec;
  CostOptions cost;
  /// False: exact enumeration only when small, else coordinate descent over
  /// layer classes. True: every per-weight combination on every mesh (tests).
  bool exhaustive = false;
  /// Search pipelines (pp > 1) too: stage cuts, microbatches, schedules.
  bool pipeline = true;
  /// The largest number of microbatches tried.
  int64_t maxMicrobatches = 16;
  /// A train step's ZeRO stage on dp (0-3); -1 = the search picks one.
  int zero = -1;
};

/// A weight the planner decides: a pmc.constant of rank >= 2 that feeds a
/// matmul or conv. Its choices are replicated or one of two dimensions on tp.
struct PlannedWeight {
  std::string name;
  llvm::SmallVector<int64_t> shape;
  /// The dimensions it may be split on ("columns"/"rows" of a matmul's B,
  /// output/input channels of a conv's filter).
  llvm::SmallVector<int64_t, 2> dims;
  /// Weights with the same class (shape, consumer, role in the layer) are
  /// tied in the coordinate descent of large models.
  unsigned cls = 0;
};

/// A layer of the planned function: a contiguous range of its body ops that
/// a pipeline stage takes whole. Layer boundaries are the narrowest points of
/// the program order (docs/design/planner.md, "Pipeline search").
struct PlanLayer {
  /// Indices into the body of the planned function, inclusive. Constants
  /// belong to the layer of their first user whatever their position.
  unsigned firstOp = 0, lastOp = 0;
  /// Indices into Plan::weights of the weights the layer uses first.
  std::vector<unsigned> weights;
};

/// One pipeline stage of a candidate (a plan without pipeline has one).
struct StagePlan {
  unsigned firstLayer = 0, lastLayer = 0;
  /// Per microbatch on one device of the stage: computeS + commS + sendS.
  double stepTimeS = 0, computeS = 0, commS = 0, sendS = 0;
  /// Bytes per device sent to later stages per microbatch.
  double sendBytes = 0;
  unsigned collectives = 0;
  /// Per device: weights + peak activations x in-flight microbatches.
  double weightBytes = 0, activationBytes = 0, memoryBytes = 0;
};

/// One scored candidate: a mesh and a choice per weight.
struct PlanCandidate {
  std::string name;
  /// pp (stages) x dp x tp; a stage runs on a dp x tp sub-mesh.
  int64_t pp = 1, dp = 1, tp = 1;
  int64_t microbatches = 1;
  /// "none" without pipeline, else "gpipe" or "1f1b".
  std::string schedule = "none";
  double bubbleFraction = 0;
  /// Per stage (one entry without pipeline).
  std::vector<StagePlan> stages;
  /// Per weight: -1 replicated, else the index into PlannedWeight::dims.
  std::vector<int> choices;
  double stepTimeS = 0, computeS = 0, commS = 0;
  /// Per device. A train step's weights are its parameters' shards, its
  /// optimizer state apart; the gradients and state updates live at the
  /// memory peak apart from the activations (MemoryBreakdown).
  double weightBytes = 0, activationBytes = 0;
  double gradientBytes = 0, optimizerStateBytes = 0, stateUpdateBytes = 0;
  /// A train step's ZeRO stage (what of it is split over dp as well):
  /// 1 optimizer state, 2 + gradients, 3 + parameters.
  int zero = 0;
  std::vector<double> memoryPerDeviceBytes;
  double commBytes = 0;
  unsigned collectives = 0;
  bool fits = false;
  /// Why it lost (alternatives) or why it does not fit.
  std::string reason;
};

struct Plan {
  int64_t devices = 1;
  /// The planned function is a train step (ZeRO stages are searched).
  bool training = false;
  std::string specName;
  double memoryBytes = 0;
  std::vector<PlannedWeight> weights;
  /// The layer sequence the pipeline search cuts.
  std::vector<PlanLayer> layers;
  PlanCandidate chosen;
  /// The best plan of every mesh (the chosen one included), in mesh order.
  std::vector<PlanCandidate> alternatives;
  /// "single", "exact", "exact over layer classes", "coordinate descent ..."
  std::string method;
  unsigned evaluations = 0;
  double searchSeconds = 0;
};

/// Searches the plan of the module's @main (or only public function) for
/// `options.devices` devices. Fails with a diagnostic when the module has
/// no function, or when no candidate fits the device memory (the message
/// names the smallest need and the capacity).
FailureOr<Plan> searchPlan(ModuleOp module, const PlannerOptions &options);

/// Scores one candidate (mesh dp x tp, per-weight choices) exactly as the
/// search does: for tests that enumerate every plan themselves.
FailureOr<PlanCandidate> scorePlan(ModuleOp module, const PlannerOptions &options,
                                   int64_t dp, int64_t tp, llvm::ArrayRef<int> choices);

/// Scores a pipeline candidate exactly as the search does: `pp` stages cut
/// after the layers `cuts` (K - 1 ascending layer indices), each stage on a
/// dp x tp sub-mesh with the per-weight `choices`, `microbatches`, `schedule`.
FailureOr<PlanCandidate> scorePipelinePlan(ModuleOp module, const PlannerOptions &options,
                                           int64_t pp, int64_t dp, int64_t tp,
                                           int64_t microbatches,
                                           ::pmc::schedule::ScheduleKind schedule,
                                           llvm::ArrayRef<int> choices,
                                           llvm::ArrayRef<unsigned> cuts);

/// The layer sequence of `module`'s planned function.
std::vector<PlanLayer> collectPlanLayers(ModuleOp module);

/// The weights the planner decides for `module`, in program order.
std::vector<PlannedWeight> collectPlannedWeights(ModuleOp module);

/// Annotates `module` with the chosen mesh and shardings (as --mesh/--shard
/// would) and the plan attributes pmc.plan, pmc.plan_source ("auto"),
/// pmc.plan_json and pmc.plan_explain.
LogicalResult applyPlan(ModuleOp module, const Plan &plan);

/// The plan as JSON (docs/design/planner.md): mesh, stages, microbatches,
/// schedule, predicted, shardings, alternatives, search.
std::string planToJSON(const Plan &plan);

/// Human-readable: the chosen mesh, per-weight shardings, predicted time and
/// memory, and the alternatives with why they lost.
std::string explainPlan(const Plan &plan);

/// An SVG picture of a plan JSON (planToJSON): a devices x stages grid, what
/// each device holds (layers, weight bytes) and where it communicates
/// (collectives per stage, send/recv between stages). Fails with a message
/// naming the missing field on a JSON that is not a plan.
llvm::Expected<std::string> planJSONToSVG(llvm::StringRef planJSON);

} // namespace mlir::pmc

#endif // PMC_PARALLEL_PLANNER_H
