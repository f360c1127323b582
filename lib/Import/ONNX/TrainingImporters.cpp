//===- TrainingImporters.cpp - Momentum, Adagrad, Adam (ai.onnx.preview.training) ===//
//
// The optimizer operators of the domain ai.onnx.preview.training (opset 1) as
// elementwise pmc ops; onnx/reference/ops/aionnx_preview_training/ is the
// reference. Inputs: R (learning rate, scalar), T (step count, int64 scalar,
// read at run time), then n tensors X, n gradients G and n (Momentum, Adagrad)
// or 2n (Adam) states; outputs: the n new X, then the new states, group by
// group. With g = norm_coefficient * x + G:
//
//   Momentum  v' = alpha * v + (T > 0 ? beta : 1) * g
//             x' = x - R * v'                      (mode "standard")
//             x' = x - R * (g + alpha * v')        (mode "nesterov")
//   Adagrad   h' = h + g * g
//             x' = x - R / (1 + T * decay_factor) * g / (sqrt(h') + epsilon)
//   Adam      v' = alpha * v + (1 - alpha) * g
//             h' = beta * h + (1 - beta) * g * g
//             r  = T > 0 ? R * sqrt(1 - beta^T) / (1 - alpha^T) : R
//             x' = (1 - norm_coefficient_post) * (x - r * v' / (sqrt(h') + epsilon))
//
// The scalar learning-rate factors of Adagrad and Adam are computed in float64
// (as the reference does, whose T is an int64 array), then cast to X's type.
// The operators are registered as "ai.onnx.preview.training.<op>" (see
// kTrainingDomain), so a default-domain operator of the same name never
// reaches them.
//
//===----------------------------------------------------------------------===//

#include "ImporterImpl.h"
#include "OpRegistry.h"

using namespace mlir;
using namespace mlir::pmc;

