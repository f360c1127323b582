//===- NormalizationImporters.cpp - Normalizations: softmax, layer/batch/instance/group norms ---===//
//
// Softmax-like ops and normalizations; those without a pmc op of their own
// are built on pmc.layer_norm (`normalize`).
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

void NodeImporter::registerNormalizationImporters(OpImporterRegistry &r) {
  r.add("Softmax", 1, [](NodeImporter &n) { return n.importSoftmax(false); });
  r.add("LogSoftmax", 1, [](NodeImporter &n) { return n.importSoftmax(true); });
  r.add("Hardmax", 1, [](NodeImporter &n) { return n.importHardmax(); });
  r.add("LayerNormalization", 1, [](NodeImporter &n) { return n.importLayerNorm(); });
  r.add("BatchNormalization", 1, [](NodeImporter &n) { return n.importBatchNorm(); });
  r.add("InstanceNormalization", 1, [](NodeImporter &n) { return n.importInstanceNorm(); });
  r.add("GroupNormalization", 1, [](NodeImporter &n) { return n.importGroupNorm(); });
  r.add("LpNormalization", 1, [](NodeImporter &n) { return n.importLpNorm(); });
  r.add("MeanVarianceNormalization", 1,
        [](NodeImporter &n) { return n.importMeanVarianceNorm(); });
  r.add("RMSNormalization", 23, [](NodeImporter &n) { return n.importRMSNorm(); });
}

FailureOr<Value> NodeImporter::normalize(Value x, int64_t axis, float epsilon) {
  ArrayRef<int64_t> shape = shapeOf(x);
  Type element = elementOf(x);
  SmallVector<int64_t> statShape(shape);
  for (size_t d = axis; d < shape.size(); ++d)
    statShape[d] = 1;
  Type statElement = element.isF64() ? element : b.getF32Type();
  auto statType = RankedTensorType::get(statShape, statElement);
  auto onesType = RankedTensorType::get({1}, element);
  Value ones = constant(DenseElementsAttr::get(onesType, FloatAttr::get(element, 1.0)));
  auto results = buildTyped(LayerNormOp::getOperationName(),
                            {x.getType(), statType, statType}, {x, ones},
                            {b.getNamedAttr("axis", b.getI64IntegerAttr(axis)),
                             b.getNamedAttr("epsilon", b.getF32FloatAttr(epsilon))});
  if (failed(results))
    return failure();
  return (*results)[0];
}

LogicalResult NodeImporter::importSoftmax(bool log) {
  if (failed(requireInputs(1)))
    return failure();
  Value x = input(0);
  int64_t rank = shapeOf(x).size();
  StringRef opName = log ? LogSoftmaxOp::getOperationName()
                         : SoftmaxOp::getOperationName();
  auto axis = normalizeAxis(getInt("axis", opset >= 13 ? -1 : 1), rank, "axis");
  if (failed(axis))
    return failure();
  if (opset >= 13 || *axis == rank - 1) {
    auto results = buildTyped(opName, x.getType(), x,
                              {b.getNamedAttr("axis", b.getI64IntegerAttr(*axis))});
    if (failed(results))
      return failure();
    return setOutput(0, (*results)[0]);
  }
  // Before opset 13 the input is coerced to 2-D at `axis`.
  ArrayRef<int64_t> shape = shapeOf(x);
  auto flat = reshape(x, {product(shape.take_front(*axis)),
                          product(shape.drop_front(*axis))});
  if (failed(flat))
    return failure();
  auto results = buildTyped(opName, flat->getType(), *flat,
                            {b.getNamedAttr("axis", b.getI64IntegerAttr(1))});
  if (failed(results))
    return failure();
  return setOutput(0, reshape((*results)[0], shape));
}

