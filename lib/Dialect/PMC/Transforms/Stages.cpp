//===- Stages.cpp - pipeline stages of @main: checks and an even cut ------===//
#include "pmc/Dialect/PMC/Transforms/Stages.h"

#include "pmc/Dialect/PMC/IR/PMCOps.h"

#include "mlir/IR/Builders.h"

#include <algorithm>

using namespace mlir;
using namespace mlir::pmc;

std::optional<int64_t> mlir::pmc::getStage(Operation *op) {
  if (auto stage = op->getAttrOfType<IntegerAttr>(kStageAttrName))
    return stage.getInt();
  return std::nullopt;
}

void mlir::pmc::setStage(Operation *op, int64_t stage) {
  op->setAttr(kStageAttrName, Builder(op->getContext()).getI64IntegerAttr(stage));
}

static double elementsOf(Type type) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  return tensor && tensor.hasStaticShape() ? (double)tensor.getNumElements() : 1.0;
}

double mlir::pmc::estimateFlops(Operation *op) {
  if (auto matmul = dyn_cast<MatMulOp>(op)) {
    auto lhs = cast<RankedTensorType>(matmul.getLhs().getType());
    int64_t k = lhs.getRank() == 0 ? 1
                : matmul.getTransposeA() && lhs.getRank() >= 2
                    ? lhs.getDimSize(lhs.getRank() - 2)
                    : lhs.getDimSize(lhs.getRank() - 1);
    return 2.0 * elementsOf(matmul.getType()) * (double)std::max<int64_t>(k, 1);
  }
  if (auto conv = dyn_cast<ConvOp>(op)) {
    auto weight = cast<RankedTensorType>(conv.getWeight().getType());
    double perOutput = 1;
    for (int64_t d = 1; d < weight.getRank(); ++d)
      perOutput *= (double)weight.getDimSize(d);
    return 2.0 * elementsOf(conv.getType()) * perOutput;
  }
  double flops = 0;
  for (Type type : op->getResultTypes())
    flops += elementsOf(type);
  return std::max(flops, 1.0);
}

/// True for the ops a stage is assigned to (not constants, not terminators).
static bool isStaged(Operation &op) {
  return !isa<ConstantOp>(op) && !op.hasTrait<OpTrait::IsTerminator>();
}

LogicalResult mlir::pmc::verifyStages(func::FuncOp func, int64_t numStages,
                                      bool allowUnstaged) {
  WalkResult walk = func.walk([&](Operation *op) {
    if (op == func.getOperation() || op->hasTrait<OpTrait::IsTerminator>())
      return WalkResult::advance();
    std::optional<int64_t> stage = getStage(op);
    if (!stage) {
      if (isStaged(*op) && !allowUnstaged) {
        op->emitOpError() << "has no " << kStageAttrName << " (the pipeline has "
                          << numStages << " stages; every op of @" << func.getName()
                          << " but constants needs one)";
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    }
    if (*stage < 0 || *stage >= numStages) {
      op->emitOpError() << "has " << kStageAttrName << " = " << *stage
                        << ", outside the pipeline's stages 0.." << numStages - 1;
      return WalkResult::interrupt();
    }
    for (OpOperand &operand : op->getOpOperands()) {
      Operation *producer = operand.get().getDefiningOp();
      if (!producer)
        continue;
      std::optional<int64_t> from = getStage(producer);
      if (from && *from > *stage) {
        op->emitOpError() << "in stage " << *stage << " reads operand "
                          << operand.getOperandNumber() << ", computed by '"
                          << producer->getName() << "' in the later stage " << *from
                          << " (stages must not decrease along use-def edges)";
        return WalkResult::interrupt();
      }
    }
    return WalkResult::advance();
  });
  return failure(walk.wasInterrupted());
}

LogicalResult mlir::pmc::assignEvenStages(func::FuncOp func, int64_t numStages) {
  if (numStages < 1)
    return func.emitOpError() << "cannot be cut into " << numStages << " stages";
  if (!func.getBody().hasOneBlock())
    return func.emitOpError("must have one block to be cut into pipeline stages");
  SmallVector<Operation *> ops;
  double total = 0;
  for (Operation &op : func.getBody().front())
    if (isStaged(op)) {
      ops.push_back(&op);
      total += estimateFlops(&op);
    }
  int64_t n = ops.size();
  if (n < numStages)
    return func.emitOpError() << "has " << n << " ops, too few for " << numStages
                              << " pipeline stages (each stage needs at least one)";
  double before = 0;
  int64_t previous = 0;
  for (int64_t i = 0; i < n; ++i) {
    double flops = estimateFlops(ops[i]);
    // The stage whose share of the total holds the op's midpoint...
    int64_t stage = (int64_t)((before + flops / 2) * numStages / total);
    before += flops;
    // ...kept contiguous, never skipping a stage, and leaving at least one op
    // for each later stage.
    stage = std::clamp<int64_t>(stage, previous, std::min(previous + 1, numStages - 1));
    if (i == 0)
      stage = 0;
    stage = std::max<int64_t>(stage, numStages - (n - i));
    setStage(ops[i], stage);
    previous = stage;
  }
  return success();
}
