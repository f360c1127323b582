//===- Reshard.cpp - plans and emits conversions between shardings --------===//
#include "pmc/Parallel/Partition/Reshard.h"
#include "pmc/Dialect/PMC/IR/PMCOps.h"

#include "llvm/ADT/STLExtras.h"

using namespace mlir;
using namespace mlir::pmc;

namespace {
/// A sharding as plain vectors, edited step by step while planning.
struct Layout {
  SmallVector<SmallVector<StringRef>> dims;
  SmallVector<StringRef> partial;
  PartialKind kind = PartialKind::Sum;

  explicit Layout(ShardingAttr sharding) : kind(sharding.getPartialKind()) {
    for (int64_t d = 0; d < sharding.getRank(); ++d)
      dims.push_back(sharding.getDimAxes(d));
    for (StringAttr axis : sharding.getPartialAxes())
      partial.push_back(axis.getValue());
  }

  /// The dimension whose split uses `axis`, or -1.
  int64_t dimOf(StringRef axis) const {
    for (auto [d, axes] : llvm::enumerate(dims))
      if (llvm::is_contained(axes, axis))
        return d;
    return -1;
  }
  bool isUsed(StringRef axis) const {
    return dimOf(axis) >= 0 || llvm::is_contained(partial, axis);
  }
};

/// Whether `prefix` is a prefix of `axes`.
bool isPrefix(ArrayRef<StringRef> prefix, ArrayRef<StringRef> axes) {
  return prefix.size() <= axes.size() && prefix == axes.take_front(prefix.size());
}

StringRef reductionName(PartialKind kind) {
  return kind == PartialKind::Max ? "max" : "sum";
}
} // namespace

