//===- ShardingRule.cpp - the ShardingRule structure and its interface -----===//
#include "pmc/Dialect/PMC/IR/ShardingRule.h"
#include "pmc/Dialect/PMC/IR/PMCAttrs.h"
#include "pmc/Dialect/PMC/IR/PMCOps.h"

#include "llvm/ADT/StringSet.h"

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
  if (!addends.empty()) {
    os << " addends={";
    llvm::interleaveComma(addends, os);
    os << "}";
  }
  for (const ScaledAttribute &scaled : scaledAttributes)
    os << " scales " << scaled.name << " by " << factorName(scaled.factor);
}

std::optional<ShardingRule> mlir::pmc::getShardingRule(Operation *op) {
  if (auto ruled = dyn_cast<ShardingRuleOpInterface>(op))
    return ruled.getShardingRule();
  return std::nullopt;
}

std::optional<std::string> ShardingRule::whyIllegal(const FactorAxes &factorAxes,
                                                    MeshAttr mesh) const {
  std::string why;
  llvm::raw_string_ostream os(why);
  auto partsOf = [&](int64_t f) {
    int64_t parts = 1;
    for (StringRef axis : factorAxes[f])
      parts *= mesh.getAxisSize(axis);
    return parts;
  };
  llvm::StringSet<> used;
  std::optional<PartialKind> reduction;
  for (auto [f, factor] : llvm::enumerate(factors)) {
    if (f >= factorAxes.size() || factorAxes[f].empty())
      continue;
    for (StringRef axis : factorAxes[f]) {
      if (!mesh.findAxis(axis)) {
        os << "factor " << factorName(f) << " is split over '" << axis
           << "', which is not an axis of the mesh";
        return why;
      }
      if (!used.insert(axis).second) {
        os << "mesh axis '" << axis << "' splits two factors";
        return why;
      }
    }
    if (factor.kind == FactorKind::Whole) {
      os << "factor " << factorName(f) << " (size " << factor.size
         << ") must stay whole";
      return why;
    }
    if (factor.size % partsOf(f) != 0) {
      os << "factor " << factorName(f) << " of size " << factor.size
         << " does not split into " << partsOf(f) << " parts";
      return why;
    }
    if (factor.kind == FactorKind::Reduction) {
      if (reduction && *reduction != factor.partialKind) {
        os << "a sum and a max reduction cannot both be split";
        return why;
      }
      reduction = factor.partialKind;
    }
  }
  // A minor factor of a dimension may be split only once the factors before
  // it are split completely: otherwise a rank's elements are not one block.
  auto checkTensors = [&](ArrayRef<TensorFactors> tensors,
                          StringRef kind) -> std::optional<std::string> {
    for (auto [t, dims] : llvm::enumerate(tensors))
      for (auto [d, dimFactors] : llvm::enumerate(dims)) {
        bool majorWhole = true;
        for (int64_t f : dimFactors) {
          if (!majorWhole && !factorAxes[f].empty()) {
            os << kind << " " << t << " dimension " << d << ": factor "
               << factorName(f) << " is split inside a factor that is not split "
               << "completely (not a block split)";
            return why;
          }
          majorWhole &= partsOf(f) == factors[f].size;
        }
      }
    return std::nullopt;
  };
  if (auto bad = checkTensors(operands, "operand"))
    return bad;
  if (auto bad = checkTensors(results, "result"))
    return bad;
  for (const ScaledAttribute &scaled : scaledAttributes)
    if (factors[scaled.factor].size % partsOf(scaled.factor) != 0) {
      os << "attribute '" << scaled.name << "' does not divide into "
         << partsOf(scaled.factor) << " parts";
      return why;
    }
  return std::nullopt;
}
