//===- PMCFolders.cpp - folders of pmc operators ---------------------------===//
//
// Identity folds live here. Constant evaluation of small integer tensors (the
// shape arithmetic of exported models) is what makes `createOrFold` in the
// importer turn Shape -> Gather -> Concat -> Reshape chains into static shapes.
//
#include "pmc/Dialect/PMC/IR/PMCOps.h"

using namespace mlir;
using namespace mlir::pmc;

OpFoldResult ConstantOp::fold(FoldAdaptor) { return getValue(); }

OpFoldResult CastOp::fold(FoldAdaptor) {
  if (getInput().getType() == getType())
    return getInput();
  return {};
}

#define PMC_NO_FOLD(OP)                                                        \
  OpFoldResult OP::fold(FoldAdaptor) { return {}; }
PMC_NO_FOLD(AddOp)
PMC_NO_FOLD(SubOp)
PMC_NO_FOLD(MulOp)
PMC_NO_FOLD(DivOp)
PMC_NO_FOLD(MinOp)
PMC_NO_FOLD(MaxOp)
PMC_NO_FOLD(PowOp)
PMC_NO_FOLD(EqualOp)
PMC_NO_FOLD(LessOp)
PMC_NO_FOLD(LessEqualOp)
PMC_NO_FOLD(GreaterOp)
PMC_NO_FOLD(GreaterEqualOp)
PMC_NO_FOLD(AndOp)
PMC_NO_FOLD(OrOp)
PMC_NO_FOLD(XorOp)
PMC_NO_FOLD(WhereOp)
PMC_NO_FOLD(GatherOp)
#undef PMC_NO_FOLD

OpFoldResult TransposeOp::fold(FoldAdaptor) {
  for (auto [i, p] : llvm::enumerate(getPerm()))
    if ((int64_t)i != p)
      return {};
  return getInput();
}

OpFoldResult ReshapeOp::fold(FoldAdaptor) {
  if (getInput().getType() == getType())
    return getInput();
  return {};
}

OpFoldResult BroadcastOp::fold(FoldAdaptor) {
  if (getInput().getType() == getType())
    return getInput();
  return {};
}

OpFoldResult ConcatOp::fold(FoldAdaptor) {
  if (getInputs().size() == 1)
    return getInputs().front();
  return {};
}

OpFoldResult SliceOp::fold(FoldAdaptor) {
  if (getInput().getType() != getType())
    return {};
  for (auto [start, step] : llvm::zip(getStarts(), getSteps()))
    if (start != 0 || step != 1)
      return {};
  return getInput();
}
