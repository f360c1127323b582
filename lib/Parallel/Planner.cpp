//===- Planner.cpp - automatic sharding search over meshes and weights ---===//
#include "pmc/Parallel/Planner.h"
#include "PlannerInternal.h"

#include "pmc/Dialect/PMC/IR/PMCAttrs.h"
#include "pmc/Dialect/PMC/IR/PMCOps.h"
#include "pmc/Dialect/PMC/Transforms/Passes.h"
#include "pmc/Parallel/Partition/Passes.h"
#include "pmc/Parallel/TrainingState.h"

#include "mlir/IR/Builders.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"

#include <chrono>
#include <map>

using namespace mlir;
using namespace mlir::pmc;

using namespace mlir::pmc::planner;

func::FuncOp planner::plannedFunction(ModuleOp module) {
  if (auto main = module.lookupSymbol<func::FuncOp>(kEntryFunctionName))
    if (!main.isExternal())
      return main;
  for (auto func : module.getOps<func::FuncOp>())
    if (!func.isExternal() && !func.isPrivate())
      return func;
  return {};
}

static std::string constantName(ConstantOp constant, unsigned index) {
  if (auto name = constant->getAttrOfType<StringAttr>("pmc.name"))
    return name.str();
  if (auto loc = dyn_cast<NameLoc>(constant.getLoc()))
    return loc.getName().str();
  return "constant#" + std::to_string(index);
}

bool planner::isTrainStep(func::FuncOp func) {
  for (unsigned i = 0; i < func.getNumArguments(); ++i)
    if (func.getArgAttr(i, kParameterAttrName))
      return true;
  return false;
}

/// The ops reading `value`, through the casts of mixed precision (a bf16
/// train step reads each f32 parameter through one).
static SmallVector<Operation *> readers(Value value) {
  SmallVector<Operation *> result;
  for (Operation *user : value.getUsers()) {
    if (isa<CastOp>(user))
      llvm::append_range(result, user->getResult(0).getUsers());
    else
      result.push_back(user);
  }
  return result;
}

/// The planned weight of `value` (type `type`), when a matmul or conv reads it.
static std::optional<PlannedWeight> plannedWeight(Value value, std::string name) {
  auto type = dyn_cast<RankedTensorType>(value.getType());
  if (!type || type.getRank() < 2)
    return std::nullopt;
  int64_t rank = type.getRank();
  bool matmul = false, conv = false;
  for (Operation *reader : readers(value)) {
    matmul |= isa<MatMulOp>(reader);
    conv |= isa<ConvOp>(reader);
  }
  if (!matmul && !conv)
    return std::nullopt;
  PlannedWeight weight;
  weight.name = std::move(name);
  weight.shape.assign(type.getShape().begin(), type.getShape().end());
  // Matmul B: columns (output features) then rows (contraction); conv
  // filter: output then input channels.
  if (matmul)
    weight.dims = {rank - 1, rank - 2};
  else
    weight.dims = {0, 1};
  return weight;
}

std::vector<std::pair<PlannedWeight, Value>> planner::findWeights(func::FuncOp func) {
  std::vector<std::pair<PlannedWeight, Value>> weights;
  for (BlockArgument arg : func.getArguments()) {
    if (!func.getArgAttr(arg.getArgNumber(), kParameterAttrName))
      continue;
    auto name = func.getArgAttrOfType<StringAttr>(arg.getArgNumber(), "pmc.name");
    if (auto weight = plannedWeight(
            arg, name ? name.str() : "parameter#" + std::to_string(arg.getArgNumber())))
      weights.emplace_back(std::move(*weight), arg);
  }
  unsigned index = 0;
  func.walk([&](ConstantOp constant) {
    unsigned position = index++;
    if (auto weight = plannedWeight(constant.getResult(), constantName(constant, position)))
      weights.emplace_back(std::move(*weight), constant.getResult());
  });
  return weights;
}

