//===- CostModelTest.cpp - cost predictions against hand-computed values --===//
//
// All numbers use the h100-sxm built-in: bf16 989.4e12 FLOP/s (matrix),
// vector 66.9e12 FLOP/s, HBM 3.35e12 B/s, launch 5e-6 s, NVLink 8 devices
// 370e9 B/s alpha 3e-6 s, network 40e9 B/s alpha 10e-6 s.
//
#include "pmc/Dialect/PMC/IR/PMCDialect.h"
#include "pmc/Dialect/PMC/IR/PMCOps.h"
#include "pmc/Dialect/PMC/Transforms/Stages.h"
#include "pmc/Parallel/CostModel.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

using namespace mlir;
using namespace mlir::pmc;


namespace {
/// Relative tolerance 1e-9 of the hand-computed value.
#define EXPECT_CLOSE(actual, expected)                                           \
  EXPECT_NEAR(actual, expected, std::abs(double(expected)) * 1e-9)

class CostModelTest : public ::testing::Test {
protected:
  CostModelTest() {
    context.loadDialect<PMCDialect, func::FuncDialect>();
    spec = llvm::cantFail(getBuiltinDeviceSpec("h100-sxm"));
  }
  func::FuncOp parse(llvm::StringRef text) {
    module = parseSourceString<ModuleOp>(text, &context);
    EXPECT_TRUE(module) << "cannot parse:\n" << text.str();
    if (!module)
      return nullptr;
    auto funcs = module->getOps<func::FuncOp>();
    return funcs.empty() ? nullptr : *funcs.begin(); // some tests parse a bare module
  }
  MeshAttr mesh() { return (*module)->getAttrOfType<MeshAttr>(kMeshAttrName); }
  template <typename OpTy> OpTy first(func::FuncOp func) {
    return *func.getBody().getOps<OpTy>().begin();
  }
  static SmallVector<SmallVector<int64_t>> shapesOf(ValueRange values) {
    return llvm::map_to_vector(values, [](Value v) {
      return llvm::to_vector(cast<RankedTensorType>(v.getType()).getShape());
    });
  }