LogicalResult NodeImporter::importHardmax() {
  if (failed(requireInputs(1)))
    return failure();
  Value x = input(0);
  ArrayRef<int64_t> shape = shapeOf(x);
  int64_t rank = shape.size();
  auto axis = normalizeAxis(getInt("axis", opset >= 13 ? -1 : 1), rank, "axis");
  if (failed(axis))
    return failure();
  Value work = x;
  int64_t workAxis = *axis;
  if (opset < 13 && *axis != rank - 1) {
    // Before opset 13 the input is coerced to 2-D at `axis`.
    TRY(flat, reshape(x, {product(shape.take_front(*axis)),
                          product(shape.drop_front(*axis))}));
    work = flat;
    workAxis = 1;
  }
  int64_t workRank = shapeOf(work).size();
  TRY(best, inferred<ArgMaxOp>(
                work, {b.getNamedAttr("axis", b.getI64IntegerAttr(workAxis)),
                       b.getNamedAttr("keepdims", b.getUnitAttr())}));
  TRY(index, iota(shapeOf(work)[workAxis], workAxis, workRank));
  TRY(mask, inferred<EqualOp>({index, best}));
  TRY(y, typed<CastOp>(RankedTensorType::get(shapeOf(work), elementOf(x)), mask));
  return setOutput(0, reshape(y, shape));
}

LogicalResult NodeImporter::importLayerNorm() {
  if (failed(requireInputs(2)))
    return failure();
  Value x = input(0);
  int64_t rank = shapeOf(x).size();
  auto axis = normalizeAxis(getInt("axis", -1), rank, "axis");
  if (failed(axis))
    return failure();
  Type stashType = convertElementType(*b.getContext(), getInt("stash_type", 1));
  if (!stashType || !isa<FloatType>(stashType))
    return error() << "stash_type must be a floating-point type";
  SmallVector<int64_t> statShape(shapeOf(x));
  for (int64_t d = *axis; d < rank; ++d)
    statShape[d] = 1;
  auto statType = RankedTensorType::get(statShape, stashType);
  SmallVector<Value> operands = {x, input(1)};
  if (input(2))
    operands.push_back(input(2));
  auto results = buildTyped(
      LayerNormOp::getOperationName(), {x.getType(), statType, statType}, operands,
      {b.getNamedAttr("axis", b.getI64IntegerAttr(*axis)),
       b.getNamedAttr("epsilon", b.getF32FloatAttr(getFloat("epsilon", 1e-5f)))});
  if (failed(results))
    return failure();
  for (unsigned i = 0; i < 3; ++i)
    (void)setOutput(i, (*results)[i]);
  return success();
}

