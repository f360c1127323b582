//===- TfIdfVectorizerImporter.cpp - n-gram counts of integer sequences ----===//
//
// TfIdfVectorizer counts, per row of X, the pool's n-grams at every start
// position and every skip distance d (items d apart; unigrams once, as d
// does not change them). The pool is an attribute, so each (n, d) is one
// comparison of n shifted slices of X against the pool's n-grams of size n:
//
//   match[r, s, j] = AND_k (X[r, s + k·d] == pool_n[j, k])
//   count[r, j]    = Σ_d Σ_s match[r, s, j]
//
//   %c = pmc.equal %slice, %pool : (tensor<2x10x1xi64>, tensor<3xi64>) -> tensor<2x10x3xi1>
//
// The counts of every n-gram map to the output columns (ngram_indexes) by one
// matmul with a 0/1 matrix, and the mode weights them (TF, IDF, TFIDF), as
// onnx's reference does.
//
//===----------------------------------------------------------------------===//
#include "ImporterImpl.h"
#include "OpRegistry.h"

using namespace mlir;
using namespace ::pmc::onnx_import;

void NodeImporter::registerTfIdfVectorizerImporters(OpImporterRegistry &r) {
  r.add("TfIdfVectorizer", 9, [](NodeImporter &n) { return n.importTfIdfVectorizer(); });
}

