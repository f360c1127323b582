//===- TrainStep.cpp - forward, backward and optimizer as one program --------===//
//
// --pmc-train-step (Passes.td): @main's result 0 is the loss; its gradients
// with respect to the `pmc.parameter` arguments come from buildGradients
// (Autodiff.cpp), and the optimizer update is built here from pmc ops, with
// PyTorch's torch.optim semantics. The result is an ordinary pmc program: the
// planner and partitioner parallelize the step as a whole (a data-parallel
// plan turns the gradient's partial sums into the all-reduce).
//
//===----------------------------------------------------------------------===//
#include "pmc/Dialect/PMC/IR/Gradient.h"
#include "pmc/Dialect/PMC/IR/PMCDialect.h"
#include "pmc/Dialect/PMC/IR/PMCOps.h"
#include "pmc/Dialect/PMC/Transforms/Autodiff.h"
#include "pmc/Dialect/PMC/Transforms/Passes.h"
#include "pmc/Dialect/PMC/Transforms/Stages.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"

#include "llvm/ADT/APFloat.h"

#include <cmath>
#include <numeric>

namespace mlir::pmc {
#define GEN_PASS_DEF_PMCTRAINSTEP
#include "pmc/Dialect/PMC/Transforms/Passes.h.inc"
} // namespace mlir::pmc

using namespace mlir;
using namespace mlir::pmc;

namespace {

/// The smallest pipeline stage of the ops reading `value`, if any has one.
std::optional<int64_t> firstUseStage(Value value) {
  std::optional<int64_t> first;
  for (Operation *user : value.getUsers())
    if (std::optional<int64_t> stage = getStage(user))
      first = first ? std::min(*first, *stage) : *stage;
  return first;
}

/// Builds the update of one parameter from pmc ops in its element type.
struct UpdateBuilder {
  OpBuilder &b;
  Location loc;
  Type element;

  Value c(double v) {
    auto type = RankedTensorType::get({}, element);
    return ConstantOp::create(b, loc, DenseElementsAttr::get(type, b.getFloatAttr(element, v)));
  }
  /// A f32 scalar argument (lr, step) in the parameter's element type.
  Value scalar(Value v) {
    auto type = cast<RankedTensorType>(v.getType());
    if (type.getElementType() == element)
      return v;
    return CastOp::create(b, loc, type.clone(element), v).getResult();
  }
  Value add(Value x, Value y) { return AddOp::create(b, loc, x, y).getResult(); }
  Value sub(Value x, Value y) { return SubOp::create(b, loc, x, y).getResult(); }
  Value mul(Value x, Value y) { return MulOp::create(b, loc, x, y).getResult(); }
  Value div(Value x, Value y) { return DivOp::create(b, loc, x, y).getResult(); }
  Value pow(Value x, Value y) { return PowOp::create(b, loc, x, y).getResult(); }
  Value sqrt(Value x) { return SqrtOp::create(b, loc, x).getResult(); }
  Value where(Value cond, Value x, Value y) {
    return WhereOp::create(b, loc, cond, x, y).getResult();
  }
  Value equal(Value x, Value y) { return EqualOp::create(b, loc, x, y).getResult(); }
};

struct TrainStep : public mlir::pmc::impl::PMCTrainStepBase<TrainStep> {
  using PMCTrainStepBase::PMCTrainStepBase;

  void runOnOperation() override {
    auto func = getOperation().lookupSymbol<func::FuncOp>(kEntryFunctionName);
    if (!func || !func.getBody().hasOneBlock()) {
      getOperation().emitError("pmc-train-step needs a func.func @main of one block");
      return signalPassFailure();
    }
    if (failed(build(func)))
      signalPassFailure();
  }