FailureOr<SmallVector<ReshardStep>>
mlir::pmc::planReshard(ShardingAttr source, ShardingAttr target, MeshAttr mesh,
                       ArrayRef<int64_t> globalShape,
                       function_ref<InFlightDiagnostic()> emitError) {
  if (failed(source.verifyFor(mesh, globalShape, emitError)) ||
      failed(target.verifyFor(mesh, globalShape, emitError)))
    return failure();
  Layout cur(source);
  const Layout want(target);
  SmallVector<ReshardStep> plan;

  // 1. Pending partial axes the target does not keep. Axes the target is
  // partial on and the source is not become shares at the end (step 3).
  if (!cur.partial.empty() && !want.partial.empty() && cur.kind != want.kind)
    return emitError() << "cannot reshard " << source << " to " << target
                       << ": the source and the target wait for different reductions";
  SmallVector<StringRef> toShare;
  for (StringRef axis : want.partial)
    if (!llvm::is_contained(cur.partial, axis))
      toShare.push_back(axis);
  SmallVector<StringRef> toReduce;
  for (StringRef axis : cur.partial)
    if (!llvm::is_contained(want.partial, axis))
      toReduce.push_back(axis);
  // reduce_scatter where a dimension's next wanted axes are pending partials.
  for (int64_t d = 0, e = cur.dims.size(); d < e && !toReduce.empty(); ++d) {
    if (!isPrefix(cur.dims[d], want.dims[d]))
      continue;
    SmallVector<StringRef> run;
    for (StringRef axis : ArrayRef(want.dims[d]).drop_front(cur.dims[d].size())) {
      if (!llvm::is_contained(toReduce, axis))
        break;
      run.push_back(axis);
    }
    if (run.empty())
      continue;
    ReshardStep step{ReshardStep::Kind::ReduceScatter, run};
    step.dim = d;
    step.reduction = cur.kind;
    plan.push_back(step);
    llvm::append_range(cur.dims[d], run);
    for (StringRef axis : run)
      llvm::erase(toReduce, axis);
  }
  if (!toReduce.empty()) {
    ReshardStep step{ReshardStep::Kind::AllReduce, toReduce};
    step.reduction = cur.kind;
    plan.push_back(step);
  }
  cur.partial = want.partial;

  // 2. Move, slice and gather until every dimension is split as wanted.
  int64_t rank = cur.dims.size();
  auto nextWanted = [&](int64_t d) -> std::optional<StringRef> {
    if (!isPrefix(cur.dims[d], want.dims[d]) ||
        cur.dims[d].size() == want.dims[d].size())
      return std::nullopt;
    return want.dims[d][cur.dims[d].size()];
  };
  for (int64_t guard = 0; cur.dims != want.dims; ++guard) {
    if (guard > 4 * (int64_t)mesh.getNames().size() + 4)
      return emitError() << "resharding " << source << " to " << target
                         << " did not converge (an internal error)";
    // a. all_to_all: the innermost axis of dimension e moves to dimension d.
    bool progressed = false;
    for (int64_t d = 0; d < rank && !progressed; ++d) {
      std::optional<StringRef> axis = nextWanted(d);
      if (!axis)
        continue;
      int64_t e = cur.dimOf(*axis);
      if (e < 0 || e == d || cur.dims[e].back() != *axis ||
          isPrefix(cur.dims[e], want.dims[e]))
        continue;
      ReshardStep step{ReshardStep::Kind::AllToAll, {*axis}};
      step.dim = d;
      step.concatDim = e;
      plan.push_back(step);
      cur.dims[e].pop_back();
      cur.dims[d].push_back(*axis);
      progressed = true;
    }
    if (progressed)
      continue;
    // b. pmc.shard: axes nothing uses yet, appended where they are wanted.
    ReshardStep slice{ReshardStep::Kind::Shard, {}};
    slice.shardDims.resize(rank);
    for (int64_t d = 0; d < rank; ++d) {
      while (std::optional<StringRef> axis = nextWanted(d)) {
        if (cur.isUsed(*axis))
          break;
        slice.shardDims[d].push_back(*axis);
        cur.dims[d].push_back(*axis);
        progressed = true;
      }
    }
    if (progressed) {
      plan.push_back(slice);
      continue;
    }
    // c. all_gather the innermost wrongly placed axes of one dimension.
    for (int64_t d = 0; d < rank && !progressed; ++d) {
      if (isPrefix(cur.dims[d], want.dims[d]))
        continue;
      SmallVector<StringRef> gathered;
      while (!cur.dims[d].empty() && !isPrefix(cur.dims[d], want.dims[d])) {
        StringRef axis = cur.dims[d].back();
        int64_t wantedIn = want.dimOf(axis);
        bool movableLater = wantedIn >= 0 && wantedIn != d;
        // An axis wanted elsewhere goes alone (a later all_to_all may move
        // the next one); otherwise gather as many as possible at once.
        if (movableLater && !gathered.empty())
          break;
        gathered.insert(gathered.begin(), axis);
        cur.dims[d].pop_back();
        if (movableLater)
          break;
      }
      ReshardStep step{ReshardStep::Kind::AllGather, gathered};
      step.dim = d;
      plan.push_back(step);
      progressed = true;
    }
    if (!progressed)
      return emitError() << "resharding " << source << " to " << target
                         << " is stuck (an internal error)";
  }

  // 3. A whole value joins a pending reduction over `toShare`: a sum gets
  // 1/n of it from every rank, a max takes it as it is.
  if (!toShare.empty()) {
    ReshardStep step{ReshardStep::Kind::Share, toShare};
    step.reduction = want.kind;
    plan.push_back(step);
  }
  return plan;
}

