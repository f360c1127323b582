//===- PMCOps.cpp - shape inference and verifiers of pmc operators ---------===//
#include "pmc/Dialect/PMC/IR/PMCOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/STLExtras.h"

using namespace mlir;
using namespace mlir::pmc;

static std::string shapeString(ArrayRef<int64_t> shape) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << "[";
  llvm::interleave(shape, os, "x");
  os << "]";
  return s;
}

static RankedTensorType rankedType(Value v) {
  return cast<RankedTensorType>(v.getType());
}

FailureOr<SmallVector<int64_t>> mlir::pmc::broadcastShapes(ArrayRef<int64_t> lhs,
                                                           ArrayRef<int64_t> rhs) {
  size_t rank = std::max(lhs.size(), rhs.size());
  SmallVector<int64_t> result(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t l = i < lhs.size() ? lhs[lhs.size() - 1 - i] : 1;
    int64_t r = i < rhs.size() ? rhs[rhs.size() - 1 - i] : 1;
    if (l != r && l != 1 && r != 1)
      return failure();
    result[rank - 1 - i] = l == 1 ? r : l;
  }
  return result;
}

LogicalResult mlir::pmc::inferBroadcastType(std::optional<Location> loc,
                                            TypeRange operands, Type elementType,
                                            SmallVectorImpl<Type> &inferred) {
  SmallVector<int64_t> shape;
  for (Type t : operands) {
    auto tensor = cast<RankedTensorType>(t);
    auto next = broadcastShapes(shape, tensor.getShape());
    if (failed(next))
      return emitOptionalError(loc, "shapes ", shapeString(shape), " and ",
                               shapeString(tensor.getShape()),
                               " do not broadcast");
    shape = *next;
  }
  inferred.push_back(RankedTensorType::get(shape, elementType));
  return success();
}

LogicalResult mlir::pmc::verifyAxisInRange(Operation *op, int64_t axis,
                                           int64_t rank) {
  if (axis < 0 || axis >= rank)
    return op->emitOpError() << "axis " << axis << " is out of range for rank "
                             << rank;
  return success();
}

//===----------------------------------------------------------------------===//
// WhereOp
//===----------------------------------------------------------------------===//

LogicalResult WhereOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                        Adaptor adaptor,
                                        SmallVectorImpl<Type> &inferred) {
  Type trueType = rankedType(adaptor.getOnTrue()).getElementType();
  if (trueType != rankedType(adaptor.getOnFalse()).getElementType())
    return emitOptionalError(loc, "both branches must have one element type");
  return inferBroadcastType(loc,
                            {adaptor.getCondition().getType(),
                             adaptor.getOnTrue().getType(),
                             adaptor.getOnFalse().getType()},
                            trueType, inferred);
}

//===----------------------------------------------------------------------===//
// MatMulOp
//===----------------------------------------------------------------------===//

LogicalResult MatMulOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &inferred) {
  RankedTensorType lhs = rankedType(adaptor.getLhs());
  RankedTensorType rhs = rankedType(adaptor.getRhs());
  if (lhs.getRank() < 2 || rhs.getRank() < 2)
    return emitOptionalError(loc, "operands must have rank >= 2, got ",
                             lhs.getRank(), " and ", rhs.getRank());
  if (lhs.getElementType() != rhs.getElementType())
    return emitOptionalError(loc, "operands must have one element type");
  ArrayRef<int64_t> a = lhs.getShape(), b = rhs.getShape();
  int64_t m = a[a.size() - 2], ka = a.back();
  int64_t kb = b[b.size() - 2], n = b.back();
  if (adaptor.getTransposeA())
    std::swap(m, ka);
  if (adaptor.getTransposeB())
    std::swap(kb, n);
  if (ka != kb)
    return emitOptionalError(loc, "contracting dimensions differ: ", ka, " vs ",
                             kb, " (shapes ", shapeString(a), " and ",
                             shapeString(b), ")");
  auto batch = broadcastShapes(a.drop_back(2), b.drop_back(2));
  if (failed(batch))
    return emitOptionalError(loc, "batch dimensions ",
                             shapeString(a.drop_back(2)), " and ",
                             shapeString(b.drop_back(2)), " do not broadcast");
  SmallVector<int64_t> shape = *batch;
  shape.push_back(m);
  shape.push_back(n);
  inferred.push_back(RankedTensorType::get(shape, lhs.getElementType()));
  return success();
}

