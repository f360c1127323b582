//===- RandomPlan.cpp - --pmc-random-plan: random legal plans for tests ----===//
//
// Draws a mesh, input/result shardings, per-op factor splits from each op's
// own sharding rule (checked by ShardingRule::whyIllegal, the partitioner's
// legality check) and optionally a pipeline. The differential tests of
// test/plans compile such plans and compare them with one device.
//
#include "pmc/Dialect/PMC/IR/PMCAttrs.h"
#include "pmc/Dialect/PMC/IR/PMCDialect.h"
#include "pmc/Dialect/PMC/IR/PMCOps.h"
#include "pmc/Dialect/PMC/IR/ShardingRule.h"
#include "pmc/Parallel/Partition/OpShardings.h"
#include "pmc/Dialect/PMC/Transforms/Stages.h"
#include "pmc/Parallel/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/xxhash.h"

#include <map>
#include <random>

namespace mlir::pmc {
#define GEN_PASS_DEF_PMCRANDOMPLAN
#include "pmc/Parallel/Passes.h.inc"
} // namespace mlir::pmc

using namespace mlir;
using namespace mlir::pmc;

namespace {
using AxisList = SmallVector<StringRef>;

/// A generator of its own for every decision, seeded by the plan's seed and
/// the decision's key: a choice does not move when unrelated ops disappear.
/// (xxh3 of the bytes: the same on every run and machine, unlike hash_code.)
class Draws {
public:
  explicit Draws(uint64_t seed) : seed(seed) {}
  std::mt19937_64 forKey(StringRef key) const {
    std::string bytes = std::to_string(seed) + ":" + key.str();
    return std::mt19937_64(llvm::xxh3_64bits(bytes));
  }

private:
  uint64_t seed;
};

bool chance(std::mt19937_64 &rng, double p) {
  return std::uniform_real_distribution<double>(0, 1)(rng) < p;
}

int64_t pick(std::mt19937_64 &rng, int64_t n) {
  return std::uniform_int_distribution<int64_t>(0, n - 1)(rng);
}

/// A random ordered factorization of `n` into at most `maxAxes` sizes >= 2.
SmallVector<int64_t> factorize(std::mt19937_64 &rng, int64_t n, int maxAxes) {
  SmallVector<int64_t> sizes;
  while (n > 1) {
    SmallVector<int64_t> divisors;
    for (int64_t d = 2; d <= n; ++d)
      if (n % d == 0 && ((int)sizes.size() + 1 < maxAxes || d == n))
        divisors.push_back(d);
    int64_t d = divisors[pick(rng, divisors.size())];
    sizes.push_back(d);
    n /= d;
  }
  return sizes;
}

/// The axes of `mesh` in a random order.
AxisList shuffledAxes(std::mt19937_64 &rng, ArrayRef<StringRef> axes) {
  AxisList order(axes.begin(), axes.end());
  std::shuffle(order.begin(), order.end(), rng);
  return order;
}

/// A random non-partial sharding of `shape` over `axes`.
ShardingAttr randomSharding(MLIRContext *context, std::mt19937_64 &rng,
                            ArrayRef<int64_t> shape, ArrayRef<StringRef> axes, MeshAttr mesh) {
  SmallVector<AxisList> dims(shape.size());
  if (shape.empty())
    return ShardingAttr::get(context, dims);
  for (StringRef axis : shuffledAxes(rng, axes)) {
    if (!chance(rng, 0.5))
      continue;
    int64_t d = pick(rng, shape.size());
    int64_t parts = mesh.getAxisSize(axis);
    for (StringRef a : dims[d])
      parts *= mesh.getAxisSize(a);
    if (shape[d] % parts == 0)
      dims[d].push_back(axis);
  }
  return ShardingAttr::get(context, dims);
}

/// What the explanation says about a factor's kind.
StringRef kindName(const ShardingRule &rule, int64_t f) {
  for (const ShardingRule::ScaledAttribute &scaled : rule.scaledAttributes)
    if (scaled.factor == f)
      return "scaled";
  switch (rule.factors[f].kind) {
  case FactorKind::Parallel:
    return "parallel";
  case FactorKind::Reduction:
    return rule.factors[f].partialKind == PartialKind::Max ? "reduction_max" : "reduction";
  case FactorKind::Whole:
    return "whole";
  }
  return "?";
}

struct RandomPlan : public mlir::pmc::impl::PMCRandomPlanBase<RandomPlan> {
  using Base::Base;

