//===- CostModel.cpp - roofline, alpha-beta and liveness cost estimates ----===//
#include "pmc/Parallel/CostModel.h"
#include "pmc/Parallel/Partition/OpShardings.h"

#include "pmc/Dialect/PMC/IR/PMCDialect.h"
#include "pmc/Dialect/PMC/IR/PMCOps.h"
#include "pmc/Dialect/PMC/IR/ShardingRule.h"
#include "pmc/Parallel/Partition/Reshard.h"

#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/Format.h"

#include <cmath>

using namespace mlir;
using namespace mlir::pmc;

namespace pp = mlir::pmc;

//===----------------------------------------------------------------------===//
// Topology
//===----------------------------------------------------------------------===//

MeshTopology MeshTopology::map(MeshAttr mesh, const DeviceSpec &spec) {
  MeshTopology topology;
  ArrayRef<int64_t> sizes = mesh.getSizes();
  topology.axisLevel.resize(sizes.size());
  int64_t stride = 1;
  for (int64_t a = sizes.size() - 1; a >= 0; --a) {
    int64_t span = stride * sizes[a];
    unsigned level = spec.levels.size() - 1;
    for (auto [i, l] : llvm::enumerate(spec.levels))
      if (l.devicesPerGroup == 0 || span <= l.devicesPerGroup) {
        level = i;
        break;
      }
    topology.axisLevel[a] = level;
    stride = span;
  }
  return topology;
}

unsigned MeshTopology::levelOf(MeshAttr mesh, ArrayRef<StringRef> axes) const {
  unsigned level = 0;
  for (StringRef axis : axes)
    if (std::optional<unsigned> index = mesh.findAxis(axis))
      level = std::max(level, axisLevel[*index]);
  return level;
}

//===----------------------------------------------------------------------===//
// Collectives
//===----------------------------------------------------------------------===//

CollectiveCost pp::collectiveCost(Collective kind, double bytes,
                                             int64_t groupSize, const LinkLevel &level) {
  if (groupSize <= 1)
    return {};
  double p = groupSize, B = level.bandwidth, a = level.latency;
  double logP = std::ceil(std::log2(p));
  double ring = 0, tree = INFINITY;
  switch (kind) {
  case Collective::AllReduce:
    ring = 2 * (p - 1) / p * bytes / B + 2 * (p - 1) * a;
    tree = 2 * bytes / B + 2 * logP * a;
    break;
  case Collective::AllGather:
  case Collective::ReduceScatter:
    ring = (p - 1) / p * bytes / B + (p - 1) * a;
    tree = (p - 1) / p * bytes / B + logP * a;
    break;
  case Collective::AllToAll:
    ring = (p - 1) / p * bytes / B + (p - 1) * a;
    break;
  }
  if (tree < ring)
    return {tree, CollectiveAlgorithm::Tree};
  return {ring, CollectiveAlgorithm::Ring};
}

static double elementBytes(Type type) {
  if (auto shaped = dyn_cast<ShapedType>(type))
    type = shaped.getElementType();
  unsigned bits = type.isIntOrFloat() ? type.getIntOrFloatBitWidth() : 32;
  return std::max(1u, (bits + 7) / 8);
}

static double product(ArrayRef<int64_t> shape) {
  double n = 1;
  for (int64_t s : shape)
    n *= s;
  return n;
}

/// Equal splits and pending reductions (attributes spelled differently, e.g.
/// a default partial kind written out or not, compare equal).
static bool sameSharding(ShardingAttr a, ShardingAttr b) {
  if (a == b)
    return true;
  if (a.getRank() != b.getRank() || a.getPartialAxes() != b.getPartialAxes() ||
      (a.isPartial() && a.getPartialKind() != b.getPartialKind()))
    return false;
  for (int64_t d = 0; d < a.getRank(); ++d)
    if (a.getDimAxes(d) != b.getDimAxes(d))
      return false;
  return true;
}

