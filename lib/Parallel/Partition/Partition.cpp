//===- Partition.cpp - SPMD partitioning: global program to per-rank local -===//
//
// See the pass description in Passes.td. Per op, in program order:
//   1. the factor sharding: which mesh axes split each factor of the op's rule,
//      read from the annotated result shardings (Parallel factors), from the
//      result's partial axes or else the operands' current splits (Reduction
//      factors); Whole factors are never split;
//   2. each operand is resharded (Reshard.h) to the sharding its factors imply;
//   3. the op gets the local result types of the sharding it then produces;
//   4. results whose annotation differs from what the op produces (a pending
//      partial sum the annotation resolves, a split the rule could not give)
//      are resharded right after the op.
// Consumers reshard their operands again where they need another sharding, so
// a partial result is reduced once, where it is first needed whole.
//
#include "pmc/Dialect/PMC/IR/PMCOps.h"
#include "pmc/Dialect/PMC/IR/ShardingRule.h"
#include "pmc/Parallel/Partition/Passes.h"
#include "pmc/Parallel/Partition/OpShardings.h"
#include "pmc/Parallel/Partition/Reshard.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringSet.h"

namespace mlir::pmc {
#define GEN_PASS_DEF_PMCPARTITION
#include "pmc/Parallel/Partition/Passes.h.inc"
} // namespace mlir::pmc

using namespace mlir;
using namespace mlir::pmc;

namespace {
using AxisList = SmallVector<StringRef>;

/// What a value of the partitioned function holds on each rank.
struct ValueInfo {
  ShardingAttr sharding;
  RankedTensorType globalType;
};


class Partitioner {
public:
  Partitioner(func::FuncOp func, MeshAttr mesh) : func(func), mesh(mesh) {}
  LogicalResult run();

private:
  LogicalResult partitionArguments();
  LogicalResult partitionOp(Operation *op);
  LogicalResult partitionReturn(func::ReturnOp op);
  /// The result shardings annotated on `op` (replicated where absent).
  FailureOr<SmallVector<ShardingAttr>> annotatedShardings(Operation *op);
  /// Makes operand `index` of `user` hold its block under `target`.
  LogicalResult reshardOperand(Operation *user, unsigned index, ShardingAttr target);
  /// Records `op`'s results as produced under `produced`, then reshards those
  /// whose annotation differs right after `op`.
  LogicalResult finishResults(Operation *op, ArrayRef<ShardingAttr> produced,
                              ArrayRef<ShardingAttr> annotated,
                              ArrayRef<RankedTensorType> globalTypes);
  LogicalResult partitionWithRule(Operation *op, const ShardingRule &rule,
                                  ArrayRef<ShardingAttr> annotated);

  func::FuncOp func;
  MeshAttr mesh;
  DenseMap<Value, ValueInfo> info;
  /// Reshards already emitted: (value, target sharding) -> local value.
  DenseMap<std::pair<Value, Attribute>, Value> reshardCache;
  /// The sharding rule of every op of the function (computed on global types).
  DenseMap<Operation *, std::optional<ShardingRule>> rules;
};
} // namespace

LogicalResult Partitioner::run() {
  if (func.isExternal())
    return success();
  if (!func.getBody().hasOneBlock())
    return func.emitOpError("must have a single block to be partitioned");
  // Rules read the global types of operands and results: take them all
  // before any op of the function becomes local.
  for (Operation &op : func.getBody().front())
    rules[&op] = getShardingRule(&op);
  if (failed(partitionArguments()))
    return failure();
  for (Operation &op : llvm::make_early_inc_range(func.getBody().front()))
    if (failed(partitionOp(&op)))
      return failure();
  // The signature follows the local argument and result types.
  Block &body = func.getBody().front();
  func.setType(FunctionType::get(func.getContext(), body.getArgumentTypes(),
                                 body.getTerminator()->getOperandTypes()));
  return success();
}

LogicalResult Partitioner::partitionArguments() {
  Block &body = func.getBody().front();
  for (BlockArgument arg : body.getArguments()) {
    auto type = dyn_cast<RankedTensorType>(arg.getType());
    if (!type)
      return func.emitOpError() << "argument " << arg.getArgNumber()
                                << " is not a ranked tensor";
    auto sharding = func.getArgAttrOfType<ShardingAttr>(arg.getArgNumber(),
                                                        kShardingAttrName);
    if (!sharding)
      sharding = ShardingAttr::getReplicated(func.getContext(), type.getRank());
    auto emitError = [&] {
      return func.emitOpError() << "argument " << arg.getArgNumber() << ": ";
    };
    if (sharding.isPartial())
      return emitError() << "sharding " << sharding << " is partial; function "
                         << "arguments must not be";
    if (failed(sharding.verifyFor(mesh, type.getShape(), emitError)))
      return failure();
    info[arg] = {sharding, type};
    arg.setType(RankedTensorType::get(*sharding.getLocalShape(mesh, type.getShape()),
                                      type.getElementType()));
  }
  return success();
}

