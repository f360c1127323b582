//===- Common.h - shared helpers of the pmc -> linalg patterns --*- C++ -*-===//
#ifndef PMC_LIB_CONVERSION_PMCTOLINALG_COMMON_H
#define PMC_LIB_CONVERSION_PMCTOLINALG_COMMON_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/DialectConversion.h"

#include <functional>

namespace mlir::pmc {

/// Converts pmc tensor types to what kernels compute on: `uiN` becomes the
/// signless `iN` (the patterns pick unsigned arith ops from the pmc types).
class KernelTypeConverter : public TypeConverter {
public:
  KernelTypeConverter();
};

/// How a pmc element type computes.
struct ElementKind {
  Type type;         ///< the pmc element type (may be `uiN`)
  Type storage;      ///< the signless type in the kernel
  Type compute;      ///< what arithmetic runs in: f16/bf16 -> f32
  bool isFloat = false, isUnsigned = false, isBool = false;
  static ElementKind of(Type pmcType);
  static ElementKind ofValue(Value pmcValue);
};

/// Extends a stored scalar to its compute type (f16/bf16 -> f32).
Value toCompute(OpBuilder &b, Location loc, Value v, const ElementKind &kind);
/// Truncates a compute-type scalar back to the storage type.
Value toStorage(OpBuilder &b, Location loc, Value v, const ElementKind &kind);
/// Converts scalar `v` of `from` kind (storage type) to `to` kind (storage
/// type) with ONNX Cast semantics.
Value castScalar(OpBuilder &b, Location loc, Value v, const ElementKind &from,
                 const ElementKind &to);
/// A scalar constant of float or integer type `type`.
Value scalarConstant(OpBuilder &b, Location loc, Type type, double value);

/// The indexing map that reads an operand of `operandShape` numpy-broadcast to
/// `resultShape`: dims align from the right, a size-1 dim that stretches reads
/// index 0.
AffineMap broadcastMap(MLIRContext *context, ArrayRef<int64_t> operandShape,
                       ArrayRef<int64_t> resultShape);

/// Body of an elementwise generic: gets the scalar operands (storage types),
/// returns the scalar result (storage type of the result).
using ScalarFn = std::function<Value(OpBuilder &, Location, ValueRange)>;

/// One `linalg.generic` over `resultType` reading `operands` with broadcast maps.
Value buildElementwise(OpBuilder &b, Location loc, RankedTensorType resultType,
                       ValueRange operands, const ScalarFn &body);

/// A `tensor.empty` of the given shape and element type.
Value emptyTensor(OpBuilder &b, Location loc, ArrayRef<int64_t> shape, Type element);
/// A tensor filled with a scalar.
Value filledTensor(OpBuilder &b, Location loc, ArrayRef<int64_t> shape, Value scalar);

/// A parallel `linalg.generic` producing a tensor of `shape` x `element` from
/// `inputs` read through `inputMaps` (over the result's dims).
Value buildMappedGeneric(OpBuilder &b, Location loc, ArrayRef<int64_t> shape,
                         Type element, ValueRange inputs,
                         ArrayRef<AffineMap> inputMaps, const ScalarFn &body);

/// Reduces `input` over the dims marked in `reduced` into a tensor of the kept
/// dims with element type `init.getType()`, starting from `init`; `combine`
/// gets (element, accumulator) and returns the new accumulator.
Value buildReduction(OpBuilder &b, Location loc, Value input,
                     ArrayRef<bool> reduced, Value init, const ScalarFn &combine);

/// The map from a rank-`rank` iteration space to its dims not marked `dropped`.
AffineMap keptDimsMap(MLIRContext *context, ArrayRef<bool> dropped);

/// Reshapes between any two static shapes with the same element count via
/// collapse/expand through rank 1.
Value reshapeTensor(OpBuilder &b, Location loc, Value input, RankedTensorType to);

/// Pattern registration, one per file.
void populateElementwisePatterns(KernelTypeConverter &converter,
                                 RewritePatternSet &patterns);
void populateReductionPatterns(KernelTypeConverter &converter,
                               RewritePatternSet &patterns);
void populateDataMovementPatterns(KernelTypeConverter &converter,
                                  RewritePatternSet &patterns);
void populateWindowPatterns(KernelTypeConverter &converter,
                            RewritePatternSet &patterns);
void populateIndexingPatterns(KernelTypeConverter &converter,
                              RewritePatternSet &patterns);
void populateRandomPatterns(KernelTypeConverter &converter, RewritePatternSet &patterns);

} // namespace mlir::pmc

#endif // PMC_LIB_CONVERSION_PMCTOLINALG_COMMON_H
