//===- DefaultSharding.cpp - data parallel over the batch for --devices N --===//
#include "pmc/Dialect/PMC/IR/PMCAttrs.h"
#include "pmc/Dialect/PMC/IR/PMCDialect.h"
#include "pmc/Parallel/Partition/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

namespace mlir::pmc {
#define GEN_PASS_DEF_PMCDEFAULTSHARDING
#include "pmc/Parallel/Partition/Passes.h.inc"
} // namespace mlir::pmc

using namespace mlir;
using namespace mlir::pmc;

namespace {

/// Attribute holding the one-line description of the chosen plan.
constexpr llvm::StringLiteral kPlanAttrName = "pmc.plan";

/// True when the user wrote any sharding in `module`.
bool hasUserShardings(ModuleOp module) {
  bool found = false;
  module.walk([&](Operation *op) {
    if (op->hasAttr(kShardingsAttrName))
      found = true;
    if (auto func = dyn_cast<func::FuncOp>(op)) {
      for (unsigned i = 0; i < func.getNumArguments(); ++i)
        found |= static_cast<bool>(func.getArgAttr(i, kShardingAttrName));
      for (unsigned i = 0; i < func.getNumResults(); ++i)
        found |= static_cast<bool>(func.getResultAttr(i, kShardingAttrName));
    }
  });
  return found;
}

struct DefaultSharding : public mlir::pmc::impl::PMCDefaultShardingBase<DefaultSharding> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (devices < 1) {
      module.emitError() << "pmc-default-sharding: devices must be >= 1, got "
                         << static_cast<int64_t>(devices);
      return signalPassFailure();
    }
    if (module->hasAttr(kMeshAttrName))
      return;
    if (hasUserShardings(module)) {
      module.emitError() << "the module has sharding annotations but no "
                         << kMeshAttrName
                         << "; add a mesh, or drop the annotations to use the "
                            "default plan for --devices "
                         << static_cast<int64_t>(devices);
      return signalPassFailure();
    }
    MLIRContext *context = &getContext();
    Builder builder(context);
    auto mesh = MeshAttr::get(context, {builder.getStringAttr("dp")}, {devices});
    module->setAttr(kMeshAttrName, mesh);
    bool sharded = false;
    for (auto func : module.getOps<func::FuncOp>()) {
      if (func.isExternal() || func.isPrivate())
        continue;
      for (unsigned i = 0; i < func.getNumArguments(); ++i) {
        auto type = dyn_cast<RankedTensorType>(func.getArgument(i).getType());
        if (!type)
          continue;
        ShardingAttr sharding = ShardingAttr::getReplicated(context, type.getRank());
        if (type.getRank() >= 1 && type.getDimSize(0) % devices == 0 &&
            devices > 1) {
          SmallVector<SmallVector<StringRef>> dims(type.getRank());
          dims[0].push_back("dp");
          sharding = ShardingAttr::get(context, dims);
          sharded = true;
        }
        func.setArgAttr(i, kShardingAttrName, sharding);
      }
    }
    std::string plan =
        sharded ? "data parallel over the batch dimension (dp=" +
                      std::to_string(devices) + ")"
                : "replicated: no input batch divisible by " + std::to_string(devices);
    if (devices == 1)
      plan = "replicated: one device";
    module->setAttr(kPlanAttrName, builder.getStringAttr(plan));
  }
};

} // namespace