FailureOr<CommCost> pp::reshardCost(
    ShardingAttr source, ShardingAttr target, MeshAttr mesh, ArrayRef<int64_t> globalShape,
    Type elementType, const DeviceSpec &spec, const MeshTopology &topology,
    llvm::function_ref<InFlightDiagnostic()> emitError) {
  CommCost cost;
  if (sameSharding(source, target))
    return cost;
  FailureOr<SmallVector<ReshardStep>> plan =
      planReshard(source, target, mesh, globalShape, emitError);
  if (failed(plan))
    return failure();
  FailureOr<SmallVector<int64_t>> local = source.getLocalShape(mesh, globalShape);
  if (failed(local)) {
    emitError() << "sharding " << source << " does not divide the shape";
    return failure();
  }
  SmallVector<int64_t> shape = *local;
  double elemBytes = elementBytes(elementType);
  for (const ReshardStep &step : *plan) {
    int64_t group = 1;
    for (StringRef axis : step.axes)
      group *= mesh.getAxisSize(axis);
    const LinkLevel &level = spec.levels[topology.levelOf(mesh, step.axes)];
    double before = product(shape) * elemBytes, n = before, sentFactor = 0;
    Collective kind = Collective::AllReduce;
    switch (step.kind) {
    case ReshardStep::Kind::AllReduce:
      sentFactor = 2.0 * (group - 1) / group;
      break;
    case ReshardStep::Kind::ReduceScatter:
      kind = Collective::ReduceScatter;
      shape[step.dim] /= group;
      sentFactor = double(group - 1) / group;
      break;
    case ReshardStep::Kind::AllGather:
      kind = Collective::AllGather;
      shape[step.dim] *= group;
      n = before * group;
      sentFactor = double(group - 1) / group;
      break;
    case ReshardStep::Kind::AllToAll:
      kind = Collective::AllToAll;
      shape[step.dim] /= group;
      shape[step.concatDim] *= group;
      sentFactor = double(group - 1) / group;
      break;
    case ReshardStep::Kind::Shard:
      for (auto [d, axes] : llvm::enumerate(step.shardDims))
        for (StringRef axis : axes)
          shape[d] /= mesh.getAxisSize(axis);
      continue; // A local slice: no communication.
    case ReshardStep::Kind::Share:
      continue; // A local scaling: no communication.
    }
    cost.seconds += collectiveCost(kind, n, group, level).seconds;
    cost.bytesSent += sentFactor * n;
    cost.collectives += group > 1;
  }
  return cost;
}

//===----------------------------------------------------------------------===//
// Compute
//===----------------------------------------------------------------------===//

static PeakDType peakDTypeOf(Type type, const CostOptions &options) {
  if (auto shaped = dyn_cast<ShapedType>(type))
    type = shaped.getElementType();
  if (type.isF64())
    return PeakDType::F64;
  if (type.isBF16())
    return PeakDType::BF16;
  if (type.isF16())
    return PeakDType::F16;
  if (type.isInteger(8))
    return PeakDType::I8;
  return type.isF32() && options.allowTF32 ? PeakDType::TF32 : PeakDType::F32;
}

OpWork pp::opWork(Operation *op, ArrayRef<SmallVector<int64_t>> operandShapes,
                             ArrayRef<SmallVector<int64_t>> resultShapes,
                             const CostOptions &options) {
  OpWork work;
  auto cost = dyn_cast<CostOpInterface>(op);
  if ((cost && cost.isFree()) || op->getNumResults() == 0) {
    work.free = true;
    return work;
  }
  for (auto [value, shape] : llvm::zip(op->getOperands(), operandShapes))
    work.bytes += product(shape) * elementBytes(value.getType());
  for (auto [value, shape] : llvm::zip(op->getResults(), resultShapes))
    work.bytes += product(shape) * elementBytes(value.getType());
  Type dtypeSource = op->getNumOperands() ? op->getOperand(0).getType()
                                          : op->getResult(0).getType();
  work.dtype = peakDTypeOf(dtypeSource, options);
  work.matrix = cost && cost.usesMatrixUnits();
  work.flops = opFlops(op, operandShapes, resultShapes);
  return work;
}

