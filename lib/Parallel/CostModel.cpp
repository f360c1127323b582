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
#include <functional>
#include <limits>
#include <optional>

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
/// A buffer of the memory walk (Estimator::measureMemory): a value in one
/// sharding and, for a copy made at each use (reshardsAtEachUse), the index
/// of its use (0 otherwise).
struct BufferKey {
  Value value;
  Attribute sharding;
  unsigned use = 0;
  bool operator==(const BufferKey &other) const {
    return value == other.value && sharding == other.sharding && use == other.use;
  }
};
} // namespace

namespace llvm {
template <> struct DenseMapInfo<BufferKey> {
  static BufferKey getEmptyKey() { return {DenseMapInfo<Value>::getEmptyKey(), {}, 0}; }
  static BufferKey getTombstoneKey() {
    return {DenseMapInfo<Value>::getTombstoneKey(), {}, 0};
  }
  static unsigned getHashValue(const BufferKey &key) {
    return hash_combine(key.value.getAsOpaquePointer(), key.sharding.getAsOpaquePointer(),
                        key.use);
  }
  static bool isEqual(const BufferKey &a, const BufferKey &b) { return a == b; }
};
} // namespace llvm

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
  /// The memory walk over the recorded ops (see OpRecord).
  void measureMemory();
  /// Where the runtime holds the reductions of partial values
  /// (OpRecord::reductions): each starts where its value is made, alone or
  /// in a bucket, and is waited for before its first reader.
  struct HoistedReductions {
    /// Event from which each reduced copy lives.
    llvm::DenseMap<BufferKey, int> copyBirth;
    /// Event to which each reduced source lives (at least).
    llvm::DenseMap<BufferKey, int> sourceDeath;
    /// Bytes held from `birth` to `death` beside the buffers: a bucket's
    /// concatenation and its reduction, a result's partial value.
    struct Span {
      double bytes = 0;
      int birth = 0, death = 0;
    };
    SmallVector<Span> spans;
  };
  HoistedReductions placeReductions(ArrayRef<int> recordEvent,
                                    const DenseMap<Operation *, int> &eventOf,
                                    ArrayRef<bool> isView);

  func::FuncOp func;
  MeshAttr mesh;
  const DeviceSpec &spec;
  const CostOptions &options;
  const ShardingMap *overrides;
  MeshTopology topology;
  /// What each value holds on a device now.
  DenseMap<Value, ShardingAttr> held;
  /// A train step's state updates (kStateUpdateAttrName results): the
  /// runtime writes them beside their arguments (in the arena) and copies
  /// them over the state when the step ends, so they are live from their op
  /// to the end.
  llvm::DenseSet<Value> stateUpdates;

  /// Memory is measured on the program the runtime will run, not on this
  /// one: the partitioner's resharded copies are values of their own, cached
  /// per (value, sharding) and live to their last reader; the ops between
  /// two runtime commands (library calls, collectives, constants, reshapes
  /// of their inputs) become one kernel (pmc-outline-kernels), whose
  /// intermediates never reach the arena and whose outputs all appear when
  /// it runs; and a reshape outside a kernel is a view of its input.
  struct OpRecord {
    Operation *op = nullptr;
    /// The buffers it reads (its operands, directly or as copies).
    SmallVector<BufferKey> reads;
    /// The buffers the collectives before it read (the sources of its copies).
    SmallVector<BufferKey> copySources;
    /// Copies made for it, the first time the (value, sharding) is needed.
    SmallVector<std::pair<BufferKey, double>> copies;
    /// Those copies that reduce a partial value (all-reduce or
    /// reduce-scatter): the program starts them where the value is made
    /// (pmc-hoist-collectives) and all-reduces share buckets
    /// (pmc-combine-all-reduces); see measureMemory.
    struct Reduction {
      /// The reduced buffer: a copy, or a result resharded right after
      /// the op (whose partial value is then no buffer of its own).
      BufferKey reduced;
      /// The partial buffer a copy reduces; none for a result.
      std::optional<BufferKey> source;
      /// Bytes of the reduced and of the partial value.
      double bytes = 0, partialBytes = 0;
      bool allReduce = false;
      /// What must agree to share a bucket: the partial sharding, the dtype.
      Attribute partial;
      Type element;
    };
    SmallVector<Reduction> reductions;
    /// Its used results, as annotated.
    SmallVector<std::pair<BufferKey, double>> results;
    /// Results produced in another sharding, resharded right after it.
    double transient = 0;
    bool reshardsOperands = false, reshardsResults = false;
  };
  std::vector<OpRecord> records;
  llvm::DenseSet<BufferKey> copied;
  /// Arguments other than state, live to their last reader (a pipeline
  /// stage that does not read an input does not hold it).
  SmallVector<std::pair<BufferKey, double>> argumentBuffers;
  /// The library calls' scratch (a convolution's unfolded input), which a
  /// rank allocates once, for the largest: held all step.
  double scratchBytes = 0;
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
  OpRecord record;
  record.op = op;
  for (auto [i, target] : llvm::enumerate(needed)) {
    Value value = op->getOperand(i);
    if (!held.count(value))
      return op->emitOpError() << "operand " << i << " is not a ranked tensor defined "
                               << "in the function";
    BufferKey source{value, held.lookup(value), 0};
    bool copies = !sameSharding(held.lookup(value), target);
    FailureOr<double> copy = reshardOperand(op, i, target, cost.comm);
    if (failed(copy))
      return failure();
    if (copies) {
      BufferKey key{value, target,
                    reshardsAtEachUse(value) ? unsigned(records.size() + 1) : 0u};
      record.reshardsOperands = true;
      record.copySources.push_back(source);
      record.reads.push_back(key);
      // As the partitioner: one copy per (value, sharding), except for a
      // parameter, copied at each use and freed after it.
      if (reshardsAtEachUse(value) || copied.insert(key).second) {
        record.copies.push_back({key, *copy});
        ShardingAttr from = held.lookup(value);
        if (!from.getPartialAxes().empty() && target.getPartialAxes().empty())
          record.reductions.push_back({key, source, *copy, 0,
                                       /*allReduce=*/from.getDims() == target.getDims(),
                                       from, cast<RankedTensorType>(value.getType()).getElementType()});
      }
    } else {
      record.reads.push_back(source);
    }
    auto type = cast<RankedTensorType>(value.getType());
    operandShapes.push_back(*target.getLocalShape(mesh, type.getShape()));
  }
  if (ret) {
    cost.work.free = true;
    estimate.ops.push_back(cost);
    records.push_back(std::move(record));
    estimate.commS += cost.comm.seconds;
    return success();
  }

  // Results: produced, then resharded to their annotation.
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
      record.transient += product(*local) * elementBytes(type);
      record.reshardsResults = true;
    }
    held[result] = annotated[i];
    FailureOr<double> bytes = localBytes(result, annotated[i], op);
    if (failed(bytes))
      return failure();
    if (!result.use_empty() && !produced[i].getPartialAxes().empty() &&
        annotated[i].getPartialAxes().empty())
      record.reductions.push_back({{result, annotated[i], 0}, std::nullopt, *bytes,
                                   product(*local) * elementBytes(type),
                                   produced[i].getDims() == annotated[i].getDims(),
                                   produced[i], type.getElementType()});
    cost.resultBytes += *bytes;
    if (isa<ConstantOp>(op))
      estimate.memory.weightBytes += *bytes;
    else if (!result.use_empty())
      record.results.push_back({{result, annotated[i], 0}, *bytes});
  }
  cost.work = opWork(op, operandShapes, resultShapes, options);
  cost.computeS = rooflineSeconds(cost.work, spec);
  if (auto conv = dyn_cast<ConvOp>(op); conv && conv.isLibraryCall()) {
    // im2col: (C/g * kernel) x output positions, unless 1x1, unit strides,
    // no padding (the ConvCommand's GEMM then reads the input directly).
    ArrayRef<int64_t> w = operandShapes[1], y = resultShapes[0];
    bool direct = llvm::all_of(w.drop_front(2), [](int64_t k) { return k == 1; }) &&
                  llvm::all_of(conv.getStrides(), [](int64_t v) { return v == 1; }) &&
                  llvm::all_of(conv.getPads(), [](int64_t v) { return v == 0; });
    if (!direct)
      scratchBytes = std::max(scratchBytes, product(w.drop_front(1)) *
                                                product(y.drop_front(2)) *
                                                elementBytes(conv.getType()));
  }
  estimate.computeS += cost.computeS;
  estimate.commS += cost.comm.seconds;
  estimate.ops.push_back(cost);
  records.push_back(std::move(record));
  return success();
}

