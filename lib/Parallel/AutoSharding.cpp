//===- AutoSharding.cpp - --pmc-auto-sharding: the planner as a pass ------===//
#include "pmc/Parallel/Passes.h"
#include "pmc/Parallel/Planner.h"

#include "pmc/Dialect/PMC/IR/PMCAttrs.h"

#include "mlir/IR/BuiltinOps.h"

namespace mlir::pmc {
#define GEN_PASS_DEF_PMCAUTOSHARDING
#include "pmc/Parallel/Passes.h.inc"
} // namespace mlir::pmc

using namespace mlir;
using namespace mlir::pmc;

namespace {
struct AutoSharding : public mlir::pmc::impl::PMCAutoShardingBase<AutoSharding> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (module->hasAttr(kMeshAttrName))
      return; // The user's (or an earlier) plan wins.
    bool annotated = false;
    module.walk([&](Operation *op) {
      if (op->hasAttr(kShardingsAttrName))
        annotated = true;
      if (auto func = dyn_cast<func::FuncOp>(op))
        for (unsigned i = 0; i < func.getNumArguments(); ++i)
          annotated |= static_cast<bool>(func.getArgAttr(i, kShardingAttrName));
    });
    if (annotated) {
      module.emitError() << "pmc-auto-sharding: the module has sharding annotations "
                            "but no " << kMeshAttrName
                         << "; add a mesh, or drop the annotations to let the planner "
                            "choose";
      return signalPassFailure();
    }
    llvm::Expected<DeviceSpec> loaded = loadDeviceSpec(spec);
    if (!loaded) {
      module.emitError() << "pmc-auto-sharding: device spec '" << spec
                         << "': " << llvm::toString(loaded.takeError());
      return signalPassFailure();
    }
    if (search != "auto" && search != "exhaustive") {
      module.emitError() << "pmc-auto-sharding: search='" << search
                         << "': expected auto or exhaustive";
      return signalPassFailure();
    }
    PlannerOptions options;
    options.devices = devices;
    options.spec = std::move(*loaded);
    options.cost.allowTF32 = allowTF32;
    options.cost.bucketBytes = bucketBytes;
    options.exhaustive = search == "exhaustive";
    options.pipeline = pipeline;
    if (maxMicrobatches < 1) {
      module.emitError() << "pmc-auto-sharding: max-microbatches=" << static_cast<int64_t>(maxMicrobatches)
                         << ": expected >= 1";
      return signalPassFailure();
    }
    options.maxMicrobatches = maxMicrobatches;
    options.zero = static_cast<int>(zero);
    FailureOr<Plan> plan = searchPlan(module, options);
    if (failed(plan) || failed(applyPlan(module, *plan)))
      return signalPassFailure();
  }
};
} // namespace