LogicalResult NodeImporter::importBatchNorm() {
  if (failed(requireInputs(5)))
    return failure();
  int64_t trainingMode = getInt("training_mode", 0);
  if (trainingMode != 0 && trainingMode != 1)
    return error() << "training_mode = " << trainingMode << " must be 0 or 1";
  bool training = trainingMode == 1;
  // momentum only updates the running statistics, in training.
  float momentum = getFloat("momentum", 0.9f);
  if (getInt("spatial", 1) != 1)
    return error() << "spatial = 0 (statistics per element, opsets 7-8) is unsupported";
  if (!training)
    for (int i = 1; i < node.output_size(); ++i)
      if (!node.output(i).empty())
        return error() << "output " << i << " (running statistics, or the saved statistics "
                       << "of opsets 6-13) is only computed with training_mode = 1 "
                       << "(opset 14 on)";
  Value x = input(0);
  ArrayRef<int64_t> shape = shapeOf(x);
  if (shape.size() < 2)
    return error() << "input must have rank >= 2";
  int64_t channels = shape[1];
  // [C] parameters broadcast against [N, C, spatial...] as [C, 1, ...].
  SmallVector<int64_t> paramShape(shape.size() - 1, 1);
  paramShape[0] = channels;
  SmallVector<Value, 4> params;
  const char *names[] = {"scale", "B", "input_mean", "input_var"};
  for (unsigned i = 1; i < 5; ++i) {
    if (shapeOf(input(i)) != ArrayRef<int64_t>{channels})
      return error() << "operand " << i << " ('" << names[i - 1]
                     << "') must have shape [" << channels << "]";
    auto r = reshape(input(i), paramShape);
    if (failed(r))
      return failure();
    params.push_back(*r);
  }
  Type elementType = tensorType(x).getElementType();
  float epsilon = getFloat("epsilon", 1e-5f);
  // Batch statistics are computed in f32 under --dtype bf16 (as autocast
  // runs batch_norm): every op built from here is marked pmc.keep_f32.
  Block *block = b.getInsertionBlock();
  Block::iterator first = b.getInsertionPoint();
  bool atStart = first == block->begin();
  Operation *before = atStart ? nullptr : &*std::prev(first);
  auto keepF32 = [&]() {
    if (!training)
      return;
    Block::iterator end = b.getInsertionPoint();
    for (Block::iterator it = before ? std::next(before->getIterator()) : block->begin();
         it != end; ++it)
      it->setAttr("pmc.keep_f32", b.getUnitAttr());
  };
  if (training) {
    // Batch statistics over every dim but 1 (the biased variance, two-pass as
    // the reference); the running statistics become
    // input_mean * momentum + mean * (1 - momentum) (likewise the variance).
    for (unsigned i = 1; i < 5; ++i)
      if (elementOf(input(i)) != elementType)
        return error() << "operand " << i << " ('" << names[i - 1]
                       << "') must have the element type of X in training mode, got "
                       << elementOf(input(i)) << " and " << elementType;
    SmallVector<int64_t> axes;
    for (int64_t d = 0; d < (int64_t)shape.size(); ++d)
      if (d != 1)
        axes.push_back(d);
    SmallVector<NamedAttribute> attrs = {
        b.getNamedAttr("axes", b.getDenseI64ArrayAttr(axes)),
        b.getNamedAttr("keepdims", b.getUnitAttr())};
    TRY(meanKeep, inferred<ReduceMeanOp>(x, attrs));
    TRY(diff, inferred<SubOp>({x, meanKeep}));
    TRY(sq, inferred<MulOp>({diff, diff}));
    TRY(varKeep, inferred<ReduceMeanOp>(sq, attrs));
    TRY(mean, reshape(meanKeep, paramShape));
    TRY(var, reshape(varKeep, paramShape));
    params[2] = mean;
    params[3] = var;
    Value keep = scalar(elementType, momentum);
    Value take = scalar(elementType, 1.0 - (double)momentum);
    for (unsigned k = 0; k < 2; ++k) {
      TRY(batch, reshape(k == 0 ? meanKeep : varKeep, {channels}));
      TRY(old, inferred<MulOp>({input(3 + k), keep}));
      TRY(fresh, inferred<MulOp>({batch, take}));
      if (failed(setOutput(1 + k, inferred<AddOp>({old, fresh}))))
        return failure();
    }
  }
  // y = (x - mean) * (scale / sqrt(var + epsilon)) + bias
  auto varEps = inferred<AddOp>({params[3], scalar(elementType, epsilon)});
  if (failed(varEps)) return failure();
  auto stdDev = unary(SqrtOp::getOperationName(), *varEps);
  if (failed(stdDev)) return failure();
  auto factor = inferred<DivOp>({params[0], *stdDev});
  if (failed(factor)) return failure();
  auto centered = inferred<SubOp>({x, params[2]});
  if (failed(centered)) return failure();
  auto scaled = inferred<MulOp>({*centered, *factor});
  if (failed(scaled)) return failure();
  LogicalResult done = setOutput(0, inferred<AddOp>({*scaled, params[1]}));
  keepF32();
  return done;
}