double pp::rooflineSeconds(const OpWork &work, const DeviceSpec &spec) {
  if (work.free)
    return 0;
  double peak = work.matrix ? spec.peak(work.dtype) : spec.vectorFlops;
  return std::max(work.flops / peak, work.bytes / spec.memoryBandwidth) +
         spec.launchOverhead;
}

namespace {
/// Walks a function in program order, pricing each op and tracking liveness.
class Estimator {
public:
  Estimator(func::FuncOp func, MeshAttr mesh, const DeviceSpec &spec,
            const CostOptions &options, const ShardingMap *overrides)
      : func(func), mesh(mesh), spec(spec), options(options), overrides(overrides),
        topology(MeshTopology::map(mesh, spec)) {}
  FailureOr<CostEstimate> run();

private:
  /// The target sharding of `value` (override, annotation, or replicated).
  ShardingAttr targetOf(Value value);
  FailureOr<double> localBytes(Value value, ShardingAttr sharding, Operation *where);
  /// Reshards operand `i` of `op` to `target`; adds to `comm` and returns the
  /// bytes of the resharded copy (0 when none is needed).
  FailureOr<double> reshardOperand(Operation *op, unsigned i, ShardingAttr target,
                                   CommCost &comm);
  LogicalResult estimateOp(Operation *op);

  func::FuncOp func;
  MeshAttr mesh;
  const DeviceSpec &spec;
  const CostOptions &options;
  const ShardingMap *overrides;
  MeshTopology topology;
  /// What each value holds on a device now.
  DenseMap<Value, ShardingAttr> held;
  /// Live activation bytes per value, and the op of its last use.
  DenseMap<Value, double> liveBytes;
  DenseMap<Value, Operation *> lastUse;
  /// A train step's state updates (kStateUpdateAttrName results): the
  /// runtime writes them beside their arguments (in the arena) and copies
  /// them over the state when the step ends, so they are live from their op
  /// to the end.
  llvm::DenseSet<Value> stateUpdates;
  /// Gradients (results of kGradientOfAttrName ops), live as any value.
  llvm::DenseSet<Value> gradients;
  /// Live bytes: all values; of them gradients and state updates.
  double live = 0, liveGradients = 0, liveUpdates = 0;
  /// The most bytes live at once (what the breakdown describes).
  double peakTransientBytes = 0;
  CostEstimate estimate;
};
} // namespace

ShardingAttr Estimator::targetOf(Value value) {
  if (overrides)
    if (ShardingAttr s = overrides->lookup(value))
      return s;
  ShardingAttr sharding;
  if (auto arg = dyn_cast<BlockArgument>(value)) {
    sharding = func.getArgAttrOfType<ShardingAttr>(arg.getArgNumber(), kShardingAttrName);
  } else {
    auto result = cast<OpResult>(value);
    if (auto array = result.getOwner()->getAttrOfType<ArrayAttr>(kShardingsAttrName))
      if (result.getResultNumber() < array.size())
        sharding = dyn_cast<ShardingAttr>(array[result.getResultNumber()]);
  }
  if (!sharding)
    sharding = ShardingAttr::getReplicated(value.getContext(),
                                           cast<RankedTensorType>(value.getType()).getRank());
  return sharding;
}

FailureOr<double> Estimator::localBytes(Value value, ShardingAttr sharding,
                                        Operation *where) {
  auto type = cast<RankedTensorType>(value.getType());
  FailureOr<SmallVector<int64_t>> local = sharding.getLocalShape(mesh, type.getShape());
  if (failed(local)) {
    where->emitOpError() << "cannot split a value of type " << type << " as " << sharding;
    return failure();
  }
  return product(*local) * elementBytes(type);
}