static std::string shapeText(ArrayRef<int64_t> shape) {
  std::string text;
  llvm::raw_string_ostream os(text);
  llvm::interleave(shape, os, "x");
  return text;
}

std::string planner::meshName(int64_t pp, int64_t dp, int64_t tp) {
  if (pp > 1) {
    std::string name = "pp=" + std::to_string(pp);
    if (dp > 1)
      name += " x dp=" + std::to_string(dp);
    if (tp > 1)
      name += " x tp=" + std::to_string(tp);
    return name;
  }
  if (tp == 1)
    return dp == 1 ? "single device" : "data parallel (dp=" + std::to_string(dp) + ")";
  if (dp == 1)
    return "tensor parallel (tp=" + std::to_string(tp) + ")";
  return "dp=" + std::to_string(dp) + " x tp=" + std::to_string(tp);
}

MeshAttr planner::makeMesh(MLIRContext *context, int64_t pp, int64_t mb, int64_t dp,
                           int64_t tp) {
  SmallVector<StringAttr> names;
  SmallVector<int64_t> sizes;
  auto add = [&](StringRef name, int64_t size) {
    names.push_back(StringAttr::get(context, name));
    sizes.push_back(size);
  };
  if (pp > 1)
    add("pp", pp);
  if (mb > 1)
    add("mb", mb);
  if (dp > 1 || (tp == 1 && names.empty()))
    add("dp", dp);
  if (tp > 1)
    add("tp", tp);
  return MeshAttr::get(context, names, sizes);
}

int64_t planner::batchSize(func::FuncOp func) {
  for (Type type : func.getArgumentTypes())
    if (auto ranked = dyn_cast<RankedTensorType>(type); ranked && ranked.getRank() >= 1)
      return ranked.getDimSize(0);
  return 0;
}

/// The sharding of weight `w` under `choice` on a mesh with `tp` (null when
/// the chosen dimension does not divide; the caller skips such choices).
static ShardingAttr weightSharding(MLIRContext *context, const PlannedWeight &w, int choice,
                                   int64_t tp) {
  SmallVector<SmallVector<StringRef>> dims(w.shape.size());
  if (choice >= 0) {
    int64_t dim = w.dims[choice];
    if (tp <= 1 || w.shape[dim] % tp != 0)
      return {};
    dims[dim].push_back("tp");
  }
  return ShardingAttr::get(context, dims);
}

static ShardingAttr inputSharding(MLIRContext *context, RankedTensorType type, int64_t mb,
                                  int64_t dp, int64_t batch) {
  SmallVector<SmallVector<StringRef>> dims(type.getRank());
  if (type.getRank() >= 1) {
    int64_t size = type.getDimSize(0);
    bool micro = mb > 1 && size == batch && size % mb == 0;
    if (micro)
      dims[0].push_back("mb");
    if (dp > 1 && size % (dp * (micro ? mb : 1)) == 0)
      dims[0].push_back("dp");
  }
  return ShardingAttr::get(context, dims);
}

