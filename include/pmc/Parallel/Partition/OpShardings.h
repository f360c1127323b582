//===- OpShardings.h - how an op computes under given shardings -*- C++ -*-===//
//
// The one place that turns an op's sharding rule plus the shardings around it
// into the shardings the op computes with. The partitioner rewrites by it and
// the cost model prices by it, so predictions and programs cannot drift apart.
//
#ifndef PMC_DIALECT_PMC_TRANSFORMS_OPSHARDINGS_H
#define PMC_DIALECT_PMC_TRANSFORMS_OPSHARDINGS_H

#include "pmc/Dialect/PMC/IR/PMCAttrs.h"
#include "pmc/Dialect/PMC/IR/ShardingRule.h"

namespace mlir::pmc {

/// What an op needs of each operand and what it produces (before results are
/// resharded to their annotations).
struct OpShardings {
  SmallVector<ShardingAttr> operands;
  SmallVector<ShardingAttr> produced;
  /// The mesh axes of every factor of the rule.
  ShardingRule::FactorAxes factorAxes;
};

/// Resolves `op`'s factors: Parallel factors from the results' annotated
/// shardings (`annotated`), Reduction factors from the results' partial axes
/// or else from where an operand is already split (`current`, one per
/// operand, replicated when unknown), Whole factors never split. Addend
/// operands (ShardingRule::addends) are partial where a sum reduction is
/// split. Returns nullopt when the split is not legal
/// (ShardingRule::whyIllegal, whose reason goes to `why`); the caller then
/// reports an error: the partitioner cannot build such a plan.
std::optional<OpShardings> resolveOpShardings(Operation *op, const ShardingRule &rule,
                                              ArrayRef<ShardingAttr> current,
                                              ArrayRef<ShardingAttr> annotated,
                                              MeshAttr mesh, std::string *why = nullptr);

/// `shardings` of every operand and result of an op whose factors are split
/// over `factorAxes`: what a legal split (ShardingRule::whyIllegal) gives each
/// tensor; results are partial over the split Reduction factors' axes, and so
/// are addends under a split sum reduction.
OpShardings shardingsOfFactors(MLIRContext *context, const ShardingRule &rule,
                               const ShardingRule::FactorAxes &factorAxes);

} // namespace mlir::pmc

#endif // PMC_DIALECT_PMC_TRANSFORMS_OPSHARDINGS_H
