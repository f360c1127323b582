//===- PlannerInternal.h - shared pieces of the intra- and inter-op search -===//
//
// Not installed: the scorer, candidate ordering and module annotation that
// Planner.cpp (meshes and weights), PipelinePlanner.cpp (stage cuts) and
// Explain.cpp (applying a plan) share.
//
#ifndef PMC_LIB_PARALLEL_PLANNERINTERNAL_H
#define PMC_LIB_PARALLEL_PLANNERINTERNAL_H

#include "pmc/Parallel/Planner.h"

#include "pmc/Dialect/PMC/IR/PMCOps.h"

#include <map>
#include <tuple>

namespace mlir::pmc::planner {

/// The function planned: @main, else the first public function with a body.
func::FuncOp plannedFunction(ModuleOp module);

/// The weights of `func` in program order, with their values: the results
/// of constants, and a train step's parameter arguments (kParameterAttrName).
std::vector<std::pair<PlannedWeight, Value>> findWeights(func::FuncOp func);

/// Whether `func` is a train step (it has parameter arguments).
bool isTrainStep(func::FuncOp func);

/// "data parallel (dp=8)", "dp=2 x tp=4", "pp=2 x dp=4", ...
std::string meshName(int64_t pp, int64_t dp, int64_t tp);

/// The mesh ["pp"=pp, "mb"=mb, "dp"=dp, "tp"=tp] without the axes of size 1
/// (but "dp" when nothing else is left).
MeshAttr makeMesh(MLIRContext *context, int64_t pp, int64_t mb, int64_t dp, int64_t tp);

/// The batch size B: dimension 0 of the first argument of rank >= 1 (0 when
/// there is none).
int64_t batchSize(func::FuncOp func);

/// Writes mesh (pp, mb, dp, tp) and the shardings of the arguments (dim 0 on
/// ["mb", "dp"] where it divides; "mb" only on the microbatched inputs, whose
/// dim 0 is the batch size) and of the weights (choices) onto `module`.
/// In a train step, `zero` (0-3) shards optimizer state (>= 1), gradients
/// (>= 2) and parameters (3) over dp as well; parameters and their state are
/// never split over dp as batch inputs are.
void annotate(ModuleOp module, int64_t pp, int64_t mb, int64_t dp, int64_t tp,
              llvm::ArrayRef<int> choices, int zero = 0);

std::string gib(double bytes);
std::string mb(double bytes);
std::string ms(double seconds);

/// Plans that fit first, then step time, then (for plans that do not fit)
/// the largest memory per device. Ties keep the earlier candidate.
bool better(const PlanCandidate &a, const PlanCandidate &b);

/// Per-op costs of one sharding of the planned function on a stage
/// (sub-)mesh, for the sums of the pipeline search. Indexed like the body of
/// the planned function.
struct OpProfile {
  double computeS = 0, commS = 0, commBytes = 0;
  unsigned collectives = 0;
  double weightBytes = 0, peakActivationBytes = 0;
  double gradientBytes = 0, optimizerStateBytes = 0, stateUpdateBytes = 0;
  int64_t devices = 1;
  std::vector<double> opSeconds;    // compute + collectives
  std::vector<double> opComputeS;
  std::vector<unsigned> opCollectives;
  std::vector<double> opLiveBytes;  // activations live while it runs
  std::vector<double> opResultBytes; // a constant's: its weight shard
};

/// Scores candidates of one module: annotates a clone, runs sharding
/// propagation and the cost model; counts evaluations and caches them.
class Scorer {
public:
  Scorer(ModuleOp module, const PlannerOptions &options, unsigned &evaluations)
      : module(module), options(options), evaluations(evaluations) {}

  /// The plan without pipeline on dp x tp (a train step: at ZeRO stage
  /// `zero`).
  FailureOr<PlanCandidate> score(int64_t dp, int64_t tp, llvm::ArrayRef<int> choices,
                                 int zero = 0);

  /// The per-op profile on the mesh mb x dp x tp (mb = microbatches: every
  /// local shape is one microbatch's).
  FailureOr<const OpProfile *> profile(int64_t microbatches, int64_t dp, int64_t tp,
                                       llvm::ArrayRef<int> choices, int zero = 0);

private:
  ModuleOp module;
  const PlannerOptions &options;
  unsigned &evaluations;
  std::map<std::tuple<int64_t, int64_t, int64_t, int, std::vector<int>>, OpProfile> profiles;
};

/// For every body op of `func`: the index of its layer in `layers` (a
/// constant: its first user's; the terminator: -1).
std::vector<int> opLayers(func::FuncOp func, llvm::ArrayRef<PlanLayer> layers);

/// The layers of `func` (see PlanLayer); `weights` as findWeights returns.
std::vector<PlanLayer>
findLayers(func::FuncOp func, llvm::ArrayRef<std::pair<PlannedWeight, Value>> weights);

/// Inter-op search: for every stage count K (a divisor of the devices, 2 <= K
/// <= layers), sub-mesh dp x tp = devices / K, microbatches M and schedule,
/// the cuts minimizing the slowest stage (dynamic programming over the
/// layers) among those whose stages fit the memory. `choices[tp]` is the
/// per-weight sharding used on sub-meshes with that tp. Appends the best
/// candidate of every (K, dp, tp) to `alternatives`.
LogicalResult searchPipelines(ModuleOp module, const PlannerOptions &options,
                              Scorer &scorer, const Plan &plan,
                              const std::map<int64_t, std::vector<int>> &choices,
                              std::vector<PlanCandidate> &alternatives,
                              std::vector<std::string> &methods);

} // namespace mlir::pmc::planner

#endif // PMC_LIB_PARALLEL_PLANNERINTERNAL_H
