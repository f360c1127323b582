//===- FoldMatmulEpilogue.cpp - bias/ReLU/GELU into @main's matmul commands ===//
#include "pmc/Dialect/PMC/Transforms/MatmulEpilogue.h"
#include "pmc/Dialect/PMC/Transforms/Stages.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/Support/Debug.h"

#include <cmath>

#define DEBUG_TYPE "pmc-outline-kernels"

using namespace mlir;
using namespace mlir::pmc;

/// True when `bias` broadcasts along the last dim of `output` only: shape [N]
/// or [1, ..., 1, N] with N the last dim of `output`, same element type.
static bool isLastDimBias(Type bias, Type output) {
  auto b = dyn_cast<RankedTensorType>(bias);
  auto o = cast<RankedTensorType>(output);
  if (!b || !b.hasStaticShape() || !o.hasStaticShape() || b.getRank() < 1 ||
      b.getRank() > o.getRank() || b.getElementType() != o.getElementType())
    return false;
  ArrayRef<int64_t> shape = b.getShape();
  if (shape.back() != o.getShape().back())
    return false;
  return llvm::all_of(shape.drop_back(), [](int64_t d) { return d == 1; });
}

/// The value of a splat float constant, or nullopt.
static std::optional<double> splatValue(Value value) {
  auto constant = value.getDefiningOp<ConstantOp>();
  if (!constant)
    return std::nullopt;
  auto elements = dyn_cast<DenseFPElementsAttr>(constant.getValue());
  if (!elements || !elements.isSplat())
    return std::nullopt;
  return elements.getSplatValue<APFloat>().convertToDouble();
}

/// True when `value` is a splat constant equal to `want` up to the rounding
/// of its element type (a bf16 sqrt(2) is 1.4140625).
static bool isSplat(Value value, double want) {
  std::optional<double> got = splatValue(value);
  if (!got)
    return false;
  Type element = cast<ShapedType>(value.getType()).getElementType();
  double tolerance = element.isF64() ? 1e-12 : element.isF32() ? 1e-6 : 1e-2;
  return std::abs(*got - want) <= tolerance * std::abs(want);
}

/// For a binary op with `value` as one operand, the other operand.
template <typename OpTy>
static Value otherOperand(OpTy op, Value value) {
  if (op.getLhs() == value && op.getRhs() != value)
    return op.getRhs();
  if (op.getRhs() == value && op.getLhs() != value)
    return op.getLhs();
  return nullptr;
}

namespace {
/// One erf GELU as torch.onnx exports it (test/zoo/make_zoo.py, _erf_gelu):
///   0.5 * x * (1 + erf(x / sqrt(2)))
/// as mul(mul(x, add(erf(div(x, sqrt2)), 1)), 0.5) or
/// mul(mul(x, 0.5), add(...)); the scaling of x may also be mul(x, 1/sqrt2).
struct ErfGelu {
  /// The ops of the pattern, in program order of creation; `last` computes
  /// the GELU.
  SmallVector<Operation *> ops;
  Operation *last = nullptr;
};
} // namespace

/// Matches an erf GELU of `x` whose ops all have stage `stage`, are in `x`'s
/// block, have the type of `x` and whose intermediate values have no other
/// users.
static std::optional<ErfGelu> matchErfGelu(Value x, std::optional<int64_t> stage) {
  Type type = x.getType();
  Block *block = x.getDefiningOp()->getBlock();
  auto ok = [&](Operation *op) {
    return op && op->getBlock() == block && getStage(op) == stage &&
           op->getNumResults() == 1 && op->getResult(0).getType() == type;
  };
  auto sole = [&](Value v) -> Operation * {
    if (!v.hasOneUse())
      return nullptr;
    Operation *user = *v.getUsers().begin();
    return ok(user) ? user : nullptr;
  };
  SmallVector<Operation *> users(x.getUsers());
  if (users.size() != 2)
    return std::nullopt;
  for (int first = 0; first < 2; ++first) {
    Operation *scale = users[first], *other = users[1 - first];
    if (!ok(scale) || !ok(other))
      continue;
    // x / sqrt(2) or x * (1 / sqrt(2)).
    bool scaled = false;
    if (auto div = dyn_cast<DivOp>(scale))
      scaled = div.getLhs() == x && div.getRhs() != x && isSplat(div.getRhs(), M_SQRT2);
    else if (auto mul = dyn_cast<MulOp>(scale))
      if (Value c = otherOperand(mul, x))
        scaled = isSplat(c, M_SQRT1_2);
    if (!scaled)
      continue;
    auto erf = dyn_cast_or_null<ErfOp>(sole(scale->getResult(0)));
    if (!erf)
      continue;
    auto onePlus = dyn_cast_or_null<AddOp>(sole(erf.getResult()));
    Value one = onePlus ? otherOperand(onePlus, erf.getResult()) : nullptr;
    if (!one || !isSplat(one, 1.0))
      continue;
    auto mulX = dyn_cast<MulOp>(other);
    if (!mulX)
      continue;
    Value xFactor = otherOperand(mulX, x);
    if (!xFactor)
      continue;
    Operation *last = nullptr;
    if (xFactor == onePlus.getResult()) {
      // (x * (1 + erf)) * 0.5
      auto half = dyn_cast_or_null<MulOp>(sole(mulX.getResult()));
      Value c = half ? otherOperand(half, mulX.getResult()) : nullptr;
      if (c && isSplat(c, 0.5))
        last = half;
    } else if (isSplat(xFactor, 0.5)) {
      // (x * 0.5) * (1 + erf)
      auto product = dyn_cast_or_null<MulOp>(sole(mulX.getResult()));
      if (product && otherOperand(product, mulX.getResult()) == onePlus.getResult() &&
          onePlus.getResult().hasOneUse())
        last = product;
    }
    if (!last)
      continue;
    ErfGelu gelu;
    gelu.ops = {scale, erf, onePlus, mulX};
    if (last != mulX)
      gelu.ops.push_back(last);
    gelu.last = last;
    return gelu;
  }
  return std::nullopt;
}

