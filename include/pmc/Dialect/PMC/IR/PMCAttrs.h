//===- PMCAttrs.h - meshes and shardings ------------------------*- C++ -*-===//
#ifndef PMC_DIALECT_PMC_IR_PMCATTRS_H
#define PMC_DIALECT_PMC_IR_PMCATTRS_H

#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Diagnostics.h"
#include "pmc/Dialect/PMC/IR/ShardingRule.h"

#define GET_ATTRDEF_CLASSES
#include "pmc/Dialect/PMC/IR/PMCAttrs.h.inc"

namespace mlir::pmc {

/// Names of the attributes that carry meshes and shardings (parallel.md).
inline constexpr llvm::StringLiteral kMeshAttrName = "pmc.mesh";
inline constexpr llvm::StringLiteral kShardingAttrName = "pmc.sharding";
inline constexpr llvm::StringLiteral kShardingsAttrName = "pmc.shardings";

/// The mesh of the module holding `op`, or null.
MeshAttr getMesh(Operation *op);

} // namespace mlir::pmc

#endif // PMC_DIALECT_PMC_IR_PMCATTRS_H
