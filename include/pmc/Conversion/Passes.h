//===- Passes.h - conversions out of the pmc dialect ------------*- C++ -*-===//
#ifndef PMC_CONVERSION_PASSES_H
#define PMC_CONVERSION_PASSES_H

#include "mlir/Pass/Pass.h"

namespace mlir {
namespace arith { class ArithDialect; }
namespace func { class FuncDialect; }
namespace linalg { class LinalgDialect; }
namespace math { class MathDialect; }
namespace tensor { class TensorDialect; }
} // namespace mlir

namespace mlir::pmc {

#define GEN_PASS_DECL
#include "pmc/Conversion/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "pmc/Conversion/Passes.h.inc"

} // namespace mlir::pmc

#endif // PMC_CONVERSION_PASSES_H
