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
};

/// Resolves `op`'s factors: Parallel factors from the results' annotated
/// shardings (`annotated`), Reduction factors from the results' partial axes
/// or else from where an operand is already split (`current`, one per
/// operand, replicated when unknown), Whole factors never split. Returns
/// nullopt when the factor split is not a block split of some dimension (the
/// caller then computes the op replicated or reports an error).
std::optional<OpShardings> resolveOpShardings(Operation *op, const ShardingRule &rule,
                                              ArrayRef<ShardingAttr> current,
                                              ArrayRef<ShardingAttr> annotated,
                                              MeshAttr mesh);

} // namespace mlir::pmc

#endif // PMC_DIALECT_PMC_TRANSFORMS_OPSHARDINGS_H
