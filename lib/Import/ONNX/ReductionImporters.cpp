//===- ReductionImporters.cpp - Reduce*, ArgMax/ArgMin, CumSum/CumProd ------===//
//
// The reduced axes come from the attribute or input 1 (by opset,
// `reductionAxes`); L1/L2/LogSum/LogSumExp/SumSquare are compositions.
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

void NodeImporter::registerReductionImporters(OpImporterRegistry &r) {
  r.add("ReduceMean", 1, [](NodeImporter &n) { return n.importReduce(ReduceMeanOp::getOperationName()); });
  r.add("ReduceSum", 1, [](NodeImporter &n) { return n.importReduce(ReduceSumOp::getOperationName()); });
  r.add("ReduceMax", 1, [](NodeImporter &n) { return n.importReduce(ReduceMaxOp::getOperationName()); });
  r.add("ReduceMin", 1, [](NodeImporter &n) { return n.importReduce(ReduceMinOp::getOperationName()); });
  r.add("ReduceProd", 1, [](NodeImporter &n) { return n.importReduce(ReduceProdOp::getOperationName()); });
  for (const char *op : {"ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp",
                         "ReduceSumSquare"})
    r.add(op, 1, [op](NodeImporter &n) { return n.importReduceExtension(op); });
  r.add("ArgMax", 1, [](NodeImporter &n) { return n.importArgReduce(true); });
  r.add("ArgMin", 1, [](NodeImporter &n) { return n.importArgReduce(false); });
  r.add("CumSum", 1, [](NodeImporter &n) { return n.importCumSum(); });
  r.add("CumProd", 26, [](NodeImporter &n) { return n.importCumulative(/*product=*/true); });
}

FailureOr<SmallVector<int64_t>> NodeImporter::reductionAxes(int64_t rank) {
  SmallVector<int64_t> axes;
  if (input(1)) {
    auto given = constInts(1, "axes");
    if (failed(given))
      return failure();
    axes = *given;
  } else if (auto given = getInts("axes")) {
    axes = *given;
  }
  bool noop = getInt("noop_with_empty_axes", 0) != 0;
  if (axes.empty() && !noop)
    for (int64_t d = 0; d < rank; ++d)
      axes.push_back(d);
  return normalizeAxes(std::move(axes), rank);
}

FailureOr<SmallVector<int64_t>> NodeImporter::normalizeAxes(SmallVector<int64_t> axes,
                                                            int64_t rank) {
  for (int64_t &axis : axes) {
    auto n = normalizeAxis(axis, rank, "axis");
    if (failed(n))
      return failure();
    axis = *n;
  }
  llvm::sort(axes);
  axes.erase(std::unique(axes.begin(), axes.end()), axes.end());
  return axes;
}

LogicalResult NodeImporter::importReduce(StringRef opName) {
  if (failed(requireInputs(1)))
    return failure();
  Value x = input(0);
  FailureOr<SmallVector<int64_t>> axes = reductionAxes(shapeOf(x).size());
  if (failed(axes))
    return failure();
  bool keepdims = getInt("keepdims", 1) != 0;
  if (axes->empty()) // noop_with_empty_axes: no dimension to keep or drop
    return setOutput(0, x);
  SmallVector<NamedAttribute> attrs = {
      b.getNamedAttr("axes", b.getDenseI64ArrayAttr(*axes))};
  if (keepdims)
    attrs.push_back(b.getNamedAttr("keepdims", b.getUnitAttr()));
  FailureOr<Value> result = failure();
  if (opName == ReduceSumOp::getOperationName())
    result = inferred<ReduceSumOp>(x, attrs);
  else if (opName == ReduceMeanOp::getOperationName())
    result = inferred<ReduceMeanOp>(x, attrs);
  else if (opName == ReduceMaxOp::getOperationName())
    result = inferred<ReduceMaxOp>(x, attrs);
  else if (opName == ReduceMinOp::getOperationName())
    result = inferred<ReduceMinOp>(x, attrs);
  else
    result = inferred<ReduceProdOp>(x, attrs);
  return setOutput(0, result);
}