  MLIRContext context;
  OwningOpRef<ModuleOp> module;
  DeviceSpec spec;
};

// A 4096^3 bf16 matmul is compute bound:
//   flops = 2*4096^3 = 137438953472 -> / 989.4e12 = 138.9114e-6 s
//   bytes = 3*4096^2*2 = 100663296   -> / 3.35e12  = 30.0487e-6 s
//   time  = 138.9114e-6 + 5e-6 (launch)
TEST_F(CostModelTest, MatmulRooflineComputeBound) {
  func::FuncOp func = parse(R"(
    func.func @f(%a: tensor<4096x4096xbf16>, %b: tensor<4096x4096xbf16>) -> tensor<4096x4096xbf16> {
      %c = pmc.matmul %a, %b : (tensor<4096x4096xbf16>, tensor<4096x4096xbf16>) -> tensor<4096x4096xbf16>
      return %c : tensor<4096x4096xbf16>
    })");
  auto mm = first<MatMulOp>(func);
  OpWork work = opWork(mm, shapesOf(mm->getOperands()), shapesOf(mm->getResults()));
  EXPECT_TRUE(work.matrix);
  EXPECT_EQ(work.dtype, PeakDType::BF16);
  EXPECT_CLOSE(work.flops, 137438953472.0);
  EXPECT_CLOSE(work.bytes, 100663296.0);
  EXPECT_CLOSE(rooflineSeconds(work, spec), 137438953472.0 / 989.4e12 + 5e-6);
}

// One FLOP formula (CostOpInterface) for the cost model and the stage
// splitter: a transposed A (k x m) contracts over its first dimension.
//   flops = 2 * 8 * 4 * 16 = 1024
TEST_F(CostModelTest, FlopsAreTheOpsFormulaForCostAndStages) {
  func::FuncOp func = parse(R"(
    func.func @f(%a: tensor<16x8xf32>, %b: tensor<16x4xf32>, %x: tensor<8x4xf32>) -> tensor<8x4xf32> {
      %c = pmc.matmul %a, %b {transpose_a} : (tensor<16x8xf32>, tensor<16x4xf32>) -> tensor<8x4xf32>
      %e = pmc.exp %c : tensor<8x4xf32>
      %t = pmc.transpose %e {perm = array<i64: 1, 0>} : (tensor<8x4xf32>) -> tensor<4x8xf32>
      return %c : tensor<8x4xf32>
    })");
  ASSERT_TRUE(func);
  for (Operation &op : func.getBody().front().without_terminator()) {
    OpWork work = opWork(&op, shapesOf(op.getOperands()), shapesOf(op.getResults()));
    EXPECT_CLOSE(work.flops, opFlops(&op)) << op.getName().getStringRef().str();
    EXPECT_CLOSE(estimateFlops(&op), std::max(work.flops, 1.0));
  }
  auto mm = first<MatMulOp>(func);
  EXPECT_CLOSE(opFlops(mm), 1024.0);
  EXPECT_TRUE(cast<CostOpInterface>(mm.getOperation()).usesMatrixUnits());
  EXPECT_CLOSE(opFlops(first<ExpOp>(func)), 4.0 * 32);
  EXPECT_CLOSE(opFlops(first<TransposeOp>(func)), 0.0);
}

// A skinny 8x4096 @ 4096x4096 bf16 matmul is memory bound:
//   flops = 2*8*4096*4096 = 268435456 -> 0.2713e-6 s
//   bytes = (8*4096 + 4096*4096 + 8*4096)*2 = 33685504 -> 10.0554e-6 s
TEST_F(CostModelTest, MatmulRooflineMemoryBound) {
  func::FuncOp func = parse(R"(
    func.func @f(%a: tensor<8x4096xbf16>, %b: tensor<4096x4096xbf16>) -> tensor<8x4096xbf16> {
      %c = pmc.matmul %a, %b : (tensor<8x4096xbf16>, tensor<4096x4096xbf16>) -> tensor<8x4096xbf16>
      return %c : tensor<8x4096xbf16>
    })");
  auto mm = first<MatMulOp>(func);
  OpWork work = opWork(mm, shapesOf(mm->getOperands()), shapesOf(mm->getResults()));
  EXPECT_CLOSE(work.flops, 268435456.0);
  EXPECT_CLOSE(work.bytes, 33685504.0);
  EXPECT_CLOSE(rooflineSeconds(work, spec), 33685504.0 / 3.35e12 + 5e-6);
}

// f32 matrix work runs at the f32 peak (66.9e12), or at the tf32 one
// (494.7e12) when allowed: 2*512^3 = 268435456 flop, 3*512^2*4 = 3145728 B
// (0.939 us) -> compute bound at f32 (4.0125 us), memory bound at tf32.
TEST_F(CostModelTest, Float32MatmulUsesTF32OnlyWhenAllowed) {
  func::FuncOp func = parse(R"(
    func.func @f(%a: tensor<512x512xf32>, %b: tensor<512x512xf32>) -> tensor<512x512xf32> {
      %c = pmc.matmul %a, %b : (tensor<512x512xf32>, tensor<512x512xf32>) -> tensor<512x512xf32>
      return %c : tensor<512x512xf32>
    })");
  auto mm = first<MatMulOp>(func);
  auto operands = shapesOf(mm->getOperands()), results = shapesOf(mm->getResults());
  OpWork f32 = opWork(mm, operands, results);
  EXPECT_EQ(f32.dtype, PeakDType::F32);
  EXPECT_CLOSE(rooflineSeconds(f32, spec), 268435456.0 / 66.9e12 + 5e-6);
  CostOptions options;
  options.allowTF32 = true;
  OpWork tf32 = opWork(mm, operands, results, options);
  EXPECT_EQ(tf32.dtype, PeakDType::TF32);
  EXPECT_CLOSE(rooflineSeconds(tf32, spec), 3145728.0 / 3.35e12 + 5e-6);
}

// Ring all-reduce of 1e9 bytes over 8 NVLink GPUs:
//   2*(7/8)*1e9/370e9 + 2*7*3e-6 = 4.72973e-3 + 42e-6
// (tree: 2*1e9/370e9 + 2*3*3e-6 = 5.4234e-3, dearer). For 1000 bytes the
// tree wins: 2*1000/370e9 + 18e-6 against 1750/370e9 + 42e-6.
TEST_F(CostModelTest, AllReduceRingAndTree) {
  const LinkLevel &nvlink = spec.levels[0];
  CollectiveCost big = collectiveCost(Collective::AllReduce, 1e9, 8, nvlink);
  EXPECT_EQ(big.algorithm, CollectiveAlgorithm::Ring);
  EXPECT_CLOSE(big.seconds, 2 * 7.0 / 8 * 1e9 / 370e9 + 2 * 7 * 3e-6);
  CollectiveCost small = collectiveCost(Collective::AllReduce, 1000, 8, nvlink);
  EXPECT_EQ(small.algorithm, CollectiveAlgorithm::Tree);
  EXPECT_CLOSE(small.seconds, 2 * 1000 / 370e9 + 2 * 3 * 3e-6);
  // Two ranks: 2*(1/2)*n/B + 2*alpha.
  EXPECT_CLOSE(collectiveCost(Collective::AllReduce, 131072, 2, nvlink).seconds,
               131072 / 370e9 + 6e-6);
  EXPECT_EQ(collectiveCost(Collective::AllReduce, 1e9, 1, nvlink).seconds, 0);
}

// All-gather to 4e8 bytes over 4 GPUs: (3/4)*4e8/370e9 + alpha * (ring 3,
// recursive doubling log2(4) = 2) -> 810.81e-6 + 6e-6. Over the network
// (40e9 B/s, 10e-6): 7.5e-3 + 20e-6.
TEST_F(CostModelTest, AllGather) {
  CollectiveCost ag = collectiveCost(Collective::AllGather, 4e8, 4, spec.levels[0]);
  EXPECT_EQ(ag.algorithm, CollectiveAlgorithm::Tree);
  EXPECT_CLOSE(ag.seconds, 0.75 * 4e8 / 370e9 + 2 * 3e-6);
  EXPECT_CLOSE(collectiveCost(Collective::AllGather, 4e8, 4, spec.levels[1]).seconds,
               0.75 * 4e8 / 40e9 + 2 * 10e-6);
  // Two ranks: ring and tree tie; ring is reported.
  CollectiveCost two = collectiveCost(Collective::AllGather, 4e8, 2, spec.levels[0]);
  EXPECT_EQ(two.algorithm, CollectiveAlgorithm::Ring);
  EXPECT_CLOSE(two.seconds, 0.5 * 4e8 / 370e9 + 3e-6);
  EXPECT_CLOSE(collectiveCost(Collective::AllToAll, 4e8, 4, spec.levels[0]).seconds,
               0.75 * 4e8 / 370e9 + 3 * 3e-6);
}

// dp=2, tp=8: tp spans 8 ranks (a node) -> NVLink; dp spans 16 -> network.
// dp=4, tp=2: tp spans 2, dp spans 8 -> both NVLink.
TEST_F(CostModelTest, MeshAxesMapInnermostToFastest) {
  parse(R"(module attributes {pmc.mesh = #pmc.mesh<["dp"=2, "tp"=8]>} {})");
  MeshTopology t = MeshTopology::map(mesh(), spec);
  EXPECT_EQ(t.axisLevel, (SmallVector<unsigned>{1, 0}));
  EXPECT_EQ(t.levelOf(mesh(), {"tp"}), 0u);
  EXPECT_EQ(t.levelOf(mesh(), {"dp", "tp"}), 1u);
  parse(R"(module attributes {pmc.mesh = #pmc.mesh<["dp"=4, "tp"=2]>} {})");
  EXPECT_EQ(MeshTopology::map(mesh(), spec).axisLevel, (SmallVector<unsigned>{0, 0}));
}

// Resharding [{"tp"}, {}] -> [{}, {"tp"}] of 1024x1024 bf16 on tp=2 is one
// all_to_all of the local 512x1024 block (1048576 B): 1/2*1048576/370e9 + 3e-6.
// Replicated -> sharded is a free local slice; sharded -> replicated an
// all_gather to 2097152 B: 1/2*2097152/370e9 + 3e-6.
TEST_F(CostModelTest, ReshardCostFollowsThePlan) {
  parse(R"(module attributes {pmc.mesh = #pmc.mesh<["tp"=2]>} {})");
  MeshTopology topology = MeshTopology::map(mesh(), spec);
  Type bf16 = BFloat16Type::get(&context);
  auto rows = ShardingAttr::get(&context, {{"tp"}, {}});
  auto cols = ShardingAttr::get(&context, {{}, {"tp"}});
  auto repl = ShardingAttr::getReplicated(&context, 2);
  auto emitError = [&] { return mlir::emitError(UnknownLoc::get(&context)); };
  FailureOr<CommCost> a2a =
      reshardCost(rows, cols, mesh(), {1024, 1024}, bf16, spec, topology, emitError);
  ASSERT_TRUE(succeeded(a2a));
  EXPECT_EQ(a2a->collectives, 1u);
  EXPECT_CLOSE(a2a->seconds, 0.5 * 1048576 / 370e9 + 3e-6);
  EXPECT_CLOSE(a2a->bytesSent, 0.5 * 1048576);
  FailureOr<CommCost> slice =
      reshardCost(repl, rows, mesh(), {1024, 1024}, bf16, spec, topology, emitError);
  ASSERT_TRUE(succeeded(slice));
  EXPECT_EQ(slice->seconds, 0);
  EXPECT_EQ(slice->collectives, 0u);
  FailureOr<CommCost> gather =
      reshardCost(rows, repl, mesh(), {1024, 1024}, bf16, spec, topology, emitError);
  ASSERT_TRUE(succeeded(gather));
  EXPECT_CLOSE(gather->seconds, 0.5 * 2097152 / 370e9 + 3e-6);
}

// A bf16 MLP x[64x1024] @ W1[1024x4096] -> relu -> @ W2[4096x1024].
const char *kMlp = R"(
module attributes {pmc.mesh = #pmc.mesh<[MESH]>} {
  func.func @mlp(%x: tensor<64x1024xbf16> XS) -> (tensor<64x1024xbf16> YS) {
    %w1 = pmc.constant {pmc.shardings = [W1S]} dense<1.0> : tensor<1024x4096xbf16>
    %w2 = pmc.constant {pmc.shardings = [W2S]} dense<1.0> : tensor<4096x1024xbf16>
    %h = pmc.matmul %x, %w1 {pmc.shardings = [HS]} : (tensor<64x1024xbf16>, tensor<1024x4096xbf16>) -> tensor<64x4096xbf16>
    %r = pmc.relu %h {pmc.shardings = [HS]} : tensor<64x4096xbf16>
    %y = pmc.matmul %r, %w2 {pmc.shardings = [YS2]} : (tensor<64x4096xbf16>, tensor<4096x1024xbf16>) -> tensor<64x1024xbf16>
    return %y : tensor<64x1024xbf16>
  }
})";