//===----------------------------------------------------------------------===//
// Windowed operators: ConvOp, MaxPoolOp, AvgPoolOp
//===----------------------------------------------------------------------===//

/// Output size of one spatial dimension of a convolution or pooling window.
static int64_t windowOutputSize(int64_t in, int64_t kernel, int64_t stride,
                                int64_t padBegin, int64_t padEnd, int64_t dilation,
                                bool ceilMode) {
  int64_t span = dilation * (kernel - 1) + 1;
  int64_t numerator = in + padBegin + padEnd - span;
  if (numerator < 0)
    return 0;
  int64_t out = (ceilMode ? (numerator + stride - 1) / stride : numerator / stride) + 1;
  // ONNX: with ceil_mode, a last window that starts inside the end padding is dropped.
  if (ceilMode && (out - 1) * stride >= in + padBegin)
    --out;
  return out;
}

static LogicalResult checkWindowAttrs(std::optional<Location> loc, int64_t spatial,
                                      ArrayRef<int64_t> kernel,
                                      ArrayRef<int64_t> strides,
                                      ArrayRef<int64_t> pads,
                                      ArrayRef<int64_t> dilations) {
  if ((int64_t)kernel.size() != spatial || (int64_t)strides.size() != spatial ||
      (int64_t)dilations.size() != spatial || (int64_t)pads.size() != 2 * spatial)
    return emitOptionalError(loc, "expected ", spatial,
                             " kernel sizes, strides and dilations and ",
                             2 * spatial, " pads for ", spatial,
                             " spatial dimensions");
  for (int64_t i = 0; i < spatial; ++i) {
    if (kernel[i] <= 0 || strides[i] <= 0 || dilations[i] <= 0)
      return emitOptionalError(loc, "kernel sizes, strides and dilations must be "
                                    "positive (spatial dimension ",
                               i, ")");
    if (pads[i] < 0 || pads[i + spatial] < 0)
      return emitOptionalError(loc, "pads must be non-negative");
  }
  return success();
}

LogicalResult ConvOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                       Adaptor adaptor,
                                       SmallVectorImpl<Type> &inferred) {
  RankedTensorType x = rankedType(adaptor.getInput());
  RankedTensorType w = rankedType(adaptor.getWeight());
  int64_t spatial = x.getRank() - 2;
  if (spatial < 1 || w.getRank() != x.getRank())
    return emitOptionalError(loc, "input and weight must have the same rank >= 3");
  SmallVector<int64_t> kernel(w.getShape().drop_front(2));
  if (failed(checkWindowAttrs(loc, spatial, kernel, adaptor.getStrides(),
                              adaptor.getPads(), adaptor.getDilations())))
    return failure();
  int64_t group = adaptor.getGroup();
  int64_t channels = x.getDimSize(1), filters = w.getDimSize(0);
  if (group <= 0 || channels % group != 0 || filters % group != 0)
    return emitOptionalError(loc, "group ", group, " must divide the ", channels,
                             " input channels and the ", filters, " filters");
  if (w.getDimSize(1) * group != channels)
    return emitOptionalError(loc, "weight dim 1 is ", w.getDimSize(1),
                             " but input channels / group is ", channels / group);
  if (Value bias = adaptor.getBias()) {
    auto b = rankedType(bias);
    if (b.getRank() != 1 || b.getDimSize(0) != filters)
      return emitOptionalError(loc, "bias must have shape [", filters, "]");
  }
  SmallVector<int64_t> shape = {x.getDimSize(0), filters};
  for (int64_t i = 0; i < spatial; ++i)
    shape.push_back(windowOutputSize(x.getDimSize(i + 2), kernel[i],
                                     adaptor.getStrides()[i], adaptor.getPads()[i],
                                     adaptor.getPads()[i + spatial],
                                     adaptor.getDilations()[i], false));
  inferred.push_back(RankedTensorType::get(shape, x.getElementType()));
  return success();
}

