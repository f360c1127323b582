//===- OpCosts.cpp - the work of each pmc op (CostOpInterface models) ------===//
//
// One FLOP formula per op, read by the cost model (per-rank shapes, pricing
// plans) and by the stage splitter (whole shapes, cutting pipelines):
//
//   pmc.matmul  (m, k) x (k, n) -> (m, n)     2·m·n·k (k from transpose_a)
//   pmc.conv    out (N, F, spatial...)        2·|out|·C/g·prod(kernel)
//   pmc.exp ... transcendental                4 per element
//
// Ops without a model cost one FLOP per result element (opFlops). Attached
// beside the sharding rules (ShardingRules.cpp) when the dialect loads.
//
#include "pmc/Dialect/PMC/IR/PMCOps.h"

using namespace mlir;
using namespace mlir::pmc;

namespace {

double product(ArrayRef<int64_t> shape) {
  double n = 1;
  for (int64_t d : shape)
    n *= (double)d;
  return n;
}

using Shapes = ArrayRef<SmallVector<int64_t>>;

/// The model of op `OpTy`: `flops(op, operands, results)`, with the matrix
/// and free flags of the op kind.
template <typename OpTy, double (*flops)(OpTy, Shapes, Shapes), bool matrix = false,
          bool free = false>
struct CostModel : public CostOpInterface::ExternalModel<CostModel<OpTy, flops, matrix, free>,
                                                         OpTy> {
  double getFlops(Operation *op, Shapes operands, Shapes results) const {
    return flops(cast<OpTy>(op), operands, results);
  }
  bool usesMatrixUnits(Operation *) const { return matrix; }
  bool isFree(Operation *) const { return free; }
};

template <typename OpTy, int perElement>
double perResultElement(OpTy, Shapes, Shapes results) {
  return perElement * product(results[0]);
}

template <typename OpTy, int perElement>
double perInputElement(OpTy, Shapes operands, Shapes results) {
  return perElement * product(operands.empty() ? results[0] : operands[0]);
}

template <typename OpTy>
double nothing(OpTy, Shapes, Shapes) {
  return 0;
}

double matmulFlops(MatMulOp op, Shapes operands, Shapes results) {
  ArrayRef<int64_t> lhs = operands[0];
  int64_t k = lhs.empty() ? 1
              : op.getTransposeA() && lhs.size() >= 2 ? lhs[lhs.size() - 2]
                                                        : lhs.back();
  return 2 * product(results[0]) * (double)std::max<int64_t>(k, 1);
}

double convFlops(ConvOp, Shapes operands, Shapes results) {
  // Weight (F, C/g, kernel...): each output element is a dot product over
  // the channels of its group and the kernel window.
  return 2 * product(results[0]) * product(ArrayRef(operands[1]).drop_front());
}

template <typename PoolOp>
double poolFlops(PoolOp op, Shapes, Shapes results) {
  return product(results[0]) * product(op.getKernelShape());
}

template <typename OpTy, double (*flops)(OpTy, Shapes, Shapes), bool matrix = false,
          bool free = false>
void attach(MLIRContext *context) {
  OpTy::template attachInterface<CostModel<OpTy, flops, matrix, free>>(*context);
}

template <int perElement, typename... OpTys>
void attachPerResultElement(MLIRContext *context) {
  (attach<OpTys, perResultElement<OpTys, perElement>>(context), ...);
}

template <int perElement, typename... OpTys>
void attachPerInputElement(MLIRContext *context) {
  (attach<OpTys, perInputElement<OpTys, perElement>>(context), ...);
}

template <typename... OpTys>
void attachDataMovement(MLIRContext *context) {
  (attach<OpTys, nothing<OpTys>>(context), ...);
}

} // namespace

double mlir::pmc::opFlops(Operation *op, Shapes operandShapes, Shapes resultShapes) {
  if (auto cost = dyn_cast<CostOpInterface>(op))
    return cost.getFlops(operandShapes, resultShapes);
  return resultShapes.empty() ? 0 : product(resultShapes[0]);
}

double mlir::pmc::opFlops(Operation *op) {
  auto shapesOf = [](TypeRange types) {
    SmallVector<SmallVector<int64_t>> shapes;
    for (Type type : types) {
      SmallVector<int64_t> shape;
      if (auto tensor = dyn_cast<RankedTensorType>(type))
        for (int64_t d : tensor.getShape())
          shape.push_back(ShapedType::isDynamic(d) ? 1 : d);
      shapes.push_back(std::move(shape));
    }
    return shapes;
  };
  return opFlops(op, shapesOf(op->getOperandTypes()), shapesOf(op->getResultTypes()));
}

void mlir::pmc::registerCostModels(MLIRContext *context) {
  attach<ConstantOp, nothing<ConstantOp>, false, /*free=*/true>(context);
  attach<ReshapeOp, nothing<ReshapeOp>, false, /*free=*/true>(context);
  attach<MatMulOp, matmulFlops, /*matrix=*/true>(context);
  attach<ConvOp, convFlops, /*matrix=*/true>(context);
  attach<MaxPoolOp, poolFlops<MaxPoolOp>>(context);
  attach<AvgPoolOp, poolFlops<AvgPoolOp>>(context);
  attachPerResultElement<5, SoftmaxOp, LogSoftmaxOp>(context);
  attachPerInputElement<8, LayerNormOp>(context);
  attachPerInputElement<1, ReduceSumOp, ReduceMeanOp, ReduceMaxOp, ReduceMinOp,
                        ReduceProdOp, ArgMaxOp, ArgMinOp, CumSumOp,
                        CumProdOp>(context);
  attachPerResultElement<8, GeluOp>(context);
  // Philox-4x32-10: ten rounds of two 32x32 multiplies, xors and key bumps.
  attachPerResultElement<60, RandomUniformOp>(context);
  attachPerResultElement<4, ExpOp, LogOp, TanhOp, ErfOp, SigmoidOp, SinOp, CosOp, TanOp,
                         AsinOp, AcosOp, AtanOp, SinhOp, CoshOp, AsinhOp, AcoshOp,
                         AtanhOp, SoftplusOp, PowOp, SqrtOp>(context);
  attachDataMovement<TransposeOp, BroadcastOp, ConcatOp, SliceOp, GatherOp,
                     GatherElementsOp, PadOp>(context);
}
