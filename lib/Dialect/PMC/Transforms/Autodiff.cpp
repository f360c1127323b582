//===- Autodiff.cpp - reverse-mode differentiation of @main ------------------===//
//
// Builds the backward program of `@main` from the ops' gradient rules
// (GradientOpInterface): the gradient of the loss result with respect to every
// float argument, appended as results. See PMCAutodiff in Passes.td.
//
// 1. Activity: a value is active when it depends on a differentiated argument
//    (forward) and the loss depends on it (backward); only float tensors are.
// 2. The ops are visited in reverse order. An op with an active result and a
//    gradient asks its rule for the operands' gradients; gradients reaching one
//    value from several uses are summed.
// 3. The gradients of the arguments (zeros where the loss does not depend on
//    one) are appended to the return.
//
//===----------------------------------------------------------------------===//
#include "pmc/Dialect/PMC/IR/Gradient.h"
#include "pmc/Dialect/PMC/IR/PMCDialect.h"
#include "pmc/Dialect/PMC/IR/PMCOps.h"
#include "pmc/Dialect/PMC/Transforms/Autodiff.h"
#include "pmc/Dialect/PMC/Transforms/Stages.h"
#include "pmc/Dialect/PMC/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"

namespace mlir::pmc {
#define GEN_PASS_DEF_PMCAUTODIFF
#include "pmc/Dialect/PMC/Transforms/Passes.h.inc"
} // namespace mlir::pmc

using namespace mlir;
using namespace mlir::pmc;

namespace {

/// The name of argument `i` for messages and gradient results.
std::string argumentName(func::FuncOp func, unsigned i) {
  if (auto name = func.getArgAttrOfType<StringAttr>(i, "pmc.name"))
    return name.str();
  return "arg" + std::to_string(i);
}

Value splat(OpBuilder &b, Location loc, RankedTensorType type, double value) {
  return ConstantOp::create(
      b, loc, DenseElementsAttr::get(type, b.getFloatAttr(type.getElementType(), value)));
}

struct Autodiff : public mlir::pmc::impl::PMCAutodiffBase<Autodiff> {
  using PMCAutodiffBase::PMCAutodiffBase;

  void runOnOperation() override {
    auto func = getOperation().lookupSymbol<func::FuncOp>(kEntryFunctionName);
    if (!func || !func.getBody().hasOneBlock()) {
      getOperation().emitError("pmc-autodiff needs a func.func @main of one block");
      return signalPassFailure();
    }
    if (failed(differentiate(func)))
      signalPassFailure();
  }

  LogicalResult differentiate(func::FuncOp func) {
    Block &body = func.getBody().front();
    const unsigned lossIndex = this->lossIndex;
    auto ret = cast<func::ReturnOp>(body.getTerminator());
    if (lossIndex >= ret.getNumOperands())
      return func.emitError() << "loss-index " << lossIndex << " is not a result of @main ("
                              << ret.getNumOperands() << " results)";
    Value loss = ret.getOperand(lossIndex);
    if (!isFloatTensor(loss))
      return func.emitError() << "the loss (result " << lossIndex
                              << ") must be a float tensor, it is " << loss.getType();
    SmallVector<BlockArgument> wrt;
    for (BlockArgument arg : body.getArguments())
      if (isFloatTensor(arg))
        wrt.push_back(arg);
    auto gradients = buildGradients(body, loss, wrt);
    if (failed(gradients))
      return failure();

    // The loss and the other results, then one gradient per argument.
    OpBuilder b(ret);
    SmallVector<Value> results(ret.getOperands());
    SmallVector<Type> resultTypes(func.getFunctionType().getResults());
    unsigned firstGradient = results.size();
    for (auto [arg, g] : llvm::zip(wrt, *gradients)) {
      if (!g) // the loss does not depend on it
        g = splat(b, arg.getLoc(), cast<RankedTensorType>(arg.getType()), 0.0);
      results.push_back(g);
      resultTypes.push_back(g.getType());
    }
    MLIRContext *context = func.getContext();
    SmallVector<DictionaryAttr> resultAttrs;
    for (unsigned i = 0; i < firstGradient; ++i) {
      DictionaryAttr attrs = func.getResultAttrDict(i);
      resultAttrs.push_back(attrs ? attrs : DictionaryAttr::get(context));
    }
    for (BlockArgument arg : wrt)
      resultAttrs.push_back(DictionaryAttr::get(
          context, {b.getNamedAttr("pmc.name", b.getStringAttr(argumentName(
                                                   func, arg.getArgNumber()) + ".grad"))}));
    func::ReturnOp::create(b, ret.getLoc(), results);
    ret.erase();
    func.setFunctionType(FunctionType::get(context, func.getArgumentTypes(), resultTypes));
    func.setAllResultAttrs(resultAttrs);
    return success();
  }
};

} // namespace