template <typename Adaptor>
static LogicalResult inferPoolType(std::optional<Location> loc, Adaptor adaptor,
                                   SmallVectorImpl<Type> &inferred) {
  RankedTensorType x = rankedType(adaptor.getInput());
  int64_t spatial = x.getRank() - 2;
  if (spatial < 1)
    return emitOptionalError(loc, "input must have rank >= 3");
  if (failed(checkWindowAttrs(loc, spatial, adaptor.getKernelShape(),
                              adaptor.getStrides(), adaptor.getPads(),
                              adaptor.getDilations())))
    return failure();
  SmallVector<int64_t> shape(x.getShape().take_front(2));
  for (int64_t i = 0; i < spatial; ++i)
    shape.push_back(windowOutputSize(
        x.getDimSize(i + 2), adaptor.getKernelShape()[i], adaptor.getStrides()[i],
        adaptor.getPads()[i], adaptor.getPads()[i + spatial],
        adaptor.getDilations()[i], adaptor.getCeilMode()));
  inferred.push_back(RankedTensorType::get(shape, x.getElementType()));
  return success();
}

LogicalResult MaxPoolOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                          Adaptor adaptor,
                                          SmallVectorImpl<Type> &inferred) {
  return inferPoolType(loc, adaptor, inferred);
}

LogicalResult AvgPoolOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                          Adaptor adaptor,
                                          SmallVectorImpl<Type> &inferred) {
  return inferPoolType(loc, adaptor, inferred);
}

//===----------------------------------------------------------------------===//
// Reductions
//===----------------------------------------------------------------------===//

template <typename Adaptor>
static LogicalResult inferReduceType(std::optional<Location> loc, Adaptor adaptor,
                                     SmallVectorImpl<Type> &inferred) {
  RankedTensorType x = rankedType(adaptor.getInput());
  ArrayRef<int64_t> axes = adaptor.getAxes();
  for (size_t i = 0; i < axes.size(); ++i) {
    if (axes[i] < 0 || axes[i] >= x.getRank())
      return emitOptionalError(loc, "axis ", axes[i], " is out of range for rank ",
                               x.getRank());
    if (i > 0 && axes[i] <= axes[i - 1])
      return emitOptionalError(loc, "axes must be sorted and unique");
  }
  SmallVector<int64_t> shape;
  for (int64_t d = 0; d < x.getRank(); ++d) {
    if (!llvm::is_contained(axes, d))
      shape.push_back(x.getDimSize(d));
    else if (adaptor.getKeepdims())
      shape.push_back(1);
  }
  inferred.push_back(RankedTensorType::get(shape, x.getElementType()));
  return success();
}

#define PMC_REDUCE_INFER(OP)                                                   \
  LogicalResult OP::inferReturnTypes(MLIRContext *, std::optional<Location> loc, \
                                     Adaptor adaptor,                          \
                                     SmallVectorImpl<Type> &inferred) {        \
    return inferReduceType(loc, adaptor, inferred);                            \
  }
PMC_REDUCE_INFER(ReduceSumOp)
PMC_REDUCE_INFER(ReduceMeanOp)
PMC_REDUCE_INFER(ReduceMaxOp)
PMC_REDUCE_INFER(ReduceMinOp)
PMC_REDUCE_INFER(ReduceProdOp)
#undef PMC_REDUCE_INFER

//===----------------------------------------------------------------------===//
// LayerNormOp
//===----------------------------------------------------------------------===//

LogicalResult LayerNormOp::verify() {
  RankedTensorType x = getInput().getType();
  int64_t axis = getAxis();
  if (failed(verifyAxisInRange(*this, axis, x.getRank())))
    return failure();
  ArrayRef<int64_t> normalized = x.getShape().drop_front(axis);
  auto checkParam = [&](Value v, StringRef name) -> LogicalResult {
    if (!v)
      return success();
    // Unidirectional: the parameter stretches to the normalized shape.
    auto t = rankedType(v);
    FailureOr<SmallVector<int64_t>> shape = broadcastShapes(normalized, t.getShape());
    if (failed(shape) || ArrayRef<int64_t>(*shape) != normalized ||
        t.getRank() > (int64_t)normalized.size())
      return emitOpError() << name << " of shape " << shapeString(t.getShape())
                           << " does not broadcast to the normalized shape "
                           << shapeString(normalized);
    return success();
  };
  if (failed(checkParam(getScale(), "scale")) || failed(checkParam(getBias(), "bias")))
    return failure();
  if (getOutput().getType() != x)
    return emitOpError("result 0 must have the input's type");
  SmallVector<int64_t> statShape(x.getShape());
  for (int64_t d = axis; d < x.getRank(); ++d)
    statShape[d] = 1;
  for (Value stat : {getMean(), getInvStdDev()})
    if (rankedType(stat).getShape() != ArrayRef<int64_t>(statShape))
      return emitOpError() << "statistics must have shape " << shapeString(statShape);
  return success();
}