std::string mlp(std::string mesh, std::string x, std::string w1, std::string w2,
                std::string h, std::string y) {
  std::string text = kMlp;
  auto sub = [&](const std::string &key, const std::string &value) {
    for (size_t at; (at = text.find(key)) != std::string::npos;)
      text.replace(at, key.size(), value);
  };
  sub("MESH", mesh);
  sub("XS", x.empty() ? "" : "{pmc.sharding = " + x + "}");
  sub("YS2", y);
  sub("YS", x.empty() ? "" : "{pmc.sharding = " + y + "}");
  sub("W1S", w1);
  sub("W2S", w2);
  sub("HS", h);
  return text;
}

const std::string kRepl = R"(#pmc.sharding<[{}, {}]>)";

// Megatron tp=2: W1 column-split, W2 row-split; each GPU does
//   matmul 64x1024 @ 1024x2048: 268435456 flop (0.2713 us), bytes
//     (65536 + 2097152 + 131072)*2 = 4587520 (1.36941 us) -> 1.36941 + 5 us
//   relu 64x2048: 131072 flop (0.00196 us), bytes 524288 (0.156504 us) -> +5 us
//   matmul 64x2048 @ 2048x1024: as the first -> 1.36941 + 5 us
// and one all_reduce of y (64x1024 bf16 = 131072 B, p=2, ring):
//   131072/370e9 + 2*3e-6 = 6.354249 us.
// dp=2: x row-split, weights replicated; each GPU does
//   matmul 32x1024 @ 1024x4096: 268435456 flop, bytes (32768 + 4194304 +
//     131072)*2 = 8716288 (2.601877 us) -> + 5 us
//   relu 32x4096: as above, 524288 B -> 0.156504 + 5 us
//   matmul 32x4096 @ 4096x1024: 8716288 B -> 2.601877 + 5 us
// and no communication.
TEST_F(CostModelTest, MegatronMlpTensorVersusDataParallel) {
  std::string col = R"(#pmc.sharding<[{}, {"tp"}]>)", row = R"(#pmc.sharding<[{"tp"}, {}]>)";
  func::FuncOp tp = parse(mlp(R"("tp"=2)", kRepl, col, row, col, kRepl));
  FailureOr<CostEstimate> t = estimateCost(tp, mesh(), spec);
  ASSERT_TRUE(succeeded(t));
  double mm = 4587520 / 3.35e12 + 5e-6, relu = 524288 / 3.35e12 + 5e-6;
  double allReduce = 131072 / 370e9 + 6e-6;
  EXPECT_CLOSE(t->computeS, 2 * mm + relu);
  EXPECT_CLOSE(t->commS, allReduce);
  EXPECT_CLOSE(t->stepTimeS, 2 * mm + relu + allReduce);
  // The all_reduce is charged to the second matmul (its result is resharded).
  ASSERT_EQ(t->ops.size(), 6u);
  EXPECT_EQ(t->ops[4].comm.collectives, 1u);
  EXPECT_CLOSE(t->ops[4].work.flops, 268435456.0);

  std::string dpRow = R"(#pmc.sharding<[{"dp"}, {}]>)";
  func::FuncOp dp = parse(mlp(R"("dp"=2)", dpRow, kRepl, kRepl, dpRow, dpRow));
  FailureOr<CostEstimate> d = estimateCost(dp, mesh(), spec);
  ASSERT_TRUE(succeeded(d));
  double dmm = 8716288 / 3.35e12 + 5e-6;
  EXPECT_CLOSE(d->computeS, 2 * dmm + relu);
  EXPECT_EQ(d->commS, 0);
  // At this size data parallelism wins: 20.36 us against 24.25 us.
  EXPECT_LT(d->stepTimeS, t->stepTimeS);
}

