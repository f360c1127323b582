//===- ShardingRule.cpp - the ShardingRule structure and its interface -----===//
#include "pmc/Dialect/PMC/IR/ShardingRule.h"
#include "pmc/Dialect/PMC/IR/PMCOps.h"

using namespace mlir;
using namespace mlir::pmc;

#include "pmc/Dialect/PMC/IR/PMCInterfaces.cpp.inc"

/// Factor names: i, j, k, ..., z, then z1, z2, ...
static std::string factorName(int64_t index) {
  static constexpr llvm::StringLiteral letters = "ijklmnopqrstuvwxyz";
  if (index < (int64_t)letters.size())
    return std::string(1, letters[index]);
  return "z" + std::to_string(index - letters.size() + 1);
}

void ShardingRule::print(llvm::raw_ostream &os) const {
  auto printTensors = [&](ArrayRef<TensorFactors> tensors) {
    os << "(";
    llvm::interleaveComma(tensors, os, [&](const TensorFactors &dims) {
      os << "[";
      llvm::interleaveComma(dims, os, [&](const DimFactors &factorsOfDim) {
        if (factorsOfDim.empty())
          os << "1";
        llvm::interleave(
            factorsOfDim, os, [&](int64_t f) { os << factorName(f); }, " ");
      });
      os << "]";
    });
    os << ")";
  };
  printTensors(operands);
  os << " -> ";
  printTensors(results);
  os << " {";
  llvm::interleaveComma(llvm::seq<int64_t>(0, factors.size()), os, [&](int64_t f) {
    os << factorName(f) << "=" << factors[f].size;
  });
  os << "}";
  auto printKind = [&](StringRef label, auto predicate) {
    SmallVector<int64_t> selected;
    for (int64_t f = 0, e = factors.size(); f < e; ++f)
      if (predicate(factors[f]))
        selected.push_back(f);
    if (selected.empty())
      return;
    os << " " << label << "={";
    llvm::interleaveComma(selected, os, [&](int64_t f) { os << factorName(f); });
    os << "}";
  };
  printKind("reduction", [](const Factor &f) {
    return f.kind == FactorKind::Reduction && f.partialKind == PartialKind::Sum;
  });
  printKind("reduction_max", [](const Factor &f) {
    return f.kind == FactorKind::Reduction && f.partialKind == PartialKind::Max;
  });
  printKind("whole", [](const Factor &f) { return f.kind == FactorKind::Whole; });
}

std::optional<ShardingRule> mlir::pmc::getShardingRule(Operation *op) {
  if (auto ruled = dyn_cast<ShardingRuleOpInterface>(op))
    return ruled.getShardingRule();
  return std::nullopt;
}
