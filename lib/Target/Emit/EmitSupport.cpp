//===- EmitSupport.cpp - dtypes, shardings and the pipeline of a bundle ---===//
#include "EmitSupport.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"

using namespace mlir;
using namespace ::pmc::bundle_emitter;
using mlir::pmc::MeshAttr;
using mlir::pmc::ShardingAttr;

std::string(::pmc::bundle_emitter::dtypeName)(Type type) {
  if (type.isF16())
    return "float16";
  if (type.isBF16())
    return "bfloat16";
  if (type.isF32())
    return "float32";
  if (type.isF64())
    return "float64";
  if (auto integer = dyn_cast<IntegerType>(type)) {
    unsigned width = integer.getWidth();
    if (width == 1)
      return "bool";
    if (width != 8 && width != 16 && width != 32 && width != 64)
      return "";
    return (integer.isUnsigned() ? "uint" : "int") + std::to_string(width);
  }
  return "";
}

json::Array(::pmc::bundle_emitter::i64Array)(ArrayRef<int64_t> values) {
  json::Array array;
  for (int64_t v : values)
    array.push_back(v);
  return array;
}

json::Array(::pmc::bundle_emitter::shardingJSON)(ShardingAttr sharding) {
  json::Array dims;
  for (int64_t d = 0; d < sharding.getRank(); ++d) {
    json::Array axes;
    for (StringRef axis : sharding.getDimAxes(d))
      axes.push_back(axis.str());
    dims.push_back(std::move(axes));
  }
  return dims;
}

FailureOr<PipelineInfo>(::pmc::bundle_emitter::pipelineInfo)(ModuleOp module,
                                                             MeshAttr mesh) {
  PipelineInfo info;
  auto dict = module->getAttrOfType<DictionaryAttr>("pmc.pipeline");
  if (!dict)
    return info;
  auto stages = dict.getAs<IntegerAttr>("stages");
  auto microbatches = dict.getAs<IntegerAttr>("microbatches");
  auto schedule = dict.getAs<StringAttr>("schedule");
  if (!stages || !microbatches || !schedule || stages.getInt() < 1 ||
      microbatches.getInt() < 1)
    return module.emitError() << "pmc.pipeline must hold stages, microbatches and "
                                 "schedule, got "
                              << dict;
  info.enabled = true;
  info.stages = stages.getInt();
  info.microbatches = microbatches.getInt();
  info.schedule = schedule.str();
  info.ppAxis = mesh ? mesh.findAxis("pp") : std::nullopt;
  int64_t ppSize = info.ppAxis ? mesh.getAxisSize("pp") : 1;
  if (ppSize != info.stages || (info.ppAxis && *info.ppAxis != 0))
    return module.emitError() << "pmc.pipeline has " << info.stages
                              << " stages, but the mesh " << mesh
                              << " needs them as its first axis pp";
  return info;
}

int64_t(::pmc::bundle_emitter::stageOfRank)(const PipelineInfo &pipeline, MeshAttr mesh,
                                            int64_t r) {
  return pipeline.ppAxis ? mesh.getCoordinates(r)[*pipeline.ppAxis] : 0;
}
