//===- TestShardingRules.cpp - minimal sharding rules for partitioner tests -===//
//
// Test only (pass pmc-test-sharding-rules): lets pmc-partition be tested in a
// build whose ops have no ShardingRuleOpInterface models yet. The real rules
// live in lib/Dialect/PMC/IR/ShardingRules.cpp; an op that has one keeps it.
//
#include "pmc/Dialect/PMC/IR/PMCOps.h"
#include "pmc/Dialect/PMC/IR/ShardingRule.h"
#include "pmc/Dialect/PMC/Transforms/Passes.h"

namespace mlir::pmc {
#define GEN_PASS_DEF_PMCTESTSHARDINGRULES
#include "pmc/Dialect/PMC/Transforms/Passes.h.inc"
} // namespace mlir::pmc

using namespace mlir;
using namespace mlir::pmc;

namespace {
ArrayRef<int64_t> shapeOf(Value value) {
  return cast<RankedTensorType>(value.getType()).getShape();
}

/// One factor per result dimension; each operand's dimensions align from the
/// right (numpy broadcasting), a stretched dimension of 1 has no factor.
ShardingRule broadcastRule(Operation *op) {
  ShardingRule rule;
  ArrayRef<int64_t> out = shapeOf(op->getResult(0));
  for (int64_t size : out)
    rule.addFactor(size);
  for (Value operand : op->getOperands()) {
    ArrayRef<int64_t> in = shapeOf(operand);
    ShardingRule::TensorFactors dims(in.size());
    int64_t offset = out.size() - in.size();
    for (int64_t d = 0, e = in.size(); d < e; ++d)
      if (in[d] == out[d + offset])
        dims[d].push_back(d + offset);
    rule.operands.push_back(dims);
  }
  ShardingRule::TensorFactors result;
  for (int64_t d = 0, e = out.size(); d < e; ++d)
    result.push_back({d});
  rule.results.push_back(result);
  return rule;
}

/// ([b.., m, k], [b.., k, n]) -> ([b.., m, n]) reduction={k}, with batch
/// broadcasting and the transpose flags.
ShardingRule matmulRule(MatMulOp op) {
  ShardingRule rule;
  ArrayRef<int64_t> out = shapeOf(op.getOutput());
  int64_t batch = out.size() - 2;
  for (int64_t d = 0; d < batch; ++d)
    rule.addFactor(out[d]);
  int64_t m = rule.addFactor(out[batch]);
  int64_t n = rule.addFactor(out[batch + 1]);
  ArrayRef<int64_t> lhs = shapeOf(op.getLhs());
  int64_t k = rule.addFactor(op.getTransposeA() ? lhs[lhs.size() - 2] : lhs.back(),
                             FactorKind::Reduction);
  auto operand = [&](ArrayRef<int64_t> shape, int64_t row, int64_t col) {
    ShardingRule::TensorFactors dims(shape.size());
    int64_t offset = batch - (shape.size() - 2);
    for (int64_t d = 0, e = shape.size() - 2; d < e; ++d)
      if (shape[d] == out[d + offset])
        dims[d].push_back(d + offset);
    dims[shape.size() - 2].push_back(row);
    dims[shape.size() - 1].push_back(col);
    return dims;
  };
  rule.operands.push_back(op.getTransposeA() ? operand(lhs, k, m) : operand(lhs, m, k));
  ArrayRef<int64_t> rhs = shapeOf(op.getRhs());
  rule.operands.push_back(op.getTransposeB() ? operand(rhs, n, k) : operand(rhs, k, n));
  ShardingRule::TensorFactors result;
  for (int64_t d = 0; d < batch + 2; ++d)
    result.push_back({d});
  rule.results.push_back(result);
  return rule;
}

ShardingRule softmaxRule(SoftmaxOp op) {
  ShardingRule rule = broadcastRule(op);
  rule.factors[op.getAxis()].kind = FactorKind::Whole;
  return rule;
}

ShardingRule reduceSumRule(ReduceSumOp op) {
  ShardingRule rule;
  ArrayRef<int64_t> in = shapeOf(op.getInput());
  ShardingRule::TensorFactors input, result;
  for (int64_t d = 0, e = in.size(); d < e; ++d) {
    bool reduced = llvm::is_contained(op.getAxes(), d);
    int64_t f = rule.addFactor(in[d], reduced ? FactorKind::Reduction
                                              : FactorKind::Parallel);
    input.push_back({f});
    if (!reduced)
      result.push_back({f});
    else if (op.getKeepdims())
      result.push_back({});
  }
  rule.operands.push_back(input);
  rule.results.push_back(result);
  return rule;
}

template <typename OpTy>
struct TestRuleModel
    : ShardingRuleOpInterface::ExternalModel<TestRuleModel<OpTy>, OpTy> {
  ShardingRule getShardingRule(Operation *op) const {
    if (auto matmul = dyn_cast<MatMulOp>(op))
      return matmulRule(matmul);
    if (auto softmax = dyn_cast<SoftmaxOp>(op))
      return softmaxRule(softmax);
    if (auto reduce = dyn_cast<ReduceSumOp>(op))
      return reduceSumRule(reduce);
    return broadcastRule(op);
  }
};

template <typename... OpTys>
void attachWhereMissing(MLIRContext &context) {
  auto attach = [&](auto tag) {
    using OpTy = decltype(tag);
    std::optional<RegisteredOperationName> name =
        RegisteredOperationName::lookup(OpTy::getOperationName(), &context);
    if (name && !name->hasInterface<ShardingRuleOpInterface>())
      OpTy::template attachInterface<TestRuleModel<OpTy>>(context);
  };
  (attach(OpTys{nullptr}), ...);
}

struct PMCTestShardingRulesPass
    : mlir::pmc::impl::PMCTestShardingRulesBase<PMCTestShardingRulesPass> {
  void runOnOperation() override {
    attachWhereMissing<MatMulOp, SoftmaxOp, ReduceSumOp, AddOp, SubOp, MulOp, DivOp,
                       MaxOp, MinOp, ReluOp, GeluOp, ExpOp, TanhOp, NegOp, SigmoidOp,
                       SqrtOp>(getContext());
  }
};
} // namespace
