//===- Pipeline.cpp - --stages: checks, the even cut, the partition passes ===//
#include "Commands.h"
#include "pmc/Driver/Compiler.h"

#include "pmc/Dialect/PMC/IR/PMCAttrs.h"
#include "pmc/Dialect/PMC/IR/PMCOps.h"
#include "pmc/Dialect/PMC/Transforms/Passes.h"
#include "pmc/Dialect/PMC/Transforms/Stages.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using mlir::pmc::MeshAttr;
using mlir::pmc::ShardingAttr;

std::vector<std::pair<std::string, int64_t>>(::pmc::effectiveMesh)(
    const CompileOptions &options) {
  std::vector<std::pair<std::string, int64_t>> mesh = options.mesh;
  if (options.stages < 2)
    return mesh;
  if (mesh.empty()) {
    mesh.emplace_back("pp", options.stages);
    if (options.devices / options.stages > 1)
      mesh.emplace_back("dp", options.devices / options.stages);
    return mesh;
  }
  if (llvm::none_of(mesh, [](const auto &axis) { return axis.first == "pp"; }))
    mesh.insert(mesh.begin(), {"pp", options.stages});
  return mesh;
}

LogicalResult (::pmc::checkPipelineOptions)(Location loc, const CompileOptions &options) {
  if (options.schedule != "gpipe" && options.schedule != "1f1b")
    return emitError(loc) << "--schedule " << options.schedule
                          << ": expected gpipe or 1f1b";
  if (options.microbatches < 1)
    return emitError(loc) << "--microbatches " << options.microbatches
                          << ": expected a positive count";
  if (options.stages == 0) {
    if (options.microbatches != 1)
      return emitError(loc) << "--microbatches " << options.microbatches
                            << " needs --stages K (a pipeline to feed)";
    return success();
  }
  if (options.stages < 2)
    return emitError(loc) << "--stages " << options.stages
                          << ": a pipeline needs at least 2 stages (drop --stages "
                             "for none)";
  if (options.devices % options.stages != 0)
    return emitError(loc) << "--stages " << options.stages << " does not divide --devices "
                          << options.devices << " (each stage runs on devices/stages "
                          << "ranks)";
  for (auto [i, axis] : llvm::enumerate(options.mesh))
    if (axis.first == "pp" && (i != 0 || axis.second != options.stages))
      return emitError(loc) << "--mesh: axis pp=" << axis.second
                            << " must be the first axis and equal --stages "
                            << options.stages;
  for (const auto &[name, dims] : options.shardings)
    for (const auto &axes : dims)
      if (llvm::is_contained(axes, "pp"))
        return emitError(loc) << "--shard " << name
                              << ": shardings never name the pipeline axis 'pp'";
  if (options.planOnly)
    return emitError(loc) << "--emit plan runs the planner; drop --stages";
  return success();
}

LogicalResult (::pmc::annotatePipeline)(ModuleOp module, const CompileOptions &options) {
  MLIRContext *context = module.getContext();
  Builder builder(context);
  auto main = module.lookupSymbol<func::FuncOp>(mlir::pmc::kEntryFunctionName);
  if (!main || main.isExternal())
    return emitError(module.getLoc(), "--stages: the module has no @main function");
  // Without a user mesh the rest of the mesh is data parallel over the batch.
  auto mesh = module->getAttrOfType<MeshAttr>(mlir::pmc::kMeshAttrName);
  std::optional<unsigned> dp = mesh ? mesh.findAxis("dp") : std::nullopt;
  if (options.mesh.empty() && dp) {
    int64_t size = mesh.getAxisSize("dp");
    for (unsigned i = 0; i < main.getNumArguments(); ++i) {
      auto type = dyn_cast<RankedTensorType>(main.getArgument(i).getType());
      if (!type || type.getRank() < 1 || type.getDimSize(0) % size != 0)
        continue;
      SmallVector<SmallVector<StringRef>> dims(type.getRank());
      dims[0].push_back("dp");
      main.setArgAttr(i, mlir::pmc::kShardingAttrName, ShardingAttr::get(context, dims));
    }
  }
  // The plan text (exe.plan) says what the pipeline is.
  if (auto plan = module->getAttrOfType<StringAttr>("pmc.plan"))
    module->setAttr("pmc.plan",
                    builder.getStringAttr(plan.str() + "; pipeline " +
                                          std::to_string(options.stages) + " stages x " +
                                          std::to_string(options.microbatches) +
                                          " microbatches (" + options.schedule + ")"));
  module->setAttr(mlir::pmc::kPipelineAttrName,
                  builder.getDictionaryAttr(
                      {builder.getNamedAttr("stages", builder.getI64IntegerAttr(options.stages)),
                       builder.getNamedAttr("microbatches",
                                            builder.getI64IntegerAttr(options.microbatches)),
                       builder.getNamedAttr("schedule",
                                            builder.getStringAttr(options.schedule))}));
  return mlir::pmc::assignEvenStages(main, options.stages);
}

LogicalResult (::pmc::partitionPipeline)(ModuleOp module,
                                         PassManagerConfigurator configure) {
  PassManager pm(module.getContext(), ModuleOp::getOperationName());
  if (configure && failed(configure(pm)))
    return failure();
  pm.addPass(mlir::pmc::createPMCPartitionPipeline());
  pm.addPass(mlir::pmc::createPMCSplitStages());
  return pm.run(module);
}
