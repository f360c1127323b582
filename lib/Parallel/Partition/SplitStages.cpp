//===- SplitStages.cpp - --pmc-split-stages: stages and pmc.transfer ------===//
#include "pmc/Dialect/PMC/IR/PMCOps.h"
#include "pmc/Parallel/Partition/Passes.h"
#include "pmc/Dialect/PMC/Transforms/Stages.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/Support/Debug.h"

#include <map>

#define DEBUG_TYPE "pmc-split-stages"

namespace mlir::pmc {
#define GEN_PASS_DEF_PMCSPLITSTAGES
#include "pmc/Parallel/Partition/Passes.h.inc"
} // namespace mlir::pmc

using namespace mlir;
using namespace mlir::pmc;

/// The largest stage of the ops defining `op`'s operands (0 for arguments).
static int64_t operandStage(Operation *op) {
  int64_t stage = 0;
  for (Value operand : op->getOperands())
    if (Operation *producer = operand.getDefiningOp())
      stage = std::max(stage, getStage(producer).value_or(0));
  return stage;
}

/// Gives a stage to every op of `body` that has none but constants: the
/// smallest stage of its users (a backward sweep), raised to the largest of
/// its operands (a forward sweep).
static void completeStages(Block &body) {
  llvm::DenseSet<Operation *> created;
  for (Operation &op : llvm::reverse(body)) {
    if (getStage(&op) || isa<ConstantOp>(op) || op.hasTrait<OpTrait::IsTerminator>())
      continue;
    std::optional<int64_t> stage;
    for (Operation *user : op.getUsers())
      if (std::optional<int64_t> s = getStage(user))
        stage = stage ? std::min(*stage, *s) : *s;
    // Only returned: computed where its operands are (set below).
    setStage(&op, stage.value_or(0));
    created.insert(&op);
  }
  for (Operation &op : body)
    if (created.contains(&op))
      setStage(&op, std::max(*getStage(&op), operandStage(&op)));
}

/// Clones a constant used by several stages once per stage and gives every
/// constant the stage of its users.
static void placeConstants(Block &body) {
  for (Operation &op : llvm::make_early_inc_range(body)) {
    if (!isa<ConstantOp>(op) || op.use_empty())
      continue;
    std::map<int64_t, SmallVector<OpOperand *>> byStage;
    for (OpOperand &use : op.getUses()) {
      // A constant returned as is belongs to the stage of its other users (0
      // when none).
      std::optional<int64_t> stage = getStage(use.getOwner());
      byStage[stage.value_or(-1)].push_back(&use);
    }
    if (byStage.count(-1)) {
      SmallVector<OpOperand *> returned = byStage[-1];
      byStage.erase(-1);
      int64_t stage = byStage.empty() ? 0 : byStage.begin()->first;
      byStage[stage].append(returned.begin(), returned.end());
    }
    auto first = byStage.begin();
    setStage(&op, first->first);
    OpBuilder builder(&op);
    builder.setInsertionPointAfter(&op);
    for (auto it = std::next(first); it != byStage.end(); ++it) {
      Operation *clone = builder.clone(op);
      setStage(clone, it->first);
      for (OpOperand *use : it->second)
        use->set(clone->getResult(0));
    }
  }
}

namespace {
struct SplitStages : mlir::pmc::impl::PMCSplitStagesBase<SplitStages> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto main = module.lookupSymbol<func::FuncOp>(kEntryFunctionName);
    if (!main || main.isExternal() || !main.getBody().hasOneBlock()) {
      module.emitError("pmc-split-stages: the module needs a @main function with "
                       "one block");
      return signalPassFailure();
    }
    Block &body = main.getBody().front();
    int64_t numStages = 0;
    for (Operation &op : body)
      if (std::optional<int64_t> stage = getStage(&op))
        numStages = std::max(numStages, *stage + 1);
    if (auto pipeline = module->getAttrOfType<DictionaryAttr>(kPipelineAttrName))
      if (auto stages = pipeline.getAs<IntegerAttr>("stages"))
        numStages = std::max(numStages, stages.getInt());
    if (numStages == 0) {
      main.emitOpError("has no op with a pmc.stage: nothing to split (run "
                       "pmc-even-stages or the planner first)");
      return signalPassFailure();
    }
    // Check the given stages first (new ops have none yet).
    // A train step's backward flows from the last stage back to the first.
    const bool train = isTrainStepModule(module);
    if (failed(verifyStages(main, numStages, /*allowUnstaged=*/true, train)))
      return signalPassFailure();
    completeStages(body);
    placeConstants(body);
    if (failed(verifyStages(main, numStages, /*allowUnstaged=*/false, train)))
      return signalPassFailure();

    // One transfer per (value, other stage), right after the producer.
    unsigned transfers = 0;
    for (Operation &op : llvm::make_early_inc_range(body)) {
      if (op.hasTrait<OpTrait::IsTerminator>() || isa<TransferOp>(op))
        continue;
      int64_t from = *getStage(&op);
      OpBuilder builder(op.getContext());
      builder.setInsertionPointAfter(&op);
      for (Value result : op.getResults()) {
        std::map<int64_t, SmallVector<OpOperand *>> later;
        for (OpOperand &use : result.getUses())
          if (std::optional<int64_t> to = getStage(use.getOwner()); to && *to != from)
            later[*to].push_back(&use);
        for (auto &[to, uses] : later) {
          auto transfer = TransferOp::create(builder, op.getLoc(), result.getType(), result,
                                             builder.getI64IntegerAttr(from),
                                             builder.getI64IntegerAttr(to));
          setStage(transfer, to);
          for (OpOperand *use : uses)
            use->set(transfer.getResult());
          ++transfers;
        }
      }
    }
    LLVM_DEBUG(llvm::dbgs() << "inserted " << transfers << " transfers over "
                            << numStages << " stages\n");
  }
};
} // namespace