FailureOr<Value> mlir::pmc::emitReshard(OpBuilder &builder, Location loc, Value value,
                                        RankedTensorType globalType,
                                        ShardingAttr source, ShardingAttr target,
                                        MeshAttr mesh,
                                        function_ref<InFlightDiagnostic()> emitError) {
  if (source == target)
    return value;
  FailureOr<SmallVector<ReshardStep>> plan =
      planReshard(source, target, mesh, globalType.getShape(), emitError);
  if (failed(plan))
    return failure();
  SmallVector<int64_t> shape(cast<RankedTensorType>(value.getType()).getShape());
  Type elementType = globalType.getElementType();
  auto groupSize = [&](ArrayRef<StringRef> axes) {
    int64_t size = 1;
    for (StringRef axis : axes)
      size *= mesh.getAxisSize(axis);
    return size;
  };
  for (const ReshardStep &step : *plan) {
    ArrayAttr axes = builder.getStrArrayAttr(step.axes);
    int64_t group = groupSize(step.axes);
    switch (step.kind) {
    case ReshardStep::Kind::AllReduce:
      value = AllReduceOp::create(builder, loc, value.getType(), value, axes,
                                  builder.getStringAttr(reductionName(step.reduction)));
      continue;
    case ReshardStep::Kind::ReduceScatter:
      shape[step.dim] /= group;
      value = ReduceScatterOp::create(
          builder, loc, RankedTensorType::get(shape, elementType), value, axes,
          builder.getI64IntegerAttr(step.dim),
          builder.getStringAttr(reductionName(step.reduction)));
      continue;
    case ReshardStep::Kind::AllGather:
      shape[step.dim] *= group;
      value = AllGatherOp::create(builder, loc, RankedTensorType::get(shape, elementType),
                                  value, axes, builder.getI64IntegerAttr(step.dim));
      continue;
    case ReshardStep::Kind::AllToAll:
      shape[step.dim] /= group;
      shape[step.concatDim] *= group;
      value = AllToAllOp::create(builder, loc, RankedTensorType::get(shape, elementType),
                                 value, axes, builder.getI64IntegerAttr(step.dim),
                                 builder.getI64IntegerAttr(step.concatDim));
      continue;
    case ReshardStep::Kind::Share: {
      if (step.reduction == PartialKind::Max)
        continue;
      auto floatType = dyn_cast<FloatType>(elementType);
      if (!floatType)
        return emitError() << "cannot make " << globalType
                           << " a pending sum over the mesh axes: only floating-point "
                           << "values can be split into equal shares";
      auto scalarType = RankedTensorType::get({}, elementType);
      Value share = ConstantOp::create(
          builder, loc, scalarType,
          DenseElementsAttr::get(scalarType, FloatAttr::get(floatType, 1.0 / group)));
      value = MulOp::create(builder, loc, value.getType(), value, share);
      continue;
    }
    case ReshardStep::Kind::Shard: {
      for (auto [d, dimAxes] : llvm::enumerate(step.shardDims))
        shape[d] /= groupSize(dimAxes);
      auto sharding = ShardingAttr::get(builder.getContext(), step.shardDims);
      value = ShardOp::create(builder, loc, RankedTensorType::get(shape, elementType),
                              value, sharding);
      continue;
    }
    }
  }
  return value;
}

void mlir::pmc::printReshardPlan(ArrayRef<ReshardStep> plan, llvm::raw_ostream &os) {
  auto printAxes = [&](ArrayRef<StringRef> axes) {
    os << "{";
    llvm::interleaveComma(axes, os);
    os << "}";
  };
  llvm::interleave(
      plan, os,
      [&](const ReshardStep &step) {
        switch (step.kind) {
        case ReshardStep::Kind::AllReduce:
          os << "all_reduce";
          printAxes(step.axes);
          return;
        case ReshardStep::Kind::ReduceScatter:
          os << "reduce_scatter";
          printAxes(step.axes);
          os << "@" << step.dim;
          return;
        case ReshardStep::Kind::AllGather:
          os << "all_gather";
          printAxes(step.axes);
          os << "@" << step.dim;
          return;
        case ReshardStep::Kind::AllToAll:
          os << "all_to_all";
          printAxes(step.axes);
          os << "@" << step.concatDim << "->" << step.dim;
          return;
        case ReshardStep::Kind::Share:
          os << "share";
          printAxes(step.axes);
          return;
        case ReshardStep::Kind::Shard:
          os << "shard[";
          llvm::interleaveComma(step.shardDims, os,
                                [&](const SmallVector<StringRef> &axes) { printAxes(axes); });
          os << "]";
          return;
        }
      },
      "; ");
}

bool mlir::pmc::reshardsAtEachUse(Value value) {
  if (auto cast = value.getDefiningOp<CastOp>())
    value = cast.getInput();
  auto arg = dyn_cast<BlockArgument>(value);
  if (!arg)
    return false;
  auto func = dyn_cast<func::FuncOp>(arg.getOwner()->getParentOp());
  return func && func.getArgAttr(arg.getArgNumber(), kParameterAttrName);
}