FailureOr<double> Estimator::reshardOperand(Operation *op, unsigned i, ShardingAttr target,
                                            CommCost &comm) {
  Value value = op->getOperand(i);
  ShardingAttr source = held.lookup(value);
  if (sameSharding(source, target))
    return 0.0;
  auto type = cast<RankedTensorType>(value.getType());
  FailureOr<CommCost> cost =
      reshardCost(source, target, mesh, type.getShape(), type.getElementType(), spec,
                  topology, [&] { return op->emitOpError() << "operand " << i << ": "; });
  if (failed(cost))
    return failure();
  comm += *cost;
  return localBytes(value, target, op);
}

LogicalResult Estimator::estimateOp(Operation *op) {
  OpCost cost;
  cost.op = op;
  double transient = 0;
  auto ret = dyn_cast<func::ReturnOp>(op);
  SmallVector<ShardingAttr> needed, produced, annotated;
  for (OpResult result : op->getResults()) {
    if (!isa<RankedTensorType>(result.getType()))
      return op->emitOpError() << "result " << result.getResultNumber()
                               << " is not a ranked tensor";
    annotated.push_back(targetOf(result));
  }
  if (ret) {
    for (OpOperand &operand : op->getOpOperands()) {
      auto s = func.getResultAttrOfType<ShardingAttr>(operand.getOperandNumber(),
                                                      kShardingAttrName);
      needed.push_back(s ? s
                         : ShardingAttr::getReplicated(
                               op->getContext(),
                               cast<RankedTensorType>(operand.get().getType()).getRank()));
    }
  } else {
    std::optional<OpShardings> resolved;
    if (std::optional<ShardingRule> rule = getShardingRule(op);
        rule && !isa<ConstantOp>(op) && rule->operands.size() == op->getNumOperands() &&
        rule->results.size() == op->getNumResults()) {
      SmallVector<ShardingAttr> current =
          llvm::map_to_vector(op->getOperands(), [&](Value v) { return held.lookup(v); });
      std::string why;
      resolved = resolveOpShardings(op, *rule, current, annotated, mesh, &why);
      // The partitioner would refuse this op as well: never price a plan it
      // cannot build.
      if (!resolved)
        return op->emitOpError() << "cannot be partitioned as annotated: " << why;
    }
    if (resolved) {
      needed = resolved->operands;
      produced = resolved->produced;
    } else if (isa<ConstantOp>(op)) {
      // Weights are stored per rank already sliced (weight sections).
      produced = annotated;
    } else {
      for (Value v : op->getOperands())
        needed.push_back(ShardingAttr::getReplicated(
            op->getContext(), cast<RankedTensorType>(v.getType()).getRank()));
      for (Value v : op->getResults())
        produced.push_back(ShardingAttr::getReplicated(
            op->getContext(), cast<RankedTensorType>(v.getType()).getRank()));
    }
  }

  SmallVector<SmallVector<int64_t>> operandShapes, resultShapes;
  for (auto [i, target] : llvm::enumerate(needed)) {
    Value value = op->getOperand(i);
    if (!held.count(value))
      return op->emitOpError() << "operand " << i << " is not a ranked tensor defined "
                               << "in the function";
    FailureOr<double> copy = reshardOperand(op, i, target, cost.comm);
    if (failed(copy))
      return failure();
    transient += *copy;
    auto type = cast<RankedTensorType>(value.getType());
    operandShapes.push_back(*target.getLocalShape(mesh, type.getShape()));
  }
  if (ret) {
    cost.work.free = true;
    estimate.ops.push_back(cost);
    estimate.commS += cost.comm.seconds;
    return success();
  }

  // Results: produced, then resharded to their annotation.
  double resultBytes = 0, gradientResultBytes = 0, updateResultBytes = 0;
  for (OpResult result : op->getResults()) {
    unsigned i = result.getResultNumber();
    auto type = cast<RankedTensorType>(result.getType());
    if (failed(annotated[i].verifyFor(mesh, type.getShape(), [&] {
          return op->emitOpError() << "result " << i << ": ";
        })))
      return failure();
    FailureOr<SmallVector<int64_t>> local =
        produced[i].getLocalShape(mesh, type.getShape());
    if (failed(local))
      return op->emitOpError() << "result " << i << " of type " << type
                               << " cannot be split as " << produced[i];
    resultShapes.push_back(*local);
    if (!sameSharding(produced[i], annotated[i]) && !result.use_empty()) {
      FailureOr<CommCost> c = reshardCost(
          produced[i], annotated[i], mesh, type.getShape(), type.getElementType(), spec,
          topology, [&] { return op->emitOpError() << "result " << i << ": "; });
      if (failed(c))
        return failure();
      cost.comm += *c;
      transient += product(*local) * elementBytes(type);
    }
    held[result] = annotated[i];
    FailureOr<double> bytes = localBytes(result, annotated[i], op);
    if (failed(bytes))
      return failure();
    cost.resultBytes += *bytes;
    if (isa<ConstantOp>(op)) {
      estimate.memory.weightBytes += *bytes;
    } else if (lastUse.count(result)) {
      liveBytes[result] = *bytes;
      resultBytes += *bytes;
      if (op->hasAttr(kGradientOfAttrName)) {
        gradients.insert(result);
        gradientResultBytes += *bytes;
      }
      if (stateUpdates.contains(result))
        updateResultBytes += *bytes;
    }
  }
  cost.work = opWork(op, operandShapes, resultShapes, options);
  cost.computeS = rooflineSeconds(cost.work, spec);

  // Memory while the op runs: what is live, its resharded copies and results.
  double during = live + transient + resultBytes;
  cost.liveBytes = during;
  MemoryBreakdown &memory = estimate.memory;
  if (during > peakTransientBytes) {
    peakTransientBytes = during;
    memory.gradientBytes = liveGradients + gradientResultBytes;
    memory.stateUpdateBytes = liveUpdates + updateResultBytes;
    memory.peakActivationBytes = during - memory.gradientBytes - memory.stateUpdateBytes;
    memory.peakOp = op;
  }
  live += resultBytes;
  liveGradients += gradientResultBytes;
  liveUpdates += updateResultBytes;
  for (Value operand : op->getOperands())
    if (lastUse.lookup(operand) == op) {
      double bytes = liveBytes.lookup(operand);
      live -= bytes;
      if (gradients.contains(operand))
        liveGradients -= bytes;
      liveBytes.erase(operand);
    }
  estimate.computeS += cost.computeS;
  estimate.commS += cost.comm.seconds;
  estimate.ops.push_back(cost);
  return success();
}

