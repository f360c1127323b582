//===- Stages.cpp - pipeline stages of @main: checks and an even cut ------===//
#include "pmc/Dialect/PMC/Transforms/Stages.h"

#include "pmc/Dialect/PMC/IR/PMCOps.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseMap.h"

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


double mlir::pmc::estimateFlops(Operation *op) {
  return std::max(opFlops(op), 1.0);
}

/// True for the ops a stage is assigned to (not constants, not terminators).
static bool isStaged(Operation &op) {
  return !isa<ConstantOp>(op) && !op.hasTrait<OpTrait::IsTerminator>();
}

bool mlir::pmc::isTrainStepModule(ModuleOp module) {
  return module && module->hasAttr("pmc.train_step");
}

LogicalResult mlir::pmc::verifyStages(func::FuncOp func, int64_t numStages,
                                      bool allowUnstaged, bool allowDecreasing) {
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
      if (from && *from > *stage && !allowDecreasing) {
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
  // prefix[c]: estimated FLOPs of ops[0..c); crossing[c]: bytes of the
  // values computed before cut c (between ops c-1 and c) and read at or
  // after it, i.e. what a cut there sends per step. Constants are cloned into
  // every stage that reads them and graph inputs are fed to every stage, so
  // neither crosses; values only returned stay where they are computed.
  std::vector<double> prefix(n + 1, 0), crossing(n + 1, 0), delta(n + 2, 0);
  llvm::DenseMap<Operation *, int64_t> index;
  for (int64_t i = 0; i < n; ++i) {
    index[ops[i]] = i;
    prefix[i + 1] = prefix[i] + estimateFlops(ops[i]);
  }
  for (int64_t i = 0; i < n; ++i)
    for (Value result : ops[i]->getResults()) {
      int64_t last = i;
      for (Operation *user : result.getUsers())
        if (auto it = index.find(func.getBody().front().findAncestorOpInBlock(*user));
            it != index.end())
          last = std::max(last, it->second);
      auto type = dyn_cast<RankedTensorType>(result.getType());
      if (last == i || !type)
        continue;
      double bytes = (double)type.getNumElements() *
                     std::max<int64_t>(1, type.getElementTypeBitWidth() / 8);
      delta[i + 1] += bytes;
      delta[last + 1] -= bytes;
    }
  double running = 0;
  for (int64_t c = 1; c <= n; ++c) {
    running += delta[c];
    crossing[c] = running;
  }
  // Cut k lands near k/K of the FLOPs: among the cuts within half a stage's
  // share of that point, the one that sends the fewest bytes (then the
  // closest, then the earliest); every stage keeps at least one op.

  SmallVector<int64_t> cuts{0};
  for (int64_t k = 1; k < numStages; ++k) {
    double target = total * k / numStages, window = total / (2.0 * numStages);
    int64_t lo = cuts.back() + 1, hi = n - (numStages - k);
    int64_t best = -1;
    auto better = [&](int64_t c) {
      if (best < 0)
        return true;
      bool inC = std::abs(prefix[c] - target) <= window;
      bool inBest = std::abs(prefix[best] - target) <= window;
      if (inC != inBest)
        return inC;
      if (inC && crossing[c] != crossing[best])
        return crossing[c] < crossing[best];
      return std::abs(prefix[c] - target) < std::abs(prefix[best] - target);
    };
    for (int64_t c = lo; c <= hi; ++c)
      if (better(c))
        best = c;
    cuts.push_back(best);
  }
  cuts.push_back(n);
  for (int64_t s = 0; s < numStages; ++s)
    for (int64_t i = cuts[s]; i < cuts[s + 1]; ++i)
      setStage(ops[i], s);
  return success();
}
