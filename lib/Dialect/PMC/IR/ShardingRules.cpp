//===- ShardingRules.cpp - the sharding rule of every pmc op ---------------===//
//
// Conventions (read by propagation, the partitioner and the cost model):
// - A dimension of size 1 is made of no factor: it is never split.
// - Factors are numbered in order of first appearance (operands, then
//   results; dimensions major first), so printed rules read i, j, k, ...
// - Parallel factors are shared by every operand and result dimension they
//   index; Reduction factors appear in operands only; Whole factors must not
//   be split (a dimension the op needs entirely).
// - Ops with different sizes on the two sides of a dimension (a pooled or
//   sliced dimension) give each side its own Whole factor.
//
#include "pmc/Dialect/PMC/IR/PMCOps.h"
#include "pmc/Dialect/PMC/IR/ShardingRule.h"

#include "llvm/ADT/DenseMap.h"

using namespace mlir;
using namespace mlir::pmc;

namespace {

/// Builds a rule with factors created on demand, then renumbers them in
/// order of first appearance.
class RuleBuilder {
public:
  RuleBuilder(Operation *op) {
    rule.operands.resize(op->getNumOperands());
    rule.results.resize(op->getNumResults());
    for (auto [i, v] : llvm::enumerate(op->getOperands()))
      rule.operands[i].resize(cast<ShapedType>(v.getType()).getRank());
    for (auto [i, v] : llvm::enumerate(op->getResults()))
      rule.results[i].resize(cast<ShapedType>(v.getType()).getRank());
  }

  /// A new factor of `size`, or -1 (no factor) when `size` is 1.
  int64_t factor(int64_t size, FactorKind kind = FactorKind::Parallel,
                 PartialKind partial = PartialKind::Sum) {
    if (size == 1)
      return -1;
    return rule.addFactor(size, kind, partial);
  }
  /// Dimension `dim` of operand `i` is made of `f` (nothing when f is -1).
  void operand(unsigned i, int64_t dim, int64_t f) {
    if (f >= 0)
      rule.operands[i][dim].push_back(f);
  }
  void result(unsigned i, int64_t dim, int64_t f) {
    if (f >= 0)
      rule.results[i][dim].push_back(f);
  }

  /// Renumbers factors by first appearance and returns the rule.
  ShardingRule finish() {
    llvm::DenseMap<int64_t, int64_t> renumber;
    ShardingRule ordered;
    auto visit = [&](SmallVector<ShardingRule::TensorFactors> &tensors) {
      for (ShardingRule::TensorFactors &dims : tensors)
        for (ShardingRule::DimFactors &factors : dims)
          for (int64_t &f : factors) {
            auto [it, inserted] = renumber.try_emplace(f, ordered.factors.size());
            if (inserted)
              ordered.factors.push_back(rule.factors[f]);
            f = it->second;
          }
    };
    visit(rule.operands);
    visit(rule.results);
    ordered.operands = std::move(rule.operands);
    ordered.results = std::move(rule.results);
    ordered.addends = std::move(rule.addends);
    for (ShardingRule::ScaledAttribute scaled : rule.scaledAttributes)
      if (auto it = renumber.find(scaled.factor); it != renumber.end())
        ordered.scaledAttributes.push_back({scaled.name, it->second});
    return ordered;
  }

