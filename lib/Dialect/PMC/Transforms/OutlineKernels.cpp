//===- OutlineKernels.cpp - split @main into runtime commands and kernels --===//
#include "pmc/Dialect/PMC/IR/PMCOps.h"
#include "pmc/Dialect/PMC/Transforms/MatmulEpilogue.h"
#include "pmc/Dialect/PMC/Transforms/Passes.h"
#include "pmc/Dialect/PMC/Transforms/Stages.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributeInterfaces.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "pmc-outline-kernels"

namespace mlir::pmc {
#define GEN_PASS_DEF_PMCOUTLINEKERNELS
#include "pmc/Dialect/PMC/Transforms/Passes.h.inc"
} // namespace mlir::pmc

using namespace mlir;
using namespace mlir::pmc;

/// True for a constant whose value is one repeated element: it is cheaper to
/// clone it into each kernel than to pass it as a weight.
static bool isSplatConstant(Operation *op) {
  auto constant = dyn_cast<ConstantOp>(op);
  if (!constant)
    return false;
  auto elements = dyn_cast<DenseElementsAttr>(constant.getValue());
  return elements && elements.isSplat();
}

/// True when the runtime executes `op` itself rather than a generated kernel.
/// `run` holds the ops of the kernel being collected, `epilogues` the ops
/// folded into a matmul command (MatmulEpilogue.h).
static bool staysInMain(Operation *op, const llvm::SetVector<Operation *> &run,
                        const llvm::SmallPtrSetImpl<Operation *> &epilogues) {
  if (op->hasTrait<OpTrait::IsTerminator>() || isa<ConstantOp>(op) ||
      epilogues.contains(op))
    return true;
  // Communication and per-rank slicing are runtime commands (parallel.md).
  if (isa<CollectiveOpInterface, TransferOp>(op))
    return true;
  // Matmuls and convs of the libraries' types are library calls.
  if (auto call = dyn_cast<LibraryCallOpInterface>(op))
    return call.isLibraryCall();
  if (auto reshape = dyn_cast<ReshapeOp>(op)) {
    Operation *producer = reshape.getInput().getDefiningOp();
    return !producer || !run.contains(producer);
  }
  return false;
}

namespace {
struct OutlineKernels : mlir::pmc::impl::PMCOutlineKernelsBase<OutlineKernels> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto main = module.lookupSymbol<func::FuncOp>(kEntryFunctionName);
    if (!main || main.isExternal()) {
      module.emitError("pmc-outline-kernels: the module has no @main function "
                       "with a body");
      return signalPassFailure();
    }
    if (!main.getBody().hasOneBlock()) {
      main.emitOpError("must have a single block to be split into kernels");
      return signalPassFailure();
    }
    if (target != "cpu" && target != "cuda") {
      module.emitError("pmc-outline-kernels: unknown target '")
          << target << "' (cpu or cuda)";
      return signalPassFailure();
    }
    // cuBLASLt's GELU epilogue is the tanh approximation: on CUDA an erf
    // GELU stays a kernel (only the bias is folded).
    llvm::SmallPtrSet<Operation *, 16> epilogues;
    if (foldEpilogues)
      foldMatmulEpilogues(main, /*exactGelu=*/target == "cpu", epilogues);

    SymbolTable symbols(module);
    unsigned nextKernel = 0;

    llvm::SetVector<Operation *> run;
    auto flush = [&]() {
      if (!run.empty())
        outline(main, symbols, run.getArrayRef(), nextKernel);
      run.clear();
    };
    for (Operation &op : llvm::make_early_inc_range(main.getBody().front())) {
      if (staysInMain(&op, run, epilogues)) {
        flush();
        continue;
      }
      // A kernel never mixes pipeline stages (docs/design/pipeline.md).
      if (!run.empty() && getStage(run.back()) != getStage(&op))
        flush();
      run.insert(&op);
    }
    flush();
    // Splat constants may have been cloned into every kernel that used them.
    for (Operation &op : llvm::make_early_inc_range(
             llvm::reverse(main.getBody().front())))
      if (isa<ConstantOp>(op) && op.use_empty())
        op.erase();
  }

  /// Moves `ops` (consecutive in program order) into a new private function
  /// and replaces them with a call.
  void outline(func::FuncOp main, SymbolTable &symbols, ArrayRef<Operation *> ops,
               unsigned &nextKernel) {
    llvm::SmallPtrSet<Operation *, 16> inRun(ops.begin(), ops.end());
    llvm::SetVector<Value> inputs;
    llvm::SetVector<Operation *> splats;
    llvm::SetVector<Value> outputs;
    for (Operation *op : ops) {
      for (Value operand : op->getOperands()) {
        Operation *producer = operand.getDefiningOp();
        if (producer && inRun.contains(producer))
          continue;
        if (producer && isSplatConstant(producer))
          splats.insert(producer);
        else
          inputs.insert(operand);
      }
      for (Value result : op->getResults())
        for (Operation *user : result.getUsers())
          if (!inRun.contains(user)) {
            outputs.insert(result);
            break;
          }
    }
    if (outputs.empty()) {
      // Nothing the program observes: the run is dead.
      for (Operation *op : llvm::reverse(ops))
        op->erase();
      return;
    }

    std::string name;
    do
      name = "kernel_" + std::to_string(nextKernel++);
    while (symbols.lookup(name));

    MLIRContext *context = main.getContext();
    auto type = FunctionType::get(context, TypeRange(inputs.getArrayRef()),
                                  TypeRange(outputs.getArrayRef()));
    OpBuilder builder(context);
    auto kernel = func::FuncOp::create(builder, ops.front()->getLoc(), name, type);
    kernel.setPrivate();
    symbols.insert(kernel);
    Block *body = kernel.addEntryBlock();
    builder.setInsertionPointToStart(body);
    IRMapping mapping;
    for (auto [value, argument] : llvm::zip(inputs, body->getArguments()))
      mapping.map(value, argument);
    for (Operation *splat : splats)
      builder.clone(*splat, mapping);
    for (Operation *op : ops)
      builder.clone(*op, mapping);
    SmallVector<Value> returned;
    for (Value output : outputs)
      returned.push_back(mapping.lookup(output));
    func::ReturnOp::create(builder, ops.back()->getLoc(), returned);

    builder.setInsertionPointAfter(ops.back());
    auto call = func::CallOp::create(builder, ops.front()->getLoc(), kernel,
                                     inputs.getArrayRef());
    if (std::optional<int64_t> stage = getStage(ops.front()))
      setStage(call, *stage);
    for (auto [i, output] : llvm::enumerate(outputs.getArrayRef())) {
      Value value = output;
      value.replaceAllUsesWith(call.getResult(i));
    }
    for (Operation *op : llvm::reverse(ops))
      op->erase();
    LLVM_DEBUG(llvm::dbgs() << "outlined " << ops.size() << " ops into @" << name
                            << "\n");
  }
};
} // namespace
