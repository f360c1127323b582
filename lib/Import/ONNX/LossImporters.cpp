//===- LossImporters.cpp - NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss ===//
//
// The two classification losses as pmc ops (onnx/reference/ops/
// op_negative_log_likelihood_loss.py is the reference). With input [N, C, d...]
// (log-probabilities) and target [N, d...]:
//
//   t      = target == ignore_index ? 0 : target       (never gather out of range)
//   w      = weight[t] (or 1), 0 where ignored
//   loss   = -(ignored ? 0 : input[n, t, d...]) * w     (a gather_elements on C)
//   reduce = none: loss | sum: sum(loss) | mean: sum(loss) / sum(w)
//
// SoftmaxCrossEntropyLoss is the same on log_softmax(scores, axis 1), which is
// also its optional second output.
//
//===----------------------------------------------------------------------===//

#include "ImporterImpl.h"
#include "OpRegistry.h"

using namespace mlir;
using namespace mlir::pmc;

namespace pmc::onnx_import {

void NodeImporter::registerLossImporters(OpImporterRegistry &r) {
  r.add("NegativeLogLikelihoodLoss", 12,
        [](NodeImporter &n) { return n.importClassificationLoss(/*softmax=*/false); });
  r.add("SoftmaxCrossEntropyLoss", 12,
        [](NodeImporter &n) { return n.importClassificationLoss(/*softmax=*/true); });
}

LogicalResult NodeImporter::importClassificationLoss(bool softmax) {
  if (failed(requireInputs(2)))
    return failure();
  Value x = input(0), target = input(1), weight = input(2);
  Type t = elementOf(x);
  ArrayRef<int64_t> xs = shapeOf(x);
  if (!isa<FloatType>(t) || xs.size() < 2)
    return error() << "the input must be a float tensor [N, C, d...], got " << x.getType();
  if (!isa<IntegerType>(elementOf(target)))
    return error() << "the target must be an integer tensor, got " << target.getType();
  SmallVector<int64_t> lossShape{xs[0]};
  lossShape.append(xs.begin() + 2, xs.end());
  if (shapeOf(target) != ArrayRef<int64_t>(lossShape))
    return error() << "the target must be [N, d...] of the input " << x.getType() << ", got "
                   << target.getType();
  if (weight && (elementOf(weight) != t || shapeOf(weight) != ArrayRef<int64_t>{xs[1]}))
    return error() << "the weight must be [" << xs[1] << "] of the input's type, got "
                   << weight.getType();
  std::string reduction = getString("reduction", "mean");
  if (reduction != "none" && reduction != "sum" && reduction != "mean")
    return error() << "reduction '" << reduction << "' is not none, sum or mean";
  std::optional<int64_t> ignoreIndex;
  if (attr("ignore_index"))
    ignoreIndex = getInt("ignore_index", 0);

  Value logProb = x;
  if (softmax) {
    auto results = buildTyped(LogSoftmaxOp::getOperationName(), x.getType(), x,
                              {b.getNamedAttr("axis", b.getI64IntegerAttr(1))});
    if (failed(results))
      return failure();
    logProb = (*results)[0];
    if (failed(setOutput(1, logProb)))
      return failure();
  }

  Type it = elementOf(target);
  Value ignored;  // i1 [N, d...], where the target is ignore_index
  Value safeTarget = target;
  if (ignoreIndex) {
    TRY(isIgnored, inferred<EqualOp>({target, scalar(it, (double)*ignoreIndex)}));
    TRY(safe, inferred<WhereOp>({isIgnored, scalar(it, 0), target}));
    ignored = isIgnored, safeTarget = safe;
  }
  SmallVector<int64_t> pickShape(lossShape);
  pickShape.insert(pickShape.begin() + 1, 1);
  TRY(index, reshape(safeTarget, pickShape));
  TRY(picked, inferred<GatherElementsOp>({logProb, index},
                                         {b.getNamedAttr("axis", b.getI64IntegerAttr(1))}));
  TRY(pickedFlat, reshape(picked, lossShape));
  Value kept = pickedFlat;
  if (ignored) {
    // Zeroed before the weighting: an ignored target reads class 0, whose
    // log-probability may be -inf (a masked logit), and 0 * inf is NaN.
    TRY(masked, inferred<WhereOp>({ignored, scalar(t, 0), pickedFlat}));
    kept = masked;
  }
  TRY(loss, unary(NegOp::getOperationName(), kept));

  Value w;  // [N, d...] per-element weights, when not all 1
  if (weight) {
    TRY(gathered, inferred<GatherOp>({weight, safeTarget},
                                     {b.getNamedAttr("axis", b.getI64IntegerAttr(0))}));
    w = gathered;
  }
  if (ignored) {
    Value kept = w ? w : scalar(t, 1);
    TRY(masked, inferred<WhereOp>({ignored, scalar(t, 0), kept}));
    w = masked;
  }
  if (w) {
    TRY(weighted, inferred<MulOp>({loss, w}));
    loss = weighted;
  }
  if (reduction == "none")
    return setOutput(0, loss);

  SmallVector<int64_t> all;
  for (int64_t d = 0, e = lossShape.size(); d < e; ++d)
    all.push_back(d);
  SmallVector<NamedAttribute> everything = {
      b.getNamedAttr("axes", b.getDenseI64ArrayAttr(all))};
  if (reduction == "mean" && !w)
    return setOutput(0, inferred<ReduceMeanOp>(loss, everything));
  TRY(total, inferred<ReduceSumOp>(loss, everything));
  if (reduction == "sum")
    return setOutput(0, total);
  // Broadcast w (it may be the scalar 1 masked to [N, d...]) before summing.
  if (shapeOf(w) != ArrayRef<int64_t>(lossShape)) {
    TRY(full, typed<BroadcastOp>(RankedTensorType::get(lossShape, t), w));
    w = full;
  }
  TRY(weightSum, inferred<ReduceSumOp>(w, everything));
  return setOutput(0, inferred<DivOp>({total, weightSum}));
}

} // namespace pmc::onnx_import