/// Replaces a matched erf GELU of `x` by one pmc.gelu right after `x`'s
/// definition; returns it.
static GeluOp rewriteErfGelu(Value x, const ErfGelu &match) {
  OpBuilder builder(x.getContext());
  builder.setInsertionPointAfter(x.getDefiningOp());
  auto gelu = GeluOp::create(builder, match.last->getLoc(), x.getType(), x);
  if (std::optional<int64_t> stage = getStage(match.last))
    setStage(gelu, *stage);
  match.last->getResult(0).replaceAllUsesWith(gelu.getResult());
  // Users first: erase in reverse data-flow order.
  SmallVector<Operation *> ops(match.ops);
  while (!ops.empty()) {
    for (auto it = ops.begin(); it != ops.end(); ++it)
      if ((*it)->use_empty()) {
        (*it)->erase();
        ops.erase(it);
        break;
      }
  }
  return gelu;
}

/// Folds what follows `matmul`; returns false when nothing does.
static bool foldOne(MatMulOp matmul, bool exactGelu,
                    llvm::SmallPtrSetImpl<Operation *> &members) {
  std::optional<int64_t> stage = getStage(matmul);
  Block *block = matmul->getBlock();
  // The only user of `value`, in the same block and stage.
  auto sole = [&](Value value) -> Operation * {
    if (!value.hasOneUse())
      return nullptr;
    Operation *user = *value.getUsers().begin();
    if (user->getBlock() != block || getStage(user) != stage)
      return nullptr;
    return user;
  };
  Value current = matmul.getResult();
  AddOp biasAdd;
  if (auto add = dyn_cast_or_null<AddOp>(sole(current))) {
    Value bias = otherOperand(add, current);
    // add(matmul, matmul): only the first matmul takes the add (the other is
    // its bias); folding it into both would make each the other's bias.
    if (bias && !members.contains(add) && add.getType() == current.getType() &&
        isLastDimBias(bias.getType(), current.getType())) {
      biasAdd = add;
      current = add.getResult();
    }
  }
  Operation *activation = nullptr;
  Operation *user = sole(current);
  if (auto relu = dyn_cast_or_null<ReluOp>(user)) {
    activation = relu;
  } else if (auto gelu = dyn_cast_or_null<GeluOp>(user)) {
    if (gelu.getTanhApproximation() || exactGelu)
      activation = gelu;
  } else if (exactGelu) {
    if (std::optional<ErfGelu> match = matchErfGelu(current, stage))
      activation = rewriteErfGelu(current, *match);
  }
  if (!biasAdd && !activation)
    return false;

  // Make the chain contiguous: the matmul moves down to its only user (its
  // operands and the bias are defined before that), the activation up to
  // right after its only operand.
  Operation *head = biasAdd ? biasAdd.getOperation() : activation;
  matmul->moveBefore(head);
  if (biasAdd && activation)
    activation->moveAfter(biasAdd);
  std::string kind = biasAdd ? "bias" : "";
  if (activation)
    kind += std::string(biasAdd ? "_" : "") + (isa<ReluOp>(activation) ? "relu" : "gelu");
  matmul->setAttr(kEpilogueAttrName, StringAttr::get(matmul.getContext(), kind));
  if (biasAdd)
    members.insert(biasAdd);
  if (activation)
    members.insert(activation);
  LLVM_DEBUG(llvm::dbgs() << "folded epilogue '" << kind << "' into " << matmul << "\n");
  return true;
}

void mlir::pmc::foldMatmulEpilogues(func::FuncOp main, bool exactGelu,
                                    llvm::SmallPtrSetImpl<Operation *> &members) {
  SmallVector<MatMulOp> matmuls;
  for (Operation &op : main.getBody().front())
    if (auto matmul = dyn_cast<MatMulOp>(op))
      if (matmul.isLibraryCall() && !matmul->hasAttr(kEpilogueAttrName))
        matmuls.push_back(matmul);
  for (MatMulOp matmul : matmuls)
    foldOne(matmul, exactGelu, members);
}
