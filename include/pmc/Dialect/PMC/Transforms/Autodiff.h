//===- Autodiff.h - reverse-mode differentiation on pmc tensors -*- C++ -*-===//
#ifndef PMC_DIALECT_PMC_TRANSFORMS_AUTODIFF_H
#define PMC_DIALECT_PMC_TRANSFORMS_AUTODIFF_H

#include "mlir/IR/Block.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/SmallVector.h"

namespace mlir::pmc {

/// Builds, before `body`'s terminator, the gradient of the sum of `loss`'s
/// elements with respect to each of `wrt` (float block arguments of `body`)
/// from the ops' gradient rules (GradientOpInterface): one value per `wrt`,
/// null where the loss does not depend on it. Fails after an error on an
/// active op without a rule.
FailureOr<SmallVector<Value>> buildGradients(Block &body, Value loss,
                                             ArrayRef<BlockArgument> wrt);

} // namespace mlir::pmc

#endif // PMC_DIALECT_PMC_TRANSFORMS_AUTODIFF_H