FailureOr<SmallVector<ShardingAttr>> Partitioner::annotatedShardings(Operation *op) {
  SmallVector<ShardingAttr> shardings;
  Attribute attr = op->getAttr(kShardingsAttrName);
  auto array = dyn_cast_or_null<ArrayAttr>(attr);
  if (attr && (!array || array.size() != op->getNumResults()))
    return op->emitOpError() << "'" << kShardingsAttrName << "' must be an array of "
                             << op->getNumResults() << " #pmc.sharding";
  for (OpResult result : op->getResults()) {
    auto type = dyn_cast<RankedTensorType>(result.getType());
    if (!type)
      return op->emitOpError() << "result " << result.getResultNumber()
                               << " is not a ranked tensor";
    ShardingAttr sharding =
        array ? dyn_cast<ShardingAttr>(array[result.getResultNumber()]) : nullptr;
    if (array && !sharding)
      return op->emitOpError() << "'" << kShardingsAttrName << "' entry "
                               << result.getResultNumber() << " is not a #pmc.sharding";
    if (!sharding)
      sharding = ShardingAttr::getReplicated(op->getContext(), type.getRank());
    if (failed(sharding.verifyFor(mesh, type.getShape(), [&] {
          return op->emitOpError() << "result " << result.getResultNumber() << ": ";
        })))
      return failure();
    shardings.push_back(sharding);
  }
  return shardings;
}

LogicalResult Partitioner::reshardOperand(Operation *user, unsigned index,
                                          ShardingAttr target) {
  Value value = user->getOperand(index);
  auto it = info.find(value);
  if (it == info.end())
    return user->emitOpError() << "operand " << index
                               << " is not defined in the partitioned function";
  auto key = std::make_pair(value, Attribute(target));
  // A trained parameter is resharded again at each use (ZeRO-3: gathered
  // before its use, freed after it), so that no full copy lives from the
  // forward to the backward; other values keep one copy per sharding.
  bool parameter = reshardsAtEachUse(value);
  if (Value cached = parameter ? Value() : reshardCache.lookup(key)) {
    user->setOperand(index, cached);
    return success();
  }
  OpBuilder builder(user);
  FailureOr<Value> local =
      emitReshard(builder, user->getLoc(), value, it->second.globalType,
                  it->second.sharding, target, mesh, [&] {
                    return user->emitOpError() << "operand " << index << ": ";
                  });
  if (failed(local))
    return failure();
  if (!parameter)
    reshardCache[key] = *local;
  info[*local] = {target, it->second.globalType};
  user->setOperand(index, *local);
  return success();
}

LogicalResult Partitioner::finishResults(Operation *op, ArrayRef<ShardingAttr> produced,
                                         ArrayRef<ShardingAttr> annotated,
                                         ArrayRef<RankedTensorType> globalTypes) {
  OpBuilder builder(op->getContext());
  builder.setInsertionPointAfter(op);
  for (OpResult result : op->getResults()) {
    unsigned i = result.getResultNumber();
    info[result] = {produced[i], globalTypes[i]};
    if (produced[i] == annotated[i] || result.use_empty())
      continue;
    SmallVector<OpOperand *> uses =
        llvm::map_to_vector(result.getUses(), [](OpOperand &use) { return &use; });
    FailureOr<Value> local = emitReshard(
        builder, op->getLoc(), result, globalTypes[i], produced[i], annotated[i], mesh,
        [&] { return op->emitOpError() << "result " << i << ": "; });
    if (failed(local))
      return failure();
    if (*local == result)
      continue;
    for (OpOperand *use : uses)
      use->set(*local);
    info[*local] = {annotated[i], globalTypes[i]};
    builder.setInsertionPointAfter(local->getDefiningOp());
  }
  return success();
}

LogicalResult Partitioner::partitionReturn(func::ReturnOp op) {
  for (OpOperand &operand : op->getOpOperands()) {
    unsigned i = operand.getOperandNumber();
    auto type = cast<RankedTensorType>(info.lookup(operand.get()).globalType);
    auto target = func.getResultAttrOfType<ShardingAttr>(i, kShardingAttrName);
    if (!target)
      target = ShardingAttr::getReplicated(func.getContext(), type.getRank());
    if (target.isPartial())
      return func.emitOpError() << "result " << i << ": sharding " << target
                                << " is partial; function results must not be";
    if (failed(target.verifyFor(mesh, type.getShape(), [&] {
          return func.emitOpError() << "result " << i << ": ";
        })))
      return failure();
    if (failed(reshardOperand(op, i, target)))
      return failure();
  }
  return success();
}

