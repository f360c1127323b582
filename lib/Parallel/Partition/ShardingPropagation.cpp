//===- ShardingPropagation.cpp - complete shardings through op rules ------===//
//
// See the description of pmc-sharding-propagation in Passes.td for the
// algorithm and the conflict priority; the names below follow it.
//
#include "pmc/Dialect/PMC/IR/PMCAttrs.h"
#include "pmc/Dialect/PMC/IR/PMCDialect.h"
#include "pmc/Dialect/PMC/IR/ShardingRule.h"
#include "pmc/Parallel/Partition/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"

namespace mlir::pmc {
#define GEN_PASS_DEF_PMCSHARDINGPROPAGATION
#include "pmc/Parallel/Partition/Passes.h.inc"
} // namespace mlir::pmc

using namespace mlir;
using namespace mlir::pmc;

namespace {

constexpr llvm::StringLiteral kOriginAttrName = "pmc.sharding_origin";
constexpr llvm::StringLiteral kOriginsAttrName = "pmc.sharding_origins";

/// What propagation knows of one value.
struct ValueState {
  /// Null while nothing is known.
  ShardingAttr sharding;
  /// Written by the user: never changed.
  bool user = false;
  /// For debug-sharding-origins: how the value got its sharding, and for
  /// every axis it uses, the user annotation the axis comes from.
  std::string how;
  llvm::StringMap<std::string> axisRoots;
};

/// One candidate axis list for a factor, projected from one operand/result.
struct Candidate {
  SmallVector<StringRef> axes;
  bool user = false;
  /// Where each axis came from (parallel to `axes`).
  SmallVector<std::string> roots;
};

bool isPrefix(ArrayRef<StringRef> prefix, ArrayRef<StringRef> of) {
  return prefix.size() <= of.size() && prefix == of.take_front(prefix.size());
}

/// True when `next` keeps everything `old` says and adds something: axes
/// appended to dimensions, partial axes added (of the same kind).
bool refines(ShardingAttr old, ShardingAttr next) {
  if (!old)
    return !next.isReplicated();
  if (old == next || old.getRank() != next.getRank())
    return false;
  for (int64_t d = 0; d < old.getRank(); ++d)
    if (!isPrefix(old.getDimAxes(d), next.getDimAxes(d)))
      return false;
  if (old.isPartial() && next.getPartialKind() != old.getPartialKind())
    return false;
  for (StringAttr axis : old.getPartialAxes())
    if (!llvm::is_contained(next.getPartialAxes(), axis))
      return false;
  return true;
}

/// The checks of ShardingAttr::verifyFor without a diagnostic: every axis
/// once, every dimension divisible. Propagation builds only valid shardings;
/// this guards the invariant.
bool isValid(ShardingAttr sharding, MeshAttr mesh, RankedTensorType type) {
  llvm::StringSet<> seen;
  for (StringRef axis : sharding.getUsedAxes())
    if (!seen.insert(axis).second)
      return false;
  return succeeded(sharding.getLocalShape(mesh, type.getShape()));
}

class Propagator {
public:
  Propagator(MeshAttr mesh, func::FuncOp func) : mesh(mesh), func(func) {}

  /// Checks the user's annotations in `func` and records them; fails with
  /// an error naming the value.
  LogicalResult collectUserShardings();
  /// Runs forward and backward sweeps to a fixed point.
  void propagate();
  /// Writes every sharding (and, with `origins`, where it came from).
  void annotate(bool origins);

private:
  ValueState &state(Value v) { return states[v]; }
  /// Readable name of a value for errors and origins.
  std::string describe(Value v);
  /// Projects, merges and writes back the shardings of one op; updates
  /// results when `forward`, else operands. Returns true on a change.
  bool step(Operation *op, const ShardingRule &rule, bool forward);
  LogicalResult checkSharding(ShardingAttr sharding, Value v, bool allowPartial,
                              function_ref<InFlightDiagnostic()> emitError);
  LogicalResult recordUser(Value v, ShardingAttr sharding, StringRef where,
                           function_ref<InFlightDiagnostic()> emitError);

