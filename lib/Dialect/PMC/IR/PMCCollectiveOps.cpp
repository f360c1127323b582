//===- PMCCollectiveOps.cpp - verifiers of the collective ops --------------===//
#include "pmc/Dialect/PMC/IR/PMCOps.h"

using namespace mlir;
using namespace mlir::pmc;

/// The mesh and the group size of `axes`, or a diagnostic on `op`.
static FailureOr<int64_t> groupSizeOf(Operation *op, ArrayAttr axes) {
  MeshAttr mesh = getMesh(op);
  if (!mesh)
    return op->emitOpError("needs an enclosing module with a 'pmc.mesh' attribute");
  if (axes.empty())
    return op->emitOpError("needs at least one mesh axis");
  int64_t size = 1;
  for (Attribute axis : axes) {
    StringRef name = cast<StringAttr>(axis).getValue();
    if (!mesh.findAxis(name))
      return op->emitOpError() << "names axis '" << name << "', which the mesh "
                               << mesh << " does not have";
    size *= mesh.getAxisSize(name);
  }
  return size;
}

static LogicalResult verifyReduction(Operation *op, StringRef reduction) {
  if (reduction != "sum" && reduction != "max")
    return op->emitOpError() << "reduction must be \"sum\" or \"max\", got \""
                             << reduction << "\"";
  return success();
}

/// Checks that `out` is `in` with dimension `dim` scaled: multiplied by
/// `factor` (gather) or divided by it (scatter).
static LogicalResult verifyScaledDim(Operation *op, RankedTensorType in,
                                     RankedTensorType out, int64_t dim,
                                     int64_t group, bool multiply) {
  if (in.getElementType() != out.getElementType() || in.getRank() != out.getRank())
    return op->emitOpError("input and result must have one element type and rank");
  if (dim < 0 || dim >= in.getRank())
    return op->emitOpError() << "dim " << dim << " is out of range for rank "
                             << in.getRank();
  for (int64_t d = 0; d < in.getRank(); ++d) {
    int64_t expected = in.getDimSize(d);
    if (d == dim) {
      if (!multiply && expected % group != 0)
        return op->emitOpError() << "dim " << dim << " of size " << expected
                                 << " is not divisible by the group size " << group;
      expected = multiply ? expected * group : expected / group;
    }
    if (out.getDimSize(d) != expected)
      return op->emitOpError() << "result dim " << d << " must be " << expected
                               << " (group size " << group << "), got "
                               << out.getDimSize(d);
  }
  return success();
}

#define PMC_GROUP_SIZE(OP)                                                     \
  int64_t OP::getGroupSize() {                                                 \
    FailureOr<int64_t> size = groupSizeOf(*this, getAxes());                   \
    return succeeded(size) ? *size : 1;                                        \
  }
PMC_GROUP_SIZE(AllReduceOp)
PMC_GROUP_SIZE(AllGatherOp)
PMC_GROUP_SIZE(ReduceScatterOp)
PMC_GROUP_SIZE(AllToAllOp)
#undef PMC_GROUP_SIZE

LogicalResult AllReduceOp::verify() {
  if (failed(groupSizeOf(*this, getAxes())))
    return failure();
  return verifyReduction(*this, getReduction());
}

LogicalResult AllGatherOp::verify() {
  FailureOr<int64_t> group = groupSizeOf(*this, getAxes());
  if (failed(group))
    return failure();
  return verifyScaledDim(*this, getInput().getType(), getOutput().getType(),
                         getDim(), *group, /*multiply=*/true);
}

LogicalResult ReduceScatterOp::verify() {
  FailureOr<int64_t> group = groupSizeOf(*this, getAxes());
  if (failed(group) || failed(verifyReduction(*this, getReduction())))
    return failure();
  return verifyScaledDim(*this, getInput().getType(), getOutput().getType(),
                         getDim(), *group, /*multiply=*/false);
}

LogicalResult AllToAllOp::verify() {
  FailureOr<int64_t> group = groupSizeOf(*this, getAxes());
  if (failed(group))
    return failure();
  RankedTensorType in = getInput().getType(), out = getOutput().getType();
  int64_t split = getSplitDim(), concat = getConcatDim();
  if (in.getElementType() != out.getElementType() || in.getRank() != out.getRank())
    return emitOpError("input and result must have one element type and rank");
  if (split < 0 || split >= in.getRank() || concat < 0 || concat >= in.getRank())
    return emitOpError("split_dim and concat_dim must be dimensions of the input");
  for (int64_t d = 0; d < in.getRank(); ++d) {
    int64_t expected = in.getDimSize(d);
    if (d == split && d != concat) {
      if (expected % *group != 0)
        return emitOpError() << "split dim " << d << " of size " << expected
                             << " is not divisible by the group size " << *group;
      expected /= *group;
    } else if (d == concat && d != split) {
      expected *= *group;
    }
    if (out.getDimSize(d) != expected)
      return emitOpError() << "result dim " << d << " must be " << expected
                           << ", got " << out.getDimSize(d);
  }
  return success();
}

SmallVector<StringRef> ShardOp::getMeshAxes() {
  SmallVector<StringRef> axes;
  for (ArrayAttr dim : getSharding().getDims())
    for (Attribute axis : dim)
      axes.push_back(cast<StringAttr>(axis).getValue());
  return axes;
}

LogicalResult ShardOp::verify() {
  MeshAttr mesh = getMesh(*this);
  if (!mesh)
    return emitOpError("needs an enclosing module with a 'pmc.mesh' attribute");
  ShardingAttr sharding = getSharding();
  if (sharding.isPartial())
    return emitOpError("sharding must not be partial");
  RankedTensorType in = getInput().getType(), out = getOutput().getType();
  if (failed(sharding.verifyFor(mesh, in.getShape(), [&] { return emitOpError(); })))
    return failure();
  SmallVector<int64_t> local = *sharding.getLocalShape(mesh, in.getShape());
  if (out.getElementType() != in.getElementType() || out.getShape() != ArrayRef<int64_t>(local))
    return emitOpError() << "result must be the local block "
                         << RankedTensorType::get(local, in.getElementType());
  return success();
}
