//===- LegalSplitTest.cpp - every legal factor split gives a valid local op ===//
//
// The contract of ShardingRule::whyIllegal: a split it accepts gives every
// operand and result a block split, and the op, with its scaled attributes,
// verifies on the local types. Checked for every op of
// test/Dialect/PMC/sharding-rules.mlir (one or more of each kind) under every
// split of one factor over {a}, {b}, {a, b} and of two factors over {a}, {b}
// on the mesh a=2, b=2; and the refusals are checked on hand-made cases.
//
#include "pmc/Dialect/PMC/IR/PMCDialect.h"
#include "pmc/Dialect/PMC/IR/PMCOps.h"
#include "pmc/Dialect/PMC/IR/ShardingRule.h"
#include "pmc/Parallel/Partition/OpShardings.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace mlir::pmc;

namespace {

class LegalSplit : public ::testing::Test {
protected:
  void SetUp() override {
    context.loadDialect<PMCDialect, func::FuncDialect>();
    Builder b(&context);
    mesh = MeshAttr::get(&context, {b.getStringAttr("a"), b.getStringAttr("b")}, {2, 2});
  }

  /// The op rebuilt on local types (block arguments stand for the operands),
  /// its scaled attributes divided; failure when it does not verify.
  LogicalResult verifyLocal(Operation *op, const ShardingRule &rule,
                            const ShardingRule::FactorAxes &split, std::string &why) {
    OpShardings shardings = shardingsOfFactors(&context, rule, split);
    OpBuilder b(&context);
    OwningOpRef<ModuleOp> module = ModuleOp::create(b.getUnknownLoc());
    SmallVector<Type> operandTypes;
    for (auto [i, operand] : llvm::enumerate(op->getOperands())) {
      auto type = cast<RankedTensorType>(operand.getType());
      auto local = shardings.operands[i].getLocalShape(mesh, type.getShape());
      if (failed(local)) {
        why = "operand " + std::to_string(i) + " has no local shape";
        return failure();
      }
      operandTypes.push_back(RankedTensorType::get(*local, type.getElementType()));
    }
    b.setInsertionPointToEnd(module->getBody());
    auto func = func::FuncOp::create(b, b.getUnknownLoc(), "local",
                                     b.getFunctionType(operandTypes, {}));
    Block *body = func.addEntryBlock();
    b.setInsertionPointToEnd(body);
    IRMapping mapping;
    for (auto [operand, arg] : llvm::zip(op->getOperands(), body->getArguments()))
      mapping.map(operand, arg);
    Operation *local = b.clone(*op, mapping);
    for (auto [i, result] : llvm::enumerate(local->getResults())) {
      auto type = cast<RankedTensorType>(result.getType());
      auto shape = shardings.produced[i].getLocalShape(mesh, type.getShape());
      if (failed(shape)) {
        why = "result " + std::to_string(i) + " has no local shape";
        return failure();
      }
      result.setType(RankedTensorType::get(*shape, type.getElementType()));
    }
    for (const ShardingRule::ScaledAttribute &scaled : rule.scaledAttributes) {
      auto global = local->getAttrOfType<IntegerAttr>(scaled.name);
      int64_t parts = 1;
      for (StringRef axis : split[scaled.factor])
        parts *= mesh.getAxisSize(axis);
      local->setAttr(scaled.name,
                     IntegerAttr::get(global.getType(), global.getInt() / parts));
    }
    func::ReturnOp::create(b, b.getUnknownLoc());
    std::string diagnostics;
    ScopedDiagnosticHandler capture(&context, [&](Diagnostic &d) {
      diagnostics += d.str() + "; ";
      return success();
    });
    if (failed(mlir::verify(local))) {
      why = diagnostics;
      return failure();
    }
    return success();
  }