void planner::annotate(ModuleOp module, int64_t pp, int64_t mb, int64_t dp, int64_t tp,
                       ArrayRef<int> choices, int zero) {
  MLIRContext *context = module.getContext();
  module->setAttr(kMeshAttrName, makeMesh(context, pp, mb, dp, tp));
  func::FuncOp func = plannedFunction(module);
  int64_t batch = batchSize(func);
  auto isState = [&](unsigned i) {
    return func.getArgAttr(i, kParameterAttrName) || func.getArgAttr(i, kBufferAttrName) ||
           func.getArgAttr(i, kOptimizerStateAttrName);
  };
  for (unsigned i = 0; i < func.getNumArguments(); ++i)
    if (auto type = dyn_cast<RankedTensorType>(func.getArgument(i).getType()); type && !isState(i))
      func.setArgAttr(i, kShardingAttrName, inputSharding(context, type, mb, dp, batch));
  // Weights: constants get their choice; a train step's parameters theirs
  // (replicated when not planned), and their state follows (ZeRO).
  auto weights = findWeights(func);
  for (auto [index, entry] : llvm::enumerate(weights)) {
    ShardingAttr sharding = weightSharding(context, entry.first, choices[index], tp);
    if (!sharding)
      sharding = ShardingAttr::getReplicated(context, entry.first.shape.size());
    if (auto arg = dyn_cast<BlockArgument>(entry.second))
      func.setArgAttr(arg.getArgNumber(), kShardingAttrName, sharding);
    else
      entry.second.getDefiningOp()->setAttr(kShardingsAttrName,
                                            ArrayAttr::get(context, {sharding}));
  }
  for (unsigned i = 0; i < func.getNumArguments(); ++i)
    if (auto type = dyn_cast<RankedTensorType>(func.getArgument(i).getType());
        type && (func.getArgAttr(i, kParameterAttrName) || func.getArgAttr(i, kBufferAttrName)) &&
        !func.getArgAttr(i, kShardingAttrName))
      func.setArgAttr(i, kShardingAttrName, ShardingAttr::getReplicated(context, type.getRank()));
  shardTrainingState(func, module->getAttrOfType<MeshAttr>(kMeshAttrName), zero);
}

std::string planner::gib(double bytes) {
  return llvm::formatv("{0:F2} GiB", bytes / (1ull << 30));
}
std::string planner::mb(double bytes) { return llvm::formatv("{0:F1} MB", bytes / 1e6); }
std::string planner::ms(double seconds) {
  return llvm::formatv("{0:F3} ms", seconds * 1e3);
}

bool planner::better(const PlanCandidate &a, const PlanCandidate &b) {
  if (a.fits != b.fits)
    return a.fits;
  double x = a.fits ? a.stepTimeS : *llvm::max_element(a.memoryPerDeviceBytes);
  double y = b.fits ? b.stepTimeS : *llvm::max_element(b.memoryPerDeviceBytes);
  return x < y * (1 - 1e-9);
}

FailureOr<const OpProfile *> Scorer::profile(int64_t microbatches, int64_t dp, int64_t tp,
                                             ArrayRef<int> choices, int zero) {
  auto key = std::make_tuple(microbatches, dp, tp, zero,
                             std::vector<int>(choices.begin(), choices.end()));
  auto it = profiles.find(key);
  if (it != profiles.end())
    return &it->second;
  ++evaluations;
  OwningOpRef<ModuleOp> clone(module.clone());
  annotate(*clone, /*pp=*/1, microbatches, dp, tp, choices, zero);
  PassManager pm(module.getContext(), ModuleOp::getOperationName());
  pm.enableVerifier(false);
  pm.addPass(createPMCShardingPropagation());
  if (failed(pm.run(*clone)))
    return failure();
  MeshAttr mesh = (*clone)->getAttrOfType<MeshAttr>(kMeshAttrName);
  func::FuncOp func = plannedFunction(*clone);
  FailureOr<CostEstimate> estimate = estimateCost(func, mesh, options.spec, options.cost);
  if (failed(estimate))
    return failure();
  size_t bodySize = func.getBody().front().getOperations().size();
  if (estimate->ops.size() != bodySize)
    return func.emitOpError() << "pmc-auto-sharding: sharding propagation changed the "
                                 "number of ops ("
                              << bodySize << " scored, " << estimate->ops.size()
                              << " estimated)";
  OpProfile result;
  result.devices = dp * tp;
  result.computeS = estimate->computeS;
  result.commS = estimate->commS;
  result.weightBytes = estimate->memory.weightBytes;
  result.gradientBytes = estimate->memory.gradientBytes;
  result.optimizerStateBytes = estimate->memory.optimizerStateBytes;
  result.stateUpdateBytes = estimate->memory.stateUpdateBytes;
  result.peakActivationBytes = estimate->memory.peakActivationBytes;
  for (const OpCost &op : estimate->ops) {
    result.commBytes += op.comm.bytesSent;
    result.collectives += op.comm.collectives;
    result.opSeconds.push_back(op.computeS + op.comm.seconds);
    result.opComputeS.push_back(op.computeS);
    result.opCollectives.push_back(op.comm.collectives);
    result.opLiveBytes.push_back(op.liveBytes);
    result.opResultBytes.push_back(op.resultBytes);
  }
  return &profiles.emplace(std::move(key), std::move(result)).first->second;
}

