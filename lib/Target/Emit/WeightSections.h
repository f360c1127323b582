//===- WeightSections.h - the bytes of weights, whole or per rank ---------===//
#ifndef PMC_LIB_TARGET_EMIT_WEIGHTSECTIONS_H
#define PMC_LIB_TARGET_EMIT_WEIGHTSECTIONS_H

#include "pmc/Target/BundleEmitter.h"

#include "pmc/Dialect/PMC/IR/PMCAttrs.h"

#include "mlir/IR/BuiltinAttributeInterfaces.h"
#include "mlir/IR/Operation.h"

#include <vector>

namespace pmc::bundle_emitter {

/// Fills `section` with the row-major bytes of `value` (borrowed from a dense
/// resource, or owned; one byte per bool). Fails with an error at `at` when
/// the value cannot be stored or its size is wrong.
mlir::LogicalResult weightBytes(mlir::ElementsAttr value, mlir::Operation *at,
                                BundleImage::Section &section);

/// The element offsets of rank `r`'s block of a tensor sharded by `sharding`
/// whose local shape is `local` (docs/design/parallel.md).
std::vector<int64_t> blockOffsets(mlir::pmc::MeshAttr mesh,
                                  mlir::pmc::ShardingAttr sharding,
                                  llvm::ArrayRef<int64_t> local, int64_t r);

/// Copies the block at `offsets` of shape `local` out of the row-major
/// `bytes` of shape `global`.
std::string sliceBlock(const char *bytes, llvm::ArrayRef<int64_t> global,
                       llvm::ArrayRef<int64_t> local, const std::vector<int64_t> &offsets,
                       size_t elementBytes);

} // namespace pmc::bundle_emitter

#endif // PMC_LIB_TARGET_EMIT_WEIGHTSECTIONS_H
