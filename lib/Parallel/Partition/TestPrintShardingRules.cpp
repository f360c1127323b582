//===- TestPrintShardingRules.cpp - annotate ops with their sharding rule --===//
#include "pmc/Dialect/PMC/IR/PMCOps.h"
#include "pmc/Dialect/PMC/IR/ShardingRule.h"
#include "pmc/Parallel/Partition/Passes.h"

#include "mlir/IR/Builders.h"

namespace mlir::pmc {
#define GEN_PASS_DEF_PMCTESTPRINTSHARDINGRULES
#include "pmc/Parallel/Partition/Passes.h.inc"
} // namespace mlir::pmc

using namespace mlir;
using namespace mlir::pmc;

namespace {
struct TestPrintShardingRules
    : public mlir::pmc::impl::PMCTestPrintShardingRulesBase<TestPrintShardingRules> {
  void runOnOperation() override {
    Builder builder(&getContext());
    getOperation()->walk([&](Operation *op) {
      if (!isa<PMCDialect>(op->getDialect()))
        return;
      std::string text = "none";
      if (std::optional<ShardingRule> rule = getShardingRule(op)) {
        text.clear();
        llvm::raw_string_ostream os(text);
        rule->print(os);
      }
      op->setAttr("pmc.sharding_rule", builder.getStringAttr(text));
    });
  }
};
} // namespace
