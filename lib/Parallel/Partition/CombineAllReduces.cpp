//===- CombineAllReduces.cpp - gradient buckets: one all-reduce for many ---===//
//
// The pass description (Passes.td) has the IR before and after. Buckets are
// formed greedily in the order the inputs become ready, as DDP fills its
// buckets in the order the backward pass produces the gradients.
//
#include "pmc/Dialect/PMC/IR/PMCDialect.h"
#include "pmc/Dialect/PMC/IR/PMCOps.h"
#include "pmc/Parallel/Partition/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

#include <limits>

namespace mlir::pmc {
#define GEN_PASS_DEF_PMCCOMBINEALLREDUCES
#include "pmc/Parallel/Partition/Passes.h.inc"
} // namespace mlir::pmc

using namespace mlir;
using namespace mlir::pmc;

namespace {

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

/// One all-reduce that may join a bucket.
struct Candidate {
  AllReduceOp op;
  /// Position of the op defining the input (-1: an argument of the block).
  int64_t ready = -1;
  /// Position of the first op of the block that uses the result.
  int64_t firstUse = kNever;
  int64_t bytes = 0;
};

int64_t elementBytes(Type type) {
  unsigned bits = type.getIntOrFloatBitWidth();
  return bits < 8 ? 1 : bits / 8;
}

/// What must agree for two all-reduces to be one: group, reduction, dtype.
bool sameKind(AllReduceOp a, AllReduceOp b) { // by value: Op methods are not const
  return a.getAxes() == b.getAxes() && a.getReduction() == b.getReduction() &&
         cast<RankedTensorType>(a.getType()).getElementType() ==
             cast<RankedTensorType>(b.getType()).getElementType();
}

/// Replaces the members of `bucket` (two or more) by one all-reduce of their
/// concatenation, placed after `after` (null: at the start of `block`), and
/// each member's result by its slice, placed before the first user of any.
void combine(ArrayRef<Candidate> bucket, Block &block, Operation *after,
             ArrayRef<Operation *> opAt) {
  AllReduceOp first = bucket.front().op;
  Location loc = first.getLoc();
  OpBuilder b(first.getContext());
  if (after)
    b.setInsertionPointAfter(after);
  else
    b.setInsertionPointToStart(&block);
  Type element = cast<RankedTensorType>(first.getType()).getElementType();
  SmallVector<Value> flat;
  SmallVector<int64_t> offsets;
  int64_t total = 0;
  for (Candidate c : bucket) {
    auto type = cast<RankedTensorType>(c.op.getType());
    int64_t n = type.getNumElements();
    Value input = c.op.getInput();
    if (type.getRank() != 1)
      input = ReshapeOp::create(b, loc, RankedTensorType::get({n}, element), input);
    flat.push_back(input);
    offsets.push_back(total);
    total += n;
  }
  auto bucketType = RankedTensorType::get({total}, element);
  Value cat = ConcatOp::create(b, loc, ValueRange(flat),
                               {b.getNamedAttr("axis", b.getI64IntegerAttr(0))})
                  .getResult();
  Value reduced = AllReduceOp::create(b, loc, bucketType, cat, first.getAxes(),
                                      first.getReductionAttr())
                      .getResult();
  // Every result is sliced out where the first of them is needed: the
  // bucket's reduction is freed there, and the slices live as the separate
  // results would have.
  int64_t firstUse = kNever;
  for (const Candidate &c : bucket)
    firstUse = std::min(firstUse, c.firstUse);
  for (auto [member, offset] : llvm::zip(bucket, offsets)) {
    Candidate c = member;
    auto type = cast<RankedTensorType>(c.op.getType());
    if (c.firstUse == kNever) {
      c.op.erase();
      continue;
    }
    b.setInsertionPoint(opAt[firstUse]);
    Value part = SliceOp::create(b, c.op.getLoc(),
                                 RankedTensorType::get({type.getNumElements()}, element),
                                 reduced, b.getDenseI64ArrayAttr({offset}),
                                 b.getDenseI64ArrayAttr({1}));
    if (type.getRank() != 1)
      part = ReshapeOp::create(b, c.op.getLoc(), type, part);
    c.op.getResult().replaceAllUsesWith(part);
    c.op.erase();
  }
}

/// Moves reshapes of all-reduce results down to right before their first
/// user: a reshape is a view for the runtime, not a use worth waiting for, and
/// the result's slice should come right before its first real use.
void sinkReshapesOfResults(Block &block) {
  SmallVector<ReshapeOp> reshapes;
  for (Operation &op : block)
    if (auto reduce = dyn_cast<AllReduceOp>(op))
      for (Operation *user : reduce->getUsers())
        if (auto reshape = dyn_cast<ReshapeOp>(user); reshape && user->getBlock() == &block)
          reshapes.push_back(reshape);
  for (ReshapeOp reshape : reshapes) {
    Operation *first = nullptr;
    for (Operation *user : reshape->getUsers())
      if (Operation *inBlock = block.findAncestorOpInBlock(*user))
        if (!first || inBlock->isBeforeInBlock(first))
          first = inBlock;
    if (first && first != reshape->getNextNode())
      reshape->moveBefore(first);
  }
}

void combineBlock(Block &block, int64_t bucketBytes) {
  sinkReshapesOfResults(block);
  DenseMap<Operation *, int64_t> position;
  SmallVector<Operation *> opAt;
  for (Operation &op : block) {
    position[&op] = static_cast<int64_t>(opAt.size());
    opAt.push_back(&op);
  }
  SmallVector<Candidate> candidates;
  for (Operation *op : opAt) {
    auto reduce = dyn_cast<AllReduceOp>(op);
    if (!reduce)
      continue;
    auto type = cast<RankedTensorType>(reduce.getType());
    if (!type.hasStaticShape() || !type.getElementType().isIntOrFloat())
      continue;
    Candidate c{reduce};
    if (Operation *def = reduce.getInput().getDefiningOp())
      if (Operation *inBlock = block.findAncestorOpInBlock(*def))
        c.ready = position.lookup(inBlock);
    for (Operation *user : reduce->getUsers())
      if (Operation *inBlock = block.findAncestorOpInBlock(*user))
        c.firstUse = std::min(c.firstUse, position.lookup(inBlock));
    c.bytes = type.getNumElements() * elementBytes(type.getElementType());
    if (c.bytes <= bucketBytes)
      candidates.push_back(c);
  }
  // In the order the inputs are ready (then program order: stable).
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Candidate &a, const Candidate &b) { return a.ready < b.ready; });
  // Open buckets, one per kind; a bucket closes when it is full or when the
  // next input is ready only after a member's result is needed.
  SmallVector<SmallVector<Candidate>> open, closed;
  for (const Candidate &c : candidates) {
    SmallVector<Candidate> *bucket = nullptr;
    for (SmallVector<Candidate> &o : open)
      if (sameKind(o.front().op, c.op))
        bucket = &o;
    if (bucket) {
      int64_t bytes = c.bytes, needed = c.firstUse;
      for (const Candidate &m : *bucket) {
        bytes += m.bytes;
        needed = std::min(needed, m.firstUse);
      }
      if (bytes > bucketBytes || needed <= c.ready) {
        closed.push_back(std::move(*bucket));
        bucket->clear();
      }
      bucket->push_back(c);
    } else {
      open.push_back({c});
    }
  }
  closed.append(open.begin(), open.end());
  for (const SmallVector<Candidate> &bucket : closed) {
    if (bucket.size() < 2)
      continue;
    int64_t ready = -1;
    for (const Candidate &c : bucket)
      ready = std::max(ready, c.ready);
    combine(bucket, block, ready < 0 ? nullptr : opAt[ready], opAt);
  }
}

struct CombineAllReduces
    : public mlir::pmc::impl::PMCCombineAllReducesBase<CombineAllReduces> {
  using Base::Base;
  void runOnOperation() override {
    if (bucketBytes <= 0)
      return;
    getOperation().walk([&](func::FuncOp func) {
      for (Block &block : func.getBody())
        combineBlock(block, bucketBytes);
    });
  }
};

} // namespace
