//===- AttentionImporter.cpp - ONNX Attention (opsets 23-25) as pmc ops ---===//
//
// Attention imports as the scaled dot-product it is, in pmc ops the planner
// already shards and costs (matmul, softmax, elementwise), following ONNX's
// reference implementation (onnx/reference/ops/op_attention.py) step by step:
//
//   Q, K, V (3-D inputs split into heads: [B, S, H*D] -> [B, H, S, D])
//   present_key = concat(past_key, K), present_value = concat(past_value, V)
//   K, V repeated per query-head group (GQA: each KV head Hq/Hkv times)
//   qk     = (Q * sqrt(scale)) @ (K * sqrt(scale))^T        [B, Hq, Sq, T]
//   qk     = softcap * tanh(qk / softcap)                    (softcap > 0)
//   bias   = attn_mask (bool: 0 / -inf; padded with -inf to T)
//          + causal / sliding-window / padding constraints   (0 / -inf)
//   probs  = softmax(qk + bias) in softmax_precision, and 0 on query rows
//            whose bias is -inf everywhere (no key to attend)
//   Y      = probs @ V (3-D: merged back to [B, Sq, Hq*Dv])
//
// The constraints compare the query's absolute position p = i + offset with
// the key's j: causal keeps j <= p, a window keeps p - left <= j <= p + right.
// The offset is past_key's length (a constant), or per batch
// nonpad_kv_seqlen[b] - Sq (opset 24's external cache), computed at run time.
//
//===----------------------------------------------------------------------===//

#include "ImporterImpl.h"
#include "OpRegistry.h"

#include "llvm/ADT/APFloat.h"

#include <cmath>

using namespace mlir;
using namespace mlir::pmc;