  void runOnOperation() override;

private:
  /// Draws a split of `op`'s factors over `axes`; empty when nothing split.
  std::optional<OpShardings> drawSplit(Operation *op, const ShardingRule &rule,
                                       std::mt19937_64 &rng, ArrayRef<StringRef> axes,
                                       MeshAttr mesh, llvm::raw_ostream &explain);
  /// Draws the shardings of the graph inputs and (half of) the results.
  static void drawBoundaryShardings(func::FuncOp main, Draws &draws, ArrayRef<StringRef> axes,
                                    MeshAttr mesh, llvm::raw_ostream &explain);
  /// Draws splits for a drawn share of the ops; returns how many were split.
  int64_t drawOpSplits(Block &body, Draws &draws, const DenseMap<Operation *, std::string> &keys,
                       ArrayRef<StringRef> axes, MeshAttr mesh, llvm::raw_ostream &explain);
  /// A pipeline: stages cut before the ops of the smallest draws (never the
  /// first), microbatches dividing every microbatched input's local batch.
  static void drawPipeline(ModuleOp module, func::FuncOp main, Draws &draws,
                           const DenseMap<Operation *, std::string> &keys,
                           ArrayRef<Operation *> staged, int64_t numStages, MeshAttr mesh,
                           llvm::raw_ostream &plan, llvm::raw_ostream &explain);
  /// Counts of split factors per op name and kind, for the explanation.
  std::map<std::string, int64_t> coverage;
};

std::optional<OpShardings> RandomPlan::drawSplit(Operation *op, const ShardingRule &rule,
                                                 std::mt19937_64 &rng,
                                                 ArrayRef<StringRef> axes, MeshAttr mesh,
                                                 llvm::raw_ostream &explain) {
  ShardingRule::FactorAxes split(rule.factors.size());
  SmallVector<int64_t> order = llvm::to_vector(llvm::seq<int64_t>(0, rule.factors.size()));
  std::shuffle(order.begin(), order.end(), rng);
  AxisList unused(axes.begin(), axes.end());
  bool any = false;
  for (int64_t f : order) {
    if (rule.factors[f].kind == FactorKind::Whole || unused.empty() || !chance(rng, 0.5))
      continue;
    // One or more axes, each kept while the split stays legal.
    int64_t wanted = 1 + pick(rng, unused.size());
    for (StringRef axis : shuffledAxes(rng, unused)) {
      if ((int64_t)split[f].size() >= wanted)
        break;
      split[f].push_back(axis);
      if (rule.whyIllegal(split, mesh)) {
        split[f].pop_back();
        break;
      }
    }
    for (StringRef axis : split[f])
      llvm::erase(unused, axis);
    any |= !split[f].empty();
  }
  if (!any)
    return std::nullopt;
  std::string name = op->getName().getStringRef().str();
  explain << "    " << name;
  if (auto loc = dyn_cast<NameLoc>(op->getLoc()))
    explain << " '" << loc.getName().getValue() << "'";
  explain << ":";
  for (auto [f, factorAxes] : llvm::enumerate(split)) {
    if (factorAxes.empty())
      continue;
    std::string kind = kindName(rule, f).str();
    ++coverage[name + " " + kind];
    explain << " " << kind << " " << rule.factors[f].size << " over {";
    llvm::interleaveComma(factorAxes, explain);
    explain << "}";
  }
  explain << "\n";
  return shardingsOfFactors(op->getContext(), rule, split);
}

void RandomPlan::drawBoundaryShardings(func::FuncOp main, Draws &draws,
                                       ArrayRef<StringRef> axes, MeshAttr mesh,
                                       llvm::raw_ostream &explain) {
  MLIRContext *context = main.getContext();
  explain << "  inputs:\n";
  for (unsigned i = 0; i < main.getNumArguments(); ++i) {
    auto type = dyn_cast<RankedTensorType>(main.getArgument(i).getType());
    auto name = main.getArgAttrOfType<StringAttr>(i, "pmc.name");
    if (!type)
      continue;
    std::string key = "arg:" + (name ? name.str() : std::to_string(i));
    std::mt19937_64 rng = draws.forKey(key);
    ShardingAttr sharding = randomSharding(context, rng, type.getShape(), axes, mesh);
    main.setArgAttr(i, kShardingAttrName, sharding);
    explain << "    " << (name ? name.getValue() : StringRef("?")) << ": " << sharding << "\n";
  }
  for (unsigned i = 0; i < main.getNumResults(); ++i) {
    auto type = dyn_cast<RankedTensorType>(main.getResultTypes()[i]);
    auto name = main.getResultAttrOfType<StringAttr>(i, "pmc.name");
    std::mt19937_64 rng = draws.forKey("result:" + (name ? name.str() : std::to_string(i)));
    // A state update keeps its argument's layout (propagation sets it).
    if (main.getResultAttr(i, kStateUpdateAttrName))
      continue;
    if (type && chance(rng, 0.5))
      main.setResultAttr(i, kShardingAttrName,
                         randomSharding(context, rng, type.getShape(), axes, mesh));
  }
}

int64_t RandomPlan::drawOpSplits(Block &body, Draws &draws,
                                 const DenseMap<Operation *, std::string> &keys,
                                 ArrayRef<StringRef> axes, MeshAttr mesh,
                                 llvm::raw_ostream &explain) {
  Builder b(body.getParentOp()->getContext());
  std::mt19937_64 densityRng = draws.forKey("density");
  const double densities[] = {0.3, 0.6, 1.0};
  double density = densities[pick(densityRng, 3)];
  explain << "  splits (density " << llvm::format("%.1f", density) << "):\n";
  int64_t drawn = 0;
  for (Operation &op : body) {
    if (op.hasTrait<OpTrait::IsTerminator>() || op.getNumResults() == 0 ||
        !llvm::all_of(op.getResultTypes(), llvm::IsaPred<RankedTensorType>))
      continue;
    std::mt19937_64 rng = draws.forKey("op:" + keys.lookup(&op));
    std::optional<ShardingRule> rule = getShardingRule(&op);
    if (!rule || !chance(rng, density))
      continue;
    std::optional<OpShardings> split = drawSplit(&op, *rule, rng, axes, mesh, explain);
    if (!split)
      continue;
    ++drawn;
    SmallVector<Attribute> results(split->produced.begin(), split->produced.end());
    op.setAttr(kShardingsAttrName, b.getArrayAttr(results));
  }
  return drawn;
}

void RandomPlan::drawPipeline(ModuleOp module, func::FuncOp main, Draws &draws,
                              const DenseMap<Operation *, std::string> &keys,
                              ArrayRef<Operation *> staged, int64_t numStages, MeshAttr mesh,
                              llvm::raw_ostream &plan, llvm::raw_ostream &explain) {
  Builder b(module.getContext());
  Block &body = main.getBody().front();
  SmallVector<std::pair<uint64_t, size_t>> order;
  for (size_t i = 1; i < staged.size(); ++i)
    order.push_back({draws.forKey("cut:" + keys.lookup(staged[i]))(), i});
  llvm::sort(order);
  SmallVector<size_t> cuts;
  for (int64_t k = 0; k < numStages - 1; ++k)
    cuts.push_back(order[k].second);
  llvm::sort(cuts);
  DenseMap<Operation *, int64_t> stageOf;
  int64_t stage = 0;
  for (auto [i, op] : llvm::enumerate(staged)) {
    while (stage < (int64_t)cuts.size() && cuts[stage] <= i)
      ++stage;
    stageOf[op] = stage;
    setStage(op, stage);
  }
  for (Operation &op : body) {
    if (!isa<ConstantOp>(op))
      continue;
    int64_t first = numStages - 1;
    for (Operation *user : op.getUsers())
      if (auto it = stageOf.find(user); it != stageOf.end())
        first = std::min(first, it->second);
    setStage(&op, op.use_empty() ? 0 : first);
  }
  // Microbatches: the batch is dim 0 of the first input of rank >= 1.
  std::optional<int64_t> batch;
  for (Type type : main.getArgumentTypes())
    if (auto tensor = dyn_cast<RankedTensorType>(type); tensor && tensor.getRank() >= 1) {
      batch = tensor.getDimSize(0);
      break;
    }
  SmallVector<int64_t> counts;
  for (int64_t m = 1; m <= 4 && batch; ++m) {
    bool divides = true;
    for (unsigned i = 0; i < main.getNumArguments(); ++i) {
      auto type = dyn_cast<RankedTensorType>(main.getArgument(i).getType());
      if (!type || type.getRank() < 1 || type.getDimSize(0) != *batch)
        continue;
      int64_t split = 1;
      if (auto sharding = main.getArgAttrOfType<ShardingAttr>(i, kShardingAttrName))
        for (StringRef axis : sharding.getDimAxes(0))
          split *= mesh.getAxisSize(axis);
      divides &= (*batch / split) % m == 0;
    }
    if (divides)
      counts.push_back(m);
  }
  std::mt19937_64 rng = draws.forKey("pipeline");
  int64_t microbatches = counts.empty() ? 1 : counts[pick(rng, counts.size())];
  StringRef schedule = chance(rng, 0.5) ? "gpipe" : "1f1b";
  module->setAttr(kPipelineAttrName,
                  b.getDictionaryAttr(
                      {b.getNamedAttr("stages", b.getI64IntegerAttr(numStages)),
                       b.getNamedAttr("microbatches", b.getI64IntegerAttr(microbatches)),
                       b.getNamedAttr("schedule", b.getStringAttr(schedule))}));
  plan << "; pipeline " << numStages << " stages x " << microbatches << " microbatches ("
       << schedule << ")";
  explain << "  pipeline: " << numStages << " stages cut before ops";
  for (size_t cut : cuts)
    explain << " #" << cut;
  explain << " (of " << staged.size() << "), " << microbatches << " microbatches, "
          << schedule << "\n";
}

void RandomPlan::runOnOperation() {
  ModuleOp module = getOperation();
  MLIRContext *context = module.getContext();
  Builder b(context);
  if (module->hasAttr(kMeshAttrName))
    return; // The user's (or an earlier) plan wins.
  auto main = module.lookupSymbol<func::FuncOp>(kEntryFunctionName);
  if (!main || main.isExternal() || !main.getBody().hasOneBlock()) {
    module.emitError("pmc-random-plan: the module has no @main function with one block");
    return signalPassFailure();
  }
  if (devices < 1) {
    module.emitError() << "pmc-random-plan: devices=" << static_cast<int64_t>(devices)
                       << ": expected >= 1";
    return signalPassFailure();
  }
  Draws draws(seed);
  Block &body = main.getBody().front();
  // Every op's key: its location name, its rank among the ops of that name,
  // its op name (stable when other ops are cut out of the model).
  DenseMap<Operation *, std::string> keys;
  llvm::StringMap<int64_t> seen;
  SmallVector<Operation *> staged;
  for (Operation &op : body) {
    StringRef locName = "";
    if (auto loc = dyn_cast<NameLoc>(op.getLoc()))
      locName = loc.getName().getValue();
    std::string key;
    llvm::raw_string_ostream os(key);
    os << locName << "#" << seen[locName]++ << ":" << op.getName();
    keys[&op] = key;
    if (!isa<ConstantOp>(op) && !op.hasTrait<OpTrait::IsTerminator>())
      staged.push_back(&op);
  }

  // The mesh: pp first when a pipeline is drawn.
  std::mt19937_64 meshRng = draws.forKey("mesh");
  int64_t numStages = stages;
  // A train step runs its state on the ranks, which a pipeline bundle does
  // not keep (pipelines with backward passes: not yet); none is drawn.
  bool trainStep = llvm::any_of(llvm::seq<unsigned>(0, main.getNumArguments()),
                                [&](unsigned i) { return main.getArgAttr(i, kParameterAttrName); });
  if (numStages < 0 && trainStep)
    numStages = 1;
  if (numStages < 0) {
    SmallVector<int64_t> choices;
    for (int64_t k = 2; k <= std::min<int64_t>(4, devices); ++k)
      if (devices % k == 0 && k <= (int64_t)staged.size())
        choices.push_back(k);
    numStages = !choices.empty() && chance(meshRng, 1.0 / 3)
                    ? choices[pick(meshRng, choices.size())]
                    : 1;
  }
  if (numStages > 1 && (devices % numStages != 0 || numStages > (int64_t)staged.size())) {
    module.emitError() << "pmc-random-plan: " << numStages << " stages for " << devices
                       << " devices and " << staged.size() << " ops";
    return signalPassFailure();
  }
  numStages = std::max<int64_t>(numStages, 1);
  SmallVector<StringAttr> names;
  SmallVector<int64_t> sizes;
  if (numStages > 1) {
    names.push_back(b.getStringAttr("pp"));
    sizes.push_back(numStages);
  }
  AxisList axes;
  for (auto [i, size] : llvm::enumerate(factorize(meshRng, devices / numStages, 3))) {
    std::string name(1, char('a' + i));
    names.push_back(b.getStringAttr(name));
    sizes.push_back(size);
  }
  auto mesh = MeshAttr::get(context, names, sizes);
  for (StringAttr name : names)
    if (name.getValue() != "pp")
      axes.push_back(name.getValue());
  module->setAttr(kMeshAttrName, mesh);

  std::string explainText;
  llvm::raw_string_ostream explain(explainText);
  explain << "plan for " << devices << " devices: random (seed " << seed << "), mesh "
          << mesh << "\n";

  drawBoundaryShardings(main, draws, axes, mesh, explain);

  int64_t drawn = drawOpSplits(body, draws, keys, axes, mesh, explain);

  std::string planText = "random seed " + std::to_string(seed) + ": mesh ";
  llvm::raw_string_ostream plan(planText);
  llvm::interleave(
      llvm::zip(names, sizes), plan,
      [&](auto axis) { plan << std::get<0>(axis).getValue() << "=" << std::get<1>(axis); },
      ",");
  plan << ", " << drawn << " ops split";

  if (numStages > 1)
    drawPipeline(module, main, draws, keys, staged, numStages, mesh, plan, explain);
  explain << "  coverage:";
  for (const auto &[what, count] : coverage)
    explain << " " << what << "=" << count << ";";
  explain << "\n";
  module->setAttr("pmc.plan", b.getStringAttr(planText));
  module->setAttr("pmc.plan_source", b.getStringAttr("random"));
  module->setAttr("pmc.plan_explain", b.getStringAttr(explainText));
}
} // namespace