// Memory per device of the MLP, weights 2 x 1024x4096 bf16 = 16777216 B.
// Replicated on tp=2 (every GPU holds everything): x 131072 B live; the
// peak is at relu: h (64x4096 bf16 = 524288 B) and r (524288 B) -> 1048576 B.
// Megatron tp=2: weights 8388608 B; peak at relu: h and r at 64x2048 ->
// 262144 + 262144 = 524288 B. With 4 microbatches in flight the activations
// count 4 times.
TEST_F(CostModelTest, MlpMemoryReplicatedVersusSharded) {
  func::FuncOp repl = parse(mlp(R"("tp"=2)", kRepl, kRepl, kRepl, kRepl, kRepl));
  FailureOr<CostEstimate> r = estimateCost(repl, mesh(), spec);
  ASSERT_TRUE(succeeded(r));
  EXPECT_EQ(r->memory.weightBytes, 16777216);
  EXPECT_EQ(r->memory.peakActivationBytes, 1048576);
  EXPECT_TRUE(isa<ReluOp>(r->memory.peakOp));
  EXPECT_EQ(r->memoryPerDeviceBytes, (std::vector<double>{17825792, 17825792}));
  EXPECT_EQ(r->commS, 0);

  std::string col = R"(#pmc.sharding<[{}, {"tp"}]>)", row = R"(#pmc.sharding<[{"tp"}, {}]>)";
  func::FuncOp tp = parse(mlp(R"("tp"=2)", kRepl, col, row, col, kRepl));
  CostOptions options;
  options.activationMultiplier = 4;
  FailureOr<CostEstimate> t = estimateCost(tp, mesh(), spec, options);
  ASSERT_TRUE(succeeded(t));
  EXPECT_EQ(t->memory.weightBytes, 8388608);
  EXPECT_TRUE(isa<ReluOp>(t->memory.peakOp));
  EXPECT_EQ(t->memory.peakActivationBytes, 524288);
  EXPECT_EQ(t->memory.totalBytes(), 8388608 + 4 * 524288);
  EXPECT_EQ(t->memoryPerDeviceBytes[1], 8388608 + 4 * 524288);
}

