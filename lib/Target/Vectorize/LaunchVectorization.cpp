//===- LaunchVectorization.cpp - vector memory access in parallel loops ----===//
#include "pmc/Target/LaunchVectorization.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "llvm/ADT/DenseSet.h"

using namespace mlir;

namespace {
/// What the body of a candidate loop does, op by op.
struct LoopPlan {
  /// Body ops whose results differ between consecutive innermost iterations
  /// (they become vector ops), in body order; includes the stores.
  SmallVector<Operation *> varying;
  /// Memrefs accessed contiguously along the innermost dimension.
  SmallVector<Value> contiguous;
  /// The largest element size in bytes among the varying values.
  int64_t maxElementBytes = 0;
};
} // namespace

/// The size in bytes of a scalar int/float type, or 0 if it is not one whose
/// vectors are plain packed bytes (i1, index, non-scalars).
static int64_t scalarBytes(Type type) {
  if (!isa<IntegerType, FloatType>(type))
    return 0;
  unsigned bits = type.getIntOrFloatBitWidth();
  return bits == 8 || bits == 16 || bits == 32 || bits == 64 ? bits / 8 : 0;
}

/// Whether `type` is a scalar an elementwise op may take as a vector.
static bool isVectorizableScalar(Type type) {
  return isa<FloatType>(type) || (isa<IntegerType>(type) && scalarBytes(type) != 0) ||
         type.isInteger(1);
}

/// Whether `memref` is rooted at a parameter of `func`, through views only.
static bool isRootedAtParameter(Value memref, func::FuncOp func) {
  while (auto view = memref.getDefiningOp<ViewLikeOpInterface>())
    memref = view.getViewSource();
  auto arg = dyn_cast<BlockArgument>(memref);
  return arg && arg.getOwner() == &func.getBody().front();
}

/// Whether `width` consecutive elements at the innermost index of `memref`
/// start at a multiple of `width` elements from the memref's base for every
/// index: unit innermost stride, static offset and outer strides that are
/// multiples of `width`.
static bool isAlignedFor(Value memref, int64_t width) {
  auto type = cast<MemRefType>(memref.getType());
  SmallVector<int64_t> strides;
  int64_t offset;
  if (failed(type.getStridesAndOffset(strides, offset)) || strides.empty())
    return false;
  if (ShapedType::isDynamic(offset) || offset % width != 0 || strides.back() != 1)
    return false;
  for (int64_t stride : ArrayRef<int64_t>(strides).drop_back())
    if (ShapedType::isDynamic(stride) || stride % width != 0)
      return false;
  return true;
}

/// Decides whether `loop` is elementwise along its innermost dimension and
/// which of its body ops vary along it. Fails on anything else.
static FailureOr<LoopPlan> planLoop(scf::ParallelOp loop, func::FuncOp func) {
  if (loop.getNumResults() != 0 || loop.getNumLoops() == 0)
    return failure();
  std::optional<int64_t> step = getConstantIntValue(loop.getStep().back());
  if (!step || *step != 1)
    return failure();
  Value iv = loop.getInductionVars().back();
  LoopPlan plan;
  llvm::DenseSet<Value> varying;
  varying.insert(iv);
  auto isVarying = [&](Value v) { return varying.contains(v); };
  // Indices that vary only in the last position, with exactly the iv there.
  // Returns 1 (contiguous), 0 (uniform) or -1 (anything else).
  auto classify = [&](ValueRange indices) {
    if (indices.empty())
      return 0;
    for (Value index : indices.drop_back())
      if (isVarying(index))
        return -1;
    if (indices.back() == iv)
      return 1;
    return isVarying(indices.back()) ? -1 : 0;
  };
  bool stores = false;
  for (Operation &op : loop.getBody()->without_terminator()) {
    if (op.getNumRegions() != 0)
      return failure();
    if (auto load = dyn_cast<memref::LoadOp>(op)) {
      int kind = classify(load.getIndices());
      if (kind < 0)
        return failure();
      if (kind == 0)
        continue; // A broadcast operand: one scalar load, splatted.
      int64_t bytes = scalarBytes(load.getType());
      if (!bytes || !isRootedAtParameter(load.getMemRef(), func))
        return failure();
      plan.maxElementBytes = std::max(plan.maxElementBytes, bytes);
      plan.contiguous.push_back(load.getMemRef());
      plan.varying.push_back(&op);
      varying.insert(load.getResult());
      continue;
    }
    if (auto store = dyn_cast<memref::StoreOp>(op)) {
      int64_t bytes = scalarBytes(store.getValueToStore().getType());
      if (classify(store.getIndices()) != 1 || !bytes ||
          !isRootedAtParameter(store.getMemRef(), func))
        return failure();
      plan.maxElementBytes = std::max(plan.maxElementBytes, bytes);
      plan.contiguous.push_back(store.getMemRef());
      plan.varying.push_back(&op);
      stores = true;
      continue;
    }
    if (!isMemoryEffectFree(&op))
      return failure();
    if (llvm::none_of(op.getOperands(), isVarying))
      continue; // The same in every lane: stays scalar.
    if (!op.hasTrait<OpTrait::Elementwise>() || op.getNumResults() == 0)
      return failure();
    for (Type type : llvm::concat<const Type>(op.getOperandTypes(), op.getResultTypes()))
      if (!isVectorizableScalar(type))
        return failure();
    for (Value result : op.getResults())
      varying.insert(result);
    plan.varying.push_back(&op);
  }
  if (!stores)
    return failure();
  return plan;
}

