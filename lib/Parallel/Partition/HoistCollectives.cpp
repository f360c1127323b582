//===- HoistCollectives.cpp - start reductions where their input is ready --===//
//
// The pass description (Passes.td) has the IR before and after.
//
#include "pmc/Dialect/PMC/IR/PMCDialect.h"
#include "pmc/Dialect/PMC/IR/PMCOps.h"
#include "pmc/Parallel/Partition/Passes.h"

#include "mlir/IR/BuiltinOps.h"

namespace mlir::pmc {
#define GEN_PASS_DEF_PMCHOISTCOLLECTIVES
#include "pmc/Parallel/Partition/Passes.h.inc"
} // namespace mlir::pmc

using namespace mlir;
using namespace mlir::pmc;

namespace {

struct HoistCollectives : public mlir::pmc::impl::PMCHoistCollectivesBase<HoistCollectives> {
  void runOnOperation() override {
    getOperation().walk([&](func::FuncOp func) {
      for (Block &block : func.getBody()) {
        SmallVector<Operation *> reductions;
        for (Operation &op : block)
          if (isa<AllReduceOp, ReduceScatterOp>(op))
            reductions.push_back(&op);
        // Two reductions of one op's results keep their order.
        DenseMap<Operation *, Operation *> lastAfter;
        for (Operation *op : reductions) {
          Operation *def = op->getOperand(0).getDefiningOp();
          Operation *inBlock = def ? block.findAncestorOpInBlock(*def) : nullptr;
          Operation *&last = lastAfter[inBlock];
          Operation *after = last ? last : inBlock;
          if (after)
            op->moveAfter(after);
          else
            op->moveBefore(&block, block.begin());
          last = op;
        }
      }
    });
  }
};

} // namespace