FailureOr<PlanCandidate> Scorer::score(int64_t dp, int64_t tp, ArrayRef<int> choices,
                                       int zero) {
  FailureOr<const OpProfile *> profiled = profile(1, dp, tp, choices, zero);
  if (failed(profiled))
    return failure();
  const OpProfile &p = **profiled;
  PlanCandidate candidate;
  candidate.name = meshName(1, dp, tp);
  if (dp > 1 && zero > 0)
    candidate.name += ", ZeRO-" + std::to_string(zero);
  candidate.dp = dp;
  candidate.tp = tp;
  candidate.zero = zero;
  candidate.choices.assign(choices.begin(), choices.end());
  candidate.stepTimeS = p.computeS + p.commS;
  candidate.computeS = p.computeS;
  candidate.commS = p.commS;
  candidate.weightBytes = p.weightBytes;
  candidate.gradientBytes = p.gradientBytes;
  candidate.optimizerStateBytes = p.optimizerStateBytes;
  candidate.stateUpdateBytes = p.stateUpdateBytes;
  candidate.activationBytes = p.peakActivationBytes * options.cost.activationMultiplier;
  double need = candidate.weightBytes + candidate.gradientBytes +
                candidate.optimizerStateBytes + candidate.stateUpdateBytes +
                candidate.activationBytes;
  candidate.memoryPerDeviceBytes.assign(dp * tp, need);
  candidate.commBytes = p.commBytes;
  candidate.collectives = p.collectives;
  candidate.fits = need <= options.spec.memoryBytes;
  if (!candidate.fits)
    candidate.reason = "needs " + gib(need) + " per device, " + gib(options.spec.memoryBytes) +
                       " available";
  return candidate;
}

