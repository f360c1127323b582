//===- VectorizePass.cpp - --pmc-vectorize-parallel-loops -----------------===//
#include "pmc/Target/LaunchVectorization.h"
#include "pmc/Target/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

namespace mlir::pmc {
#define GEN_PASS_DEF_PMCVECTORIZEPARALLELLOOPS
#include "pmc/Target/Passes.h.inc"
} // namespace mlir::pmc

using namespace mlir;

namespace {
struct VectorizeParallelLoops
    : public mlir::pmc::impl::PMCVectorizeParallelLoopsBase<VectorizeParallelLoops> {
  using PMCVectorizeParallelLoopsBase::PMCVectorizeParallelLoopsBase;
  void runOnOperation() override {
    if (bytes != 0 && bytes != 4 && bytes != 8 && bytes != 16) {
      getOperation().emitError() << "cuda vector access width " << bytes.getValue()
                                 << " bytes is not 0, 4, 8 or 16";
      return signalPassFailure();
    }
    for (func::FuncOp func : getOperation().getOps<func::FuncOp>())
      if (!func.isExternal())
        ::pmc::vectorizeParallelLoops(func, bytes);
  }
};
} // namespace
