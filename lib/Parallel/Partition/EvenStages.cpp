//===- EvenStages.cpp - --pmc-even-stages: cut @main by estimated FLOPs ---===//
#include "pmc/Parallel/Partition/Passes.h"
#include "pmc/Dialect/PMC/IR/PMCDialect.h"
#include "pmc/Dialect/PMC/Transforms/Stages.h"

#include "mlir/IR/BuiltinOps.h"

namespace mlir::pmc {
#define GEN_PASS_DEF_PMCEVENSTAGES
#include "pmc/Parallel/Partition/Passes.h.inc"
} // namespace mlir::pmc

using namespace mlir;

namespace {
struct EvenStages : mlir::pmc::impl::PMCEvenStagesBase<EvenStages> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto main = module.lookupSymbol<func::FuncOp>(mlir::pmc::kEntryFunctionName);
    if (!main || main.isExternal()) {
      module.emitError("pmc-even-stages: the module has no @main function with a body");
      return signalPassFailure();
    }
    if (failed(mlir::pmc::assignEvenStages(main, stages)))
      return signalPassFailure();
  }
};
} // namespace