//===----------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------===//

LogicalResult TransposeOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &inferred) {
  RankedTensorType x = rankedType(adaptor.getInput());
  ArrayRef<int64_t> perm = adaptor.getPerm();
  if ((int64_t)perm.size() != x.getRank())
    return emitOptionalError(loc, "perm has ", perm.size(),
                             " entries for an input of rank ", x.getRank());
  SmallVector<bool> seen(perm.size(), false);
  SmallVector<int64_t> shape;
  for (int64_t p : perm) {
    if (p < 0 || p >= x.getRank() || seen[p])
      return emitOptionalError(loc, "perm is not a permutation of 0..",
                               x.getRank() - 1);
    seen[p] = true;
    shape.push_back(x.getDimSize(p));
  }
  inferred.push_back(RankedTensorType::get(shape, x.getElementType()));
  return success();
}

LogicalResult ReshapeOp::verify() {
  RankedTensorType in = getInput().getType(), out = getOutput().getType();
  if (in.getElementType() != out.getElementType())
    return emitOpError("input and result must have one element type");
  if (!in.hasStaticShape() || !out.hasStaticShape())
    return emitOpError("shapes must be static");
  if (in.getNumElements() != out.getNumElements())
    return emitOpError() << "cannot reshape " << shapeString(in.getShape()) << " ("
                         << in.getNumElements() << " elements) to "
                         << shapeString(out.getShape()) << " ("
                         << out.getNumElements() << " elements)";
  return success();
}

LogicalResult BroadcastOp::verify() {
  RankedTensorType in = getInput().getType(), out = getOutput().getType();
  if (in.getElementType() != out.getElementType())
    return emitOpError("input and result must have one element type");
  auto shape = broadcastShapes(in.getShape(), out.getShape());
  if (failed(shape) || ArrayRef<int64_t>(*shape) != out.getShape())
    return emitOpError() << "cannot broadcast " << shapeString(in.getShape())
                         << " to " << shapeString(out.getShape());
  return success();
}

LogicalResult ConcatOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &inferred) {
  if (adaptor.getInputs().empty())
    return emitOptionalError(loc, "needs at least one input");
  RankedTensorType first = rankedType(adaptor.getInputs().front());
  int64_t axis = adaptor.getAxis();
  if (axis < 0 || axis >= first.getRank())
    return emitOptionalError(loc, "axis ", axis, " is out of range for rank ",
                             first.getRank());
  SmallVector<int64_t> shape(first.getShape());
  shape[axis] = 0;
  for (auto [i, v] : llvm::enumerate(adaptor.getInputs())) {
    RankedTensorType t = rankedType(v);
    if (t.getElementType() != first.getElementType() || t.getRank() != first.getRank())
      return emitOptionalError(loc, "input ", i,
                               " differs in element type or rank from input 0");
    for (int64_t d = 0; d < t.getRank(); ++d)
      if (d != axis && t.getDimSize(d) != first.getDimSize(d))
        return emitOptionalError(loc, "input ", i, " has dim ", d, " = ",
                                 t.getDimSize(d), ", input 0 has ",
                                 first.getDimSize(d));
    shape[axis] += t.getDimSize(axis);
  }
  inferred.push_back(RankedTensorType::get(shape, first.getElementType()));
  return success();
}

LogicalResult SliceOp::verify() {
  RankedTensorType in = getInput().getType(), out = getOutput().getType();
  ArrayRef<int64_t> starts = getStarts(), steps = getSteps();
  if (in.getElementType() != out.getElementType() || in.getRank() != out.getRank())
    return emitOpError("input and result must have one element type and rank");
  if ((int64_t)starts.size() != in.getRank() || (int64_t)steps.size() != in.getRank())
    return emitOpError() << "expected " << in.getRank() << " starts and steps";
  for (int64_t d = 0; d < in.getRank(); ++d) {
    int64_t n = out.getDimSize(d), size = in.getDimSize(d);
    if (steps[d] == 0)
      return emitOpError() << "step of dim " << d << " is zero";
    if (n == 0)
      continue;
    int64_t last = starts[d] + (n - 1) * steps[d];
    if (starts[d] < 0 || starts[d] >= size || last < 0 || last >= size)
      return emitOpError() << "dim " << d << ": " << n << " elements from "
                           << starts[d] << " by step " << steps[d]
                           << " leave the input's range [0, " << size << ")";
  }
  return success();
}