/// The widest width in elements (at most `maxBytes` per access, at least 2)
/// for which `loop` and every contiguous access of `plan` line up; 0 if none.
static int64_t chooseWidth(scf::ParallelOp loop, const LoopPlan &plan,
                           int64_t maxBytes) {
  std::optional<int64_t> lb = getConstantIntValue(loop.getLowerBound().back());
  std::optional<int64_t> ub = getConstantIntValue(loop.getUpperBound().back());
  if (!lb || !ub || *ub <= *lb)
    return 0;
  for (int64_t width = maxBytes / plan.maxElementBytes; width >= 2; width /= 2) {
    if (*lb % width != 0 || (*ub - *lb) % width != 0)
      continue;
    if (llvm::all_of(plan.contiguous,
                     [&](Value memref) { return isAlignedFor(memref, width); }))
      return width;
  }
  return 0;
}

/// Rewrites the body of `loop` to process `width` innermost iterations at once.
static void vectorizeLoop(scf::ParallelOp loop, const LoopPlan &plan, int64_t width) {
  OpBuilder b(loop);
  unsigned inner = loop.getNumLoops() - 1;
  loop->setOperand(loop.getStep().getBeginOperandIndex() + inner,
                   arith::ConstantIndexOp::create(b, loop.getLoc(), width));
  IRMapping vectors;
  auto vectorOf = [&](OpBuilder &b, Location loc, Value scalar) -> Value {
    if (Value v = vectors.lookupOrNull(scalar))
      return v;
    return vector::BroadcastOp::create(
        b, loc, VectorType::get({width}, scalar.getType()), scalar);
  };
  auto alignment = [&](Type element) {
    return llvm::MaybeAlign(width * scalarBytes(element));
  };
  for (Operation *op : plan.varying) {
    b.setInsertionPoint(op);
    Location loc = op->getLoc();
    if (auto load = dyn_cast<memref::LoadOp>(op)) {
      auto read = vector::LoadOp::create(
          b, loc, VectorType::get({width}, load.getType()), load.getMemRef(),
          load.getIndices(), /*nontemporal=*/false, alignment(load.getType()));
      vectors.map(load.getResult(), read.getResult());
      continue;
    }
    if (auto store = dyn_cast<memref::StoreOp>(op)) {
      Value value = store.getValueToStore();
      vector::StoreOp::create(b, loc, vectorOf(b, loc, value), store.getMemRef(),
                              store.getIndices(), /*nontemporal=*/false,
                              alignment(value.getType()));
      continue;
    }
    OperationState state(loc, op->getName());
    for (Value operand : op->getOperands())
      state.operands.push_back(vectorOf(b, loc, operand));
    for (Type type : op->getResultTypes())
      state.types.push_back(VectorType::get({width}, type));
    state.addAttributes(op->getAttrs());
    Operation *vectorOp = b.create(state);
    vectors.map(op->getResults(), vectorOp->getResults());
  }
  for (Operation *op : llvm::reverse(plan.varying))
    op->erase();
}

unsigned (::pmc::vectorizeParallelLoops)(func::FuncOp func, int64_t maxBytes) {
  if (maxBytes <= 0 || func.isExternal())
    return 0;
  unsigned count = 0;
  for (auto loop : llvm::to_vector(func.getBody().front().getOps<scf::ParallelOp>())) {
    FailureOr<LoopPlan> plan = planLoop(loop, func);
    if (failed(plan))
      continue;
    if (int64_t width = chooseWidth(loop, *plan, maxBytes)) {
      vectorizeLoop(loop, *plan, width);
      ++count;
    }
  }
  return count;
}
