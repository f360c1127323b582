//===- TrainingState.cpp - ZeRO: a train step's state over dp -------------===//
//
// See TrainingState.h for the table of the ZeRO stages.
//
//===----------------------------------------------------------------------===//
#include "pmc/Parallel/TrainingState.h"

#include "pmc/Dialect/PMC/IR/PMCDialect.h"

#include "llvm/ADT/StringMap.h"

using namespace mlir;
using namespace mlir::pmc;

ShardingAttr mlir::pmc::withDataParallel(ShardingAttr sharding, ArrayRef<int64_t> shape,
                                         MeshAttr mesh) {
  if (!mesh.findAxis("dp"))
    return sharding;
  int64_t dp = mesh.getAxisSize("dp");
  SmallVector<SmallVector<StringRef>> dims;
  SmallVector<int64_t> ways;
  for (ArrayAttr axes : sharding.getDims()) {
    dims.emplace_back();
    ways.push_back(1);
    for (StringAttr axis : axes.getAsRange<StringAttr>()) {
      if (axis.getValue() == "dp")
        return sharding; // split over dp already
      dims.back().push_back(axis.getValue());
      ways.back() *= mesh.getAxisSize(axis.getValue());
    }
  }
  auto split = [&](size_t d) {
    dims[d].push_back("dp");
    return ShardingAttr::get(sharding.getContext(), dims);
  };
  for (size_t d = 0; d < shape.size(); ++d)
    if (dims[d].empty() && shape[d] % dp == 0)
      return split(d);
  for (size_t d = 0; d < shape.size(); ++d)
    if (!dims[d].empty() && shape[d] % (ways[d] * dp) == 0)
      return split(d);
  return sharding;
}

void mlir::pmc::shardTrainingState(func::FuncOp func, MeshAttr mesh, int stage) {
  MLIRContext *context = func.getContext();
  auto nameOf = [&](unsigned i) {
    auto name = func.getArgAttrOfType<StringAttr>(i, "pmc.name");
    return name ? name.getValue() : StringRef();
  };
  auto typeOf = [&](unsigned i) {
    return dyn_cast<RankedTensorType>(func.getArgument(i).getType());
  };
  auto overDp = [&](ShardingAttr base, RankedTensorType type, bool split) {
    if (!base)
      base = ShardingAttr::getReplicated(context, type.getRank());
    return split ? withDataParallel(base, type.getShape(), mesh) : base;
  };
  // The parameters' own shardings (null: left to propagation).
  llvm::StringMap<ShardingAttr> parameters;
  for (unsigned i = 0; i < func.getNumArguments(); ++i) {
    RankedTensorType type = typeOf(i);
    if (!type || !func.getArgAttr(i, kParameterAttrName))
      continue;
    auto sharding = func.getArgAttrOfType<ShardingAttr>(i, kShardingAttrName);
    if (stage >= 1) {
      sharding = overDp(sharding, type, stage >= 3);
      func.setArgAttr(i, kShardingAttrName, sharding);
    }
    parameters[nameOf(i)] = sharding;
  }
  if (parameters.empty())
    return;
  for (unsigned i = 0; i < func.getNumArguments(); ++i) {
    auto of = func.getArgAttrOfType<StringAttr>(i, kOptimizerStateAttrName);
    RankedTensorType type = typeOf(i);
    if (!of || !type)
      continue;
    if (ShardingAttr base = parameters.lookup(of.getValue()))
      func.setArgAttr(i, kShardingAttrName, overDp(base, type, stage >= 1));
  }
  func.walk([&](Operation *op) {
    auto of = op->getAttrOfType<StringAttr>(kGradientOfAttrName);
    if (!of || op->getNumResults() != 1)
      return;
    auto type = dyn_cast<RankedTensorType>(op->getResult(0).getType());
    ShardingAttr base = parameters.lookup(of.getValue());
    if (type && base)
      op->setAttr(kShardingsAttrName,
                  ArrayAttr::get(context, {overDp(base, type, stage >= 2)}));
  });
  llvm::StringMap<ShardingAttr> arguments;
  for (unsigned i = 0; i < func.getNumArguments(); ++i)
    if (auto sharding = func.getArgAttrOfType<ShardingAttr>(i, kShardingAttrName))
      arguments[nameOf(i)] = sharding;
  for (unsigned i = 0; i < func.getNumResults(); ++i) {
    auto name = func.getResultAttrOfType<StringAttr>(i, "pmc.name");
    if (!func.getResultAttr(i, kStateUpdateAttrName) || !name)
      continue;
    if (ShardingAttr sharding = arguments.lookup(name.getValue()))
      func.setResultAttr(i, kShardingAttrName, sharding);
  }
}
