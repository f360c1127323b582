//===- EinsumImporter.cpp - ONNX Einsum as diagonals, sums and matmuls -----===//
//
// The equation is parsed into one label per operand dimension (letters, and
// the dims an ellipsis stands for, right-aligned across operands as numpy
// broadcasts them). Then, exactly as numpy's einsum defines it:
//
//   a label repeated in one operand  -> its diagonal (transpose the two dims
//                                       last, flatten them, slice step n + 1)
//   a label no later operand and not the output uses
//                                    -> pmc.reduce_sum over it
//   two operands, left to right      -> transpose to [batch, left, contracted]
//                                       and [batch, contracted, right], one
//                                       pmc.matmul (batch dims broadcast)
//   the result                       -> transpose to the output's order
//
// Implicit mode (no "->") outputs the ellipsis dims, then the letters used
// once, in alphabetical (ASCII) order. A label of size 1 broadcasts against
// the others only in an ellipsis, as numpy allows.
//
#include "ImporterImpl.h"
#include "OpRegistry.h"

#include "llvm/ADT/STLExtras.h"

#include <cctype>
#include <map>

using namespace mlir;
using namespace mlir::pmc;
using namespace ::pmc::onnx_import;

namespace {
/// A label is a letter's character code; ellipsis dim k (0 = the outermost of
/// the widest ellipsis) is kEllipsis + k, after every letter.
constexpr int kEllipsis = 256;

/// One operand or intermediate: its value and the label of each dim.
struct Term {
  Value value;
  SmallVector<int> labels;
};
} // namespace

void NodeImporter::registerEinsumImporters(OpImporterRegistry &r) {
  r.add("Einsum", 12, [](NodeImporter &n) { return n.importEinsum(); });
}

