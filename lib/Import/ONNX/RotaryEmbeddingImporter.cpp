//===- RotaryEmbeddingImporter.cpp - ONNX RotaryEmbedding (opset 23) ------===//
//
// RoPE as elementwise pmc ops on the input's own layout (no transposes):
// the first rotary_embedding_dim features of every head are rotated pairwise,
// pair k = (x1[k], x2[k]) taken as halves (x[k], x[k + r/2]) or, interleaved,
// as neighbours (x[2k], x[2k+1]):
//
//   real = cos * x1 - sin * x2,   imag = sin * x1 + cos * x2
//
// and written back where the pair came from; the other features pass through.
// cos/sin are [B, S, r/2], or looked up per token from [P, r/2] tables by
// position_ids [B, S] (a pmc.gather).
//
//===----------------------------------------------------------------------===//

#include "ImporterImpl.h"
#include "OpRegistry.h"

using namespace mlir;
using namespace mlir::pmc;

namespace pmc::onnx_import {

void NodeImporter::registerRotaryEmbeddingImporters(OpImporterRegistry &r) {
  r.add("RotaryEmbedding", 23, [](NodeImporter &n) { return n.importRotaryEmbedding(); });
}

LogicalResult NodeImporter::importRotaryEmbedding() {
  if (failed(requireInputs(3)))
    return failure();
  Value x = input(0), cosCache = input(1), sinCache = input(2), positions = input(3);
  Type t = elementOf(x);
  if (!isa<FloatType>(t) || elementOf(cosCache) != t || elementOf(sinCache) != t)
    return error() << "X, cos_cache and sin_cache must be float tensors of one type, got "
                   << x.getType() << ", " << cosCache.getType() << " and "
                   << sinCache.getType();
  ArrayRef<int64_t> xs = shapeOf(x);
  bool interleaved = getInt("interleaved", 0) != 0;
  int64_t heads = getInt("num_heads", 0);
  // Work on [B, H, S, D] (4-D) or [B, S, H, D] (3-D, split); `tokenAxis` is S.
  Value heads4;
  int64_t seqAxis;
  if (xs.size() == 4) {
    heads4 = x;
    seqAxis = 2;
  } else if (xs.size() == 3) {
    if (heads <= 0 || xs[2] % heads != 0)
      return error() << "3-D X needs num_heads dividing its hidden size " << xs[2]
                     << ", got num_heads " << heads;
    TRY(split, reshape(x, {xs[0], xs[1], heads, xs[2] / heads}));
    heads4 = split;
    seqAxis = 1;
  } else {
    return error() << "X must be 3-D or 4-D, got " << x.getType();
  }
  SmallVector<int64_t> shape(shapeOf(heads4));
  int64_t batch = shape[0], seq = shape[seqAxis], headSize = shape[3];
  int64_t rotary = getInt("rotary_embedding_dim", 0);
  if (rotary == 0)
    rotary = headSize;
  if (rotary < 0 || rotary > headSize || rotary % 2 != 0)
    return error() << "rotary_embedding_dim " << rotary
                   << " must be even and at most the head size " << headSize;
  int64_t half = rotary / 2;

  // cos/sin as [B, S, r/2].
  auto lookUp = [&](Value cache, StringRef what) -> FailureOr<Value> {
    if (positions) {
      if (shapeOf(positions) != ArrayRef<int64_t>{batch, seq})
        return error() << "position_ids must be [" << batch << ", " << seq << "], got "
                       << positions.getType();
      if (shapeOf(cache).size() != 2 || shapeOf(cache)[1] != half)
        return error() << what << " must be [positions, " << half << "] with position_ids, got "
                       << cache.getType();
      return inferred<GatherOp>({cache, positions},
                                {b.getNamedAttr("axis", b.getI64IntegerAttr(0))});
    }
    if (shapeOf(cache) != ArrayRef<int64_t>{batch, seq, half})
      return error() << what << " must be [" << batch << ", " << seq << ", " << half
                     << "] without position_ids, got " << cache.getType();
    return cache;
  };
  TRY(cosBSH, lookUp(cosCache, "cos_cache"));
  TRY(sinBSH, lookUp(sinCache, "sin_cache"));
  // Broadcast over heads: [B, 1, S, r/2] or [B, S, 1, r/2].
  SmallVector<int64_t> tableShape = seqAxis == 2 ? SmallVector<int64_t>{batch, 1, seq, half}
                                                 : SmallVector<int64_t>{batch, seq, 1, half};
  TRY(cosT, reshape(cosBSH, tableShape));
  TRY(sinT, reshape(sinBSH, tableShape));

  auto slice = [&](Value v, int64_t start, int64_t count, int64_t step) {
    ArrayRef<int64_t> s = shapeOf(v);
    SmallVector<int64_t> outShape(s), starts(s.size(), 0), steps(s.size(), 1);
    outShape.back() = count;
    starts.back() = start;
    steps.back() = step;
    return typed<SliceOp>(RankedTensorType::get(outShape, t), v,
                          {b.getNamedAttr("starts", b.getDenseI64ArrayAttr(starts)),
                           b.getNamedAttr("steps", b.getDenseI64ArrayAttr(steps))});
  };
  Value rotated = heads4;
  if (rotary < headSize) {
    TRY(r, slice(heads4, 0, rotary, 1));
    rotated = r;
  }
  TRY(x1, interleaved ? slice(rotated, 0, half, 2) : slice(rotated, 0, half, 1));
  TRY(x2, interleaved ? slice(rotated, 1, half, 2) : slice(rotated, half, half, 1));
  TRY(cx1, inferred<MulOp>({cosT, x1}));
  TRY(sx2, inferred<MulOp>({sinT, x2}));
  TRY(real, inferred<SubOp>({cx1, sx2}));
  TRY(sx1, inferred<MulOp>({sinT, x1}));
  TRY(cx2, inferred<MulOp>({cosT, x2}));
  TRY(imag, inferred<AddOp>({sx1, cx2}));
  auto lastAxis = [&](int64_t rank) {
    return b.getNamedAttr("axis", b.getI64IntegerAttr(rank - 1));
  };
  Value result;
  if (interleaved) {
    // [..., r/2] pairs back to neighbours: [..., r/2, 2] -> [..., r].
    SmallVector<int64_t> pairShape(shapeOf(real));
    pairShape.push_back(1);
    TRY(re, reshape(real, pairShape));
    TRY(im, reshape(imag, pairShape));
    TRY(pairs, inferred<ConcatOp>({re, im}, {lastAxis(pairShape.size())}));
    SmallVector<int64_t> back(shapeOf(real));
    back.back() = rotary;
    TRY(joined, reshape(pairs, back));
    result = joined;
  } else {
    TRY(joined, inferred<ConcatOp>({real, imag}, {lastAxis(4)}));
    result = joined;
  }
  if (rotary < headSize) {
    TRY(rest, slice(heads4, rotary, headSize - rotary, 1));
    TRY(full, inferred<ConcatOp>({result, rest}, {lastAxis(4)}));
    result = full;
  }
  return setOutput(0, reshape(result, xs));
}

} // namespace pmc::onnx_import