LogicalResult GatherOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &inferred) {
  RankedTensorType data = rankedType(adaptor.getData());
  RankedTensorType indices = rankedType(adaptor.getIndices());
  int64_t axis = adaptor.getAxis();
  if (axis < 0 || axis >= data.getRank())
    return emitOptionalError(loc, "axis ", axis, " is out of range for rank ",
                             data.getRank());
  SmallVector<int64_t> shape(data.getShape().take_front(axis));
  llvm::append_range(shape, indices.getShape());
  llvm::append_range(shape, data.getShape().drop_front(axis + 1));
  inferred.push_back(RankedTensorType::get(shape, data.getElementType()));
  return success();
}

//===----------------------------------------------------------------------===//
// Operator set extension
//===----------------------------------------------------------------------===//

LogicalResult BitShiftOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                           Adaptor adaptor,
                                           SmallVectorImpl<Type> &inferred) {
  return inferBroadcastType(loc, {adaptor.getLhs().getType(), adaptor.getRhs().getType()},
                            rankedType(adaptor.getLhs()).getElementType(), inferred);
}

LogicalResult ModOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                      Adaptor adaptor, SmallVectorImpl<Type> &inferred) {
  return inferBroadcastType(loc, {adaptor.getLhs().getType(), adaptor.getRhs().getType()},
                            rankedType(adaptor.getLhs()).getElementType(), inferred);
}

template <typename Adaptor>
static LogicalResult inferArgReduceType(MLIRContext *context,
                                        std::optional<Location> loc, Adaptor adaptor,
                                        SmallVectorImpl<Type> &inferred) {
  RankedTensorType x = rankedType(adaptor.getInput());
  int64_t axis = adaptor.getAxis();
  if (axis < 0 || axis >= x.getRank())
    return emitOptionalError(loc, "axis ", axis, " is out of range for rank ",
                             x.getRank());
  if (x.getDimSize(axis) == 0)
    return emitOptionalError(loc, "cannot take an index along the empty dim ", axis);
  SmallVector<int64_t> shape;
  for (int64_t d = 0; d < x.getRank(); ++d) {
    if (d != axis)
      shape.push_back(x.getDimSize(d));
    else if (adaptor.getKeepdims())
      shape.push_back(1);
  }
  inferred.push_back(RankedTensorType::get(shape, IntegerType::get(context, 64)));
  return success();
}

LogicalResult ArgMaxOp::inferReturnTypes(MLIRContext *context,
                                         std::optional<Location> loc, Adaptor adaptor,
                                         SmallVectorImpl<Type> &inferred) {
  return inferArgReduceType(context, loc, adaptor, inferred);
}

LogicalResult ArgMinOp::inferReturnTypes(MLIRContext *context,
                                         std::optional<Location> loc, Adaptor adaptor,
                                         SmallVectorImpl<Type> &inferred) {
  return inferArgReduceType(context, loc, adaptor, inferred);
}