namespace {

/// The choices valid for weight `w` on `tp`: -1 (replicated) and the
/// dimensions that divide.
SmallVector<int, 3> validChoices(const PlannedWeight &w, int64_t tp) {
  SmallVector<int, 3> result = {-1};
  if (tp > 1)
    for (auto [i, dim] : llvm::enumerate(w.dims))
      if (w.shape[dim] % tp == 0)
        result.push_back(i);
  return result;
}

/// Megatron's seed: a forward walk marks values split over tp on their last
/// dimension; a weight whose matmul reads a split activation is row-split
/// (index 1), else column-split (index 0). Conv filters alternate likewise.
std::vector<int> megatronSeed(func::FuncOp func,
                              const std::vector<std::pair<PlannedWeight, Value>> &weights,
                              int64_t tp) {
  // A weight's value and its mixed-precision casts.
  llvm::DenseMap<Value, unsigned> weightIndex;
  for (auto [i, entry] : llvm::enumerate(weights)) {
    weightIndex[entry.second] = i;
    for (Operation *user : entry.second.getUsers())
      if (isa<CastOp>(user))
        weightIndex[user->getResult(0)] = i;
  }
  std::vector<int> choices(weights.size(), -1);
  llvm::DenseSet<Value> split;
  func.walk([&](Operation *op) {
    if (isa<ConstantOp>(op))
      return;
    bool anySplit = llvm::any_of(op->getOperands(), [&](Value v) { return split.contains(v); });
    bool resultSplit = anySplit;
    if (isa<MatMulOp, ConvOp>(op) && op->getNumOperands() >= 2) {
      auto it = weightIndex.find(op->getOperand(1));
      if (it != weightIndex.end()) {
        bool inputSplit = split.contains(op->getOperand(0));
        int want = inputSplit ? 1 : 0;
        auto valid = validChoices(weights[it->second].first, tp);
        if (!llvm::is_contained(valid, want))
          want = llvm::is_contained(valid, 1 - want) ? 1 - want : -1;
        if (choices[it->second] == -1)
          choices[it->second] = want;
        resultSplit = (want == 0) || (want == -1 && inputSplit);
      }
    }
    if (resultSplit)
      for (Value result : op->getResults())
        split.insert(result);
  });
  return choices;
}

/// Calls `body` with every combination of `options[i]` (odometer order).
template <typename Fn>
void forEachCombination(ArrayRef<SmallVector<int, 3>> options, Fn body) {
  std::vector<unsigned> digit(options.size(), 0);
  std::vector<int> values(options.size());
  while (true) {
    for (size_t i = 0; i < options.size(); ++i)
      values[i] = options[i][digit[i]];
    body(values);
    size_t i = 0;
    for (; i < options.size(); ++i) {
      if (++digit[i] < options[i].size())
        break;
      digit[i] = 0;
    }
    if (i == options.size())
      return;
  }
}

/// Combinations above this are not enumerated exactly (auto search).
constexpr double kExactLimit = 81;
/// Exhaustive search refuses more than this many combinations per mesh.
constexpr double kExhaustiveLimit = 59049; // 3^10

} // namespace

std::vector<PlannedWeight> mlir::pmc::collectPlannedWeights(ModuleOp module) {
  std::vector<PlannedWeight> result;
  if (func::FuncOp func = plannedFunction(module))
    for (auto &entry : findWeights(func))
      result.push_back(entry.first);
  return result;
}

FailureOr<PlanCandidate> mlir::pmc::scorePlan(ModuleOp module, const PlannerOptions &options,
                                              int64_t dp, int64_t tp, ArrayRef<int> choices) {
  unsigned evaluations = 0;
  Scorer scorer(module, options, evaluations);
  return scorer.score(dp, tp, choices, std::max(options.zero, 0));
}

namespace {
using WeightList = std::vector<std::pair<PlannedWeight, Value>>;

/// The search of the weight shardings on one dp x tp mesh.
class MeshSearch {
public:
  MeshSearch(ModuleOp module, const PlannerOptions &options, Scorer &scorer,
             const WeightList &weights, const Plan &plan, ArrayRef<int> roles,
             unsigned numClasses, int64_t dp, int64_t tp, int zero)
      : module(module), options(options), scorer(scorer), weights(weights), plan(plan),
        roles(roles), numClasses(numClasses), dp(dp), tp(tp), zero(zero) {}

  /// The best candidate on this mesh; `method` says how it was found.
  FailureOr<PlanCandidate> run(std::string &method);

private:
  /// Scores `choices`, keeping the best in `best`.
  LogicalResult consider(ArrayRef<int> choices);
  /// Per weight class, the choices every member allows.
  SmallVector<SmallVector<int, 3>> classChoices(ArrayRef<SmallVector<int, 3>> valid) const;
  /// Per-weight choices from per-class ones.
  std::vector<int> expand(ArrayRef<int> perClass) const;
  /// Seeds (Megatron roles, all replicated, all column-split), then
  /// coordinate descent over the classes; returns the rounds it took.
  FailureOr<unsigned> coordinateDescent(ArrayRef<SmallVector<int, 3>> classValid);

  ModuleOp module;
  const PlannerOptions &options;
  Scorer &scorer;
  const WeightList &weights;
  const Plan &plan;
  ArrayRef<int> roles;
  unsigned numClasses;
  int64_t dp, tp;
  int zero;
  std::optional<PlanCandidate> best;
};
} // namespace