Estimator::HoistedReductions
Estimator::placeReductions(ArrayRef<int> recordEvent,
                           const DenseMap<Operation *, int> &eventOf,
                           ArrayRef<bool> isView) {
  // Who reads each value; the first real reader looks through views.
  DenseMap<Value, SmallVector<unsigned, 2>> readBy;
  for (auto [j, r] : llvm::enumerate(records))
    for (const BufferKey &key : r.reads)
      readBy[key.value].push_back(j);
  std::function<int(Value)> firstReader = [&](Value value) {
    int first = std::numeric_limits<int>::max();
    for (unsigned j : readBy.lookup(value))
      first = std::min(first, isView[j] ? firstReader(records[j].op->getResult(0))
                                        : recordEvent[j]);
    return first;
  };
  // One reduction the program starts early, alone or in a bucket.
  struct Member {
    const OpRecord::Reduction *reduction;
    int ready, firstReader;
  };
  SmallVector<Member> members;
  for (auto [i, r] : llvm::enumerate(records))
    for (const OpRecord::Reduction &red : r.reductions) {
      if (!red.source) {
        members.push_back({&red, recordEvent[i], firstReader(red.reduced.value)});
        continue;
      }
      Operation *def = red.source->value.getDefiningOp();
      auto it = def ? eventOf.find(def) : eventOf.end();
      if (it != eventOf.end())
        members.push_back({&red, it->second, recordEvent[i]});
    }
  std::stable_sort(members.begin(), members.end(),
                   [](const Member &a, const Member &b) { return a.ready < b.ready; });
  // Buckets as pmc-combine-all-reduces forms them: all-reduces of one kind
  // in the order they are ready, up to bucketBytes, closed when the next is
  // ready only after a member's result is needed.
  struct Start {
    SmallVector<Member> members;
    int ready = -1, wait = 0;
  };
  SmallVector<Start> starts, open;
  for (const Member &m : members) {
    const OpRecord::Reduction &red = *m.reduction;
    if (!red.allReduce || red.bytes > options.bucketBytes || options.bucketBytes <= 0) {
      starts.push_back({{m}});
      continue;
    }
    Start *bucket = nullptr;
    for (Start &o : open)
      if (o.members.front().reduction->partial == red.partial &&
          o.members.front().reduction->element == red.element)
        bucket = &o;
    if (!bucket) {
      open.push_back({{m}});
      continue;
    }
    double total = red.bytes;
    int needed = m.firstReader;
    for (const Member &b : bucket->members) {
      total += b.reduction->bytes;
      needed = std::min(needed, b.firstReader);
    }
    if (total > options.bucketBytes || needed <= m.ready) {
      starts.push_back(std::move(*bucket));
      bucket->members.clear();
    }
    bucket->members.push_back(m);
  }
  starts.append(open.begin(), open.end());
  for (Start &start : starts) {
    start.wait = std::numeric_limits<int>::max();
    for (const Member &m : start.members) {
      start.ready = std::max(start.ready, m.ready);
      start.wait = std::min(start.wait, m.firstReader);
    }
  }
  std::stable_sort(starts.begin(), starts.end(),
                   [](const Start &a, const Start &b) { return a.ready < b.ready; });
  // The runtime keeps at most two in flight (CollectiveOverlap.h).
  constexpr size_t kInFlight = 2;
  for (size_t k = 0; k + kInFlight < starts.size(); ++k)
    starts[k].wait =
        std::min(starts[k].wait, std::max(starts[k].ready, starts[k + kInFlight].ready));
  HoistedReductions placed;
  // The partial value of a member until `until`: a buffer (a copy's
  // source), or, for a result, a span after the op that made it.
  auto holdPartial = [&](const Member &m, int until) {
    if (m.reduction->source)
      placed.sourceDeath[*m.reduction->source] = until;
    else if (until > m.ready)
      placed.spans.push_back({m.reduction->partialBytes, m.ready + 1, until});
  };
  for (const Start &start : starts) {
    if (start.members.size() == 1) {
      const Member &m = start.members.front();
      if (m.reduction->source)
        placed.copyBirth[m.reduction->reduced] = start.ready;
      holdPartial(m, std::min(start.wait, std::numeric_limits<int>::max() - 1));
      continue;
    }
    // Concatenated at `ready` (the partial values die there), reduced into a
    // second buffer, from which every result is sliced out before the first
    // reader of any (`needed`).
    double bytes = 0;
    int needed = std::numeric_limits<int>::max();
    for (const Member &m : start.members)
      needed = std::min(needed, m.firstReader);
    for (const Member &m : start.members) {
      bytes += m.reduction->bytes;
      placed.copyBirth[m.reduction->reduced] = needed;
      holdPartial(m, start.ready);
    }
    placed.spans.push_back({bytes, start.ready, start.wait});
    placed.spans.push_back({bytes, start.ready, needed});
  }
  return placed;
}

