//===- TestLaunchVectorization.cpp - the CUDA vectorization on CPU kernels -===//
//
// pmc-test-launch-vectorization (Passes.td): the kernels take the shape the
// CUDA target vectorizes (allocsToScratch): the work of a kernel with
// top-level static temporaries moves into a private `@<kernel>_scratch` that
// takes them as trailing parameters, and the kernel keeps only the
// allocations, one call and the deallocations (its signature is unchanged).
// Then `vectorizeParallelLoops` runs on every function.
//
#include "pmc/Target/Passes.h"
#include "pmc/Target/LaunchVectorization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/SymbolTable.h"

namespace mlir::pmc {
#define GEN_PASS_DEF_PMCTESTLAUNCHVECTORIZATION
#include "pmc/Target/Passes.h.inc"
} // namespace mlir::pmc

using namespace mlir;

/// Moves the work of `kernel` into a private function that takes its top-level
/// static, dense temporaries as trailing parameters, as the CUDA target's
/// allocsToScratch does; `kernel` allocates them, calls it and frees them.
/// Returns that function, or null when `kernel` has no temporaries or one the
/// CUDA target would reject (not top-level, dynamic or strided).
static func::FuncOp splitScratch(func::FuncOp kernel, SymbolTable &symbols) {
  Block &body = kernel.getBody().front();
  SmallVector<memref::AllocOp> allocs;
  bool eligible = kernel.getNumResults() == 0;
  kernel.walk([&](Operation *op) {
    if (!isa<memref::AllocOp, memref::DeallocOp>(op))
      return;
    if (op->getBlock() != &body) {
      eligible = false;
      return;
    }
    if (auto alloc = dyn_cast<memref::AllocOp>(op)) {
      MemRefType type = alloc.getType();
      eligible &= type.hasStaticShape() && type.getLayout().isIdentity();
      allocs.push_back(alloc);
    }
  });
  if (!eligible || allocs.empty())
    return nullptr;

  // The clone does the work: temporaries become parameters, frees go.
  auto work = cast<func::FuncOp>(kernel->clone());
  work.setSymName((kernel.getSymName() + "_scratch").str());
  work.setPrivate();
  symbols.insert(work, Block::iterator(kernel));
  Block &workBody = work.getBody().front();
  for (Operation &op : llvm::make_early_inc_range(workBody)) {
    if (isa<memref::DeallocOp>(op)) {
      op.erase();
      continue;
    }
    auto alloc = dyn_cast<memref::AllocOp>(op);
    if (!alloc)
      continue;
    unsigned index = work.getNumArguments();
    (void)work.insertArgument(index, alloc.getType(), {}, alloc.getLoc());
    alloc.getResult().replaceAllUsesWith(workBody.getArgument(index));
    alloc.erase();
  }

  // The kernel: allocate (same types and alignment), call, free.
  // Users before their definitions: the block is erased from its end.
  for (Operation &op : llvm::make_early_inc_range(llvm::reverse(body)))
    if (!op.hasTrait<OpTrait::IsTerminator>() && !isa<memref::AllocOp>(op))
      op.erase();
  SmallVector<Value> args(body.getArguments());
  OpBuilder builder(body.getTerminator());
  for (memref::AllocOp alloc : allocs)
    args.push_back(alloc.getResult());
  func::CallOp::create(builder, kernel.getLoc(), work, args);
  for (memref::AllocOp alloc : allocs)
    memref::DeallocOp::create(builder, kernel.getLoc(), alloc.getResult());
  return work;
}

namespace {
struct TestLaunchVectorization
    : public mlir::pmc::impl::PMCTestLaunchVectorizationBase<TestLaunchVectorization> {
  using PMCTestLaunchVectorizationBase::PMCTestLaunchVectorizationBase;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    int64_t maxBytes = bytes;

    SymbolTable symbols(module);
    for (func::FuncOp kernel : llvm::to_vector(module.getOps<func::FuncOp>())) {
      if (kernel.isExternal())
        continue;
      func::FuncOp work = splitScratch(kernel, symbols);
      func::FuncOp target = work ? work : kernel;
      size_t loops = llvm::range_size(target.getBody().front().getOps<scf::ParallelOp>());
      unsigned vectorized = ::pmc::vectorizeParallelLoops(target, maxBytes);
      emitRemark(kernel.getLoc())
          << "launch vectorization (cpu test hook): " << vectorized << " of " << loops
          << " parallel loops vectorized in " << target.getSymName();
    }
  }
};
} // namespace
