//===- PoolWindows.h - facts about the windows of pmc pooling ops -*- C++ -*-===//
#ifndef PMC_DIALECT_PMC_IR_POOLWINDOWS_H
#define PMC_DIALECT_PMC_IR_POOLWINDOWS_H

#include "pmc/Dialect/PMC/IR/PMCOps.h"

#include "llvm/ADT/SmallVector.h"

namespace mlir::pmc {

/// The divisor of each output position of `op` (row-major over the output's
/// spatial dims): how many window positions fall inside the input, or inside
/// the padded input with count_include_pad (at least 1). One definition for
/// the lowering (PMCToLinalg/Windows.cpp) and the gradient (Gradients.cpp).
llvm::SmallVector<double> avgPoolDivisors(AvgPoolOp op);

} // namespace mlir::pmc

#endif // PMC_DIALECT_PMC_IR_POOLWINDOWS_H