void Estimator::measureMemory() {
  // Events in the order the runtime runs them: each runtime command, and
  // each kernel (a run of the other ops, cut where a reshard puts a
  // collective between two ops).
  DenseMap<Operation *, int> eventOf;
  SmallVector<int> recordEvent(records.size()), reshardEvent(records.size(), -1);
  SmallVector<bool> inKernel(records.size());
  int events = 0, run = -1;
  for (auto [i, r] : llvm::enumerate(records)) {
    Operation *op = r.op;
    bool command = isa<ConstantOp, func::ReturnOp>(op);
    if (auto call = dyn_cast<LibraryCallOpInterface>(op))
      command |= call.isLibraryCall();
    if (auto reshape = dyn_cast<ReshapeOp>(op)) {
      Operation *producer = reshape.getInput().getDefiningOp();
      command |= run < 0 || !producer || eventOf.lookup(producer) != run ||
                 !eventOf.count(producer) || r.reshardsOperands;
    }
    if (command || r.reshardsOperands)
      run = -1;
    // The collectives that make its copies run before it.
    if (r.reshardsOperands)
      reshardEvent[i] = events++;
    if (command) {
      recordEvent[i] = events++;
    } else {
      if (run < 0)
        run = events++;
      recordEvent[i] = run;
      inKernel[i] = true;
    }
    eventOf[op] = recordEvent[i];
    if (r.reshardsResults)
      run = -1;
  }

  struct Buffer {
    double bytes = 0;
    int birth = 0, death = 0;
    bool gradient = false, update = false;
  };
  llvm::DenseMap<BufferKey, Buffer> buffers;
  llvm::DenseMap<BufferKey, BufferKey> aliasOf;
  auto resolve = [&](BufferKey key) {
    for (auto it = aliasOf.find(key); it != aliasOf.end(); it = aliasOf.find(key))
      key = it->second;
    return key;
  };
  for (const auto &[key, bytes] : argumentBuffers)
    buffers[key] = {bytes, -1, -1, false, false};
  // Which events read each value (a result only kernel-internal readers
  // read never becomes a buffer).
  DenseMap<Value, SmallVector<int, 4>> readers;
  for (auto [i, r] : llvm::enumerate(records)) {
    for (const BufferKey &key : r.reads)
      readers[key.value].push_back(recordEvent[i]);
    for (const BufferKey &key : r.copySources)
      readers[key.value].push_back(reshardEvent[i]);
  }
  SmallVector<double> transient(events, 0.0);
  SmallVector<Operation *> firstOp(events, nullptr);
  SmallVector<bool> isView(records.size(), false);
  for (auto [i, r] : llvm::enumerate(records)) {
    int e = recordEvent[i];
    transient[e] += r.transient;
    if (!firstOp[e])
      firstOp[e] = r.op;
    if (reshardEvent[i] >= 0 && !firstOp[reshardEvent[i]])
      firstOp[reshardEvent[i]] = r.op;
    for (const auto &[key, bytes] : r.copies)
      buffers[key] = {bytes, reshardEvent[i], reshardEvent[i],
                      key.value.getDefiningOp() &&
                          key.value.getDefiningOp()->hasAttr(kGradientOfAttrName),
                      false};
    if (auto reshape = dyn_cast<ReshapeOp>(r.op);
        reshape && !inKernel[i] && !r.reshardsOperands && !r.reshardsResults &&
        !r.results.empty() && !r.reads.empty()) {
      // A view of its input: the input's buffer lives as long as it does.
      aliasOf[r.results.front().first] = r.reads.front();
      isView[i] = true;
      continue;
    }
    for (const auto &[key, bytes] : r.results) {
      Value value = key.value;
      bool internal = inKernel[i] && !stateUpdates.contains(value) &&
                      llvm::all_of(readers.lookup(value), [&](int at) { return at == e; });
      if (internal)
        continue;
      buffers[key] = {bytes, e, e, r.op->hasAttr(kGradientOfAttrName),
                      stateUpdates.contains(value)};
    }
  }
  HoistedReductions hoisted = placeReductions(recordEvent, eventOf, isView);
  for (auto [i, r] : llvm::enumerate(records)) {
    int at = isa<func::ReturnOp>(r.op) ? events : recordEvent[i];
    auto read = [&](const BufferKey &key, int when) {
      auto it = buffers.find(resolve(key));
      if (it != buffers.end())
        it->second.death = std::max(it->second.death, when);
    };
    for (const BufferKey &key : r.reads)
      read(key, at);
    for (const BufferKey &key : r.copySources)
      if (!hoisted.sourceDeath.count(key))
        read(key, reshardEvent[i]);
  }
  // Started where the value is made: the copy lives from there (from its
  // slice out of the bucket when in one), the source until the collective
  // has it (or the bucket's concatenation).
  for (const auto &[key, birth] : hoisted.copyBirth)
    if (auto it = buffers.find(key); it != buffers.end())
      it->second.birth = birth;
  for (const auto &[key, death] : hoisted.sourceDeath)
    if (auto it = buffers.find(resolve(key)); it != buffers.end())
      it->second.death = std::max(it->second.death, death);
  // The sweep: live bytes per event (born at or before it, dead at or after).
  SmallVector<double> delta(events + 3, 0.0), gradDelta(events + 3, 0.0),
      updateDelta(events + 3, 0.0);
  SmallVector<Buffer> all;
  for (const auto &[key, b] : buffers)
    all.push_back(b);
  for (const HoistedReductions::Span &span : hoisted.spans)
    all.push_back({span.bytes, span.birth, span.death, /*gradient=*/true, false});
  for (const Buffer &b : all) {
    int from = b.birth + 1, to = std::min(b.death, events) + 2; // shifted by one
    delta[from] += b.bytes;
    delta[to] -= b.bytes;
    if (b.gradient) {
      gradDelta[from] += b.bytes;
      gradDelta[to] -= b.bytes;
    }
    if (b.update) {
      updateDelta[from] += b.bytes;
      updateDelta[to] -= b.bytes;
    }
  }
  MemoryBreakdown &memory = estimate.memory;
  double live = delta[0], grads = gradDelta[0], updates = updateDelta[0];
  memory.peakActivationBytes = live + scratchBytes;
  memory.gradientBytes = memory.stateUpdateBytes = 0;
  double peak = live + scratchBytes;
  SmallVector<double> during(events, 0.0);
  for (int e = 0; e < events; ++e) {
    live += delta[e + 1];
    grads += gradDelta[e + 1];
    updates += updateDelta[e + 1];
    during[e] = live + transient[e] + scratchBytes;
    if (during[e] > peak) {
      peak = during[e];
      memory.gradientBytes = grads;
      memory.stateUpdateBytes = updates;
      memory.peakActivationBytes = during[e] - grads - updates;
      memory.peakOp = firstOp[e];
    }
  }
  for (auto [i, cost] : llvm::enumerate(estimate.ops))
    cost.liveBytes = during[recordEvent[i]];
}

FailureOr<CostEstimate> Estimator::run() {
  if (func.isExternal() || !func.getBody().hasOneBlock())
    return func.emitOpError("must have a body of a single block to be estimated");
  Block &body = func.getBody().front();
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
    } else if (!arg.use_empty()) {
      argumentBuffers.push_back({{arg, sharding, 0}, bytes});
    }
  }
  for (auto [i, returned] : llvm::enumerate(body.getTerminator()->getOperands()))
    if (func.getResultAttr(i, kStateUpdateAttrName))
      stateUpdates.insert(returned);
  for (Operation &op : body) {
    if (op.getNumRegions() != 0)
      return op.emitOpError("has regions, which the cost model does not handle");
    if (failed(estimateOp(&op)))
      return failure();
  }
  measureMemory();
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