FailureOr<CostEstimate> Estimator::run() {
  if (func.isExternal() || !func.getBody().hasOneBlock())
    return func.emitOpError("must have a body of a single block to be estimated");
  Block &body = func.getBody().front();
  // Last uses (the return keeps the function results alive to the end).
  for (Operation &op : body)
    for (Value operand : op.getOperands())
      lastUse[operand] = &op;
  for (BlockArgument arg : body.getArguments()) {
    if (!isa<RankedTensorType>(arg.getType()))
      return func.emitOpError() << "argument " << arg.getArgNumber()
                                << " is not a ranked tensor";
    ShardingAttr sharding = targetOf(arg);
    if (failed(sharding.verifyFor(mesh, cast<RankedTensorType>(arg.getType()).getShape(),
                                  [&] {
                                    return func.emitOpError()
                                           << "argument " << arg.getArgNumber() << ": ";
                                  })))
      return failure();
    held[arg] = sharding;
    double bytes = *localBytes(arg, sharding, func);
    if (func.getArgAttr(arg.getArgNumber(), kParameterAttrName)) {
      estimate.memory.weightBytes += bytes;
    } else if (func.getArgAttr(arg.getArgNumber(), kOptimizerStateAttrName)) {
      estimate.memory.optimizerStateBytes += bytes;
    } else {
      liveBytes[arg] = bytes;
      live += bytes;
    }
  }
  for (auto [i, returned] : llvm::enumerate(body.getTerminator()->getOperands()))
    if (func.getResultAttr(i, kStateUpdateAttrName))
      stateUpdates.insert(returned);
  estimate.memory.peakActivationBytes = peakTransientBytes = live;
  for (Operation &op : body) {
    if (op.getNumRegions() != 0)
      return op.emitOpError("has regions, which the cost model does not handle");
    if (failed(estimateOp(&op)))
      return failure();
  }
  estimate.stepTimeS = estimate.computeS + estimate.commS;
  estimate.memory.activationMultiplier = options.activationMultiplier;
  estimate.memoryPerDeviceBytes.assign(mesh.getNumDevices(), estimate.memory.totalBytes());
  return std::move(estimate);
}

