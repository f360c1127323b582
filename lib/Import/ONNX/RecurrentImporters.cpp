//===- RecurrentImporters.cpp - ONNX RNN, GRU and LSTM unrolled into pmc ops ===//
//
// The sequence length is static, so a recurrent operator imports as its
// recurrence unrolled over time, in pmc ops the planner already shards and
// costs (matmul, slice, elementwise, where, concat). Per direction d:
//
//   XW      = X · W[d]ᵀ + Wb + Rb, once for all steps   [S, B, G*H]
//             (GRU with linear_before_reset keeps Rbh for the step)
//   per step t (0..S-1 forward, S-1..0 reverse):
//     RNN   H' = f(clip(XW[t] + H · Rᵀ))
//     GRU   z, r = f(clip(XW[t][z|r] + H · R[z|r]ᵀ))
//           h  = g(clip(XW[t][h] + (r ⊙ H) · Rhᵀ))            default
//           h  = g(clip(XW[t][h] + r ⊙ (H · Rhᵀ + Rbh)))     linear_before_reset
//           H' = (1 - z) ⊙ h + z ⊙ H
//     LSTM  i = f(clip(XW[t][i] + H · Riᵀ + Pi ⊙ C))
//           f = f(clip(XW[t][f] + H · Rfᵀ + Pf ⊙ C))  (1 - i with input_forget)
//           c = g(clip(XW[t][c] + H · Rcᵀ));  C' = f ⊙ C + i ⊙ c
//           o = f(clip(XW[t][o] + H · Roᵀ + Po ⊙ C'));  H' = o ⊙ h(C')
//
// sequence_lens (a run-time tensor or a constant) masks each step per batch
// row with `t < len`: the state keeps its value where the mask is false and Y
// is zero there. Forward, the state freezes after a row's last valid step;
// reverse, it keeps the initial state until the row's last valid step, so the
// reverse direction starts at each row's own last element, as onnxruntime's
// per-row ReverseSequence does. Y_h (and Y_c) are the final state, and zero
// for a row of length 0 (onnxruntime's LSTM and GRU). ONNX's reference
// implementation (onnx/reference/ops/op_lstm.py, op_gru.py, op_rnn.py) ignores
// sequence_lens, activations and clip; onnxruntime is followed there:
//   - clip bounds the inputs of f and g (gates), not that of LSTM's h(C'),
//   - activation_alpha / activation_beta are consumed in order by the
//     activations that take them (onnxruntime's LSTM and GRU); where that
//     reading and onnxruntime's RNN (one value per activation, 0 when absent)
//     or the ONNX defaults of the same-named operators disagree, the import
//     fails naming the activation instead of picking one,
//   - ThresholdedRelu is x > alpha ? x : 0 (the ONNX operator and onnxruntime).
//
//===----------------------------------------------------------------------===//

#include "ImporterImpl.h"
#include "OpRegistry.h"

#include "mlir/IR/Matchers.h"

#include <cmath>
#include <limits>
#include <map>

using namespace mlir;
using namespace mlir::pmc;