// A search scores a candidate without touching the IR: the replicated module
// with a ShardingMap of the Megatron layout costs what the annotated one does.
TEST_F(CostModelTest, ShardingMapOverridesAnnotations) {
  func::FuncOp func = parse(mlp(R"("tp"=2)", kRepl, kRepl, kRepl, kRepl, kRepl));
  auto col = ShardingAttr::get(&context, {{}, {"tp"}});
  auto row = ShardingAttr::get(&context, {{"tp"}, {}});
  SmallVector<Operation *> ops = llvm::map_to_vector(
      func.getBody().front().without_terminator(), [](Operation &op) { return &op; });
  ShardingMap map;
  map[ops[0]->getResult(0)] = col; // w1
  map[ops[1]->getResult(0)] = row; // w2
  map[ops[2]->getResult(0)] = col; // h
  map[ops[3]->getResult(0)] = col; // r
  FailureOr<CostEstimate> e = estimateCost(func, mesh(), spec, {}, &map);
  ASSERT_TRUE(succeeded(e));
  EXPECT_EQ(e->memory.weightBytes, 8388608);
  EXPECT_CLOSE(e->commS, 131072 / 370e9 + 6e-6);
}

// A sharding that does not divide the shape is an error on the op.
TEST_F(CostModelTest, InvalidShardingIsAnError) {
  func::FuncOp func = parse(R"(
    module attributes {pmc.mesh = #pmc.mesh<["tp"=4]>} {
      func.func @f(%a: tensor<6x8xf32>) -> tensor<6x8xf32> {
        %r = pmc.relu %a {pmc.shardings = [#pmc.sharding<[{"tp"}, {}]>]} : tensor<6x8xf32>
        return %r : tensor<6x8xf32>
      }
    })");
  std::string message;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &d) {
    message = d.str();
    return success();
  });
  EXPECT_TRUE(failed(estimateCost(func, mesh(), spec)));
  EXPECT_NE(message.find("result 0"), std::string::npos) << message;
}
} // namespace