FailureOr<CostEstimate> pp::estimateCost(func::FuncOp func, MeshAttr mesh,
                                                    const DeviceSpec &spec,
                                                    const CostOptions &options,
                                                    const ShardingMap *shardings) {
  return Estimator(func, mesh, spec, options, shardings).run();
}

StringRef pp::stringifySchedule(PipelineSchedule schedule) {
  return schedule == PipelineSchedule::GPipe ? "gpipe" : "1f1b";
}

double pp::inFlightMicrobatches(PipelineSchedule schedule, int64_t stages,
                                int64_t microbatches) {
  if (schedule == PipelineSchedule::GPipe)
    return static_cast<double>(microbatches);
  return static_cast<double>(std::min(stages, microbatches));
}

double pp::sendRecvSeconds(double bytes, const LinkLevel &level) {
  if (bytes <= 0)
    return 0;
  return level.latency + bytes / level.bandwidth;
}

PipelineTime pp::pipelineTime(ArrayRef<double> stageSeconds, ArrayRef<double> sendSeconds,
                              int64_t microbatches) {
  PipelineTime time;
  int64_t stages = static_cast<int64_t>(stageSeconds.size());
  if (stages == 0 || microbatches < 1)
    return time;
  for (int64_t s = 0; s < stages; ++s) {
    double step = stageSeconds[s] + (s < (int64_t)sendSeconds.size() ? sendSeconds[s] : 0);
    if (step > time.stageStepS) {
      time.stageStepS = step;
      time.bottleneck = static_cast<unsigned>(s);
    }
  }
  double steps = static_cast<double>(microbatches + stages - 1);
  time.stepTimeS = steps * time.stageStepS;
  time.bubbleFraction = static_cast<double>(stages - 1) / steps;
  return time;
}

void pp::printCostEstimate(const CostEstimate &estimate, llvm::raw_ostream &os) {
  os << llvm::format("%-20s %12s %12s %12s %12s %5s\n", "op", "GFLOP", "MB",
                     "compute us", "comm us", "coll");
  for (const OpCost &cost : estimate.ops)
    os << llvm::format("%-20s %12.4f %12.4f %12.3f %12.3f %5u\n",
                       cost.op->getName().getStringRef().str().c_str(),
                       cost.work.flops / 1e9, cost.work.bytes / 1e6, cost.computeS * 1e6,
                       cost.comm.seconds * 1e6, cost.comm.collectives);
  os << llvm::format("compute %.3f us, comm %.3f us, step %.3f us\n",
                     estimate.computeS * 1e6, estimate.commS * 1e6,
                     estimate.stepTimeS * 1e6);
  os << llvm::format("memory per device: weights %.0f B, peak activations %.0f B x %g, "
                     "total %.0f B\n",
                     estimate.memory.weightBytes, estimate.memory.peakActivationBytes,
                     estimate.memory.activationMultiplier, estimate.memory.totalBytes());
}