LogicalResult NodeImporter::importTfIdfVectorizer() {
  if (failed(requireInputs(1)))
    return failure();
  Value x = input(0);
  if (attr("pool_strings"))
    return error() << "pool_strings: string n-grams are unsupported (strings are "
                      "not a pmc element type)";
  auto intType = dyn_cast<IntegerType>(elementOf(x));
  if (!intType || intType.getWidth() < 32)
    return error() << "X must be int32 or int64, it is " << x.getType();
  const int64_t minGram = getInt("min_gram_length", 0);
  const int64_t maxGram = getInt("max_gram_length", 0);
  const int64_t maxSkip = getInt("max_skip_count", 0);
  const std::string mode = getString("mode", "");
  auto counts = getInts("ngram_counts");
  auto indexes = getInts("ngram_indexes");
  auto pool = getInts("pool_int64s");
  SmallVector<float> weights;
  if (const auto *w = attr("weights"))
    weights.assign(w->floats().begin(), w->floats().end());
  if (mode != "TF" && mode != "IDF" && mode != "TFIDF")
    return error() << "mode must be TF, IDF or TFIDF, it is '" << mode << "'";
  if (minGram < 1 || maxGram < minGram || maxSkip < 0)
    return error() << "needs 1 <= min_gram_length <= max_gram_length and "
                      "max_skip_count >= 0";
  if (!counts || !indexes || !pool || indexes->empty())
    return error() << "needs ngram_counts, ngram_indexes and pool_int64s";

  // The pool's n-grams: entries [counts[n-1], counts[n]) are n-grams of size n.
  struct Gram {
    int64_t size;
    SmallVector<int64_t> items;
    int64_t column;
  };
  SmallVector<Gram> grams;
  int64_t id = 0, outputSize = 0;
  for (int64_t c : *indexes) {
    if (c < 0)
      return error() << "ngram_indexes holds a negative index " << c;
    outputSize = std::max(outputSize, c + 1);
  }
  for (size_t i = 0; i < counts->size(); ++i) {
    const int64_t size = i + 1;
    int64_t begin = (*counts)[i];
    int64_t end = i + 1 < counts->size() ? (*counts)[i + 1] : (int64_t)pool->size();
    if (begin < 0 || end < begin || end > (int64_t)pool->size() || (end - begin) % size)
      return error() << "ngram_counts entry " << i << " does not split pool_int64s "
                     << "into " << size << "-grams";
    for (int64_t at = begin; at < end; at += size, ++id) {
      if (id >= (int64_t)indexes->size())
        return error() << "ngram_indexes has " << indexes->size()
                       << " entries, fewer than the pool's n-grams";
      if (size < minGram || size > maxGram)
        continue; // outside the counted sizes: its id is skipped, as ONNX says
      SmallVector<int64_t> items(pool->begin() + at, pool->begin() + at + size);
      // A repeated n-gram counts once, at its last index (the reference's
      // map keeps the last id).
      llvm::erase_if(grams, [&](const Gram &g) { return g.items == items; });
      grams.push_back({size, items, (*indexes)[id]});
    }
  }
  if (!weights.empty() && (int64_t)weights.size() < outputSize)
    return error() << "weights has " << weights.size() << " entries, the output "
                   << outputSize;

  // Rows of X: [C] is one row.
  ArrayRef<int64_t> shape = shapeOf(x);
  if (shape.empty() || shape.size() > 2)
    return error() << "X must be [C] or [N, C], it is " << x.getType();
  const bool batched = shape.size() == 2;
  const int64_t rows = batched ? shape[0] : 1, length = shape.back();
  TRY(rowsX, reshape(x, {rows, length}));
  Type f32 = b.getF32Type();

  // Per n-gram counts [rows, grams], in the order of `grams`.
  SmallVector<Value> perSize;
  SmallVector<int64_t> columnOf;
  for (int64_t n = minGram; n <= maxGram; ++n) {
    SmallVector<const Gram *> sized;
    for (const Gram &g : grams)
      if (g.size == n)
        sized.push_back(&g);
    if (sized.empty())
      continue;
    const int64_t p = sized.size();
    Value total;
    // Unigrams do not depend on the skip distance: counted at d = 1 only.
    const int64_t maxDistance = n == 1 ? 1 : maxSkip + 1;
    for (int64_t d = 1; d <= maxDistance; ++d) {
      const int64_t starts = length - (n - 1) * d;
      if (starts <= 0)
        break;
      Value match;
      for (int64_t k = 0; k < n; ++k) {
        TRY(slice, typed<mlir::pmc::SliceOp>(
                       RankedTensorType::get({rows, starts}, intType), rowsX,
                       {b.getNamedAttr("starts", b.getDenseI64ArrayAttr({0, k * d})),
                        b.getNamedAttr("steps", b.getDenseI64ArrayAttr({1, 1}))}));
        TRY(column, reshape(slice, {rows, starts, 1}));
        SmallVector<APInt> items;
        for (const Gram *g : sized)
          items.push_back(APInt(intType.getWidth(), g->items[k], /*isSigned=*/true,
                                /*implicitTrunc=*/true));
        Value itemsK = constant(
            DenseElementsAttr::get(RankedTensorType::get({p}, intType), items));
        TRY(equal, inferred<mlir::pmc::EqualOp>({column, itemsK}));
        if (match) {
          TRY(both, inferred<mlir::pmc::AndOp>({match, equal}));
          match = both;
        } else {
          match = equal;
        }
      }
      TRY(asFloat, typed<mlir::pmc::CastOp>(RankedTensorType::get({rows, starts, p}, f32),
                                            match));
      TRY(sum, inferred<mlir::pmc::ReduceSumOp>(
                   {asFloat}, {b.getNamedAttr("axes", b.getDenseI64ArrayAttr({1}))}));
      if (total) {
        TRY(added, inferred<mlir::pmc::AddOp>({total, sum}));
        total = added;
      } else {
        total = sum;
      }
    }
    if (!total)
      continue; // every n-gram of this size is longer than the rows
    perSize.push_back(total);
    for (const Gram *g : sized)
      columnOf.push_back(g->column);
  }

  // Counts to output columns: [rows, grams] x [grams, outputSize] (0/1).
  Value frequencies;
  if (perSize.empty()) {
    frequencies = constant(DenseElementsAttr::get(
        RankedTensorType::get({rows, outputSize}, f32), 0.0f));
  } else {
    Value all = perSize.front();
    if (perSize.size() > 1) {
      TRY(joined, inferred<mlir::pmc::ConcatOp>(
                      perSize, {b.getNamedAttr("axis", b.getI64IntegerAttr(1))}));
      all = joined;
    }
    const int64_t g = columnOf.size();
    if (g * outputSize > kMaxFoldedElements)
      return error() << "a " << g << "x" << outputSize
                     << " n-gram-to-column matrix is too large to fold";
    std::vector<float> toColumns(g * outputSize, 0);
    for (int64_t j = 0; j < g; ++j)
      toColumns[j * outputSize + columnOf[j]] = 1;
    Value matrix = constant(DenseElementsAttr::get(
        RankedTensorType::get({g, outputSize}, f32), ArrayRef<float>(toColumns)));
    TRY(mapped, inferred<mlir::pmc::MatMulOp>({all, matrix}));
    frequencies = mapped;
  }

  // Weighting: TF counts; IDF weight (or 1) where counted; TFIDF weight · count.
  Value result = frequencies;
  Value weightRow;
  if (!weights.empty() && mode != "TF") {
    weights.resize(outputSize);
    weightRow = constant(DenseElementsAttr::get(RankedTensorType::get({outputSize}, f32),
                                                ArrayRef<float>(weights)));
  }
  if (mode == "IDF") {
    TRY(present, inferred<mlir::pmc::GreaterOp>({frequencies, scalar(f32, 0)}));
    Value one = weightRow ? weightRow : scalar(f32, 1);
    TRY(picked, inferred<mlir::pmc::WhereOp>({present, one, scalar(f32, 0)}));
    result = picked;
  } else if (mode == "TFIDF" && weightRow) {
    TRY(weighted, inferred<mlir::pmc::MulOp>({frequencies, weightRow}));
    result = weighted;
  }
  if (!batched) {
    TRY(flat, reshape(result, {outputSize}));
    result = flat;
  }
  return setOutput(0, result);
}