LogicalResult MeshSearch::consider(ArrayRef<int> choices) {
  FailureOr<PlanCandidate> candidate = scorer.score(dp, tp, choices, zero);
  if (failed(candidate))
    return failure();
  if (!best || better(*candidate, *best))
    best = *candidate;
  return success();
}

SmallVector<SmallVector<int, 3>>
MeshSearch::classChoices(ArrayRef<SmallVector<int, 3>> valid) const {
  SmallVector<SmallVector<int, 3>> classValid(numClasses);
  std::vector<bool> seen(numClasses, false);
  for (size_t i = 0; i < weights.size(); ++i) {
    unsigned c = plan.weights[i].cls;
    if (!seen[c]) {
      classValid[c] = valid[i];
      seen[c] = true;
    } else {
      llvm::erase_if(classValid[c], [&](int v) { return !llvm::is_contained(valid[i], v); });
    }
  }
  return classValid;
}

std::vector<int> MeshSearch::expand(ArrayRef<int> perClass) const {
  std::vector<int> choices(weights.size());
  for (size_t i = 0; i < weights.size(); ++i)
    choices[i] = perClass[plan.weights[i].cls];
  return choices;
}

FailureOr<unsigned>
MeshSearch::coordinateDescent(ArrayRef<SmallVector<int, 3>> classValid) {
  std::vector<int> seeds[3];
  for (unsigned c = 0; c < numClasses; ++c) {
    int role = -1;
    for (size_t i = 0; i < weights.size(); ++i)
      if (plan.weights[i].cls == c)
        role = roles[i];
    seeds[0].push_back(llvm::is_contained(classValid[c], role) ? role : -1);
    seeds[1].push_back(-1);
    seeds[2].push_back(llvm::is_contained(classValid[c], 0) ? 0 : -1);
  }
  std::vector<int> current;
  std::optional<PlanCandidate> currentScore;
  for (auto &seed : seeds) {
    FailureOr<PlanCandidate> scored = scorer.score(dp, tp, expand(seed), zero);
    if (failed(scored))
      return failure();
    if (!currentScore || better(*scored, *currentScore)) {
      currentScore = *scored;
      current = seed;
    }
  }
  unsigned rounds = 0;
  for (bool improved = true; improved && rounds < 4; ++rounds) {
    improved = false;
    for (unsigned c = 0; c < numClasses; ++c) {
      for (int option : classValid[c]) {
        if (option == current[c])
          continue;
        std::vector<int> trial = current;
        trial[c] = option;
        FailureOr<PlanCandidate> scored = scorer.score(dp, tp, expand(trial), zero);
        if (failed(scored))
          return failure();
        if (better(*scored, *currentScore)) {
          currentScore = *scored;
          current = trial;
          improved = true;
        }
      }
    }
  }
  if (failed(consider(expand(current))))
    return failure();
  return rounds;
}

FailureOr<PlanCandidate> MeshSearch::run(std::string &method) {
  SmallVector<SmallVector<int, 3>> valid;
  double combinations = 1;
  for (auto &entry : weights) {
    valid.push_back(validChoices(entry.first, tp));
    combinations *= valid.back().size();
  }
  if (tp == 1) {
    if (failed(consider(std::vector<int>(weights.size(), -1))))
      return failure();
    method = "single";
  } else if (options.exhaustive || combinations <= kExactLimit) {
    if (combinations > kExhaustiveLimit)
      return module.emitError() << "pmc-auto-sharding{search=exhaustive}: "
                                << llvm::formatv("{0:E}", combinations)
                                << " combinations on " << meshName(1, dp, tp)
                                << " is too many to enumerate";
    LogicalResult status = success();
    forEachCombination(valid, [&](ArrayRef<int> choices) {
      if (failed(consider(choices)))
        status = failure();
    });
    if (failed(status))
      return failure();
    method = "exact";
  } else {
    SmallVector<SmallVector<int, 3>> classValid = classChoices(valid);
    double classCombinations = 1;
    for (auto &v : classValid)
      classCombinations *= v.size();
    if (classCombinations <= kExactLimit) {
      LogicalResult status = success();
      forEachCombination(classValid, [&](ArrayRef<int> perClass) {
        if (failed(consider(expand(perClass))))
          status = failure();
      });
      if (failed(status))
        return failure();
      method = "exact over " + std::to_string(numClasses) + " layer classes";
    } else {
      FailureOr<unsigned> rounds = coordinateDescent(classValid);
      if (failed(rounds))
        return failure();
      method = "coordinate descent over " + std::to_string(numClasses) +
               " layer classes (" + std::to_string(*rounds) + " rounds)";
    }
  }
  return *best;
}

