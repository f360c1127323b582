//===- MatMulImporters.cpp - Contractions: MatMul and Gemm ------------------===//
//
// Gemm is decomposed into pmc.matmul (transposes as attributes), scaling and
// the bias add, which pmc-outline-kernels may fold into a library epilogue.
//
#include "ImporterImpl.h"
#include "OpRegistry.h"

#include "mlir/IR/Matchers.h"
#include "llvm/ADT/StringSet.h"

#include <cmath>
#include <limits>
#include <numeric>

using namespace mlir;
using namespace mlir::pmc;
using namespace ::pmc::onnx_import;

void NodeImporter::registerMatMulImporters(OpImporterRegistry &r) {
  r.add("MatMul", 1, [](NodeImporter &n) { return n.importMatMul(); });
  r.add("Gemm", 1, [](NodeImporter &n) { return n.importGemm(); });
}

LogicalResult NodeImporter::importMatMul() {
  if (failed(requireInputs(2)))
    return failure();
  Value a = input(0), bv = input(1);
  bool vecA = shapeOf(a).size() == 1, vecB = shapeOf(bv).size() == 1;
  if (shapeOf(a).empty() || shapeOf(bv).empty())
    return error() << "operands must have rank >= 1";
  if (vecA) {
    auto r = reshape(a, {1, shapeOf(a)[0]});
    if (failed(r)) return failure();
    a = *r;
  }
  if (vecB) {
    auto r = reshape(bv, {shapeOf(bv)[0], 1});
    if (failed(r)) return failure();
    bv = *r;
  }
  auto product = inferred<MatMulOp>({a, bv});
  if (failed(product))
    return failure();
  if (!vecA && !vecB)
    return setOutput(0, product);
  SmallVector<int64_t> shape(shapeOf(*product));
  if (vecB)
    shape.erase(shape.end() - 1);
  if (vecA)
    shape.erase(shape.end() - 1 - (vecB ? 0 : 1));
  return setOutput(0, reshape(*product, shape));
}

LogicalResult NodeImporter::importGemm() {
  if (failed(requireInputs(2)))
    return failure();
  if (shapeOf(input(0)).size() != 2 || shapeOf(input(1)).size() != 2)
    return error() << "A and B must have rank 2";
  float alpha = getFloat("alpha", 1.0f), beta = getFloat("beta", 1.0f);
  SmallVector<NamedAttribute> attrs;
  if (getInt("transA", 0))
    attrs.push_back(b.getNamedAttr("transpose_a", b.getUnitAttr()));
  if (getInt("transB", 0))
    attrs.push_back(b.getNamedAttr("transpose_b", b.getUnitAttr()));
  auto y = inferred<MatMulOp>({input(0), input(1)}, attrs);
  if (failed(y))
    return failure();
  Type elementType = tensorType(*y).getElementType();
  if (alpha != 1.0f) {
    y = inferred<MulOp>({*y, scalar(elementType, alpha)});
    if (failed(y))
      return failure();
  }
  if (Value c = input(2); c && beta != 0.0f) {
    if (beta != 1.0f) {
      auto scaled = inferred<MulOp>({c, scalar(elementType, beta)});
      if (failed(scaled))
        return failure();
      c = *scaled;
    }
    // C broadcasts to the product's shape (unidirectional in ONNX).
    y = inferred<AddOp>({*y, c});
    if (failed(y))
      return failure();
  }
  return setOutput(0, y);
}