LogicalResult NodeImporter::importEinsum() {
  if (failed(requireVariadicInputs()))
    return failure();
  if (!attr("equation"))
    return error() << "attribute 'equation' is required";
  std::string given = getString("equation", "");
  std::string equation;
  for (char c : given)
    if (c != ' ')
      equation.push_back(c);
  size_t arrow = equation.find("->");
  bool explicitOutput = arrow != std::string::npos;
  std::string lhs = equation.substr(0, arrow);
  std::string rhs = explicitOutput ? equation.substr(arrow + 2) : "";
  SmallVector<std::string> specs;
  {
    SmallVector<StringRef> parts;
    StringRef(lhs).split(parts, ',');
    for (StringRef part : parts)
      specs.push_back(part.str());
  }
  size_t operands = inputs.size();
  if (specs.size() != operands)
    return error() << "equation '" << given << "' has " << specs.size()
                   << " operand terms for " << operands << " inputs";
  Type t = elementOf(input(0));
  for (Value v : inputs)
    if (elementOf(v) != t)
      return error() << "inputs must have one element type, got " << input(0).getType()
                     << " and " << v.getType();
  if (t.isInteger(1))
    return error() << "inputs must be numeric, got " << input(0).getType();

  // Parses one term into letters and the position of its ellipsis (-1: none).
  auto parse = [&](StringRef term, SmallVector<int> &letters,
                   int64_t &ellipsisAt) -> LogicalResult {
    ellipsisAt = -1;
    for (size_t i = 0; i < term.size();) {
      if (term.substr(i).starts_with("...")) {
        if (ellipsisAt >= 0)
          return error() << "term '" << term << "' of equation '" << given
                         << "' has more than one ellipsis";
        ellipsisAt = letters.size();
        i += 3;
        continue;
      }
      char c = term[i++];
      if (!std::isalpha((unsigned char)c))
        return error() << "equation '" << given << "' has the character '" << c
                       << "', not a letter, ',', '->' or '...'";
      letters.push_back(c);
    }
    return success();
  };

  SmallVector<SmallVector<int>> letters(operands);
  SmallVector<int64_t> ellipsisAt(operands);
  int64_t ellipsisRank = 0;
  for (size_t i = 0; i < operands; ++i) {
    if (failed(parse(specs[i], letters[i], ellipsisAt[i])))
      return failure();
    int64_t rank = shapeOf(inputs[i]).size(), named = letters[i].size();
    if (ellipsisAt[i] < 0 ? rank != named : rank < named)
      return error() << "term '" << specs[i] << "' names " << named << " dims of input " << i
                     << " " << inputs[i].getType();
    if (ellipsisAt[i] >= 0)
      ellipsisRank = std::max(ellipsisRank, rank - named);
  }
  // Every operand's labels, its ellipsis dims right-aligned.
  SmallVector<Term> terms(operands);
  std::map<int, int64_t> sizes;
  std::map<int, int> uses;
  for (size_t i = 0; i < operands; ++i) {
    ArrayRef<int64_t> shape = shapeOf(inputs[i]);
    int64_t rank = shape.size(), named = letters[i].size();
    SmallVector<int> &labels = terms[i].labels;
    terms[i].value = inputs[i];
    for (int64_t j = 0; j < named; ++j) {
      if (j == ellipsisAt[i])
        for (int64_t k = ellipsisRank - (rank - named); k < ellipsisRank; ++k)
          labels.push_back(kEllipsis + k);
      labels.push_back(letters[i][j]);
    }
    if (ellipsisAt[i] == named)
      for (int64_t k = ellipsisRank - (rank - named); k < ellipsisRank; ++k)
        labels.push_back(kEllipsis + k);
    for (int64_t d = 0; d < rank; ++d) {
      int label = labels[d];
      auto [it, fresh] = sizes.try_emplace(label, shape[d]);
      if (!fresh && it->second != shape[d]) {
        bool broadcast = label >= kEllipsis && (it->second == 1 || shape[d] == 1);
        if (!broadcast)
          return error() << "label '"
                         << (label >= kEllipsis ? std::string("...") : std::string(1, (char)label))
                         << "' has sizes " << it->second << " and " << shape[d];
        it->second = std::max(it->second, shape[d]);
      }
    }
    for (int label : labels)
      ++uses[label];
  }

  SmallVector<int> output;
  if (explicitOutput) {
    SmallVector<int> outLetters;
    int64_t outEllipsis = -1;
    if (failed(parse(rhs, outLetters, outEllipsis)))
      return failure();
    for (int64_t j = 0; j <= (int64_t)outLetters.size(); ++j) {
      if (j == outEllipsis)
        for (int64_t k = 0; k < ellipsisRank; ++k)
          output.push_back(kEllipsis + k);
      if (j < (int64_t)outLetters.size())
        output.push_back(outLetters[j]);
    }
    if (outEllipsis < 0 && ellipsisRank > 0)
      for (int64_t k = 0; k < ellipsisRank; ++k)
        if (sizes[kEllipsis + k] != 1)
          return error() << "the output of equation '" << given
                         << "' has no '...' for the inputs' ellipsis dims";
    for (int label : output) {
      if (!sizes.count(label))
        return error() << "output label '" << (char)label << "' of equation '" << given
                       << "' is in no input";
      if (llvm::count(output, label) > 1)
        return error() << "output label '" << (char)label << "' of equation '" << given
                       << "' appears twice";
    }
  } else {
    for (int64_t k = 0; k < ellipsisRank; ++k)
      output.push_back(kEllipsis + k);
    for (auto [label, count] : uses)  // std::map: ASCII order, ellipsis last
      if (label < kEllipsis && count == 1)
        output.push_back(label);
  }

  auto labelName = [](int label) {
    return label >= kEllipsis ? std::string("...") : std::string(1, (char)label);
  };
  auto permute = [&](Term &term, ArrayRef<int> order) -> LogicalResult {
    if (ArrayRef<int>(term.labels) == order)
      return success();
    SmallVector<int64_t> perm;
    for (int label : order)
      perm.push_back(llvm::find(term.labels, label) - term.labels.begin());
    auto moved = inferred<TransposeOp>(
        term.value, {b.getNamedAttr("perm", b.getDenseI64ArrayAttr(perm))});
    if (failed(moved))
      return failure();
    term.value = *moved;
    term.labels.assign(order.begin(), order.end());
    return success();
  };
  // The diagonal of every repeated label (dims d1 < d2 -> one dim, last).
  auto diagonals = [&](Term &term) -> LogicalResult {
    for (;;) {
      int repeated = -1;
      for (int label : term.labels)
        if (llvm::count(term.labels, label) > 1) {
          repeated = label;
          break;
        }
      if (repeated < 0)
        return success();
      SmallVector<int> order;
      for (int label : term.labels)
        if (label != repeated)
          order.push_back(label);
      int64_t firstDim = llvm::find(term.labels, repeated) - term.labels.begin();
      int64_t secondDim =
          std::find(term.labels.begin() + firstDim + 1, term.labels.end(), repeated) -
          term.labels.begin();
      // Transpose by dims (labels repeat): others, then the two.
      SmallVector<int64_t> perm;
      for (int64_t d = 0, e = term.labels.size(); d < e; ++d)
        if (d != firstDim && d != secondDim)
          perm.push_back(d);
      perm.push_back(firstDim);
      perm.push_back(secondDim);
      ArrayRef<int64_t> shape = shapeOf(term.value);
      int64_t n = shape[firstDim];
      if (shape[secondDim] != n)
        return error() << "the diagonal of label '" << labelName(repeated)
                       << "' has sizes " << n << " and " << shape[secondDim];
      auto moved = inferred<TransposeOp>(
          term.value, {b.getNamedAttr("perm", b.getDenseI64ArrayAttr(perm))});
      if (failed(moved))
        return failure();
      SmallVector<int64_t> flatShape;
      for (int64_t d : llvm::drop_end(perm, 2))
        flatShape.push_back(shape[d]);
      flatShape.push_back(n * n);
      auto flat = reshape(*moved, flatShape);
      if (failed(flat))
        return failure();
      int64_t rank = flatShape.size();
      SmallVector<int64_t> starts(rank, 0), steps(rank, 1);
      steps.back() = n + 1;
      SmallVector<int64_t> diagShape(flatShape);
      diagShape.back() = n;
      auto diag = typed<SliceOp>(RankedTensorType::get(diagShape, elementOf(term.value)),
                                 *flat,
                                 {b.getNamedAttr("starts", b.getDenseI64ArrayAttr(starts)),
                                  b.getNamedAttr("steps", b.getDenseI64ArrayAttr(steps))});
      if (failed(diag))
        return failure();
      order.push_back(repeated);
      term.value = *diag;
      term.labels = order;
    }
  };
  // Sums the labels of `term` that nothing in `keep` uses.
  auto sumUnused = [&](Term &term, ArrayRef<int> keep) -> LogicalResult {
    SmallVector<int64_t> axes;
    SmallVector<int> left;
    for (auto [d, label] : llvm::enumerate(term.labels)) {
      if (llvm::is_contained(keep, label))
        left.push_back(label);
      else
        axes.push_back(d);
    }
    if (axes.empty())
      return success();
    auto summed = inferred<ReduceSumOp>(term.value,
                                        {b.getNamedAttr("axes", b.getDenseI64ArrayAttr(axes))});
    if (failed(summed))
      return failure();
    term.value = *summed;
    term.labels = left;
    return success();
  };
  auto sizeOf = [&](const Term &term, int label) {
    return shapeOf(term.value)[llvm::find(term.labels, label) - term.labels.begin()];
  };
  // Stretches `label` of `term` (size 1) to its full size.
  auto stretch = [&](Term &term, int label) -> LogicalResult {
    SmallVector<int64_t> shape(shapeOf(term.value));
    shape[llvm::find(term.labels, label) - term.labels.begin()] = sizes[label];
    auto full = typed<BroadcastOp>(RankedTensorType::get(shape, t), term.value);
    if (failed(full))
      return failure();
    term.value = *full;
    return success();
  };

  for (Term &term : terms)
    if (failed(diagonals(term)))
      return failure();
  // Labels needed after operand i: the output's and those of operands > i.
  auto neededAfter = [&](size_t i) {
    SmallVector<int> needed(output);
    for (size_t j = i + 1; j < operands; ++j)
      llvm::append_range(needed, terms[j].labels);
    return needed;
  };
  Term acc = terms[0];
  {
    SmallVector<int> keep = neededAfter(0);
    if (operands > 1)
      llvm::append_range(keep, terms[1].labels);
    if (failed(sumUnused(acc, keep)))
      return failure();
  }
  for (size_t i = 1; i < operands; ++i) {
    Term rhsTerm = terms[i];
    SmallVector<int> later = neededAfter(i);
    SmallVector<int> keepA(later), keepB(later);
    llvm::append_range(keepA, rhsTerm.labels);
    llvm::append_range(keepB, acc.labels);
    if (failed(sumUnused(acc, keepA)) || failed(sumUnused(rhsTerm, keepB)))
      return failure();
    SmallVector<int> batch, contracted, leftOnly, rightOnly;
    for (int label : acc.labels) {
      if (!llvm::is_contained(rhsTerm.labels, label))
        leftOnly.push_back(label);
      else if (llvm::is_contained(later, label))
        batch.push_back(label);
      else
        contracted.push_back(label);
    }
    for (int label : rhsTerm.labels)
      if (!llvm::is_contained(acc.labels, label))
        rightOnly.push_back(label);
    // A contracted ellipsis dim of size 1 on one side sums the other's.
    for (int label : contracted) {
      if (sizeOf(acc, label) != sizes[label] && failed(stretch(acc, label)))
        return failure();
      if (sizeOf(rhsTerm, label) != sizes[label] && failed(stretch(rhsTerm, label)))
        return failure();
    }
    SmallVector<int> orderA(batch), orderB(batch);
    llvm::append_range(orderA, leftOnly);
    llvm::append_range(orderA, contracted);
    llvm::append_range(orderB, contracted);
    llvm::append_range(orderB, rightOnly);
    if (failed(permute(acc, orderA)) || failed(permute(rhsTerm, orderB)))
      return failure();
    SmallVector<int64_t> shapeA, shapeB, shapeOut;
    for (int label : batch) {
      shapeA.push_back(sizeOf(acc, label));
      shapeB.push_back(sizeOf(rhsTerm, label));
      shapeOut.push_back(std::max(sizeOf(acc, label), sizeOf(rhsTerm, label)));
    }
    int64_t m = 1, k = 1, n = 1;
    for (int label : leftOnly) {
      m *= sizeOf(acc, label);
      shapeOut.push_back(sizeOf(acc, label));
    }
    for (int label : contracted)
      k *= sizeOf(acc, label);
    for (int label : rightOnly) {
      n *= sizeOf(rhsTerm, label);
      shapeOut.push_back(sizeOf(rhsTerm, label));
    }
    shapeA.push_back(m), shapeA.push_back(k);
    shapeB.push_back(k), shapeB.push_back(n);
    TRY(a, reshape(acc.value, shapeA));
    TRY(bMat, reshape(rhsTerm.value, shapeB));
    TRY(product, inferred<MatMulOp>({a, bMat}));
    TRY(shaped, reshape(product, shapeOut));
    acc.value = shaped;
    acc.labels = batch;
    llvm::append_range(acc.labels, leftOnly);
    llvm::append_range(acc.labels, rightOnly);
  }
  if (failed(sumUnused(acc, output)))
    return failure();
  // An output ellipsis dim no operand had at full size (all 1) stays 1.
  for (int label : output)
    if (!llvm::is_contained(acc.labels, label))
      return error() << "output label '" << labelName(label) << "' was lost";
  if (failed(permute(acc, output)))
    return failure();
  return setOutput(0, acc.value);
}