namespace pmc::onnx_import {

void NodeImporter::registerRecurrentImporters(OpImporterRegistry &r) {
  // Every version: RNN 1, 7, 14, 22; GRU 1, 3 (linear_before_reset), 7, 14,
  // 22; LSTM 1, 7, 14, 22. Before 7 they had output_sequence; 14 added
  // layout, 22 bfloat16.
  for (int64_t since : {1, 7, 14, 22})
    r.add("RNN", since, [](NodeImporter &n) { return n.importRecurrent("RNN"); });
  for (int64_t since : {1, 3, 7, 14, 22})
    r.add("GRU", since, [](NodeImporter &n) { return n.importRecurrent("GRU"); });
  for (int64_t since : {1, 7, 14, 22})
    r.add("LSTM", since, [](NodeImporter &n) { return n.importRecurrent("LSTM"); });
}

namespace {
constexpr float kNoDefault = std::numeric_limits<float>::quiet_NaN();

/// An activation function of the recurrent operators (the ONNX spec's list).
struct ActivationKind {
  const char *name;
  bool usesAlpha, usesBeta;
  /// The default where onnxruntime's LSTM/GRU and the ONNX operator of the
  /// same name agree; kNoDefault where they do not (onnxruntime takes 0 for
  /// Affine, ScaledTanh and ThresholdedRelu; ThresholdedRelu's own default is
  /// 1), so the value must be given.
  float alpha, beta;
};

const ActivationKind kActivationKinds[] = {
    {"Relu", false, false, 0, 0},
    {"Tanh", false, false, 0, 0},
    {"Sigmoid", false, false, 0, 0},
    {"Affine", true, true, kNoDefault, kNoDefault},
    {"LeakyRelu", true, false, 0.01f, 0},
    {"ThresholdedRelu", true, false, kNoDefault, 0},
    {"ScaledTanh", true, true, kNoDefault, kNoDefault},
    {"HardSigmoid", true, true, 0.2f, 0.5f},
    {"Elu", true, false, 1.0f, 0},
    {"Softsign", false, false, 0, 0},
    {"Softplus", false, false, 0, 0},
};

struct Activation {
  StringRef name;
  double alpha = 0, beta = 0;
};
} // namespace

LogicalResult NodeImporter::importRecurrent(StringRef op) {
  const bool lstm = op == "LSTM", gru = op == "GRU", rnn = op == "RNN";
  const int64_t gates = lstm ? 4 : gru ? 3 : 1;
  const int64_t perDirection = lstm ? 3 : gru ? 2 : 1;  // activations
  const unsigned maxInputs = lstm ? 8 : 6, maxOutputs = lstm ? 3 : 2;
  if (failed(requireInputs(3)))
    return failure();
  if (inputs.size() > maxInputs || (unsigned)node.output_size() > maxOutputs)
    return error() << op << " has at most " << maxInputs << " inputs and " << maxOutputs
                   << " outputs, got " << inputs.size() << " and " << node.output_size();
  Value x = input(0), w = input(1), r = input(2), bias = input(3), lens = input(4);
  Value h0 = input(5), c0 = lstm ? input(6) : Value(), peep = lstm ? input(7) : Value();
  Type t = elementOf(x);
  if (!isa<FloatType>(t) || !(t.isF16() || t.isF32() || t.isF64() || t.isBF16()))
    return error() << "X must be a float16, float, double or bfloat16 tensor, got " << x.getType();
  if (t.isBF16() && opset < 22)
    return error() << op << " takes bfloat16 from opset 22 on, the model uses opset " << opset;

  // --- Attributes ------------------------------------------------------------
  std::string direction = getString("direction", "forward");
  if (direction != "forward" && direction != "reverse" && direction != "bidirectional")
    return error() << "direction '" << direction
                   << "' is not forward, reverse or bidirectional";
  const int64_t dirs = direction == "bidirectional" ? 2 : 1;
  int64_t layout = opset >= 14 ? getInt("layout", 0) : 0;
  if (layout != 0 && layout != 1)
    return error() << "layout " << layout << " is not 0 or 1";
  // Before opset 7, output_sequence = 0 only made Y optional: Y is computed
  // whenever the node names it.
  if (opset < 7)
    (void)getInt("output_sequence", 0);
  bool linearBeforeReset = gru && opset >= 3 && getInt("linear_before_reset", 0) != 0;
  bool inputForget = lstm && getInt("input_forget", 0) != 0;
  std::optional<double> clip;
  if (attr("clip")) {
    clip = getFloat("clip", 0);
    if (!(*clip >= 0))
      return error() << "clip " << *clip << " is not a non-negative threshold";
  }

  // --- Shapes ------------------------------------------------------------------
  ArrayRef<int64_t> xs = shapeOf(x), ws = shapeOf(w), rs = shapeOf(r);
  if (xs.size() != 3)
    return error() << "X must be 3-D, got " << x.getType();
  const int64_t seq = layout ? xs[1] : xs[0], batch = layout ? xs[0] : xs[1];
  const int64_t inputSize = xs[2];
  if (seq < 1)
    return error() << "X " << x.getType() << " has no time steps";
  if (rs.size() != 3)
    return error() << "R must be 3-D, got " << r.getType();
  const int64_t hidden = rs[2];
  if (const auto *a = attr("hidden_size"); a && a->i() != hidden)
    return error() << "hidden_size " << a->i() << " does not match R " << r.getType();
  if (rs != ArrayRef<int64_t>{dirs, gates * hidden, hidden} || elementOf(r) != t)
    return error() << "R must be [" << dirs << ", " << gates * hidden << ", " << hidden
                   << "] of X's type, got " << r.getType();
  if (ws != ArrayRef<int64_t>{dirs, gates * hidden, inputSize} || elementOf(w) != t)
    return error() << "W must be [" << dirs << ", " << gates * hidden << ", " << inputSize
                   << "] of X's type, got " << w.getType();
  if (bias && (shapeOf(bias) != ArrayRef<int64_t>{dirs, 2 * gates * hidden} ||
               elementOf(bias) != t))
    return error() << "B must be [" << dirs << ", " << 2 * gates * hidden
                   << "] of X's type, got " << bias.getType();
  SmallVector<int64_t> stateShape = layout ? SmallVector<int64_t>{batch, dirs, hidden}
                                           : SmallVector<int64_t>{dirs, batch, hidden};
  for (auto [v, what] : {std::pair(h0, "initial_h"), std::pair(c0, "initial_c")})
    if (v && (shapeOf(v) != ArrayRef<int64_t>(stateShape) || elementOf(v) != t))
      return error() << what << " must be [" << ArrayRef<int64_t>(stateShape)
                     << "] of X's type, got "
                     << v.getType();
  if (peep && (shapeOf(peep) != ArrayRef<int64_t>{dirs, 3 * hidden} || elementOf(peep) != t))
    return error() << "P must be [" << dirs << ", " << 3 * hidden << "] of X's type, got "
                   << peep.getType();
  std::optional<SmallVector<int64_t>> constLens;
  if (lens) {
    auto lt = dyn_cast<IntegerType>(elementOf(lens));
    if (!lt || lt.getWidth() == 1 || shapeOf(lens) != ArrayRef<int64_t>{batch})
      return error() << "sequence_lens must be an integer tensor of " << batch
                     << " (the batch), got " << lens.getType();
    DenseElementsAttr value;
    if (matchPattern(lens, m_Constant(&value))) {
      constLens.emplace();
      for (const APInt &v : value.getValues<APInt>()) {
        int64_t n = lt.isUnsigned() ? (int64_t)v.getZExtValue() : v.getSExtValue();
        if (n < 0 || n > seq)
          return error() << "sequence_lens value " << n << " is outside [0, " << seq
                         << "] (the sequence length)";
        constLens->push_back(n);
      }
    }
  }

  // --- Activations ---------------------------------------------------------------
  SmallVector<std::string> names;
  if (const auto *a = attr("activations")) {
    names.assign(a->strings().begin(), a->strings().end());
  } else {
    SmallVector<std::string> defaults = lstm ? SmallVector<std::string>{"Sigmoid", "Tanh", "Tanh"}
                                        : gru ? SmallVector<std::string>{"Sigmoid", "Tanh"}
                                              : SmallVector<std::string>{"Tanh"};
    for (int64_t d = 0; d < dirs; ++d)
      names.append(defaults);
  }
  // Some exporters write RNN's old schema default {Tanh, Tanh} for one
  // direction; onnxruntime takes the first. Only an unambiguous pair is read.
  if (rnn && dirs == 1 && names.size() == 2 && StringRef(names[0]).equals_insensitive(names[1]))
    names.resize(1);
  if ((int64_t)names.size() != perDirection * dirs)
    return error() << "activations has " << names.size() << " functions; " << op << " with "
                   << dirs << " direction(s) takes " << perDirection * dirs;
  SmallVector<float> alphas, betas;
  if (const auto *a = attr("activation_alpha"))
    alphas.assign(a->floats().begin(), a->floats().end());
  if (const auto *a = attr("activation_beta"))
    betas.assign(a->floats().begin(), a->floats().end());
  SmallVector<Activation> acts;
  size_t nextAlpha = 0, nextBeta = 0;
  for (auto [k, name] : llvm::enumerate(names)) {
    const ActivationKind *kind = nullptr;
    for (const ActivationKind &candidate : kActivationKinds)
      if (StringRef(name).equals_insensitive(candidate.name))
        kind = &candidate;
    if (!kind)
      return error() << "activation '" << name
                     << "' is not one of Relu, Tanh, Sigmoid, Affine, LeakyRelu, "
                        "ThresholdedRelu, ScaledTanh, HardSigmoid, Elu, Softsign, Softplus";
    Activation act{kind->name};
    auto pick = [&](bool uses, ArrayRef<float> values, size_t &next, float fallback,
                    StringRef attrName) -> FailureOr<double> {
      if (!uses)
        return 0.0;
      std::optional<float> consumed;
      if (next < values.size())
        consumed = values[next++];
      if (consumed && !std::isfinite(*consumed))
        return error() << attrName << " value " << *consumed << " of activation " << k << " ("
                       << kind->name << ") is not finite";
      if (rnn) {
        // onnxruntime's RNN reads value k for activation k (0 when the
        // attribute is absent); the ONNX reading consumes values only for
        // activations that take them. Both must give the same value.
        if (!consumed || k >= values.size() || values[k] != *consumed)
          return error() << "activation " << k << " (" << kind->name << ") needs " << attrName
                         << " value " << k
                         << " given, and equal to the one it consumes in order: onnxruntime's "
                            "RNN reads one value per activation and 0 when absent";
        return (double)*consumed;
      }
      if (!consumed) {
        if (std::isnan(fallback))
          return error() << "activation " << k << " (" << kind->name << ") needs an "
                         << attrName
                         << " value: its default differs between onnxruntime (0) and ONNX";
        return (double)fallback;
      }
      if (values.size() == names.size() && values[k] != *consumed)
        return error() << attrName << " has one value per activation, but activation " << k
                       << " (" << kind->name
                       << ") consumes another one in order (the ONNX reading): ambiguous";
      return (double)*consumed;
    };
    auto alpha = pick(kind->usesAlpha, alphas, nextAlpha, kind->alpha, "activation_alpha");
    if (failed(alpha))
      return failure();
    auto beta = pick(kind->usesBeta, betas, nextBeta, kind->beta, "activation_beta");
    if (failed(beta))
      return failure();
    act.alpha = *alpha, act.beta = *beta;
    acts.push_back(act);
  }

  // --- Building blocks -------------------------------------------------------------
  // Scalars of X's type and step masks are built once and shared by all steps
  // (they are defined before every later use: one block, in order).
  std::map<double, Value> scalars;
  auto c = [&](double v) {
    Value &s = scalars[v];
    if (!s)
      s = scalar(t, v);
    return s;
  };
  auto sliceAxis = [&](Value v, int64_t axis, int64_t start, int64_t size) -> FailureOr<Value> {
    ArrayRef<int64_t> s = shapeOf(v);
    if (start == 0 && size == s[axis])
      return v;
    SmallVector<int64_t> starts(s.size(), 0), steps(s.size(), 1), shape(s);
    starts[axis] = start;
    shape[axis] = size;
    return typed<SliceOp>(RankedTensorType::get(shape, elementOf(v)), v,
                          {b.getNamedAttr("starts", b.getDenseI64ArrayAttr(starts)),
                           b.getNamedAttr("steps", b.getDenseI64ArrayAttr(steps))});
  };
  // Row d of a [D, ...] tensor, without the leading dim.
  auto ofDirection = [&](Value v, int64_t d) -> FailureOr<Value> {
    TRY(row, sliceAxis(v, 0, d, 1));
    ArrayRef<int64_t> s = shapeOf(v);
    return reshape(row, s.drop_front());
  };
  auto matmulT = [&](Value lhs, Value rhs) {
    return inferred<MatMulOp>({lhs, rhs}, {b.getNamedAttr("transpose_b", b.getUnitAttr())});
  };
  auto clipped = [&](Value v) -> FailureOr<Value> {
    if (!clip)
      return v;
    TRY(upper, inferred<MinOp>({v, c(*clip)}));
    return inferred<MaxOp>({upper, c(-*clip)});
  };
  auto activate = [&](Value v, const Activation &a) -> FailureOr<Value> {
    StringRef n = a.name;
    if (n == "Relu")
      return unary(ReluOp::getOperationName(), v);
    if (n == "Tanh")
      return unary(TanhOp::getOperationName(), v);
    if (n == "Sigmoid")
      return unary(SigmoidOp::getOperationName(), v);
    if (n == "Softplus")
      return unary(SoftplusOp::getOperationName(), v);
    if (n == "Affine") {
      TRY(scaled, inferred<MulOp>({v, c(a.alpha)}));
      return inferred<AddOp>({scaled, c(a.beta)});
    }
    if (n == "LeakyRelu") {
      TRY(neg, inferred<LessOp>({v, c(0)}));
      TRY(scaled, inferred<MulOp>({v, c(a.alpha)}));
      return inferred<WhereOp>({neg, scaled, v});
    }
    if (n == "ThresholdedRelu") {
      TRY(above, inferred<GreaterOp>({v, c(a.alpha)}));
      return inferred<WhereOp>({above, v, c(0)});
    }
    if (n == "ScaledTanh") {
      TRY(scaled, inferred<MulOp>({v, c(a.beta)}));
      TRY(th, unary(TanhOp::getOperationName(), scaled));
      return inferred<MulOp>({th, c(a.alpha)});
    }
    if (n == "HardSigmoid") {
      TRY(scaled, inferred<MulOp>({v, c(a.alpha)}));
      TRY(shifted, inferred<AddOp>({scaled, c(a.beta)}));
      TRY(upper, inferred<MinOp>({shifted, c(1)}));
      return inferred<MaxOp>({upper, c(0)});
    }
    if (n == "Elu") {
      TRY(neg, inferred<LessOp>({v, c(0)}));
      TRY(e, unary(ExpOp::getOperationName(), v));
      TRY(em1, inferred<SubOp>({e, c(1)}));
      TRY(scaled, inferred<MulOp>({em1, c(a.alpha)}));
      return inferred<WhereOp>({neg, scaled, v});
    }
    // Softsign
    TRY(magnitude, unary(AbsOp::getOperationName(), v));
    TRY(denominator, inferred<AddOp>({magnitude, c(1)}));
    return inferred<DivOp>({v, denominator});
  };
  // A gate: act(clip(pre)).
  auto gate = [&](Value pre, const Activation &a) -> FailureOr<Value> {
    TRY(bounded, clipped(pre));
    return activate(bounded, a);
  };

  // Per-step masks: `t < len` as i1 [B, 1]. Null when every row is valid;
  // `noneValid` when no row is (a constant sequence_lens).
  Value lensColumn;
  if (lens && !constLens) {
    TRY(column, reshape(lens, {batch, 1}));
    lensColumn = column;
  }
  std::map<int64_t, Value> masks;
  auto stepMask = [&](int64_t step, bool &noneValid) -> FailureOr<Value> {
    noneValid = false;
    if (!lens)
      return Value();
    if (!constLens) {
      Value &mask = masks[step];
      if (!mask) {
        TRY(less, inferred<LessOp>({scalar(elementOf(lens), (double)step), lensColumn}));
        mask = less;
      }
      return mask;
    }
    SmallVector<bool> valid;
    for (int64_t n : *constLens)
      valid.push_back(step < n);
    if (llvm::all_of(valid, [](bool v) { return v; }))
      return Value();
    noneValid = llvm::none_of(valid, [](bool v) { return v; });
    return constant(DenseElementsAttr::get(RankedTensorType::get({batch, 1}, b.getI1Type()),
                                           valid));
  };

  // --- The recurrence ------------------------------------------------------------------
  Value xTime = x;  // [S, B, I]
  if (layout) {
    TRY(swapped, inferred<TransposeOp>(x, {b.getNamedAttr("perm", b.getDenseI64ArrayAttr({1, 0, 2}))}));
    xTime = swapped;
  }
  auto toDirectionMajor = [&](Value v) -> FailureOr<Value> {  // [B, D, H] -> [D, B, H]
    if (!v || !layout)
      return v;
    return inferred<TransposeOp>(v, {b.getNamedAttr("perm", b.getDenseI64ArrayAttr({1, 0, 2}))});
  };
  TRY(h0Major, toDirectionMajor(h0));
  TRY(c0Major, toDirectionMajor(c0));
  bool wantY = node.output_size() > 0 && !node.output(0).empty();
  auto stateType = RankedTensorType::get({batch, hidden}, t);
  Value zeroState = constant(DenseElementsAttr::get(
      stateType, FloatAttr::get(t, 0.0)));

  SmallVector<Value> yPerDirection, hPerDirection, cPerDirection;
  for (int64_t d = 0; d < dirs; ++d) {
    bool reverse = direction == "reverse" || d == 1;
    ArrayRef<Activation> act = ArrayRef<Activation>(acts).slice(d * perDirection, perDirection);
    TRY(wd, ofDirection(w, d));  // [G*H, I]
    TRY(rd, ofDirection(r, d));  // [G*H, H]
    // [S, B, G*H], as a batched product: a [B, G*H] step of it is then a
    // reshape, never the matmul itself, whose other addend at the step is the
    // recurrent matmul (the epilogue folding would take either for a bias).
    TRY(projected, matmulT(xTime, wd));
    Value rbh;                           // GRU's Rbh when linear_before_reset
    if (bias) {
      TRY(bd, ofDirection(bias, d));  // [2*G*H]
      TRY(wb, sliceAxis(bd, 0, 0, gates * hidden));
      TRY(rb, sliceAxis(bd, 0, gates * hidden, gates * hidden));
      Value combined;
      if (linearBeforeReset) {
        TRY(wbZR, sliceAxis(wb, 0, 0, 2 * hidden));
        TRY(rbZR, sliceAxis(rb, 0, 0, 2 * hidden));
        TRY(wbH, sliceAxis(wb, 0, 2 * hidden, hidden));
        TRY(rbHidden, sliceAxis(rb, 0, 2 * hidden, hidden));
        TRY(zr, inferred<AddOp>({wbZR, rbZR}));
        TRY(all, inferred<ConcatOp>({zr, wbH}, {b.getNamedAttr("axis", b.getI64IntegerAttr(0))}));
        combined = all, rbh = rbHidden;
      } else {
        TRY(sum, inferred<AddOp>({wb, rb}));
        combined = sum;
      }
      TRY(withBias, inferred<AddOp>({projected, combined}));
      projected = withBias;
    }
    Value xw = projected;
    Value rZR, rH;  // GRU without linear_before_reset: R[z|r] and Rh apart
    if (gru && !linearBeforeReset) {
      TRY(zr, sliceAxis(rd, 0, 0, 2 * hidden));
      TRY(h, sliceAxis(rd, 0, 2 * hidden, hidden));
      rZR = zr, rH = h;
    }
    Value pI, pO, pF;
    if (peep) {
      TRY(pd, ofDirection(peep, d));  // [3H]: i, o, f
      TRY(i, sliceAxis(pd, 0, 0, hidden));
      TRY(o, sliceAxis(pd, 0, hidden, hidden));
      TRY(f, sliceAxis(pd, 0, 2 * hidden, hidden));
      pI = i, pO = o, pF = f;
    }
    Value hState = zeroState, cState = zeroState;
    if (h0Major) {
      TRY(hd, ofDirection(h0Major, d));
      hState = hd;
    }
    if (c0Major) {
      TRY(cd, ofDirection(c0Major, d));
      cState = cd;
    }

    SmallVector<Value> ys(seq);
    for (int64_t k = 0; k < seq; ++k) {
      int64_t step = reverse ? seq - 1 - k : k;
      bool noneValid = false;
      TRY(mask, stepMask(step, noneValid));
      if (noneValid) {
        ys[step] = zeroState;
        continue;
      }
      TRY(xwStep, sliceAxis(xw, 0, step, 1));
      TRY(xt, reshape(xwStep, {batch, gates * hidden}));  // [B, G*H]
      auto part = [&](Value v, int64_t index) { return sliceAxis(v, 1, index * hidden, hidden); };
      Value hNext, cNext;
      if (rnn) {
        TRY(hr, matmulT(hState, rd));
        TRY(pre, inferred<AddOp>({xt, hr}));
        TRY(hn, gate(pre, act[0]));
        hNext = hn;
      } else if (gru) {
        Value zPre, hPre;
        if (linearBeforeReset) {
          TRY(hr, matmulT(hState, rd));  // [B, 3H]
          TRY(xz, part(xt, 0));
          TRY(xr, part(xt, 1));
          TRY(xh, part(xt, 2));
          TRY(hz, part(hr, 0));
          TRY(hrr, part(hr, 1));
          TRY(hh, part(hr, 2));
          TRY(zp, inferred<AddOp>({xz, hz}));
          TRY(rp, inferred<AddOp>({xr, hrr}));
          TRY(rg, gate(rp, act[0]));
          Value linear = hh;
          if (rbh) {
            TRY(shifted, inferred<AddOp>({hh, rbh}));
            linear = shifted;
          }
          TRY(reset, inferred<MulOp>({rg, linear}));
          TRY(hp, inferred<AddOp>({xh, reset}));
          zPre = zp, hPre = hp;
        } else {
          TRY(hzr, matmulT(hState, rZR));  // [B, 2H]
          TRY(xz, part(xt, 0));
          TRY(xr, part(xt, 1));
          TRY(xh, part(xt, 2));
          TRY(hz, part(hzr, 0));
          TRY(hrr, part(hzr, 1));
          TRY(zp, inferred<AddOp>({xz, hz}));
          TRY(rp, inferred<AddOp>({xr, hrr}));
          TRY(rg, gate(rp, act[0]));
          TRY(resetState, inferred<MulOp>({rg, hState}));
          TRY(hh, matmulT(resetState, rH));
          TRY(hp, inferred<AddOp>({xh, hh}));
          zPre = zp, hPre = hp;
        }
        TRY(z, gate(zPre, act[0]));
        TRY(candidate, gate(hPre, act[1]));
        TRY(oneMinusZ, inferred<SubOp>({c(1), z}));
        TRY(keep, inferred<MulOp>({oneMinusZ, candidate}));
        TRY(carry, inferred<MulOp>({z, hState}));
        TRY(hn, inferred<AddOp>({keep, carry}));
        hNext = hn;
      } else {
        TRY(hr, matmulT(hState, rd));  // [B, 4H]: i, o, f, c
        TRY(pre, inferred<AddOp>({xt, hr}));
        TRY(iPre, part(pre, 0));
        TRY(oPre, part(pre, 1));
        TRY(fPre, part(pre, 2));
        TRY(cPre, part(pre, 3));
        if (pI) {
          TRY(pi, inferred<MulOp>({pI, cState}));
          TRY(ip, inferred<AddOp>({iPre, pi}));
          iPre = ip;
        }
        TRY(ig, gate(iPre, act[0]));
        Value fg;
        if (inputForget) {
          TRY(complement, inferred<SubOp>({c(1), ig}));
          fg = complement;
        } else {
          if (pF) {
            TRY(pf, inferred<MulOp>({pF, cState}));
            TRY(fp, inferred<AddOp>({fPre, pf}));
            fPre = fp;
          }
          TRY(g, gate(fPre, act[0]));
          fg = g;
        }
        TRY(cg, gate(cPre, act[1]));
        TRY(kept, inferred<MulOp>({fg, cState}));
        TRY(added, inferred<MulOp>({ig, cg}));
        TRY(cn, inferred<AddOp>({kept, added}));
        if (pO) {
          TRY(po, inferred<MulOp>({pO, cn}));
          TRY(op2, inferred<AddOp>({oPre, po}));
          oPre = op2;
        }
        TRY(og, gate(oPre, act[0]));
        TRY(hc, activate(cn, act[2]));
        TRY(hn, inferred<MulOp>({og, hc}));
        hNext = hn, cNext = cn;
      }
      if (mask) {
        TRY(hm, inferred<WhereOp>({mask, hNext, hState}));
        if (wantY && hState == zeroState) {
          ys[step] = hm;  // the same value: built once (see below)
        } else if (wantY) {
          TRY(ym, inferred<WhereOp>({mask, hNext, c(0)}));
          ys[step] = ym;
        }
        hState = hm;
        if (lstm) {
          TRY(cm, inferred<WhereOp>({mask, cNext, cState}));
          cState = cm;
        }
      } else {
        ys[step] = hNext;
        hState = hNext;
        if (lstm)
          cState = cNext;
      }
    }

    // Y_h and Y_c: zero for rows of length 0 (the mask of step 0 is len > 0),
    // which keep their initial state, so only a given one needs the mask.
    // Where step 0 came last (reverse, or one step), the masked Y_h equals
    // Y's frame 0 and is taken from it.
    //
    // Values equal by construction are built once on purpose: two kernel
    // results that CSE makes one value crash the CPU kernel compilation
    // (promoteBufferResultsToOutParams; two Tanh(a) graph outputs do too).
    bool noneValid = false;
    TRY(started, stepMask(0, noneValid));
    bool stepZeroLast = reverse || seq == 1;
    auto finalState = [&](Value state, bool given, Value frameZero) -> FailureOr<Value> {
      Value v = state;
      if (noneValid) {
        v = zeroState;
      } else if (started && given) {
        if (frameZero && stepZeroLast) {
          v = frameZero;
        } else {
          TRY(masked, inferred<WhereOp>({started, state, c(0)}));
          v = masked;
        }
      }
      return reshape(v, {1, batch, hidden});
    };
    TRY(hFinal, finalState(hState, bool(h0), wantY ? ys[0] : Value()));
    hPerDirection.push_back(hFinal);
    if (lstm) {
      TRY(cFinal, finalState(cState, bool(c0), Value()));
      cPerDirection.push_back(cFinal);
    }
    if (wantY) {
      SmallVector<Value> frames;
      for (Value y : ys) {
        TRY(frame, reshape(y, {1, 1, batch, hidden}));
        frames.push_back(frame);
      }
      TRY(yd, inferred<ConcatOp>(frames, {b.getNamedAttr("axis", b.getI64IntegerAttr(0))}));
      yPerDirection.push_back(yd);
    }
  }

  // --- Outputs: Y [S, D, B, H], Y_h / Y_c [D, B, H] (layout 1: batch first) ----------
  auto join = [&](ArrayRef<Value> parts, int64_t axis) -> FailureOr<Value> {
    if (parts.size() == 1)
      return parts[0];
    return inferred<ConcatOp>(parts, {b.getNamedAttr("axis", b.getI64IntegerAttr(axis))});
  };
  if (wantY) {
    TRY(y, join(yPerDirection, 1));
    if (layout) {
      TRY(batchFirst, inferred<TransposeOp>(
                          y, {b.getNamedAttr("perm", b.getDenseI64ArrayAttr({2, 0, 1, 3}))}));
      y = batchFirst;
    }
    if (failed(setOutput(0, y)))
      return failure();
  }
  auto stateOutput = [&](unsigned i, ArrayRef<Value> parts) -> LogicalResult {
    if ((int64_t)i >= node.output_size() || node.output(i).empty())
      return success();
    TRY(s, join(parts, 0));
    if (layout) {
      TRY(batchFirst, inferred<TransposeOp>(
                          s, {b.getNamedAttr("perm", b.getDenseI64ArrayAttr({1, 0, 2}))}));
      s = batchFirst;
    }
    return setOutput(i, s);
  };
  if (failed(stateOutput(1, hPerDirection)))
    return failure();
  if (lstm && failed(stateOutput(2, cPerDirection)))
    return failure();
  return success();
}

} // namespace pmc::onnx_import
