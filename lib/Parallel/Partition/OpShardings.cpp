//===- OpShardings.cpp - resolving an op's factors into shardings ----------===//
#include "pmc/Parallel/Partition/OpShardings.h"

#include "llvm/ADT/StringSet.h"

using namespace mlir;
using namespace mlir::pmc;

using AxisList = SmallVector<StringRef>;

/// Splits the axes of one dimension among the factors it is made of, major
/// first: a minor factor gets axes only once the major one is split fully
/// (otherwise the ranks' blocks would not be contiguous). Nullopt when the
/// axes do not fit.
static std::optional<SmallVector<AxisList>> splitAmongFactors(ArrayRef<StringRef> axes,
                                                       ArrayRef<int64_t> dimFactors,
                                                       const ShardingRule &rule,
                                                       MeshAttr mesh) {
  SmallVector<AxisList> perFactor(dimFactors.size());
  size_t next = 0;
  for (auto [i, factor] : llvm::enumerate(dimFactors)) {
    int64_t remaining = rule.factors[factor].size;
    while (next < axes.size() && remaining > 1 &&
           remaining % mesh.getAxisSize(axes[next]) == 0) {
      remaining /= mesh.getAxisSize(axes[next]);
      perFactor[i].push_back(axes[next++]);
    }
    if (next < axes.size() && remaining != 1)
      break;
  }
  if (next != axes.size())
    return std::nullopt;
  return perFactor;
}

std::optional<OpShardings> mlir::pmc::resolveOpShardings(Operation *op,
                                                       const ShardingRule &rule,
                                                       ArrayRef<ShardingAttr> current,
                                                       ArrayRef<ShardingAttr> annotated,
                                                       MeshAttr mesh, std::string *why) {
  MLIRContext *ctx = op->getContext();
  ShardingRule::FactorAxes factorAxes(rule.factors.size());
  llvm::StringSet<> used;
  // A factor takes the longest prefix of `axes` that keeps the split legal
  // (ShardingRule::whyIllegal): a value annotated with a split the op cannot
  // compute in (a reshape result split on a minor factor whose major one is
  // not split) is produced with less and resharded after the op.
  auto assign = [&](int64_t factor, ArrayRef<StringRef> axes) {
    if (!factorAxes[factor].empty() || axes.empty() ||
        llvm::any_of(axes, [&](StringRef axis) { return used.contains(axis); }))
      return;
    for (StringRef axis : axes) {
      factorAxes[factor].push_back(axis);
      if (rule.whyIllegal(factorAxes, mesh)) {
        factorAxes[factor].pop_back();
        break;
      }
      used.insert(axis);
    }
  };
  for (auto [r, sharding] : llvm::enumerate(annotated))
    for (auto [d, dimFactors] : llvm::enumerate(rule.results[r]))
      if (auto split = splitAmongFactors(sharding.getDimAxes(d), dimFactors, rule, mesh))
        for (auto [factor, axes] : llvm::zip(dimFactors, *split))
          if (rule.factors[factor].kind == FactorKind::Parallel)
            assign(factor, axes);
  auto operandAxesOf = [&](int64_t factor) -> std::optional<AxisList> {
    for (auto [i, operandFactors] : llvm::enumerate(rule.operands))
      for (auto [d, dimFactors] : llvm::enumerate(operandFactors))
        if (dimFactors.size() == 1 && dimFactors[0] == factor &&
            !current[i].getDimAxes(d).empty())
          return current[i].getDimAxes(d);
    return std::nullopt;
  };
  auto fits = [&](int64_t factor, ArrayRef<StringRef> axes) {
    int64_t parts = 1;
    for (StringRef axis : axes)
      parts *= mesh.getAxisSize(axis);
    return rule.factors[factor].size % parts == 0;
  };
  std::optional<PartialKind> partialKind;
  for (ShardingAttr sharding : annotated) {
    if (!sharding.isPartial())
      continue;
    AxisList pending;
    for (StringAttr axis : sharding.getPartialAxes())
      pending.push_back(axis.getValue());
    for (int64_t f = 0, e = rule.factors.size(); f < e && !pending.empty(); ++f) {
      const ShardingRule::Factor &factor = rule.factors[f];
      if (factor.kind != FactorKind::Reduction ||
          factor.partialKind != sharding.getPartialKind() || !factorAxes[f].empty())
        continue;
      AxisList axes;
      if (std::optional<AxisList> cur = operandAxesOf(f))
        for (StringRef axis : *cur)
          if (llvm::is_contained(pending, axis))
            axes.push_back(axis);
      if (axes.empty())
        axes = pending;
      if (!fits(f, axes))
        continue;
      assign(f, axes);
      for (StringRef axis : factorAxes[f])
        llvm::erase(pending, axis);
      if (!factorAxes[f].empty())
        partialKind = factor.partialKind;
    }
  }
  for (int64_t f = 0, e = rule.factors.size(); f < e; ++f) {
    const ShardingRule::Factor &factor = rule.factors[f];
    if (factor.kind != FactorKind::Reduction || !factorAxes[f].empty() ||
        (partialKind && *partialKind != factor.partialKind))
      continue;
    if (std::optional<AxisList> cur = operandAxesOf(f))
      if (fits(f, *cur)) {
        assign(f, *cur);
        if (!factorAxes[f].empty())
          partialKind = factor.partialKind;
      }
  }
  if (std::optional<std::string> illegal = rule.whyIllegal(factorAxes, mesh)) {
    if (why)
      *why = *illegal;
    return std::nullopt;
  }
  return shardingsOfFactors(ctx, rule, factorAxes);
}

OpShardings mlir::pmc::shardingsOfFactors(MLIRContext *context, const ShardingRule &rule,
                                          const ShardingRule::FactorAxes &factorAxes) {
  AxisList partialAxes;
  std::optional<PartialKind> partialKind;
  for (auto [f, factor] : llvm::enumerate(rule.factors))
    if (factor.kind == FactorKind::Reduction && !factorAxes[f].empty()) {
      llvm::append_range(partialAxes, factorAxes[f]);
      partialKind = factor.partialKind;
    }
  auto shardingOf = [&](const ShardingRule::TensorFactors &tensor,
                        ArrayRef<StringRef> partial) {
    SmallVector<AxisList> dims;
    for (const ShardingRule::DimFactors &dimFactors : tensor) {
      AxisList &axes = dims.emplace_back();
      for (int64_t factor : dimFactors)
        llvm::append_range(axes, factorAxes[factor]);
    }
    return ShardingAttr::get(context, dims, partial, partialKind.value_or(PartialKind::Sum));
  };
  OpShardings result;
  result.factorAxes = factorAxes;
  // An addend joins a pending sum as a share; a pending max takes it whole.
  bool sharedAddends = partialKind == PartialKind::Sum;
  for (auto [i, tensor] : llvm::enumerate(rule.operands))
    result.operands.push_back(shardingOf(
        tensor, sharedAddends && llvm::is_contained(rule.addends, i) ? ArrayRef(partialAxes)
                                                                     : ArrayRef<StringRef>()));
  for (const ShardingRule::TensorFactors &tensor : rule.results)
    result.produced.push_back(shardingOf(tensor, partialAxes));
  return result;
}