LogicalResult PadOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                      Adaptor adaptor, SmallVectorImpl<Type> &inferred) {
  RankedTensorType x = rankedType(adaptor.getInput());
  ArrayRef<int64_t> pads = adaptor.getPads();
  int64_t rank = x.getRank();
  if ((int64_t)pads.size() != 2 * rank)
    return emitOptionalError(loc, "expected ", 2 * rank, " pads for rank ", rank,
                             ", got ", pads.size());
  StringRef mode = adaptor.getMode();
  if (mode != "constant" && mode != "reflect" && mode != "edge" && mode != "wrap")
    return emitOptionalError(loc, "mode must be constant, reflect, edge or wrap, got '",
                             mode, "'");
  if (Value value = adaptor.getValue()) {
    RankedTensorType v = rankedType(value);
    if (v.getNumElements() != 1 || v.getElementType() != x.getElementType())
      return emitOptionalError(loc, "the pad value must be one element of the "
                                    "input's element type");
  }
  SmallVector<int64_t> shape;
  for (int64_t d = 0; d < rank; ++d) {
    int64_t size = x.getDimSize(d), out = size + pads[d] + pads[d + rank];
    if (out < 0)
      return emitOptionalError(loc, "pads of dim ", d, " crop more than its ", size,
                               " elements");
    if (mode != "constant" && out > 0 && size == 0)
      return emitOptionalError(loc, "mode '", mode, "' cannot pad the empty dim ", d);
    if (mode == "reflect" && (pads[d] >= size || pads[d + rank] >= size) &&
        (pads[d] > 0 || pads[d + rank] > 0))
      return emitOptionalError(loc, "reflect pads of dim ", d,
                               " must be smaller than its size ", size);
    shape.push_back(out);
  }
  inferred.push_back(RankedTensorType::get(shape, x.getElementType()));
  return success();
}

LogicalResult GatherElementsOp::inferReturnTypes(MLIRContext *,
                                                 std::optional<Location> loc,
                                                 Adaptor adaptor,
                                                 SmallVectorImpl<Type> &inferred) {
  RankedTensorType data = rankedType(adaptor.getData());
  RankedTensorType indices = rankedType(adaptor.getIndices());
  int64_t axis = adaptor.getAxis();
  if (axis < 0 || axis >= data.getRank())
    return emitOptionalError(loc, "axis ", axis, " is out of range for rank ",
                             data.getRank());
  if (indices.getRank() != data.getRank())
    return emitOptionalError(loc, "indices must have the data's rank ",
                             data.getRank(), ", got ", indices.getRank());
  for (int64_t d = 0; d < data.getRank(); ++d)
    if (d != axis && indices.getDimSize(d) > data.getDimSize(d))
      return emitOptionalError(loc, "indices dim ", d, " (", indices.getDimSize(d),
                               ") exceeds the data's (", data.getDimSize(d), ")");
  if (data.getDimSize(axis) == 0 && indices.getNumElements() != 0)
    return emitOptionalError(loc, "cannot gather from the empty dim ", axis);
  inferred.push_back(RankedTensorType::get(indices.getShape(), data.getElementType()));
  return success();
}

LogicalResult TransferOp::verify() {
  int64_t from = getFromStage(), to = getToStage();
  if (from < 0 || to < 0)
    return emitOpError() << (from < 0 ? "from_stage " : "to_stage ") << (from < 0 ? from : to)
                         << " is negative";
  // Which directions a pipeline allows is the pipeline's rule (verifyStages:
  // later stages only, both ways in a train step); the op moves between two.
  if (to == from)
    return emitOpError() << "to_stage " << to << " equals from_stage " << from
                         << " (a transfer moves a value to another pipeline stage)";
  if (auto stage = (*this)->getAttrOfType<IntegerAttr>("pmc.stage"))
    if (stage.getInt() != to)
      return emitOpError() << "has pmc.stage " << stage.getInt()
                           << ", but a transfer belongs to its to_stage " << to;
  return success();
}

//===----------------------------------------------------------------------===//
// PadOp
//===----------------------------------------------------------------------===//

int64_t PadOp::sourceIndex(StringRef mode, int64_t j, int64_t size) {
  auto clamp = [&](int64_t v) { return std::max<int64_t>(0, std::min(v, size - 1)); };
  if (mode == "reflect" && size > 1) {
    // -j before the start, 2 (n - 1) - j after the end.
    if (j < 0)
      j = -j;
    if (j > size - 1)
      j = 2 * (size - 1) - j;
    return clamp(j);
  }
  if (mode == "wrap") {
    int64_t r = j % size;
    return r < 0 ? r + size : r;
  }
  return clamp(j); // edge, and reflect of a size-1 dim
}

//===----------------------------------------------------------------------===//
// RandomUniformOp
//===----------------------------------------------------------------------===//

LogicalResult RandomUniformOp::verify() {
  if (rankedType(getOffset()).getRank() != 0)
    return emitOpError() << "offset must be a scalar (rank 0), got " << getOffset().getType();
  return success();
}

#define GET_OP_CLASSES
#include "pmc/Dialect/PMC/IR/PMCOps.cpp.inc"