  MeshAttr mesh;
  func::FuncOp func;
  llvm::DenseMap<Value, ValueState> states;
  /// Position of every op in the function, for stable names.
  llvm::DenseMap<Operation *, int64_t> opIndex;
};

std::string Propagator::describe(Value v) {
  std::string text;
  llvm::raw_string_ostream os(text);
  if (auto arg = dyn_cast<BlockArgument>(v)) {
    os << "argument " << arg.getArgNumber();
    if (auto name = func.getArgAttrOfType<StringAttr>(arg.getArgNumber(), "pmc.name"))
      os << " '" << name.getValue() << "'";
    return text;
  }
  Operation *op = v.getDefiningOp();
  os << op->getName();
  if (auto name = dyn_cast<NameLoc>(op->getLoc()))
    os << " '" << name.getName().getValue() << "'";
  else
    os << " #" << opIndex.lookup(op);
  if (op->getNumResults() > 1)
    os << " result " << cast<OpResult>(v).getResultNumber();
  return text;
}

LogicalResult
Propagator::checkSharding(ShardingAttr sharding, Value v, bool allowPartial,
                          function_ref<InFlightDiagnostic()> emitError) {
  auto type = dyn_cast<RankedTensorType>(v.getType());
  if (!type)
    return emitError() << "has a sharding but is not a ranked tensor";
  if (failed(sharding.verifyFor(mesh, type.getShape(), emitError)))
    return failure();
  if (!allowPartial && sharding.isPartial())
    return emitError() << "sharding " << sharding
                       << " is partial; function inputs and outputs never are";
  return success();
}

LogicalResult Propagator::recordUser(Value v, ShardingAttr sharding, StringRef where,
                                     function_ref<InFlightDiagnostic()> emitError) {
  ValueState &s = state(v);
  if (s.user) {
    if (s.sharding.withoutPartial() != sharding.withoutPartial())
      return emitError() << "conflicting user shardings: " << s.sharding << " and "
                         << sharding << " (" << where << ")";
    return success();
  }
  s.sharding = sharding;
  s.user = true;
  s.how = "user: " + describe(v);
  for (StringRef axis : sharding.getUsedAxes())
    s.axisRoots[axis] = describe(v);
  return success();
}

LogicalResult Propagator::collectUserShardings() {
  int64_t index = 0;
  func.walk([&](Operation *op) { opIndex[op] = index++; });
  std::string funcName = ("@" + func.getSymName()).str();
  for (BlockArgument arg : func.getArguments()) {
    Attribute attr = func.getArgAttr(arg.getArgNumber(), kShardingAttrName);
    if (!attr)
      continue;
    auto emitError = [&]() {
      InFlightDiagnostic diag = func.emitError();
      diag << describe(arg) << " of " << funcName << ": ";
      return diag;
    };
    auto sharding = dyn_cast<ShardingAttr>(attr);
    if (!sharding)
      return emitError() << "pmc.sharding must be a #pmc.sharding, got " << attr;
    if (failed(checkSharding(sharding, arg, /*allowPartial=*/false, emitError)) ||
        failed(recordUser(arg, sharding, "argument", emitError)))
      return failure();
  }
  WalkResult walk = func.walk([&](Operation *op) {
    Attribute attr = op->getAttr(kShardingsAttrName);
    if (!attr)
      return WalkResult::advance();
    auto list = dyn_cast<ArrayAttr>(attr);
    if (!list || list.size() != op->getNumResults()) {
      op->emitOpError() << "pmc.shardings must be an array of one #pmc.sharding per "
                        << "result (" << op->getNumResults() << "), got " << attr;
      return WalkResult::interrupt();
    }
    for (auto [i, element] : llvm::enumerate(list)) {
      auto emitError = [&, i = i]() {
        InFlightDiagnostic diag = op->emitOpError();
        diag << "result " << i << ": ";
        return diag;
      };
      auto sharding = dyn_cast<ShardingAttr>(element);
      if (!sharding) {
        emitError() << "expected a #pmc.sharding, got " << element;
        return WalkResult::interrupt();
      }
      Value result = op->getResult(i);
      if (failed(checkSharding(sharding, result, /*allowPartial=*/true, emitError)) ||
          failed(recordUser(result, sharding, "op annotation", emitError)))
        return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  if (walk.wasInterrupted())
    return failure();
  Operation *terminator = func.getBody().front().getTerminator();
  for (auto [i, returned] : llvm::enumerate(terminator->getOperands())) {
    Attribute attr = func.getResultAttr(i, kShardingAttrName);
    if (!attr)
      continue;
    auto emitError = [&, i = i]() {
      InFlightDiagnostic diag = func.emitError();
      diag << "result " << i << " of " << funcName << ": ";
      return diag;
    };
    auto sharding = dyn_cast<ShardingAttr>(attr);
    if (!sharding)
      return emitError() << "pmc.sharding must be a #pmc.sharding, got " << attr;
    if (failed(checkSharding(sharding, returned, /*allowPartial=*/false, emitError)))
      return failure();
    // A returned value the user annotated keeps its own sharding: the
    // partitioner reshards it to the result's at the return.
    if (state(returned).user)
      continue;
    if (failed(recordUser(returned, sharding,
                          "the function result and " + describe(returned),
                          emitError)))
      return failure();
  }
  return success();
}

bool Propagator::step(Operation *op, const ShardingRule &rule, bool forward) {
  // The operands, then the results, with their dimensions' factors.
  struct Tensor {
    Value value;
    const ShardingRule::TensorFactors *dims;
  };
  SmallVector<Tensor> tensors;
  for (auto [v, dims] : llvm::zip(op->getOperands(), rule.operands))
    tensors.push_back({v, &dims});
  for (auto [v, dims] : llvm::zip(op->getResults(), rule.results))
    tensors.push_back({v, &dims});

  // Project every known sharding onto the factors: a dimension's axes go to
  // its factors major first while they divide what is left of the factor.
  std::vector<SmallVector<Candidate, 2>> candidates(rule.factors.size());
  for (const Tensor &t : tensors) {
    auto it = states.find(t.value);
    if (it == states.end() || !it->second.sharding)
      continue;
    const ValueState &s = it->second;
    for (auto [d, factors] : llvm::enumerate(*t.dims)) {
      SmallVector<StringRef> axes = s.sharding.getDimAxes(d);
      SmallVector<Candidate> projected(factors.size(), Candidate{{}, s.user, {}});
      size_t fi = 0;
      int64_t left = factors.empty() ? 1 : rule.factors[factors[0]].size;
      for (StringRef axis : axes) {
        while (left == 1 && fi + 1 < factors.size())
          left = rule.factors[factors[++fi]].size;
        int64_t size = mesh.getAxisSize(axis);
        if (factors.empty() || left % size != 0)
          break;
        left /= size;
        projected[fi].axes.push_back(axis);
        projected[fi].roots.push_back(s.axisRoots.lookup(axis));
      }
      for (auto [f, c] : llvm::zip(factors, projected))
        candidates[f].push_back(std::move(c));
    }
  }

  // Merge per factor. An empty candidate (a replicated dimension) says
  // nothing about the factor and never wins over axes.
  SmallVector<Candidate> chosen(rule.factors.size());
  for (auto [f, factor] : llvm::enumerate(rule.factors)) {
    if (factor.kind == FactorKind::Whole)
      continue;
    Candidate &best = chosen[f];
    for (Candidate &c : candidates[f]) {
      if (c.axes.empty())
        continue;
      if (best.axes.empty() || (c.user && !best.user))
        best = c;
      else if (c.user != best.user)
        continue;
      else if (isPrefix(best.axes, c.axes))
        best = c;
      else if (!isPrefix(c.axes, best.axes) && c.axes.size() > best.axes.size())
        best = c;
    }
  }
  // Hand each axis to one factor: user-sourced factors first, then in rule
  // order; a later factor is cut before an axis already taken.
  auto order = llvm::to_vector(llvm::seq<int64_t>(0, rule.factors.size()));
  llvm::stable_sort(order, [&](int64_t a, int64_t b) {
    return chosen[a].user && !chosen[b].user;
  });
  // Each axis is kept only while the split stays legal (ShardingRule::
  // whyIllegal: an axis used once, sizes divisible, block splits, attributes
  // that scale), so propagation never annotates what the partitioner cannot
  // build; the planner's candidates are completed by it.
  ShardingRule::FactorAxes split(rule.factors.size());
  for (int64_t f : order) {
    Candidate &best = chosen[f];
    for (size_t a = 0; a < best.axes.size(); ++a) {
      split[f].push_back(best.axes[a]);
      if (rule.whyIllegal(split, mesh)) {
        split[f].pop_back();
        best.axes.truncate(a);
        best.roots.truncate(a);
        break;
      }
    }
  }

  // Build the shardings of the updated side back from the factors.
  MLIRContext *context = op->getContext();
  bool changed = false;
  for (auto [index, t] : llvm::enumerate(tensors)) {
    bool isResult = index >= op->getNumOperands();
    if (isResult != forward)
      continue;
    ValueState &s = state(t.value);
    if (s.user)
      continue;
    llvm::StringMap<std::string> roots;
    SmallVector<SmallVector<StringRef>> dims;
    for (const ShardingRule::DimFactors &factors : *t.dims) {
      SmallVector<StringRef> &axes = dims.emplace_back();
      for (int64_t f : factors) {
        int64_t product = 1;
        for (auto [axis, root] : llvm::zip(chosen[f].axes, chosen[f].roots)) {
          axes.push_back(axis);
          roots[axis] = root;
          product *= mesh.getAxisSize(axis);
        }
        // A later factor's split is not a block of this dimension unless this
        // factor is split completely.
        if (product != rule.factors[f].size)
          break;
      }
    }
    SmallVector<StringRef> partial;
    std::optional<PartialKind> kind;
    if (isResult) {
      for (auto [f, factor] : llvm::enumerate(rule.factors)) {
        if (factor.kind != FactorKind::Reduction || chosen[f].axes.empty())
          continue;
        if (kind && *kind != factor.partialKind)
          continue;
        kind = factor.partialKind;
        for (auto [axis, root] : llvm::zip(chosen[f].axes, chosen[f].roots)) {
          partial.push_back(axis);
          roots[axis] = root;
        }
      }
    }
    ShardingAttr next =
        ShardingAttr::get(context, dims, partial, kind.value_or(PartialKind::Sum));
    if (!isValid(next, mesh, cast<RankedTensorType>(t.value.getType())) ||
        !refines(s.sharding, next))
      continue;
    s.sharding = next;
    s.axisRoots = std::move(roots);
    s.how = ((forward ? "forward through " : "backward through ") +
             op->getName().getStringRef())
                .str();
    changed = true;
  }
  return changed;
}

void Propagator::propagate() {
  std::vector<std::pair<Operation *, ShardingRule>> ruled;
  func.walk([&](Operation *op) {
    if (std::optional<ShardingRule> rule = getShardingRule(op))
      ruled.emplace_back(op, std::move(*rule));
  });
  // Every change adds an axis to a value, so this bound is never reached by
  // a correct implementation; it guards against a bug looping forever.
  int64_t maxRounds = 2 + (int64_t)mesh.getNames().size() * 2 * (ruled.size() + 1);
  for (int64_t round = 0; round < maxRounds; ++round) {
    bool changed = false;
    for (auto &[op, rule] : ruled)
      changed |= step(op, rule, /*forward=*/true);
    for (auto &[op, rule] : llvm::reverse(ruled))
      changed |= step(op, rule, /*forward=*/false);
    if (!changed)
      return;
  }
}

/// "how: dp from argument 0 'x', tp from pmc.constant 'w1'".
std::string originText(const ValueState &s) {
  if (!s.sharding || s.sharding.isReplicated())
    return s.user ? s.how : "no information: replicated";
  if (s.user)
    return s.how;
  std::string text = s.how + ": ";
  llvm::raw_string_ostream os(text);
  llvm::interleaveComma(s.sharding.getUsedAxes(), os, [&](StringRef axis) {
    os << axis << " from " << s.axisRoots.lookup(axis);
  });
  return text;
}

void Propagator::annotate(bool origins) {
  Builder builder(func.getContext());
  auto shardingOf = [&](Value v) {
    auto it = states.find(v);
    if (it != states.end() && it->second.sharding)
      return it->second.sharding;
    return ShardingAttr::getReplicated(func.getContext(),
                                       cast<RankedTensorType>(v.getType()).getRank());
  };
  auto originOf = [&](Value v) {
    auto it = states.find(v);
    return builder.getStringAttr(it == states.end() ? "no information: replicated"
                                                    : originText(it->second));
  };
  for (BlockArgument arg : func.getArguments()) {
    if (!isa<RankedTensorType>(arg.getType()))
      continue;
    func.setArgAttr(arg.getArgNumber(), kShardingAttrName, shardingOf(arg));
    if (origins)
      func.setArgAttr(arg.getArgNumber(), kOriginAttrName, originOf(arg));
  }
  func.walk([&](Operation *op) {
    if (op->getNumResults() == 0 ||
        !llvm::all_of(op->getResultTypes(), llvm::IsaPred<RankedTensorType>))
      return;
    SmallVector<Attribute> shardings, texts;
    for (Value result : op->getResults()) {
      shardings.push_back(shardingOf(result));
      texts.push_back(originOf(result));
    }
    op->setAttr(kShardingsAttrName, builder.getArrayAttr(shardings));
    if (origins)
      op->setAttr(kOriginsAttrName, builder.getArrayAttr(texts));
  });
  // A train step's state update leaves in its argument's layout, so that
  // the state stays where it is across steps (the runtime keeps each rank's
  // shard): the partitioner reshards the returned value into it.
  llvm::StringMap<ShardingAttr> argumentShardings;
  for (BlockArgument arg : func.getArguments())
    if (auto name = func.getArgAttrOfType<StringAttr>(arg.getArgNumber(), "pmc.name"))
      if (isa<RankedTensorType>(arg.getType()))
        argumentShardings[name.getValue()] = shardingOf(arg);
  Operation *terminator = func.getBody().front().getTerminator();
  for (auto [i, returned] : llvm::enumerate(terminator->getOperands())) {
    if (!isa<RankedTensorType>(returned.getType()))
      continue;
    if (auto user = func.getResultAttrOfType<ShardingAttr>(i, kShardingAttrName)) {
      if (origins)
        func.setResultAttr(i, kOriginAttrName, builder.getStringAttr("user"));
      continue;
    }
    auto name = func.getResultAttrOfType<StringAttr>(i, "pmc.name");
    if (func.getResultAttr(i, kStateUpdateAttrName) && name &&
        argumentShardings.count(name.getValue())) {
      func.setResultAttr(i, kShardingAttrName, argumentShardings.lookup(name.getValue()));
      if (origins)
        func.setResultAttr(i, kOriginAttrName,
                           builder.getStringAttr("the state argument it updates"));
      continue;
    }
    // Outputs are never partial: the partitioner reduces before returning.
    func.setResultAttr(i, kShardingAttrName, shardingOf(returned).withoutPartial());
    if (origins)
      func.setResultAttr(i, kOriginAttrName,
                         builder.getStringAttr("returned " + describe(returned) +
                                               " (" + originOf(returned).str() +
                                               ")"));
  }
}

struct ShardingPropagation
    : public mlir::pmc::impl::PMCShardingPropagationBase<ShardingPropagation> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto mesh = module->getAttrOfType<MeshAttr>(kMeshAttrName);
    if (!mesh) {
      module.emitError() << "pmc-sharding-propagation needs the module attribute "
                         << kMeshAttrName << " = #pmc.mesh<[...]>";
      return signalPassFailure();
    }
    for (auto func : module.getOps<func::FuncOp>()) {
      if (func.isExternal())
        continue;
      Propagator propagator(mesh, func);
      if (failed(propagator.collectUserShardings()))
        return signalPassFailure();
      propagator.propagate();
      propagator.annotate(debugShardingOrigins);
    }
  }
};

} // namespace