namespace pmc::onnx_import {

void NodeImporter::registerTrainingImporters(OpImporterRegistry &r) {
  for (const char *op : {"Momentum", "Adagrad", "Adam"}) {
    std::string key = std::string(kTrainingDomain) + "." + op;
    r.add(key, 1, [op](NodeImporter &n) { return n.importOptimizer(op); });
  }
}

LogicalResult NodeImporter::importOptimizer(StringRef opType) {
  bool adam = opType == "Adam", momentum = opType == "Momentum";
  unsigned states = adam ? 2 : 1;
  unsigned perGroup = 2 + states;
  int64_t operands = node.input_size();
  if (operands < 2 + (int64_t)perGroup || (operands - 2) % perGroup != 0)
    return error() << "expects R, T and groups of " << perGroup
                   << " inputs (X, G, " << (adam ? "V, H" : momentum ? "V" : "H")
                   << "), got " << operands << " inputs";
  int64_t n = (operands - 2) / perGroup;
  if (failed(requireInputs(operands)))
    return failure();
  if (node.output_size() > (1 + (int64_t)states) * n)
    return error() << "has " << node.output_size() << " outputs, at most "
                   << (1 + states) * n << " for " << n << " groups";
  Value r = input(0), t = input(1);
  if (product(shapeOf(r)) != 1 || shapeOf(r).size() > 1)
    return error() << "R (input 0) must be a scalar";
  if (product(shapeOf(t)) != 1 || shapeOf(t).size() > 1)
    return error() << "T (input 1) must be a scalar";
  if (!isa<FloatType>(elementOf(r)) || !(elementOf(r).isF32() || elementOf(r).isF64()))
    return error() << "R (input 0) must be float or double, got " << elementOf(r);
  if (!elementOf(t).isInteger(64))
    return error() << "T (input 1) must be int64, got " << elementOf(t);
  TRY(r0, reshape(r, {}));
  TRY(t0, reshape(t, {}));
  Type i64 = b.getI64Type(), f64 = b.getF64Type();
  TRY(started, inferred<GreaterOp>({t0, scalar(i64, 0)}));

  // Attributes (Momentum has no defaults).
  auto required = [&](StringRef attrName) -> FailureOr<float> {
    if (!attr(attrName)) {
      error() << "attribute '" << attrName << "' is required";
      return failure();
    }
    return getFloat(attrName, 0);
  };
  float alpha = 0, beta = 0, norm = 0, epsilon = 0, decay = 0, normPost = 0;
  bool nesterov = false;
  if (momentum) {
    auto a = required("alpha"), bt = required("beta"), nc = required("norm_coefficient");
    if (failed(a) || failed(bt) || failed(nc))
      return failure();
    alpha = *a, beta = *bt, norm = *nc;
    if (!attr("mode"))
      return error() << "attribute 'mode' is required";
    std::string mode = getString("mode", "");
    if (mode != "standard" && mode != "nesterov")
      return error() << "mode '" << mode << "' is unsupported (standard, nesterov)";
    nesterov = mode == "nesterov";
  } else if (adam) {
    alpha = getFloat("alpha", 0.9f);
    beta = getFloat("beta", 0.999f);
    epsilon = getFloat("epsilon", 1e-6f);
    norm = getFloat("norm_coefficient", 0.0f);
    normPost = getFloat("norm_coefficient_post", 0.0f);
  } else {
    decay = getFloat("decay_factor", 0.0f);
    epsilon = getFloat("epsilon", 1e-6f);
    norm = getFloat("norm_coefficient", 0.0f);
  }

  // The scalar learning-rate factor in float64 (Adagrad, Adam).
  Value rate64;
  if (!momentum) {
    TRY(r64, castElements(r0, f64));
    TRY(t64, castElements(t0, f64));
    if (adam) {
      TRY(betaT, inferred<PowOp>({scalar(f64, (double)beta), t64}));
      TRY(alphaT, inferred<PowOp>({scalar(f64, (double)alpha), t64}));
      TRY(num, inferred<SubOp>({scalar(f64, 1.0), betaT}));
      TRY(den, inferred<SubOp>({scalar(f64, 1.0), alphaT}));
      TRY(root, unary(SqrtOp::getOperationName(), num));
      TRY(scaled, inferred<MulOp>({r64, root}));
      TRY(corrected, inferred<DivOp>({scaled, den}));
      TRY(chosen, inferred<WhereOp>({started, corrected, r64}));
      rate64 = chosen;
    } else {
      TRY(decayed, inferred<MulOp>({t64, scalar(f64, (double)decay)}));
      TRY(den, inferred<AddOp>({scalar(f64, 1.0), decayed}));
      TRY(rate, inferred<DivOp>({r64, den}));
      rate64 = rate;
    }
  }

  for (int64_t i = 0; i < n; ++i) {
    Value x = input(2 + i), g = input(2 + n + i);
    Value s1 = input(2 + 2 * n + i), s2 = adam ? input(2 + 3 * n + i) : Value();
    Type et = elementOf(x);
    if (!(et.isF32() || et.isF64()))
      return error() << "X (input " << 2 + i << ") must be float or double, got " << et;
    for (Value v : {g, s1, s2})
      if (v && tensorType(v) != tensorType(x))
        return error() << "group " << i << ": X, G and the states must have the same "
                       << "type, got " << x.getType() << " and " << v.getType();
    auto s = [&](double v) { return scalar(et, v); };
    TRY(nx, inferred<MulOp>({s(norm), x}));
    TRY(reg, inferred<AddOp>({nx, g}));
    Value newX, newS1, newS2;
    if (momentum) {
      TRY(rate, castElements(r0, et));
      TRY(betaAdj, inferred<WhereOp>({started, s(beta), s(1.0)}));
      TRY(av, inferred<MulOp>({s(alpha), s1}));
      TRY(bg, inferred<MulOp>({betaAdj, reg}));
      TRY(v, inferred<AddOp>({av, bg}));
      Value step = v;
      if (nesterov) {
        TRY(av2, inferred<MulOp>({s(alpha), v}));
        TRY(sum, inferred<AddOp>({reg, av2}));
        step = sum;
      }
      TRY(delta, inferred<MulOp>({rate, step}));
      TRY(xn, inferred<SubOp>({x, delta}));
      newX = xn, newS1 = v;
    } else if (adam) {
      TRY(rate, castElements(rate64, et));
      TRY(av, inferred<MulOp>({s(alpha), s1}));
      TRY(ag, inferred<MulOp>({s(1.0 - (double)alpha), reg}));
      TRY(v, inferred<AddOp>({av, ag}));
      TRY(sq, inferred<MulOp>({reg, reg}));
      TRY(bh, inferred<MulOp>({s(beta), s2}));
      TRY(bsq, inferred<MulOp>({s(1.0 - (double)beta), sq}));
      TRY(h, inferred<AddOp>({bh, bsq}));
      TRY(root, unary(SqrtOp::getOperationName(), h));
      TRY(den, inferred<AddOp>({root, s(epsilon)}));
      TRY(ratio, inferred<DivOp>({v, den}));
      TRY(delta, inferred<MulOp>({rate, ratio}));
      TRY(xn, inferred<SubOp>({x, delta}));
      TRY(xf, inferred<MulOp>({s(1.0 - (double)normPost), xn}));
      newX = xf, newS1 = v, newS2 = h;
    } else {
      TRY(rate, castElements(rate64, et));
      TRY(sq, inferred<MulOp>({reg, reg}));
      TRY(h, inferred<AddOp>({s1, sq}));
      TRY(root, unary(SqrtOp::getOperationName(), h));
      TRY(den, inferred<AddOp>({root, s(epsilon)}));
      TRY(rg, inferred<MulOp>({rate, reg}));
      TRY(delta, inferred<DivOp>({rg, den}));
      TRY(xn, inferred<SubOp>({x, delta}));
      newX = xn, newS1 = h;
    }
    if (failed(setOutput(i, newX)) || failed(setOutput(n + i, newS1)) ||
        (adam && failed(setOutput(2 * n + i, newS2))))
      return failure();
  }
  return success();
}

} // namespace pmc::onnx_import