/// Layer classes: weights with the same shape, consumer and Megatron role
/// (on the largest tp) are tied in the coordinate descent. Fills
/// `plan.weights`; returns the number of classes.
static unsigned assignLayerClasses(WeightList &weights, ArrayRef<int> roles, Plan &plan) {
  std::map<std::string, unsigned> classes;
  for (auto [i, entry] : llvm::enumerate(weights)) {
    Operation *user = readers(entry.second).front();
    std::string key = shapeText(entry.first.shape) + "|" +
                      user->getName().getStringRef().str() + "|" + std::to_string(roles[i]);
    entry.first.cls = classes.try_emplace(key, classes.size()).first->second;
    plan.weights.push_back(entry.first);
  }
  return classes.size();
}

/// One stage holding every layer, for the JSON's stage_plans.
static void addSingleStages(Plan &plan) {
  for (PlanCandidate &candidate : plan.alternatives) {
    StagePlan stage;
    stage.lastLayer = plan.layers.empty() ? 0 : plan.layers.size() - 1;
    stage.stepTimeS = candidate.stepTimeS;
    stage.computeS = candidate.computeS;
    stage.commS = candidate.commS;
    stage.collectives = candidate.collectives;
    stage.weightBytes = candidate.weightBytes;
    stage.activationBytes = candidate.activationBytes;
    stage.memoryBytes = candidate.memoryPerDeviceBytes.front();
    candidate.stages = {stage};
  }
}

/// Why each fitting alternative lost to `chosen` (the `reason` of each).
static void explainAlternatives(Plan &plan, const PlanCandidate *chosen) {
  for (PlanCandidate &candidate : plan.alternatives) {
    if (!candidate.fits || &candidate == chosen)
      continue;
    double ratio = candidate.stepTimeS / chosen->stepTimeS;
    double commDelta = candidate.commS - chosen->commS;
    double computeDelta = candidate.computeS - chosen->computeS;
    std::string why;
    if (candidate.pp > 1)
      why = llvm::formatv("pipeline bubble {0:F0}% ({1} microbatches over {2} stages, "
                          "slowest stage {3} per microbatch, {4} collectives)",
                          candidate.bubbleFraction * 100, candidate.microbatches, candidate.pp,
                          ms(candidate.stepTimeS / (candidate.microbatches + candidate.pp - 1)),
                          candidate.collectives)
                .str();
    else if (commDelta >= computeDelta)
      why = "communication " + ms(candidate.commS) + " vs " + ms(chosen->commS) + " (" +
            std::to_string(candidate.collectives) + " collectives, " +
            mb(candidate.commBytes) + " sent per device)";
    else
      why = "compute " + ms(candidate.computeS) + " vs " + ms(chosen->computeS) +
            " (less of the work is split)";
    candidate.reason = llvm::formatv("{0:F2}x slower: ", ratio).str() + why;
  }
  for (PlanCandidate &candidate : plan.alternatives)
    if (&candidate == chosen)
      candidate.reason = "chosen";
}