  /// torch.nn.utils.clip_grad_norm_: every gradient times
  /// min(1, clip / (||all gradients||_2 + 1e-6)), in the first gradient's type.
  void clipGradients(OpBuilder &b, SmallVectorImpl<Value> &gradients) {
    Value first = *llvm::find_if(gradients, [](Value g) { return static_cast<bool>(g); });
    auto type = cast<RankedTensorType>(first.getType());
    UpdateBuilder u{b, first.getLoc(), type.getElementType()};
    Value total;
    for (Value g : gradients) {
      if (!g)
        continue;
      auto gType = cast<RankedTensorType>(g.getType());
      SmallVector<int64_t> all(gType.getRank());
      std::iota(all.begin(), all.end(), 0);
      Value squares = ReduceSumOp::create(
          b, g.getLoc(), ValueRange{u.mul(g, g)},
          {b.getNamedAttr("axes", b.getDenseI64ArrayAttr(all))}).getResult();
      if (gType.getElementType() != type.getElementType())
        squares = CastOp::create(b, g.getLoc(), RankedTensorType::get({}, type.getElementType()),
                                 squares).getResult();
      total = total ? u.add(total, squares) : squares;
    }
    Value coefficient = u.div(u.c(gradClip), u.add(u.sqrt(total), u.c(1e-6)));
    Value scale = MinOp::create(b, first.getLoc(), coefficient, u.c(1.0)).getResult();
    for (Value &g : gradients) {
      if (!g)
        continue;
      UpdateBuilder gu{b, g.getLoc(), cast<RankedTensorType>(g.getType()).getElementType()};
      g = gu.mul(g, gu.scalar(scale));
    }
  }

  bool scalesLoss() const { return lossScale > 0.0; }

  LogicalResult checkLossScaling(func::FuncOp func) {
    if (lossScale < 0.0 || !std::isfinite(lossScale.getValue()))
      return func.emitError() << "pmc-train-step: loss-scale " << lossScale.getValue()
                              << " must be positive (0: no loss scaling)";
    if (!scalesLoss())
      return success();
    if (lossScaleGrowthInterval < 1)
      return func.emitError() << "pmc-train-step: loss-scale-growth-interval "
                              << lossScaleGrowthInterval.getValue() << " must be at least 1";
    if (!(lossScaleBackoff > 0.0 && lossScaleBackoff < 1.0))
      return func.emitError() << "pmc-train-step: loss-scale-backoff "
                              << lossScaleBackoff.getValue() << " must be in (0, 1)";
    if (!(lossScaleGrowth >= 1.0))
      return func.emitError() << "pmc-train-step: loss-scale-growth "
                              << lossScaleGrowth.getValue() << " must be at least 1";
    for (BlockArgument arg : func.getArguments())
      if (auto name = func.getArgAttrOfType<StringAttr>(arg.getArgNumber(), "pmc.name"))
        if (name.getValue() == kLossScaleName || name.getValue() == kGrowthTrackerName)
          return func.emitError() << "pmc-train-step: argument '" << name.getValue()
                                  << "' has the name of the loss scaling's state";
    return success();
  }

  /// torch.amp.GradScaler.unscale_: every gradient divided by the scale (in
  /// its type), and whether any element of any gradient is inf or NaN (an i1
  /// scalar; its maximum spans the shards of a sharded gradient).
  Value unscaleGradients(OpBuilder &b, SmallVectorImpl<Value> &gradients, Value lossScale) {
    UpdateBuilder s{b, lossScale.getLoc(), b.getF32Type()};
    Value inverse = s.div(s.c(1.0), lossScale);
    Value anyBad;
    for (Value &g : gradients) {
      if (!g)
        continue;
      auto type = cast<RankedTensorType>(g.getType());
      UpdateBuilder u{b, g.getLoc(), type.getElementType()};
      g = u.mul(g, u.scalar(inverse));
      // NaN compares false, so `|g| <= max` holds exactly for finite g.
      double largest = APFloat::getLargest(
                           cast<FloatType>(type.getElementType()).getFloatSemantics())
                           .convertToDouble();
      Value finite = LessEqualOp::create(b, g.getLoc(), AbsOp::create(b, g.getLoc(), g),
                                         u.c(largest)).getResult();
      Value bad = u.where(finite, u.c(0.0), u.c(1.0));
      SmallVector<int64_t> all(type.getRank());
      std::iota(all.begin(), all.end(), 0);
      Value worst = ReduceMaxOp::create(b, g.getLoc(), ValueRange{bad},
                                        {b.getNamedAttr("axes", b.getDenseI64ArrayAttr(all))})
                        .getResult();
      worst = s.scalar(worst);
      anyBad = anyBad ? MaxOp::create(b, g.getLoc(), anyBad, worst).getResult() : worst;
    }
    return GreaterOp::create(b, lossScale.getLoc(), anyBad, s.c(0.5)).getResult();
  }