LogicalResult NodeImporter::importInstanceNorm() {
  if (failed(requireInputs(3)))
    return failure();
  Value x = input(0);
  ArrayRef<int64_t> shape = shapeOf(x);
  if (shape.size() < 3)
    return error() << "input must have rank >= 3";
  int64_t channels = shape[1];
  SmallVector<int64_t> paramShape(shape.size() - 1, 1);
  paramShape[0] = channels;
  for (unsigned i = 1; i < 3; ++i)
    if (shapeOf(input(i)) != ArrayRef<int64_t>{channels})
      return error() << "operand " << i << " must have shape [" << channels << "]";
  TRY(y, normalize(x, 2, getFloat("epsilon", 1e-5f)));
  TRY(scale, reshape(input(1), paramShape));
  TRY(bias, reshape(input(2), paramShape));
  TRY(scaled, inferred<MulOp>({y, scale}));
  return setOutput(0, inferred<AddOp>({scaled, bias}));
}

LogicalResult NodeImporter::importGroupNorm() {
  if (failed(requireInputs(3)))
    return failure();
  Value x = input(0);
  ArrayRef<int64_t> shape = shapeOf(x);
  if (shape.size() < 3)
    return error() << "input must have rank >= 3";
  int64_t groups = getInt("num_groups", 0), channels = shape[1];
  if (groups <= 0 || channels % groups)
    return error() << "num_groups " << groups << " must divide the " << channels
                   << " channels";
  int64_t n = shape[0], perGroup = product(shape.drop_front(1)) / groups;
  TRY(grouped, reshape(x, {n, groups, perGroup}));
  TRY(normed, normalize(grouped, 2, getFloat("epsilon", 1e-5f)));
  TRY(y, reshape(normed, shape));
  SmallVector<int64_t> paramShape(shape.size() - 1, 1);
  paramShape[0] = channels;
  SmallVector<Value, 2> params;
  for (unsigned i = 1; i < 3; ++i) {
    Value p = input(i);
    ArrayRef<int64_t> ps = shapeOf(p);
    if (ps == ArrayRef<int64_t>{groups} && groups != channels) {
      // Opset 18: one scale per group, repeated over the group's channels.
      TRY(col, reshape(p, {groups, 1}));
      TRY(wide, typed<BroadcastOp>(
                    RankedTensorType::get({groups, channels / groups}, elementOf(p)), col));
      p = wide;
    } else if (ps != ArrayRef<int64_t>{channels}) {
      return error() << "operand " << i << " must have shape [" << channels
                     << "] (or [" << groups << "] before opset 21)";
    }
    TRY(r, reshape(p, paramShape));
    params.push_back(r);
  }
  TRY(scaled, inferred<MulOp>({y, params[0]}));
  return setOutput(0, inferred<AddOp>({scaled, params[1]}));
}

LogicalResult NodeImporter::importLpNorm() {
  if (failed(requireInputs(1)))
    return failure();
  Value x = input(0);
  auto axis = normalizeAxis(getInt("axis", -1), shapeOf(x).size(), "axis");
  if (failed(axis))
    return failure();
  int64_t p = getInt("p", 2);
  if (p != 1 && p != 2)
    return error() << "p must be 1 or 2, got " << p;
  SmallVector<NamedAttribute> attrs = {
      b.getNamedAttr("axes", b.getDenseI64ArrayAttr({*axis})),
      b.getNamedAttr("keepdims", b.getUnitAttr())};
  Value norm;
  if (p == 1) {
    TRY(a, unary(AbsOp::getOperationName(), x));
    TRY(s, inferred<ReduceSumOp>(a, attrs));
    norm = s;
  } else {
    TRY(sq, inferred<MulOp>({x, x}));
    TRY(s, inferred<ReduceSumOp>(sq, attrs));
    TRY(r, unary(SqrtOp::getOperationName(), s));
    norm = r;
  }
  // A slice whose norm is 0 normalizes to 0, not to 0/0 (ONNX's reference).
  Value zero = scalar(elementOf(x), 0.0);
  TRY(isZero, inferred<EqualOp>({norm, zero}));
  TRY(quotient, inferred<DivOp>({x, norm}));
  return setOutput(0, inferred<WhereOp>({isZero, zero, quotient}));
}