FailureOr<Plan> mlir::pmc::searchPlan(ModuleOp module, const PlannerOptions &options) {
  auto start = std::chrono::steady_clock::now();
  func::FuncOp func = plannedFunction(module);
  if (!func)
    return module.emitError("pmc-auto-sharding: the module has no @main or public "
                            "function to plan");
  if (options.devices < 1)
    return module.emitError() << "pmc-auto-sharding: devices must be >= 1, got "
                              << options.devices;
  WeightList weights = findWeights(func);
  Plan plan;
  plan.devices = options.devices;
  plan.specName = options.spec.name;
  plan.memoryBytes = options.spec.memoryBytes;
  std::vector<int> roles = megatronSeed(func, weights, options.devices);
  unsigned numClasses = assignLayerClasses(weights, roles, plan);

  plan.training = isTrainStep(func);
  if (options.zero > 3)
    return module.emitError() << "pmc-auto-sharding: ZeRO stage " << options.zero
                              << " does not exist (0-3)";
  Scorer scorer(module, options, plan.evaluations);
  std::vector<std::string> methods;
  // Meshes: dp descending (pure data parallel first, pure tensor last).
  for (int64_t dp = options.devices; dp >= 1; --dp) {
    if (options.devices % dp != 0)
      continue;
    int64_t tp = options.devices / dp;
    // ZeRO asked for splits state over dp: a mesh without dp cannot give it.
    if (plan.training && options.zero > 0 && dp == 1 && options.devices > 1) {
      methods.push_back(meshName(1, dp, tp) + ": not scored (ZeRO-" +
                        std::to_string(options.zero) + " needs a dp axis)");
      continue;
    }
    // A train step's weights are searched at the requested ZeRO stage (the
    // choices barely depend on it); with none requested every stage is then
    // scored with those choices and each is an alternative.
    int zero = !plan.training || dp == 1 ? 0 : std::max(options.zero, 0);
    std::string method;
    FailureOr<PlanCandidate> best =
        MeshSearch(module, options, scorer, weights, plan, roles, numClasses, dp, tp, zero)
            .run(method);
    if (failed(best))
      return failure();
    methods.push_back(meshName(1, dp, tp) + ": " + method);
    plan.alternatives.push_back(*best);
    if (plan.training && dp > 1 && options.zero < 0)
      for (int stage = 1; stage <= 3; ++stage) {
        FailureOr<PlanCandidate> staged = scorer.score(dp, tp, best->choices, stage);
        if (failed(staged))
          return failure();
        plan.alternatives.push_back(*staged);
      }
  }
  plan.layers = findLayers(func, weights);
  addSingleStages(plan);
  if (plan.training && options.devices > 1)
    methods.push_back("pipelines: not searched for a train step");
  else if (options.pipeline && options.devices > 1) {
    // Each stage sub-mesh with a given tp reuses the weight choices found
    // for that tp on the whole mesh.
    std::map<int64_t, std::vector<int>> choicesPerTp;
    for (const PlanCandidate &candidate : plan.alternatives)
      choicesPerTp.emplace(candidate.tp, candidate.choices);
    if (failed(searchPipelines(module, options, scorer, plan, choicesPerTp,
                               plan.alternatives, methods)))
      return failure();
  }
  plan.method = llvm::join(methods, "; ");

  const PlanCandidate *chosen = &plan.alternatives.front();
  for (const PlanCandidate &candidate : plan.alternatives)
    if (better(candidate, *chosen))
      chosen = &candidate;
  if (!chosen->fits)
    return module.emitError() << "pmc-auto-sharding: no plan for " << options.devices
                              << " devices fits in " << gib(options.spec.memoryBytes)
                              << " per device (" << options.spec.name
                              << "); the smallest, " << chosen->name << ", "
                              << chosen->reason;
  plan.chosen = *chosen;
  explainAlternatives(plan, chosen);
  plan.chosen.reason = "chosen";
  plan.searchSeconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return plan;
}