  ShardingRule rule;
};

ArrayRef<int64_t> shapeOf(Value v) { return cast<ShapedType>(v.getType()).getShape(); }

/// Elementwise with numpy broadcasting: every result dimension owns a
/// factor; an operand dimension aligned (from the right) with it shares the
/// factor when the sizes are equal, and has none when it is a stretched 1.
ShardingRule broadcastRule(Operation *op) {
  RuleBuilder b(op);
  ArrayRef<int64_t> out = shapeOf(op->getResult(0));
  int64_t rank = out.size();
  for (int64_t d = 0; d < rank; ++d) {
    int64_t f = b.factor(out[d]);
    b.result(0, d, f);
    for (auto [i, operand] : llvm::enumerate(op->getOperands())) {
      ArrayRef<int64_t> in = shapeOf(operand);
      int64_t inDim = d - (rank - (int64_t)in.size());
      if (inDim >= 0 && in[inDim] == out[d])
        b.operand(i, inDim, f);
    }
  }
  return b.finish();
}

/// Operand 0 and result 0 share one factor per dimension; `kindOf(d)` says
/// each dimension's kind.
ShardingRule sameShapeRule(Operation *op, function_ref<FactorKind(int64_t)> kindOf) {
  RuleBuilder b(op);
  ArrayRef<int64_t> shape = shapeOf(op->getResult(0));
  for (int64_t d = 0, e = shape.size(); d < e; ++d) {
    int64_t f = b.factor(shape[d], kindOf(d));
    b.operand(0, d, f);
    b.result(0, d, f);
  }
  return b.finish();
}

ShardingRule elementwiseRule(Operation *op) {
  return sameShapeRule(op, [](int64_t) { return FactorKind::Parallel; });
}

ShardingRule constantRule(ConstantOp op) {
  RuleBuilder b(op);
  ArrayRef<int64_t> shape = shapeOf(op.getOutput());
  for (int64_t d = 0, e = shape.size(); d < e; ++d)
    b.result(0, d, b.factor(shape[d]));
  return b.finish();
}

/// A draw depends on its element's global linear index (RandomUniformOp),
/// which a rank's block does not know: the result is computed whole.
ShardingRule randomUniformRule(RandomUniformOp op) {
  RuleBuilder b(op);
  ArrayRef<int64_t> shape = shapeOf(op.getOutput());
  for (int64_t d = 0, e = shape.size(); d < e; ++d)
    b.result(0, d, b.factor(shape[d], FactorKind::Whole));
  return b.finish();
}

/// ([batch.., m, k], [batch.., k, n]) -> ([batch.., m, n]), k a sum
/// reduction; batch dimensions broadcast as elementwise ops do.
ShardingRule matmulRule(MatMulOp op) {
  RuleBuilder b(op);
  ArrayRef<int64_t> lhs = shapeOf(op.getLhs()), rhs = shapeOf(op.getRhs()),
                    out = shapeOf(op.getOutput());
  int64_t rank = out.size(), lr = lhs.size(), rr = rhs.size();
  for (int64_t d = 0; d < rank - 2; ++d) {
    int64_t f = b.factor(out[d]);
    b.result(0, d, f);
    int64_t l = d - (rank - lr), r = d - (rank - rr);
    if (l >= 0 && lhs[l] == out[d])
      b.operand(0, l, f);
    if (r >= 0 && rhs[r] == out[d])
      b.operand(1, r, f);
  }
  int64_t mDim = op.getTransposeA() ? lr - 1 : lr - 2;
  int64_t kDimA = op.getTransposeA() ? lr - 2 : lr - 1;
  int64_t kDimB = op.getTransposeB() ? rr - 1 : rr - 2;
  int64_t nDim = op.getTransposeB() ? rr - 2 : rr - 1;
  int64_t m = b.factor(lhs[mDim]);
  int64_t k = b.factor(lhs[kDimA], FactorKind::Reduction, PartialKind::Sum);
  int64_t n = b.factor(rhs[nDim]);
  b.operand(0, mDim, m);
  b.operand(0, kDimA, k);
  b.operand(1, kDimB, k);
  b.operand(1, nDim, n);
  b.result(0, rank - 2, m);
  b.result(0, rank - 1, n);
  return b.finish();
}

/// Batch parallel; channels in groups: input channels are [g cg] (groups
/// major), filters [g mg]. The group factor g is parallel and scales the
/// `group` attribute (each rank convolves whole groups); the channels of a
/// group cg are a sum reduction (each rank convolves some of them, the results
/// add up; the bias is an addend then); the filters of a group mg are
/// parallel. With group == 1, g has size 1 and is no factor: input channels
/// are a plain reduction, filters plain parallel. Windows are Whole.
///   depthwise 32 channels: ([n, g, h, w], [g, 1, kh, kw], [g]) -> ([n, g, oh, ow])
ShardingRule convRule(ConvOp op) {
  RuleBuilder b(op);
  ArrayRef<int64_t> in = shapeOf(op.getInput()), w = shapeOf(op.getWeight()),
                    out = shapeOf(op.getOutput());
  int64_t groups = op.getGroup();
  int64_t batch = b.factor(in[0]);
  b.operand(0, 0, batch);
  b.result(0, 0, batch);
  int64_t g = b.factor(groups);
  int64_t cg = b.factor(w[1], FactorKind::Reduction, PartialKind::Sum);
  b.operand(0, 1, g);
  b.operand(0, 1, cg);
  for (int64_t d = 2, e = in.size(); d < e; ++d)
    b.operand(0, d, b.factor(in[d], FactorKind::Whole));
  int64_t mg = b.factor(w[0] / groups);
  b.operand(1, 0, g);
  b.operand(1, 0, mg);
  b.operand(1, 1, cg);
  for (int64_t d = 2, e = w.size(); d < e; ++d)
    b.operand(1, d, b.factor(w[d], FactorKind::Whole));
  if (op.getBias()) {
    b.operand(2, 0, g);
    b.operand(2, 0, mg);
    b.rule.addends.push_back(2);
  }
  b.result(0, 1, g);
  b.result(0, 1, mg);
  for (int64_t d = 2, e = out.size(); d < e; ++d)
    b.result(0, d, b.factor(out[d], FactorKind::Whole));
  if (g >= 0)
    b.rule.scaledAttributes.push_back({"group", g});
  return b.finish();
}

/// Batch and channels parallel; input and output windows Whole.
ShardingRule poolRule(Operation *op) {
  RuleBuilder b(op);
  ArrayRef<int64_t> in = shapeOf(op->getOperand(0)), out = shapeOf(op->getResult(0));
  for (int64_t d = 0; d < 2; ++d) {
    int64_t f = b.factor(in[d]);
    b.operand(0, d, f);
    b.result(0, d, f);
  }
  for (int64_t d = 2, e = in.size(); d < e; ++d)
    b.operand(0, d, b.factor(in[d], FactorKind::Whole));
  for (int64_t d = 2, e = out.size(); d < e; ++d)
    b.result(0, d, b.factor(out[d], FactorKind::Whole));
  return b.finish();
}

/// Kept dimensions parallel. Reduced dimensions: a sum (max) reduction for
/// reduce_sum (reduce_max), whose partial results combine with the
/// `partial_sum` (`partial_max`) of the contract. reduce_mean, reduce_min and
/// reduce_prod keep them Whole: the contract has no partial mean, min or
/// product (a local mean divides by the local count, so even a partial sum of
/// local means is wrong without rescaling).
ShardingRule reduceRule(Operation *op, ArrayRef<int64_t> axes, bool keepdims,
                        std::optional<PartialKind> partial) {
  RuleBuilder b(op);
  ArrayRef<int64_t> in = shapeOf(op->getOperand(0));
  int64_t outDim = 0;
  for (int64_t d = 0, e = in.size(); d < e; ++d) {
    if (llvm::is_contained(axes, d)) {
      b.operand(0, d,
                partial ? b.factor(in[d], FactorKind::Reduction, *partial)
                        : b.factor(in[d], FactorKind::Whole));
      if (keepdims)
        ++outDim;
      continue;
    }
    int64_t f = b.factor(in[d]);
    b.operand(0, d, f);
    b.result(0, outDim++, f);
  }
  return b.finish();
}

template <typename OpTy>
ShardingRule reduceRule(OpTy op, std::optional<PartialKind> partial) {
  return reduceRule(op, op.getAxes(), op.getKeepdims(), partial);
}

/// Dimensions before `axis` parallel and shared with the statistics; the
/// normalized ones Whole, shared with the scale and bias where those have
/// them (right-aligned, a stretched 1 has none).
ShardingRule layerNormRule(LayerNormOp op) {
  RuleBuilder b(op);
  ArrayRef<int64_t> in = shapeOf(op.getInput());
  int64_t rank = in.size(), axis = op.getAxis();
  for (int64_t d = 0; d < rank; ++d) {
    bool normalized = d >= axis;
    int64_t f = b.factor(in[d], normalized ? FactorKind::Whole : FactorKind::Parallel);
    b.operand(0, d, f);
    b.result(0, d, f);
    if (!normalized) {
      b.result(1, d, f);
      b.result(2, d, f);
      continue;
    }
    for (unsigned i = 1; i < op->getNumOperands(); ++i) {
      ArrayRef<int64_t> param = shapeOf(op->getOperand(i));
      int64_t p = d - (rank - (int64_t)param.size());
      if (p >= 0 && param[p] == in[d])
        b.operand(i, p, f);
    }
  }
  return b.finish();
}

ShardingRule transposeRule(TransposeOp op) {
  RuleBuilder b(op);
  ArrayRef<int64_t> in = shapeOf(op.getInput());
  SmallVector<int64_t> factors;
  for (int64_t d = 0, e = in.size(); d < e; ++d) {
    factors.push_back(b.factor(in[d]));
    b.operand(0, d, factors.back());
  }
  for (auto [i, p] : llvm::enumerate(op.getPerm()))
    b.result(0, i, factors[p]);
  return b.finish();
}

/// Compound factors: the dimensions (size-1 ones skipped) split into groups
/// whose products match on both sides; in a group, the factors are the steps
/// between the union of both sides' prefix products, when that union is a
/// divisibility chain ([6] vs [2, 3]: prefixes {6} and {2, 6}, factors 2, 3,
/// so [a b] -> [a], [b]). Otherwise ([2, 3] vs [3, 2]) no block of one side is
/// a block of the other, and each dimension of the group gets a Whole factor.
ShardingRule reshapeRule(ReshapeOp op) {
  RuleBuilder b(op);
  ArrayRef<int64_t> in = shapeOf(op.getInput()), out = shapeOf(op.getOutput());
  // An empty tensor has no common refinement worth splitting (and prefix
  // products of 0 cannot be divided): every dimension stays whole.
  if (llvm::is_contained(in, 0) || llvm::is_contained(out, 0)) {
    for (int64_t d = 0, e = in.size(); d < e; ++d)
      if (in[d] != 1)
        b.operand(0, d, b.factor(in[d], FactorKind::Whole));
    for (int64_t d = 0, e = out.size(); d < e; ++d)
      if (out[d] != 1)
        b.result(0, d, b.factor(out[d], FactorKind::Whole));
    return b.finish();
  }
  SmallVector<int64_t> inDims, outDims;
  for (int64_t d = 0, e = in.size(); d < e; ++d)
    if (in[d] != 1)
      inDims.push_back(d);
  for (int64_t d = 0, e = out.size(); d < e; ++d)
    if (out[d] != 1)
      outDims.push_back(d);
  size_t i = 0, j = 0;
  while (i < inDims.size() && j < outDims.size()) {
    // One group: inDims[i, iEnd) and outDims[j, jEnd) of equal product.
    size_t iEnd = i + 1, jEnd = j + 1;
    int64_t pi = in[inDims[i]], po = out[outDims[j]];
    SmallVector<int64_t> prefixes = {pi, po};
    while (pi != po) {
      if (pi < po && iEnd < inDims.size())
        prefixes.push_back(pi *= in[inDims[iEnd++]]);
      else if (jEnd < outDims.size())
        prefixes.push_back(po *= out[outDims[jEnd++]]);
      else
        break; // Unequal element counts: the verifier rejects this op.
    }
    llvm::sort(prefixes);
    prefixes.erase(llvm::unique(prefixes), prefixes.end());
    bool chain = true;
    for (size_t p = 1; p < prefixes.size(); ++p)
      chain &= prefixes[p] % prefixes[p - 1] == 0;
    if (!chain) {
      for (size_t d = i; d < iEnd; ++d)
        b.operand(0, inDims[d], b.factor(in[inDims[d]], FactorKind::Whole));
      for (size_t d = j; d < jEnd; ++d)
        b.result(0, outDims[d], b.factor(out[outDims[d]], FactorKind::Whole));
    } else {
      // Factor p spans prefix products (prefixes[p-1], prefixes[p]].
      SmallVector<int64_t> factors;
      int64_t previous = 1;
      for (int64_t prefix : prefixes) {
        factors.push_back(b.factor(prefix / previous));
        previous = prefix;
      }
      auto assign = [&](ArrayRef<int64_t> shape, ArrayRef<int64_t> dims,
                        bool isOperand) {
        int64_t prefix = 1;
        size_t next = 0;
        for (int64_t d : dims) {
          prefix *= shape[d];
          while (next < prefixes.size() && prefixes[next] <= prefix) {
            if (isOperand)
              b.operand(0, d, factors[next]);
            else
              b.result(0, d, factors[next]);
            ++next;
          }
        }
      };
      assign(in, ArrayRef<int64_t>(inDims).slice(i, iEnd - i), true);
      assign(out, ArrayRef<int64_t>(outDims).slice(j, jEnd - j), false);
    }
    i = iEnd;
    j = jEnd;
  }
  return b.finish();
}

/// Every result dimension owns a factor; an input dimension equal to it
/// (right-aligned) shares it, a stretched 1 has none.
ShardingRule broadcastToRule(BroadcastOp op) { return broadcastRule(op); }

/// The axis is Whole (each input and the result its own factor); the other
/// dimensions are shared by all inputs and the result.
ShardingRule concatRule(ConcatOp op) {
  RuleBuilder b(op);
  ArrayRef<int64_t> out = shapeOf(op.getOutput());
  int64_t axis = op.getAxis();
  for (int64_t d = 0, e = out.size(); d < e; ++d) {
    if (d == axis) {
      for (auto [i, input] : llvm::enumerate(op.getInputs()))
        b.operand(i, d, b.factor(shapeOf(input)[d], FactorKind::Whole));
      b.result(0, d, b.factor(out[d], FactorKind::Whole));
      continue;
    }
    int64_t f = b.factor(out[d]);
    for (unsigned i = 0; i < op.getInputs().size(); ++i)
      b.operand(i, d, f);
    b.result(0, d, f);
  }
  return b.finish();
}

/// A dimension taken whole (start 0, step 1, same size) is parallel; a sliced
/// one is Whole on both sides (its own factor each).
ShardingRule sliceRule(SliceOp op) {
  RuleBuilder b(op);
  ArrayRef<int64_t> in = shapeOf(op.getInput()), out = shapeOf(op.getOutput());
  for (int64_t d = 0, e = in.size(); d < e; ++d) {
    if (op.getStarts()[d] == 0 && op.getSteps()[d] == 1 && in[d] == out[d]) {
      int64_t f = b.factor(in[d]);
      b.operand(0, d, f);
      b.result(0, d, f);
      continue;
    }
    b.operand(0, d, b.factor(in[d], FactorKind::Whole));
    b.result(0, d, b.factor(out[d], FactorKind::Whole));
  }
  return b.finish();
}

/// Unpadded dimensions are shared; a padded one is Whole on both sides (the
/// pad value and reflections need the whole dimension). A pad value operand
/// is a scalar.
ShardingRule padRule(PadOp op) {
  RuleBuilder b(op);
  ArrayRef<int64_t> in = shapeOf(op.getInput()), out = shapeOf(op.getOutput());
  int64_t rank = in.size();
  for (int64_t d = 0; d < rank; ++d) {
    if (op.getPads()[d] == 0 && op.getPads()[d + rank] == 0) {
      int64_t f = b.factor(in[d]);
      b.operand(0, d, f);
      b.result(0, d, f);
      continue;
    }
    b.operand(0, d, b.factor(in[d], FactorKind::Whole));
    b.result(0, d, b.factor(out[d], FactorKind::Whole));
  }
  return b.finish();
}

/// The searched axis is Whole (an index is global); the other dimensions are
/// shared with the result (which keeps the axis as 1 with keepdims).
template <typename OpTy> ShardingRule argReduceRule(OpTy op) {
  RuleBuilder b(op);
  ArrayRef<int64_t> in = shapeOf(op.getInput());
  int64_t axis = op.getAxis(), out = 0;
  for (int64_t d = 0, e = in.size(); d < e; ++d) {
    if (d == axis) {
      b.operand(0, d, b.factor(in[d], FactorKind::Whole));
      if (op.getKeepdims())
        ++out;
      continue;
    }
    int64_t f = b.factor(in[d]);
    b.operand(0, d, f);
    b.result(0, out++, f);
  }
  return b.finish();
}

/// The axis is Whole (indices reach anywhere along it); another dimension is
/// shared by data, indices and result when data and indices agree on its size,
/// and Whole otherwise.
ShardingRule gatherElementsRule(GatherElementsOp op) {
  RuleBuilder b(op);
  ArrayRef<int64_t> data = shapeOf(op.getData()), indices = shapeOf(op.getIndices());
  for (int64_t d = 0, e = data.size(); d < e; ++d) {
    if (d != op.getAxis() && data[d] == indices[d]) {
      int64_t f = b.factor(data[d]);
      b.operand(0, d, f);
      b.operand(1, d, f);
      b.result(0, d, f);
      continue;
    }
    b.operand(0, d, b.factor(data[d], FactorKind::Whole));
    int64_t f = b.factor(indices[d], FactorKind::Whole);
    b.operand(1, d, f);
    b.result(0, d, f);
  }
  return b.finish();
}

/// data[:axis] and data[axis+1:] are shared with the result around the
/// indices' dimensions, which are shared too; data's axis is Whole (any row
/// may be picked).
ShardingRule gatherRule(GatherOp op) {
  RuleBuilder b(op);
  ArrayRef<int64_t> data = shapeOf(op.getData()), indices = shapeOf(op.getIndices());
  int64_t axis = op.getAxis(), indexRank = indices.size();
  for (int64_t d = 0; d < axis; ++d) {
    int64_t f = b.factor(data[d]);
    b.operand(0, d, f);
    b.result(0, d, f);
  }
  b.operand(0, axis, b.factor(data[axis], FactorKind::Whole));
  for (int64_t d = 0; d < indexRank; ++d) {
    int64_t f = b.factor(indices[d]);
    b.operand(1, d, f);
    b.result(0, axis + d, f);
  }
  for (int64_t d = axis + 1, e = data.size(); d < e; ++d) {
    int64_t f = b.factor(data[d]);
    b.operand(0, d, f);
    b.result(0, d - 1 + indexRank, f);
  }
  return b.finish();
}

/// One external model per op: `build` computes the rule from the op.
template <typename OpTy, ShardingRule (*build)(OpTy)>
struct RuleModel
    : public ShardingRuleOpInterface::ExternalModel<RuleModel<OpTy, build>, OpTy> {
  ShardingRule getShardingRule(Operation *op) const { return build(cast<OpTy>(op)); }
};

template <typename OpTy> ShardingRule elementwise(OpTy op) { return elementwiseRule(op); }
template <typename OpTy> ShardingRule broadcasting(OpTy op) { return broadcastRule(op); }
template <typename OpTy> ShardingRule pool(OpTy op) { return poolRule(op); }
template <typename OpTy> ShardingRule softmaxLike(OpTy op) {
  int64_t axis = op.getAxis();
  return sameShapeRule(op, [&](int64_t d) {
    return d == axis ? FactorKind::Whole : FactorKind::Parallel;
  });
}
ShardingRule reduceSum(ReduceSumOp op) { return reduceRule(op, PartialKind::Sum); }
ShardingRule reduceMax(ReduceMaxOp op) { return reduceRule(op, PartialKind::Max); }
template <typename OpTy> ShardingRule reduceWhole(OpTy op) {
  return reduceRule(op, std::nullopt);
}

template <typename OpTy, ShardingRule (*build)(OpTy)>
void attach(MLIRContext *context) {
  OpTy::template attachInterface<RuleModel<OpTy, build>>(*context);
}

template <typename... OpTys> void attachElementwise(MLIRContext *context) {
  (attach<OpTys, elementwise<OpTys>>(context), ...);
}
template <typename... OpTys> void attachBroadcasting(MLIRContext *context) {
  (attach<OpTys, broadcasting<OpTys>>(context), ...);
}

} // namespace