  MLIRContext context;
  MeshAttr mesh;
};

TEST_F(LegalSplit, EveryLegalSplitVerifiesLocally) {
  OwningOpRef<ModuleOp> module =
      parseSourceFile<ModuleOp>(PMC_SOURCE_DIR "/test/Dialect/PMC/sharding-rules.mlir", &context);
  ASSERT_TRUE(module);
  using Split = ShardingRule::FactorAxes;
  int checked = 0, legal = 0;
  module->walk([&](Operation *op) {
    std::optional<ShardingRule> rule = getShardingRule(op);
    if (!rule || isa<ConstantOp>(op))
      return;
    size_t n = rule->factors.size();
    std::vector<Split> splits;
    const SmallVector<SmallVector<StringRef>> single = {{"a"}, {"b"}, {"a", "b"}};
    for (size_t f = 0; f < n; ++f)
      for (const auto &axes : single) {
        Split s(n);
        s[f] = axes;
        splits.push_back(s);
      }
    for (size_t f = 0; f < n; ++f)
      for (size_t g = 0; g < n; ++g)
        if (f != g) {
          Split s(n);
          s[f] = {"a"};
          s[g] = {"b"};
          splits.push_back(s);
        }
    for (const Split &split : splits) {
      ++checked;
      if (rule->whyIllegal(split, mesh))
        continue;
      ++legal;
      std::string why;
      std::string text;
      llvm::raw_string_ostream os(text);
      rule->print(os);
      EXPECT_TRUE(succeeded(verifyLocal(op, *rule, split, why)))
          << op->getName().getStringRef().str() << " " << text << ": " << why;
    }
  });
  EXPECT_GT(legal, 100);
  EXPECT_GT(checked, legal);
}

TEST_F(LegalSplit, RefusalsNameTheReason) {
  const char *text = R"mlir(
    func.func @f(%x: tensor<2x4x8x8xf32>, %w: tensor<8x2x3x3xf32>, %b: tensor<8xf32>,
                 %r: tensor<8x4xf32>) {
      %y = pmc.conv %x, %w, %b {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>,
                                 dilations = array<i64: 1, 1>, group = 2 : i64}
          : (tensor<2x4x8x8xf32>, tensor<8x2x3x3xf32>, tensor<8xf32>) -> tensor<2x8x6x6xf32>
      %s = pmc.reshape %r : tensor<8x4xf32> to tensor<2x4x4xf32>
      return
    }
  )mlir";
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(text, &context);
  ASSERT_TRUE(module);
  Operation *conv = nullptr, *reshape = nullptr;
  module->walk([&](Operation *op) {
    if (isa<ConvOp>(op))
      conv = op;
    if (isa<ReshapeOp>(op))
      reshape = op;
  });
  // conv: ([i, j k, l, m], [j n, k, o, p], [j n]) -> ([i, j n, q, r]); j=2
  // groups, k=2 channels per group, n=4 filters per group.
  ShardingRule rule = *getShardingRule(conv);
  auto why = [&](const ShardingRule &r, std::vector<std::pair<int, SmallVector<StringRef>>> s) {
    ShardingRule::FactorAxes split(r.factors.size());
    for (auto &[f, axes] : s)
      split[f] = axes;
    std::optional<std::string> reason = r.whyIllegal(split, mesh);
    return reason ? *reason : std::string("legal");
  };
  EXPECT_EQ(why(rule, {{1, {"a"}}}), "legal");                  // the groups
  EXPECT_EQ(why(rule, {{1, {"a"}}, {2, {"b"}}}), "legal");      // groups, then channels
  EXPECT_NE(why(rule, {{2, {"a"}}}).find("not a block split"), std::string::npos);
  EXPECT_NE(why(rule, {{3, {"a"}}}).find("must stay whole"), std::string::npos);
  EXPECT_NE(why(rule, {{1, {"a", "b"}}}).find("does not split into 4 parts"),
            std::string::npos);
  EXPECT_NE(why(rule, {{0, {"a"}}, {1, {"a"}}}).find("splits two factors"),
            std::string::npos);
  EXPECT_NE(why(rule, {{0, {"c"}}}).find("not an axis of the mesh"), std::string::npos);
  // reshape [8, 4] -> [2, 4, 4]: ([i j, k]) -> ([i], [j], [k]); j alone is
  // the minor part of dim 0.
  ShardingRule compound = *getShardingRule(reshape);
  EXPECT_EQ(why(compound, {{0, {"a"}}}), "legal");
  EXPECT_NE(why(compound, {{1, {"a"}}}).find("not a block split"), std::string::npos);
}

} // namespace