FailureOr<SmallVector<Value>> mlir::pmc::buildGradients(Block &body, Value loss,
                                                        ArrayRef<BlockArgument> wrt) {
  Operation *terminator = body.getTerminator();
  // 1. Activity: forward from `wrt`, backward from the loss.
  llvm::DenseSet<Value> varied(wrt.begin(), wrt.end());
  for (Operation &op : body.without_terminator())
    if (llvm::any_of(op.getOperands(), [&](Value v) { return varied.contains(v); }))
      for (Value r : op.getResults())
        if (isFloatTensor(r))
          varied.insert(r);
  llvm::DenseSet<Value> useful{loss};
  for (Operation &op : llvm::reverse(body.without_terminator()))
    if (llvm::any_of(op.getResults(), [&](Value r) { return useful.contains(r); }))
      for (Value v : op.getOperands())
        useful.insert(v);
  auto active = [&](Value v) {
    return isFloatTensor(v) && varied.contains(v) && useful.contains(v);
  };

  // 2. Reverse sweep; gradients reaching a value from several uses add up.
  OpBuilder b(terminator);
  llvm::DenseMap<Value, Value> gradients;
  if (active(loss))
    gradients[loss] = splat(b, loss.getLoc(), cast<RankedTensorType>(loss.getType()), 1.0);
  SmallVector<Operation *> forward;
  for (Operation &op : body.without_terminator())
    forward.push_back(&op);
  for (Operation *op : llvm::reverse(forward)) {
    SmallVector<Value> resultGradients;
    bool any = false;
    for (Value r : op->getResults()) {
      Value g = active(r) ? gradients.lookup(r) : Value();
      resultGradients.push_back(g);
      any |= static_cast<bool>(g);
    }
    if (!any || llvm::none_of(op->getOperands(), active))
      continue;
    auto rule = dyn_cast<GradientOpInterface>(op);
    if (!rule)
      return op->emitError() << op->getName()
                             << " has no gradient rule; the loss depends on it through "
                                "a differentiated argument";
    SmallVector<Value> operandGradients;
    Block *block = b.getInsertionBlock();
    Operation *before = b.getInsertionPoint() == block->begin()
                            ? nullptr
                            : &*std::prev(b.getInsertionPoint());
    if (failed(rule.buildGradients(b, resultGradients, operandGradients)))
      return failure();
    // The backward of an op kept in f32 (BatchNormalization's statistics
    // under --dtype bf16) is kept in f32 too; the backward of an op of a
    // pipeline stage runs in that stage (docs/design/pipeline.md, "Training
    // pipelines").
    std::optional<int64_t> stage = getStage(op);
    if (op->hasAttr("pmc.keep_f32") || stage)
      for (Block::iterator it = before ? std::next(before->getIterator()) : block->begin();
           it != b.getInsertionPoint(); ++it) {
        if (op->hasAttr("pmc.keep_f32"))
          it->setAttr("pmc.keep_f32", b.getUnitAttr());
        if (stage)
          setStage(&*it, *stage);
      }
    for (auto [operand, g] : llvm::zip(op->getOperands(), operandGradients)) {
      if (!g || !active(operand))
        continue;
      if (g.getType() != operand.getType())
        return op->emitError() << "pmc internal error: the gradient rule of " << op->getName()
                               << " gives " << g.getType() << " for an operand of "
                               << operand.getType();
      auto [it, inserted] = gradients.try_emplace(operand, g);
      if (!inserted) {
        // Fan-out sums stay f32 under --dtype bf16/fp16 (ConvertPrecision.cpp).
        auto sum = AddOp::create(b, op->getLoc(), it->second, g);
        sum->setAttr("pmc.keep_f32", b.getUnitAttr());
        if (stage)
          setStage(sum, *stage);
        it->second = sum.getResult();
      }
    }
  }

  // 3. One gradient per `wrt`, null where the loss does not depend on it.
  SmallVector<Value> result;
  for (BlockArgument arg : wrt)
    result.push_back(gradients.lookup(arg));
  return result;
}
