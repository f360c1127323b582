//===- MatmulEpilogue.h - bias/activation folded into a @main matmul -*- C++ -*-===//
//
// pmc-outline-kernels folds a bias add and a ReLU/GELU that follow a float
// `pmc.matmul` of @main into the matmul's runtime command (bundle.md,
// "matmul"). In the IR the ops stay, next to each other, in @main:
//
//   %y = pmc.matmul %x, %w {pmc.epilogue = "bias_gelu"} : ...
//   %z = pmc.add %y, %b : ...       // the only user of %y
//   %g = pmc.gelu %z : ...          // the only user of %z
//
// and pmc-lower-to-runtime-program makes one pmcrt.matmul of the three
// (`bias %b -> %g {activation = "gelu"}`). This header resolves such a chain;
// it is header-only so that the lowering can use it without linking the
// passes.
//
#ifndef PMC_DIALECT_PMC_TRANSFORMS_MATMULEPILOGUE_H
#define PMC_DIALECT_PMC_TRANSFORMS_MATMULEPILOGUE_H

#include "pmc/Dialect/PMC/IR/PMCOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallPtrSet.h"

namespace mlir::pmc {

/// The matmul attribute naming its folded epilogue: "bias", "relu", "gelu",
/// "bias_relu" or "bias_gelu".
constexpr llvm::StringLiteral kEpilogueAttrName = "pmc.epilogue";

/// A matmul with the ops of its epilogue.
struct MatmulEpilogue {
  /// The bias add and its other operand (null without a bias).
  AddOp biasAdd;
  Value bias;
  /// A pmc.relu or pmc.gelu (null without an activation).
  Operation *activation = nullptr;
  /// The value the command computes: the last op of the chain.
  Value result;

  /// "none", "relu", "gelu" (erf) or "gelu_tanh": the bundle's `activation`.
  llvm::StringRef activationName() const {
    if (!activation)
      return "none";
    if (isa<ReluOp>(activation))
      return "relu";
    return cast<GeluOp>(activation).getTanhApproximation() ? "gelu_tanh" : "gelu";
  }
};

/// Resolves the epilogue `pmc.epilogue` of `matmul` names (none without the
/// attribute: `result` is the matmul's). Fails with an error on the matmul
/// when the ops that follow it are not the chain the attribute names.
inline FailureOr<MatmulEpilogue> resolveMatmulEpilogue(MatMulOp matmul) {
  MatmulEpilogue epilogue;
  epilogue.result = matmul.getResult();
  auto kind = matmul->getAttrOfType<StringAttr>(kEpilogueAttrName);
  if (!kind)
    return epilogue;
  llvm::StringRef name = kind.getValue();
  bool known = llvm::is_contained(
      llvm::ArrayRef<llvm::StringRef>{"bias", "relu", "gelu", "bias_relu", "bias_gelu"}, name);
  if (!known)
    return matmul.emitOpError() << "has an unknown " << kEpilogueAttrName << " '" << name
                                << "' (bias, relu, gelu, bias_relu or bias_gelu)";
  bool bias = name.consume_front("bias");
  name.consume_front("_");
  llvm::StringRef activation = name; // "", "relu" or "gelu"
  // Each op of the chain is the only user of the previous one and follows it.
  auto next = [&](Value value) -> Operation * {
    if (!value.hasOneUse())
      return nullptr;
    Operation *user = *value.getUsers().begin();
    return user == value.getDefiningOp()->getNextNode() ? user : nullptr;
  };
  if (bias) {
    auto add = dyn_cast_or_null<AddOp>(next(epilogue.result));
    if (!add || add.getLhs() == add.getRhs())
      return matmul.emitOpError()
             << "has " << kEpilogueAttrName << " '" << kind.getValue()
             << "' but its result is not used only by the pmc.add right after it";
    epilogue.biasAdd = add;
    epilogue.bias = add.getLhs() == epilogue.result ? add.getRhs() : add.getLhs();
    epilogue.result = add.getResult();
  }
  if (!activation.empty()) {
    Operation *op = next(epilogue.result);
    bool ok = op && (activation == "relu" ? isa<ReluOp>(op) : isa<GeluOp>(op));
    if (!ok)
      return matmul.emitOpError()
             << "has " << kEpilogueAttrName << " '" << kind.getValue() << "' but no pmc."
             << activation << " right after it uses its result (and only it does)";
    epilogue.activation = op;
    epilogue.result = op->getResult(0);
  }
  return epilogue;
}

/// Folds the epilogues of the float matmuls of `main` (pmc-outline-kernels):
/// a bias add along the last dim, then pmc.relu / pmc.gelu, or the ONNX erf
/// GELU pattern (rewritten to pmc.gelu) when `exactGelu` (the CPU runtime
/// computes the erf form; cuBLASLt only the tanh approximation). Adds the
/// ops that became part of an epilogue to `members`.
void foldMatmulEpilogues(func::FuncOp main, bool exactGelu,
                         llvm::SmallPtrSetImpl<Operation *> &members);

} // namespace mlir::pmc

#endif // PMC_DIALECT_PMC_TRANSFORMS_MATMULEPILOGUE_H