LogicalResult NodeImporter::importMeanVarianceNorm() {
  if (failed(requireInputs(1)))
    return failure();
  Value x = input(0);
  int64_t rank = shapeOf(x).size();
  FailureOr<SmallVector<int64_t>> normalized =
      normalizeAxes(getInts("axes").value_or(SmallVector<int64_t>{0, 2, 3}), rank);
  if (failed(normalized))
    return failure();
  SmallVector<int64_t> axes = std::move(*normalized);
  SmallVector<NamedAttribute> attrs = {
      b.getNamedAttr("axes", b.getDenseI64ArrayAttr(axes)),
      b.getNamedAttr("keepdims", b.getUnitAttr())};
  Type t = elementOf(x);
  // (x - mean) / (sqrt(mean(x^2) - mean^2) + 1e-9), as the ONNX reference.
  TRY(mean, inferred<ReduceMeanOp>(x, attrs));
  TRY(sq, inferred<MulOp>({x, x}));
  TRY(meanSq, inferred<ReduceMeanOp>(sq, attrs));
  TRY(mean2, inferred<MulOp>({mean, mean}));
  TRY(var, inferred<SubOp>({meanSq, mean2}));
  TRY(sd, unary(SqrtOp::getOperationName(), var));
  TRY(den, inferred<AddOp>({sd, scalar(t, 1e-9)}));
  TRY(centered, inferred<SubOp>({x, mean}));
  return setOutput(0, inferred<DivOp>({centered, den}));
}

/// RMSNormalization (opset 23) as its ONNX function body: over the dims
/// [axis, rank), normalized = x / sqrt(mean(x * x) + epsilon), computed in
/// float (`stash_type` 1) and cast back to x's type, then y = normalized *
/// scale. The reduction keeps f32 under --dtype (pmc.reduce_mean); sharding
/// rules and costs are those of the ops it becomes.
LogicalResult NodeImporter::importRMSNorm() {
  if (failed(requireInputs(2)))
    return failure();
  Value x = input(0), scale = input(1);
  Type t = elementOf(x);
  if (!isa<FloatType>(t))
    return error() << "X must be a float tensor, got " << x.getType();
  int64_t rank = shapeOf(x).size();
  FailureOr<int64_t> axis = normalizeAxis(getInt("axis", -1), rank, "axis");
  if (failed(axis))
    return failure();
  float epsilon = getFloat("epsilon", 1e-5f);
  int64_t stash = getInt("stash_type", 1);
  if (stash != 1)
    return error() << "stash_type " << onnxTypeName(stash)
                   << " is unsupported (the statistics are computed in float, 1)";
  bool widen = t.isF16() || t.isBF16();
  Value xs = x;
  if (widen) {
    TRY(wide, typed<CastOp>(RankedTensorType::get(shapeOf(x), b.getF32Type()), x));
    xs = wide;
  }
  SmallVector<int64_t> axes;
  for (int64_t d = *axis; d < rank; ++d)
    axes.push_back(d);
  SmallVector<NamedAttribute> attrs = {b.getNamedAttr("axes", b.getDenseI64ArrayAttr(axes)),
                                       b.getNamedAttr("keepdims", b.getUnitAttr())};
  TRY(squared, inferred<MulOp>({xs, xs}));
  TRY(meanSquare, inferred<ReduceMeanOp>(squared, attrs));
  TRY(shifted, inferred<AddOp>({meanSquare, scalar(elementOf(xs), epsilon)}));
  TRY(rms, unary(SqrtOp::getOperationName(), shifted));
  TRY(normalized, inferred<DivOp>({xs, rms}));
  Value result = normalized;
  if (widen) {
    TRY(narrow, typed<CastOp>(x.getType(), normalized));
    result = narrow;
  }
  TRY(y, inferred<MulOp>({result, scale}));
  if (y.getType() != x.getType())
    return error() << "scale " << scale.getType() << " does not broadcast to X "
                   << x.getType() << " (it may not add dimensions)";
  return setOutput(0, y);
}