  /// torch.amp.GradScaler.update: the next (scale, growth tracker).
  std::pair<Value, Value> updateLossScale(OpBuilder &b, Value foundInf, Value scale,
                                          Value tracker) {
    UpdateBuilder u{b, scale.getLoc(), b.getF32Type()};
    Value successful = u.add(tracker, u.c(1.0));
    Value grow = u.equal(successful, u.c((double)lossScaleGrowthInterval));
    Value finiteScale = u.where(grow, u.mul(scale, u.c(lossScaleGrowth)), scale);
    Value finiteTracker = u.where(grow, u.c(0.0), successful);
    return {u.where(foundInf, u.mul(scale, u.c(lossScaleBackoff)), finiteScale),
            u.where(foundInf, u.c(0.0), finiteTracker)};
  }

  LogicalResult build(func::FuncOp func) {
    const std::string kind = optimizer;
    if (kind != "sgd" && kind != "adam" && kind != "adamw")
      return func.emitError() << "pmc-train-step: optimizer '" << kind
                              << "' is not supported (expected sgd, adam or adamw)";
    Block &body = func.getBody().front();
    auto ret = cast<func::ReturnOp>(body.getTerminator());
    if (ret.getNumOperands() == 0 || !isFloatTensor(ret.getOperand(0)) ||
        cast<RankedTensorType>(ret.getOperand(0).getType()).getNumElements() != 1)
      return func.emitError() << "pmc-train-step: result 0 of @main must be the loss, a float "
                                 "tensor of one element"
                              << (ret.getNumOperands() ? ", it is " : "")
                              << (ret.getNumOperands() ? ret.getOperand(0).getType() : Type());
    Value loss = ret.getOperand(0);
    SmallVector<BlockArgument> params;
    for (BlockArgument arg : body.getArguments())
      if (func.getArgAttr(arg.getArgNumber(), kParameterAttrName)) {
        if (!isFloatTensor(arg))
          return func.emitError() << "pmc-train-step: parameter " << arg.getArgNumber()
                                  << " is not a float tensor";
        params.push_back(arg);
      }
    if (params.empty())
      return func.emitError("pmc-train-step: @main has no pmc.parameter argument to train");
    if (failed(checkLossScaling(func)))
      return failure();

    MLIRContext *context = func.getContext();
    OpBuilder b(ret);
    auto named = [&](StringRef name) {
      return DictionaryAttr::get(context, {b.getNamedAttr("pmc.name", b.getStringAttr(name))});
    };
    auto addArgument = [&](Type type, StringRef name, StringRef stateOf = {}) {
      unsigned index = func.getNumArguments();
      DictionaryAttr attrs = named(name);
      if (!stateOf.empty())
        attrs = DictionaryAttr::get(
            context, {b.getNamedAttr("pmc.name", b.getStringAttr(name)),
                      b.getNamedAttr(kOptimizerStateAttrName, b.getStringAttr(stateOf))});
      (void)func.insertArgument(index, type, attrs, func.getLoc());
      return func.getArgument(index);
    };
    auto stateResult = [&](StringRef name) {
      return DictionaryAttr::get(context,
                                 {b.getNamedAttr("pmc.name", b.getStringAttr(name)),
                                  b.getNamedAttr(kStateUpdateAttrName, b.getUnitAttr())});
    };
    auto f32Scalar = RankedTensorType::get({}, b.getF32Type());
    // Dynamic loss scaling's state: buffers, like BatchNormalization's
    // running statistics (updated by the step, never trained).
    auto addScalarBuffer = [&](StringRef name, double initial) {
      unsigned index = func.getNumArguments();
      auto value = DenseElementsAttr::get(f32Scalar, b.getF32FloatAttr((float)initial));
      DictionaryAttr attrs = DictionaryAttr::get(
          context, {b.getNamedAttr("pmc.name", b.getStringAttr(name)),
                    b.getNamedAttr(kBufferAttrName, b.getUnitAttr()),
                    b.getNamedAttr(kInitialValueAttrName, value)});
      (void)func.insertArgument(index, f32Scalar, attrs, func.getLoc());
      return func.getArgument(index);
    };
    Value lossScale, growthTracker, gradientRoot = loss;
    if (scalesLoss()) {
      lossScale = addScalarBuffer(kLossScaleName, this->lossScale);
      growthTracker = addScalarBuffer(kGrowthTrackerName, 0.0);
      UpdateBuilder u{b, loss.getLoc(), cast<RankedTensorType>(loss.getType()).getElementType()};
      gradientRoot = u.mul(loss, u.scalar(lossScale));
    }
    auto gradients = buildGradients(body, gradientRoot, params);
    if (failed(gradients))
      return failure();
    if (llvm::none_of(*gradients, [](Value g) { return static_cast<bool>(g); }))
      return func.emitError("pmc-train-step: the loss depends on no parameter");

    if (gradClip < 0.0)
      return func.emitError() << "pmc-train-step: grad-clip " << gradClip.getValue()
                              << " must be positive (0: no clipping)";
    // The planner shards and prices each gradient as the update reads it
    // (ZeRO's reduce-scatter); a gradient that is also an intermediate of
    // the backward (read before the update exists) stays an activation.
    for (auto [p, g] : llvm::zip(params, *gradients))
      if (g && g.getDefiningOp() && g.use_empty() &&
          !g.getDefiningOp()->hasAttr(kGradientOfAttrName))
        if (auto name = func.getArgAttrOfType<StringAttr>(p.getArgNumber(), "pmc.name"))
          g.getDefiningOp()->setAttr(kGradientOfAttrName, name);
    // Everything built from here on (clipping, the update) runs in f32 under
    // --dtype bf16: pmc.keep_f32 (ConvertPrecision.cpp), fp32 master weights.
    Operation *lastBackward = ret->getPrevNode();
    Value foundInf;
    if (scalesLoss())
      foundInf = unscaleGradients(b, *gradients, lossScale);
    if (gradClip > 0.0)
      clipGradients(b, *gradients);
    Value lr = addArgument(f32Scalar, "pmc.lr");
    // A model with Dropout has its step argument from the import already.
    Value step;
    for (BlockArgument arg : func.getArguments())
      if (auto name = func.getArgAttrOfType<StringAttr>(arg.getArgNumber(), "pmc.name"))
        if (name.getValue() == kStepName)
          step = arg;
    if (step && step.getType() != f32Scalar)
      return func.emitError() << "pmc-train-step: argument '" << kStepName
                              << "' must be a f32 scalar, got " << step.getType();
    if (!step)
      step = addArgument(f32Scalar, kStepName);

    SmallVector<Value> results{loss};
    SmallVector<DictionaryAttr> resultAttrs;
    DictionaryAttr lossAttrs = func.getResultAttrDict(0);
    resultAttrs.push_back(lossAttrs ? lossAttrs : DictionaryAttr::get(context));
    if (foundInf) {
      results.push_back(CastOp::create(b, loss.getLoc(), f32Scalar, foundInf).getResult());
      resultAttrs.push_back(named(kFoundInfName));
    }
    struct State {
      Value next, current;
      std::string name;
    };
    SmallVector<State> states;
    for (auto [p, g] : llvm::zip(params, *gradients)) {
      std::string name = func.getArgAttrOfType<StringAttr>(p.getArgNumber(), "pmc.name")
                             ? func.getArgAttrOfType<StringAttr>(p.getArgNumber(), "pmc.name")
                                   .str()
                             : "param" + std::to_string(p.getArgNumber());
      auto type = cast<RankedTensorType>(p.getType());
      Value next = p;
      Operation *beforeUpdate = ret->getPrevNode();
      // PyTorch skips a parameter without a gradient (its .grad is None).
      if (g) {
        UpdateBuilder u{b, p.getLoc(), type.getElementType()};
        Value lrT = u.scalar(lr), t = u.scalar(step);
        if (kind == "sgd") {
          if (weightDecay != 0.0)
            g = u.add(g, u.mul(u.c(weightDecay), p));
          if (momentum != 0.0) {
            Value buf = addArgument(type, name + ".momentum_buffer", name);
            // The first step's buffer is the gradient itself (torch.optim.SGD).
            Value later = u.add(u.mul(u.c(momentum), buf), u.mul(u.c(1.0 - dampening), g));
            Value nextBuf = u.where(u.equal(t, u.c(1.0)), g, later);
            states.push_back({nextBuf, buf, name + ".momentum_buffer"});
            g = nesterov ? u.add(g, u.mul(u.c(momentum), nextBuf)) : nextBuf;
          }
          next = u.sub(p, u.mul(lrT, g));
        } else {
          Value base = p;
          if (kind == "adamw" && weightDecay != 0.0)
            base = u.mul(p, u.sub(u.c(1.0), u.mul(lrT, u.c(weightDecay))));
          if (kind == "adam" && weightDecay != 0.0)
            g = u.add(g, u.mul(u.c(weightDecay), p));
          Value m = addArgument(type, name + ".exp_avg", name);
          Value v = addArgument(type, name + ".exp_avg_sq", name);
          Value nextM = u.add(u.mul(u.c(beta1), m), u.mul(u.c(1.0 - beta1), g));
          Value nextV = u.add(u.mul(u.c(beta2), v), u.mul(u.c(1.0 - beta2), u.mul(g, g)));
          Value correction1 = u.sub(u.c(1.0), u.pow(u.c(beta1), t));
          Value correction2 = u.sub(u.c(1.0), u.pow(u.c(beta2), t));
          Value denom = u.add(u.div(u.sqrt(nextV), u.sqrt(correction2)), u.c(eps));
          Value stepSize = u.div(lrT, correction1);
          next = u.sub(base, u.mul(stepSize, u.div(nextM, denom)));
          states.push_back({nextM, m, name + ".exp_avg"});
          states.push_back({nextV, v, name + ".exp_avg_sq"});
        }
      }
      // A step with inf or NaN gradients changes no parameter or state.
      if (foundInf && next != p)
        next = UpdateBuilder{b, p.getLoc(), type.getElementType()}.where(foundInf, p, next);
      // In a pipeline the update runs in the stage of the parameter's first
      // use, which holds the parameter and its optimizer state.
      if (std::optional<int64_t> stage = firstUseStage(p))
        for (Operation *op = beforeUpdate ? beforeUpdate->getNextNode() : &body.front();
             op != ret; op = op->getNextNode())
          setStage(op, *stage);
      results.push_back(next);
      resultAttrs.push_back(stateResult(name));
    }
    for (State &state : states) {
      Value next = state.next;
      if (foundInf)
        next = UpdateBuilder{b, next.getLoc(), cast<RankedTensorType>(next.getType())
                                                   .getElementType()}
                   .where(foundInf, state.current, next);
      results.push_back(next);
      resultAttrs.push_back(stateResult(state.name));
    }
    if (foundInf) {
      auto [nextScale, nextTracker] = updateLossScale(b, foundInf, lossScale, growthTracker);
      results.push_back(nextScale);
      resultAttrs.push_back(stateResult(kLossScaleName));
      results.push_back(nextTracker);
      resultAttrs.push_back(stateResult(kGrowthTrackerName));
    }
    // The forward's own state updates (BatchNormalization's running
    // statistics) stay results.
    for (auto [i, value] : llvm::enumerate(ret.getOperands()))
      if (func.getResultAttr(i, kStateUpdateAttrName)) {
        results.push_back(value);
        resultAttrs.push_back(func.getResultAttrDict(i));
      }
    for (Operation *op = lastBackward ? lastBackward->getNextNode() : &body.front(); op != ret;
         op = op->getNextNode())
      op->setAttr("pmc.keep_f32", b.getUnitAttr());
    // So does scalar arithmetic (the loss's reduction and mean): the loss is
    // reported at f32 precision.
    for (Operation &op : body)
      if (op.getNumResults() > 0 && !isa<ConstantOp>(op) &&
          llvm::all_of(op.getResults(), [](Value r) {
            auto t = dyn_cast<RankedTensorType>(r.getType());
            return t && t.getNumElements() == 1;
          }))
        op.setAttr("pmc.keep_f32", b.getUnitAttr());
    func::ReturnOp::create(b, ret.getLoc(), results);
    ret.erase();
    func.setFunctionType(FunctionType::get(context, func.getArgumentTypes(),
                                           ValueRange(results).getTypes()));
    func.setAllResultAttrs(resultAttrs);
    return success();
  }
};

} // namespace