void mlir::pmc::registerShardingRuleModels(MLIRContext *context) {
  attach<ConstantOp, constantRule>(context);
  attach<RandomUniformOp, randomUniformRule>(context);
  attachElementwise<AbsOp, NegOp, ReluOp, SqrtOp, ExpOp, LogOp, TanhOp, ErfOp,
                    SigmoidOp, ReciprocalOp, FloorOp, CeilOp, SinOp, CosOp, NotOp,
                    GeluOp, CastOp, TanOp, AsinOp, AcosOp, AtanOp, SinhOp, CoshOp,
                    AsinhOp, AcoshOp, AtanhOp, RoundOp, SoftplusOp, SignOp,
                    BitwiseNotOp>(context);
  attachBroadcasting<AddOp, SubOp, MulOp, DivOp, MinOp, MaxOp, PowOp, EqualOp,
                     LessOp, LessEqualOp, GreaterOp, GreaterEqualOp, AndOp, OrOp,
                     XorOp, WhereOp, BitwiseAndOp, BitwiseOrOp, BitwiseXorOp,
                     BitShiftOp, ModOp>(context);
  attach<MatMulOp, matmulRule>(context);
  attach<ConvOp, convRule>(context);
  attach<MaxPoolOp, pool<MaxPoolOp>>(context);
  attach<AvgPoolOp, pool<AvgPoolOp>>(context);
  attach<ReduceSumOp, reduceSum>(context);
  attach<ReduceMaxOp, reduceMax>(context);
  attach<ReduceMeanOp, reduceWhole<ReduceMeanOp>>(context);
  attach<ReduceMinOp, reduceWhole<ReduceMinOp>>(context);
  attach<ReduceProdOp, reduceWhole<ReduceProdOp>>(context);
  attach<SoftmaxOp, softmaxLike<SoftmaxOp>>(context);
  attach<LogSoftmaxOp, softmaxLike<LogSoftmaxOp>>(context);
  attach<CumSumOp, softmaxLike<CumSumOp>>(context);
  attach<CumProdOp, softmaxLike<CumProdOp>>(context);
  attach<LayerNormOp, layerNormRule>(context);
  attach<TransposeOp, transposeRule>(context);
  attach<ReshapeOp, reshapeRule>(context);
  attach<BroadcastOp, broadcastToRule>(context);
  attach<ConcatOp, concatRule>(context);
  attach<SliceOp, sliceRule>(context);
  attach<GatherOp, gatherRule>(context);
  attach<PadOp, padRule>(context);
  attach<ArgMaxOp, argReduceRule<ArgMaxOp>>(context);
  attach<ArgMinOp, argReduceRule<ArgMinOp>>(context);
  attach<GatherElementsOp, gatherElementsRule>(context);
}