LogicalResult Partitioner::partitionOp(Operation *op) {
  if (auto ret = dyn_cast<func::ReturnOp>(op))
    return partitionReturn(ret);
  if (isa<CollectiveOpInterface>(op))
    return op->emitOpError("is already partitioned: the input of pmc-partition "
                           "must be the global program");
  if (op->getNumRegions() != 0)
    return op->emitOpError("has regions, which pmc-partition does not handle");
  FailureOr<SmallVector<ShardingAttr>> annotated = annotatedShardings(op);
  if (failed(annotated))
    return failure();
  op->removeAttr(kShardingsAttrName);
  if (auto constant = dyn_cast<ConstantOp>(op)) {
    if ((*annotated)[0].isPartial())
      return op->emitOpError() << "a constant cannot be partial, got "
                               << (*annotated)[0];
  } else if (const std::optional<ShardingRule> &rule = rules.lookup(op)) {
    return partitionWithRule(op, *rule, *annotated);
  }
  // Constants and ops without a rule compute on whole (replicated) tensors;
  // sharded results are then sliced locally (for a constant, per-rank weights).
  SmallVector<ShardingAttr> produced;
  SmallVector<RankedTensorType> globalTypes;
  for (OpOperand &operand : op->getOpOperands()) {
    auto type = info.lookup(operand.get()).globalType;
    if (!type)
      return op->emitOpError() << "operand " << operand.getOperandNumber()
                               << " is not a ranked tensor of the function";
    if (failed(reshardOperand(
            op, operand.getOperandNumber(),
            ShardingAttr::getReplicated(op->getContext(), type.getRank()))))
      return failure();
  }
  for (OpResult result : op->getResults()) {
    auto type = cast<RankedTensorType>(result.getType());
    globalTypes.push_back(type);
    produced.push_back(ShardingAttr::getReplicated(op->getContext(), type.getRank()));
  }
  return finishResults(op, produced, *annotated, globalTypes);
}

LogicalResult Partitioner::partitionWithRule(Operation *op, const ShardingRule &rule,
                                             ArrayRef<ShardingAttr> annotated) {
  if (rule.operands.size() != op->getNumOperands() ||
      rule.results.size() != op->getNumResults())
    return op->emitOpError() << "has a sharding rule for " << rule.operands.size()
                             << " operands and " << rule.results.size()
                             << " results, but the op has " << op->getNumOperands()
                             << " and " << op->getNumResults();
  SmallVector<ShardingAttr> current;
  for (Value operand : op->getOperands()) {
    ShardingAttr sharding = info.lookup(operand).sharding;
    current.push_back(sharding ? sharding
                               : ShardingAttr::getReplicated(
                                     op->getContext(),
                                     cast<RankedTensorType>(operand.getType()).getRank()));
  }
  std::string why;
  std::optional<OpShardings> resolved =
      resolveOpShardings(op, rule, current, annotated, mesh, &why);
  if (!resolved)
    return op->emitOpError() << "cannot be partitioned as annotated: " << why;
  for (unsigned i = 0, e = op->getNumOperands(); i < e; ++i)
    if (failed(reshardOperand(op, i, resolved->operands[i])))
      return failure();
  SmallVector<RankedTensorType> globalTypes;
  for (OpResult result : op->getResults()) {
    unsigned i = result.getResultNumber();
    ShardingAttr sharding = resolved->produced[i];
    auto type = cast<RankedTensorType>(result.getType());
    FailureOr<SmallVector<int64_t>> local = sharding.getLocalShape(mesh, type.getShape());
    if (failed(local))
      return op->emitOpError() << "result " << i << " of type " << type
                               << " cannot be split as " << sharding;
    globalTypes.push_back(type);
    result.setType(RankedTensorType::get(*local, type.getElementType()));
  }
  // Attributes that count blocks of a split factor count the local ones.
  for (const ShardingRule::ScaledAttribute &scaled : rule.scaledAttributes) {
    auto global = op->getAttrOfType<IntegerAttr>(scaled.name);
    int64_t parts = 1;
    for (StringRef axis : resolved->factorAxes[scaled.factor])
      parts *= mesh.getAxisSize(axis);
    if (!global || global.getInt() % parts != 0)
      return op->emitOpError() << "attribute '" << scaled.name
                               << "' does not divide into " << parts << " parts";
    op->setAttr(scaled.name, IntegerAttr::get(global.getType(), global.getInt() / parts));
  }
  // A legal split (ShardingRule::whyIllegal) gives a valid local op; if not,
  // the op's rule is wrong, which is a bug of pmc.
  if (failed(mlir::verify(op, /*verifyRecursively=*/false))) {
    op->emitOpError("is invalid with its local (per-rank) types: internal error, "
                    "the op's sharding rule allows a split the op does not (please "
                    "report it with this program)");
    return failure();
  }
  return finishResults(op, resolved->produced, annotated, globalTypes);
}

namespace {
struct PMCPartitionPass : mlir::pmc::impl::PMCPartitionBase<PMCPartitionPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto mesh = module->getAttrOfType<MeshAttr>(kMeshAttrName);
    if (!mesh) {
      module.emitError() << "pmc-partition needs a '" << kMeshAttrName
                         << "' attribute on the module";
      return signalPassFailure();
    }
    for (auto func : module.getOps<func::FuncOp>())
      if (failed(Partitioner(func, mesh).run()))
        return signalPassFailure();
  }
};
} // namespace