LogicalResult NodeImporter::importReduceExtension(StringRef op) {
  if (failed(requireInputs(1)))
    return failure();
  Value x = input(0);
  // With noop_with_empty_axes the reduction is skipped, the elementwise part
  // (abs, square, log, ...) still applies, as in the ONNX reference.
  FailureOr<SmallVector<int64_t>> reduced = reductionAxes(shapeOf(x).size());
  if (failed(reduced))
    return failure();
  SmallVector<int64_t> axes = *reduced;
  bool keepdims = getInt("keepdims", 1) != 0;
  auto attrs = [&](bool keep) {
    SmallVector<NamedAttribute> a = {b.getNamedAttr("axes", b.getDenseI64ArrayAttr(axes))};
    if (keep)
      a.push_back(b.getNamedAttr("keepdims", b.getUnitAttr()));
    return a;
  };
  Type t = elementOf(x);
  if (op == "ReduceL1") {
    TRY(a, unary(AbsOp::getOperationName(), x));
    return setOutput(0, inferred<ReduceSumOp>(a, attrs(keepdims)));
  }
  if (op == "ReduceSumSquare" || op == "ReduceL2") {
    TRY(sq, inferred<MulOp>({x, x}));
    TRY(sum, inferred<ReduceSumOp>(sq, attrs(keepdims)));
    if (op == "ReduceSumSquare")
      return setOutput(0, sum);
    if (isa<FloatType>(t))
      return setOutput(0, unary(SqrtOp::getOperationName(), sum));
    // Integers: the root in f64, truncated back (numpy's astype).
    auto f64 = RankedTensorType::get(shapeOf(sum), b.getF64Type());
    TRY(wide, typed<CastOp>(f64, sum));
    TRY(root, unary(SqrtOp::getOperationName(), wide));
    return setOutput(0, typed<CastOp>(sum.getType(), root));
  }
  if (!isa<FloatType>(t))
    return error() << "input must be a floating-point tensor";
  if (op == "ReduceLogSum") {
    TRY(sum, inferred<ReduceSumOp>(x, attrs(keepdims)));
    return setOutput(0, unary(LogOp::getOperationName(), sum));
  }
  // ReduceLogSumExp = m + log(sum(exp(x - m))) with m the (finite) maximum.
  TRY(m, inferred<ReduceMaxOp>(x, attrs(true)));
  TRY(absM, unary(AbsOp::getOperationName(), m));
  TRY(finite, inferred<LessOp>({absM, scalar(t, std::numeric_limits<double>::infinity())}));
  TRY(safeM, inferred<WhereOp>({finite, m, scalar(t, 0)}));
  TRY(shifted, inferred<SubOp>({x, safeM}));
  TRY(e, unary(ExpOp::getOperationName(), shifted));
  TRY(sum, inferred<ReduceSumOp>(e, attrs(keepdims)));
  TRY(logSum, unary(LogOp::getOperationName(), sum));
  TRY(mOut, reshape(safeM, shapeOf(logSum)));
  return setOutput(0, inferred<AddOp>({logSum, mOut}));
}

LogicalResult NodeImporter::importArgReduce(bool max) {
  if (failed(requireInputs(1)))
    return failure();
  auto axis = normalizeAxis(getInt("axis", 0), shapeOf(input(0)).size(), "axis");
  if (failed(axis))
    return failure();
  SmallVector<NamedAttribute> attrs = {b.getNamedAttr("axis", b.getI64IntegerAttr(*axis))};
  if (getInt("keepdims", 1))
    attrs.push_back(b.getNamedAttr("keepdims", b.getUnitAttr()));
  if (getInt("select_last_index", 0))
    attrs.push_back(b.getNamedAttr("select_last_index", b.getUnitAttr()));
  if (max)
    return setOutput(0, inferred<ArgMaxOp>(input(0), attrs));
  return setOutput(0, inferred<ArgMinOp>(input(0), attrs));
}

LogicalResult NodeImporter::importCumSum() { return importCumulative(/*product=*/false); }

LogicalResult NodeImporter::importCumulative(bool product) {
  if (failed(requireInputs(2)))
    return failure();
  auto axisValue = constInts(1, "axis");
  if (failed(axisValue))
    return failure();
  if (axisValue->size() != 1)
    return error() << "operand 1 ('axis') must be a scalar";
  auto axis = normalizeAxis((*axisValue)[0], shapeOf(input(0)).size(), "axis");
  if (failed(axis))
    return failure();
  SmallVector<NamedAttribute> attrs = {b.getNamedAttr("axis", b.getI64IntegerAttr(*axis))};
  if (getInt("exclusive", 0))
    attrs.push_back(b.getNamedAttr("exclusive", b.getUnitAttr()));
  if (getInt("reverse", 0))
    attrs.push_back(b.getNamedAttr("reverse", b.getUnitAttr()));
  if (product)
    return setOutput(0, typed<CumProdOp>(input(0).getType(), input(0), attrs));
  return setOutput(0, typed<CumSumOp>(input(0).getType(), input(0), attrs));
}