namespace pmc::onnx_import {

void NodeImporter::registerAttentionImporters(OpImporterRegistry &r) {
  r.add("Attention", 23, [](NodeImporter &n) { return n.importAttention(); });
}

namespace {
/// The 0 / -inf bias of a boolean "allowed" table, as a constant of `type`.
DenseElementsAttr additiveBias(RankedTensorType type, ArrayRef<bool> allowed) {
  const llvm::fltSemantics &sem = cast<FloatType>(type.getElementType()).getFloatSemantics();
  APFloat zero = APFloat::getZero(sem), negInf = APFloat::getInf(sem, /*Negative=*/true);
  SmallVector<APFloat> values;
  values.reserve(allowed.size());
  for (bool a : allowed)
    values.push_back(a ? zero : negInf);
  return DenseElementsAttr::get(type, values);
}
} // namespace

/// [B, S, H*D] -> [B, H, S, D].
FailureOr<Value> NodeImporter::splitHeads(Value x, int64_t heads, StringRef what) {
  ArrayRef<int64_t> s = shapeOf(x);
  if (heads <= 0 || s[2] % heads != 0)
    return error() << what << " hidden size " << s[2] << " is not a multiple of "
                   << heads << " heads";
  TRY(split, reshape(x, {s[0], s[1], heads, s[2] / heads}));
  return inferred<TransposeOp>(split,
                               {b.getNamedAttr("perm", b.getDenseI64ArrayAttr({0, 2, 1, 3}))});
}

LogicalResult NodeImporter::importAttention() {
  if (failed(requireInputs(3)))
    return failure();
  Value q = input(0), k = input(1), v = input(2);
  Value mask = input(3), pastKey = input(4), pastValue = input(5);
  Value nonpad = opset >= 24 ? input(6) : Value();
  Type t = elementOf(q);
  if (!isa<FloatType>(t))
    return error() << "Q must be a float tensor, got " << q.getType();
  if (elementOf(k) != t || elementOf(v) != t)
    return error() << "Q, K and V must have one element type, got " << q.getType() << ", "
                   << k.getType() << " and " << v.getType();
  int64_t rank = shapeOf(q).size();
  if ((rank != 3 && rank != 4) || (int64_t)shapeOf(k).size() != rank ||
      (int64_t)shapeOf(v).size() != rank)
    return error() << "Q, K and V must all be 3-D or all 4-D, got " << q.getType() << ", "
                   << k.getType() << " and " << v.getType();

  // Heads: attributes for 3-D inputs, dim 1 of 4-D ones.
  std::optional<int64_t> qHeadsAttr, kvHeadsAttr;
  if (attr("q_num_heads"))
    qHeadsAttr = getInt("q_num_heads", 0);
  if (attr("kv_num_heads"))
    kvHeadsAttr = getInt("kv_num_heads", 0);
  if (rank == 3) {
    if (!qHeadsAttr || !kvHeadsAttr)
      return error() << "3-D Q, K and V need the q_num_heads and kv_num_heads attributes";
    TRY(q4, splitHeads(q, *qHeadsAttr, "Q"));
    TRY(k4, splitHeads(k, *kvHeadsAttr, "K"));
    TRY(v4, splitHeads(v, *kvHeadsAttr, "V"));
    q = q4, k = k4, v = v4;
  } else if ((qHeadsAttr && *qHeadsAttr != shapeOf(q)[1]) ||
             (kvHeadsAttr && *kvHeadsAttr != shapeOf(k)[1]) ||
             (opset >= 25 && (qHeadsAttr || kvHeadsAttr))) {
    return error() << "q_num_heads and kv_num_heads are for 3-D inputs; 4-D Q and K have "
                   << shapeOf(q)[1] << " and " << shapeOf(k)[1] << " heads";
  }
  ArrayRef<int64_t> qs = shapeOf(q), ks = shapeOf(k), vs = shapeOf(v);
  int64_t batch = qs[0], qHeads = qs[1], qLen = qs[2], headSize = qs[3];
  int64_t kvHeads = ks[1], kvLen = ks[2];
  if (ks[0] != batch || vs[0] != batch || vs[1] != kvHeads || vs[2] != kvLen ||
      ks[3] != headSize)
    return error() << "K " << k.getType() << " and V " << v.getType()
                   << " do not match Q " << q.getType() << " (as 4-D heads)";
  if (qHeads % kvHeads != 0)
    return error() << qHeads << " query heads are not a multiple of " << kvHeads
                   << " key/value heads";

  // The kv cache.
  if (bool(pastKey) != bool(pastValue))
    return error() << "past_key and past_value must be given together";
  if (nonpad && pastKey)
    return error() << "nonpad_kv_seqlen cannot be combined with past_key and past_value";
  int64_t pastLen = 0;
  if (pastKey) {
    ArrayRef<int64_t> pk = shapeOf(pastKey), pv = shapeOf(pastValue);
    if (pk.size() != 4 || pv.size() != 4 || pk[0] != batch || pk[1] != kvHeads ||
        pk[3] != headSize || pv[0] != batch || pv[1] != kvHeads || pv[2] != pk[2] ||
        pv[3] != vs[3] || elementOf(pastKey) != t || elementOf(pastValue) != t)
      return error() << "past_key " << pastKey.getType() << " and past_value "
                     << pastValue.getType() << " do not match K " << k.getType()
                     << " and V " << v.getType();
    pastLen = pk[2];
    auto axis2 = b.getNamedAttr("axis", b.getI64IntegerAttr(2));
    TRY(presentKey, inferred<ConcatOp>({pastKey, k}, {axis2}));
    TRY(presentValue, inferred<ConcatOp>({pastValue, v}, {axis2}));
    k = presentKey, v = presentValue;
  }
  if (failed(setOutput(1, k)) || failed(setOutput(2, v)))
    return failure();
  int64_t total = pastLen + kvLen;

  // Scores: Q and K each scaled by sqrt(scale), rounded to T as the reference.
  double scale = attr("scale") ? getFloat("scale", 0) : 1.0 / std::sqrt((double)headSize);
  Value rootScale = scalar(t, std::sqrt(scale));
  TRY(qScaled, inferred<MulOp>({q, rootScale}));
  TRY(kScaled, inferred<MulOp>({k, rootScale}));
  Value values = v;
  if (qHeads != kvHeads) {
    // GQA: KV head h serves query heads [h*r, (h+1)*r): [h0, h0, h1, h1, ...].
    int64_t r = qHeads / kvHeads;
    auto repeatHeads = [&](Value x) -> FailureOr<Value> {
      ArrayRef<int64_t> s = shapeOf(x);
      TRY(lifted, reshape(x, {s[0], s[1], 1, s[2], s[3]}));
      TRY(spread, typed<BroadcastOp>(
                      RankedTensorType::get({s[0], s[1], r, s[2], s[3]}, t), lifted));
      return reshape(spread, {s[0], s[1] * r, s[2], s[3]});
    };
    TRY(kRep, repeatHeads(kScaled));
    TRY(vRep, repeatHeads(v));
    kScaled = kRep, values = vRep;
  }
  TRY(kT, inferred<TransposeOp>(kScaled,
                                {b.getNamedAttr("perm", b.getDenseI64ArrayAttr({0, 1, 3, 2}))}));
  TRY(scores, inferred<MatMulOp>({qScaled, kT}));
  float softcap = getFloat("softcap", 0);
  if (softcap > 0) {
    TRY(shrunk, inferred<DivOp>({scores, scalar(t, softcap)}));
    TRY(squashed, unary(TanhOp::getOperationName(), shrunk));
    TRY(capped, inferred<MulOp>({squashed, scalar(t, softcap)}));
    scores = capped;
  }

  // The additive bias.
  bool causal = getInt("is_causal", 0) != 0;
  int64_t left = opset >= 25 ? getInt("left_window_size", -1) : -1;
  int64_t right = opset >= 25 ? getInt("right_window_size", -1) : -1;
  if (left < -1 || right < -1)
    return error() << "left_window_size and right_window_size must be -1 or at least 0, got "
                   << left << " and " << right;
  bool positional = causal || left >= 0 || right >= 0;
  Value bias;
  bool mayMaskRows = false;
  if (mask) {
    Type mt = elementOf(mask);
    if (mt.isInteger(1)) {
      TRY(asBias, inferred<WhereOp>({mask, scalar(t, 0), scalar(t, -INFINITY)}));
      mask = asBias;
    } else if (mt != t) {
      return error() << "a float attn_mask must have Q's element type " << t << ", got "
                     << mask.getType();
    }
    ArrayRef<int64_t> ms = shapeOf(mask);
    if (ms.empty() || ms.back() > total)
      return error() << "attn_mask " << mask.getType() << " has more than the " << total
                     << " keys of past and current K";
    if (ms.back() < total) {
      // Keys past the mask's end are masked out.
      SmallVector<int64_t> padShape(ms);
      padShape.back() = total - ms.back();
      auto padType = RankedTensorType::get(padShape, t);
      Value pad = constant(DenseElementsAttr::get(
          padType, APFloat::getInf(cast<FloatType>(t).getFloatSemantics(), true)));
      TRY(padded, inferred<ConcatOp>({mask, pad}, {b.getNamedAttr(
                                                       "axis", b.getI64IntegerAttr(ms.size() - 1))}));
      mask = padded;
    }
    bias = mask;
    mayMaskRows = true;
  }
  if (nonpad) {
    // Per batch: keys [0, nonpad[b]) are valid; the query block ends there.
    if (shapeOf(nonpad) != ArrayRef<int64_t>{batch} || !elementOf(nonpad).isInteger(64))
      return error() << "nonpad_kv_seqlen must be an int64 tensor of " << batch
                     << " (the batch), got " << nonpad.getType();
    TRY(valid, reshape(nonpad, {batch, 1, 1, 1}));
    TRY(i, iota(qLen, 2, 4));
    TRY(j, iota(total, 3, 4));
    TRY(allowed, inferred<LessOp>({j, valid}));
    if (positional) {
      TRY(start, inferred<SubOp>({valid, i64Tensor({qLen})}));
      TRY(position, inferred<AddOp>({i, start}));
      TRY(distance, inferred<SubOp>({position, j}));  // p - j
      auto keep = [&](Value cond) -> LogicalResult {
        auto both = inferred<AndOp>({allowed, cond});
        if (failed(both))
          return failure();
        allowed = *both;
        return success();
      };
      if (causal) {
        TRY(c, inferred<GreaterEqualOp>({distance, i64Tensor({0})}));
        if (failed(keep(c)))
          return failure();
      }
      if (left >= 0) {
        TRY(c, inferred<LessEqualOp>({distance, i64Tensor({left})}));
        if (failed(keep(c)))
          return failure();
      }
      if (right >= 0) {
        TRY(c, inferred<GreaterEqualOp>({distance, i64Tensor({-right})}));
        if (failed(keep(c)))
          return failure();
      }
    }
    TRY(structural, inferred<WhereOp>({allowed, scalar(t, 0), scalar(t, -INFINITY)}));
    if (bias) {
      TRY(sum, inferred<AddOp>({bias, structural}));
      bias = sum;
    } else {
      bias = structural;
    }
    mayMaskRows = true;
  } else if (positional) {
    // A constant [Sq, T] table: query i sits at position i + past length.
    if (qLen * total > kMaxFoldedElements)
      return error() << "a causal/window mask of " << qLen << "x" << total
                     << " elements, more than 2^24, is too large to fold";
    SmallVector<bool> allowed(qLen * total);
    for (int64_t i = 0; i < qLen; ++i) {
      bool any = false;
      for (int64_t j = 0; j < total; ++j) {
        int64_t distance = i + pastLen - j;
        bool a = (!causal || distance >= 0) && (left < 0 || distance <= left) &&
                 (right < 0 || -distance <= right);
        allowed[i * total + j] = a;
        any |= a;
      }
      mayMaskRows |= !any;
    }
    Value structural = constant(additiveBias(RankedTensorType::get({qLen, total}, t), allowed));
    if (bias) {
      TRY(sum, inferred<AddOp>({bias, structural}));
      bias = sum;
    } else {
      bias = structural;
    }
  }

  int64_t mode = getInt("qk_matmul_output_mode", 0);
  if (mode < 0 || mode > 3)
    return error() << "qk_matmul_output_mode " << mode << " is not 0, 1, 2 or 3";
  // Modes 0 and 1 both expose the scores after softcap (the reference's).
  Value qkOutput = scores;
  if (bias) {
    TRY(biased, inferred<AddOp>({scores, bias}));
    scores = biased;
  }
  if (mode == 2)
    qkOutput = scores;

  Value logits = scores;
  if (const auto *precision = attr("softmax_precision")) {
    Type st = convertElementType(*b.getContext(), precision->i());
    if (!st || !isa<FloatType>(st))
      return error() << "softmax_precision " << onnxTypeName(precision->i())
                     << " is not a float type";
    if (st != t) {
      TRY(wide, typed<CastOp>(RankedTensorType::get(shapeOf(scores), st), scores));
      logits = wide;
    }
  }
  auto probsOr = buildTyped(SoftmaxOp::getOperationName(), logits.getType(), logits,
                            {b.getNamedAttr("axis", b.getI64IntegerAttr(3))});
  if (failed(probsOr))
    return failure();
  Value probs = (*probsOr)[0];
  if (mayMaskRows) {
    // A query row with no key to attend gets zero probabilities, not NaN.
    Type pt = elementOf(probs);
    SmallVector<NamedAttribute> lastAxis = {
        b.getNamedAttr("axes", b.getDenseI64ArrayAttr({(int64_t)shapeOf(bias).size() - 1})),
        b.getNamedAttr("keepdims", b.getUnitAttr())};
    TRY(rowMax, inferred<ReduceMaxOp>(bias, lastAxis));
    TRY(noKey, inferred<EqualOp>({rowMax, scalar(t, -INFINITY)}));
    TRY(guarded, inferred<WhereOp>({noKey, scalar(pt, 0), probs}));
    probs = guarded;
  }
  if (elementOf(probs) != t) {
    TRY(narrow, typed<CastOp>(RankedTensorType::get(shapeOf(probs), t), probs));
    probs = narrow;
  }
  if (mode == 3)
    qkOutput = probs;
  if (failed(setOutput(3, qkOutput)))
    return failure();

  TRY(y, inferred<MatMulOp>({probs, values}));
  if (rank == 3) {
    TRY(merged, inferred<TransposeOp>(y, {b.getNamedAttr("perm",
                                                         b.getDenseI64ArrayAttr({0, 2, 1, 3}))}));
    ArrayRef<int64_t> s = shapeOf(merged);
    return setOutput(0, reshape(merged, {s[0], s[1], s[2] * s[3]}));
  }
  return setOutput(0, y);
}

} // namespace pmc::onnx_import
