//===- ShardingRule.h - factor-based sharding rules of pmc ops --*- C++ -*-===//
//
// One description per op of how its dimensions relate (einsum-like), read by
// sharding propagation, the SPMD partitioner and the cost model alike:
//
//   pmc.matmul  ([m, k], [k, n]) -> ([m, n]) {m=8, k=16, n=4} reduction={k}
//   pmc.add     ([i, j], [j]) -> ([i, j])
//   pmc.reshape ([a, b]) -> ([a, b]) with a reshape of [6x4] to [2x3x4] as
//               ([a b, c]) -> ([a], [b], [c]) (compound factors, major first)
//
#ifndef PMC_DIALECT_PMC_IR_SHARDINGRULE_H
#define PMC_DIALECT_PMC_IR_SHARDINGRULE_H

#include "mlir/IR/Operation.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/raw_ostream.h"

#include <optional>
#include <string>

namespace mlir::pmc {

class MeshAttr;

/// What a pending partial value is waiting for.
enum class PartialKind : uint8_t { Sum, Max };

/// How a factor may be split across devices.
enum class FactorKind : uint8_t {
  /// Every operand and result holding it is split the same way; no
  /// communication (batch dims, matmul m and n, elementwise dims).
  Parallel,
  /// Appears in operands only; splitting it leaves the results partial
  /// (matmul k, reduced dims). The partial kind says sum or max.
  Reduction,
  /// Must not be split: the op needs the whole dimension (a softmax axis, a
  /// gather axis, a sliced or concatenated dimension, a conv window).
  Whole,
};

/// The factors of one op and, for every dimension of every operand and
/// result, the factors it is made of (major first). A dimension made of no
/// factor (a broadcast dimension of size 1) is never split.
struct ShardingRule {
  struct Factor {
    int64_t size;
    FactorKind kind;
    PartialKind partialKind = PartialKind::Sum;
  };
  using DimFactors = llvm::SmallVector<int64_t, 2>;
  using TensorFactors = llvm::SmallVector<DimFactors, 4>;

  /// An integer attribute that counts blocks of a factor (a grouped conv's
  /// `group` counts the blocks of its group factor): splitting the factor into
  /// n parts divides the attribute by n in each rank's op.
  struct ScaledAttribute {
    llvm::StringRef name;
    int64_t factor;
  };

  llvm::SmallVector<Factor> factors;
  llvm::SmallVector<TensorFactors> operands;
  llvm::SmallVector<TensorFactors> results;
  /// Operands the op adds to its result after reducing (a conv's bias). While
  /// a Reduction factor is split, the result is a pending sum over its axes,
  /// and such an operand takes part in it as a share: each rank adds 1/n of it
  /// (a partial-sum operand), so that the sum counts it once.
  llvm::SmallVector<unsigned> addends;
  llvm::SmallVector<ScaledAttribute> scaledAttributes;

  /// The mesh axes each factor is split over, major first (one list per
  /// factor; empty = not split).
  using FactorAxes = llvm::SmallVector<llvm::SmallVector<llvm::StringRef>>;

  /// The one legality check of a factor split, shared by propagation, the
  /// planner, the partitioner and the random plans of the tests: nullopt when
  /// `factorAxes` is a split the partitioner builds, else why not (a Whole
  /// factor split, an axis used twice, a factor size the axes do not divide, a
  /// minor factor of a dimension split before its major ones are split fully,
  /// sum and max reductions split at once). A legal split gives every operand
  /// and result a block split and the op, with its scaled attributes, is valid
  /// on the local types.
  std::optional<std::string> whyIllegal(const FactorAxes &factorAxes,
                                        MeshAttr mesh) const;

  /// Adds a factor and returns its index.
  int64_t addFactor(int64_t size, FactorKind kind = FactorKind::Parallel,
                    PartialKind partialKind = PartialKind::Sum) {
    factors.push_back({size, kind, partialKind});
    return factors.size() - 1;
  }

  /// Prints `([i, k], [k, j]) -> ([i, j]) {i=8, j=4, k=16} reduction={k}`,
  /// naming factors i, j, k, ... in order of first appearance.
  void print(llvm::raw_ostream &os) const;
};

/// The rule of `op`, or nullopt when the op has none (it then blocks
/// propagation and is partitioned only when replicated).
std::optional<ShardingRule> getShardingRule(Operation *op);

/// Attaches the rule of every pmc op (lib/Dialect/PMC/IR/ShardingRules.cpp) as
/// an external model of ShardingRuleOpInterface; PMCDialect::initialize calls it.
void registerShardingRuleModels(MLIRContext *context);

} // namespace mlir::pmc

#endif // PMC_DIALECT_PMC_IR_SHARDINGRULE_H
