//===- Sharding.cpp - --mesh/--shard, and the passes that plan and partition ===//
#include "Commands.h"
#include "pmc/Driver/Compiler.h"
#include "pmc/Driver/Driver.h"

#include "pmc/Dialect/PMC/IR/PMCAttrs.h"
#include "pmc/Dialect/PMC/IR/PMCOps.h"
#include "pmc/Dialect/PMC/Transforms/Passes.h"
#include "pmc/Parallel/Partition/Passes.h"
#include "pmc/Dialect/PMC/Transforms/Stages.h"
#include "pmc/Parallel/Passes.h"
#include "pmc/Parallel/UserPlan.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/raw_ostream.h"


using namespace mlir;

bool (::pmc::parseMesh)(const std::string &value, CompileOptions &options,
                        std::string &error) {
  if (!mlir::pmc::parseMeshSpec(value, options.mesh, error))
    return false;
  if (!checkMeshAndShardings(options, error)) {
    error = "--mesh '" + value + "': " + error;
    return false;
  }
  return true;
}

bool (::pmc::parseShardings)(const std::vector<std::string> &values,
                             CompileOptions &options, std::string &error) {
  for (const std::string &value : values)
    if (!mlir::pmc::parseShardingSpec(value, options.shardings, error))
      return false;
  return true;
}

bool (::pmc::checkMeshAndShardings)(const CompileOptions &options, std::string &error) {
  llvm::StringSet<> seen;
  for (const auto &[name, size] : options.mesh) {
    if (!mlir::pmc::isAxisName(name)) {
      error = "mesh axis '" + name +
              "' is not a name (a letter or '_', then letters, digits or '_')";
      return false;
    }
    if (size < 1) {
      error = "mesh axis '" + name + "' has size " + std::to_string(size) +
              "; sizes are positive";
      return false;
    }
    if (!seen.insert(name).second) {
      error = "axis '" + name + "' appears twice";
      return false;
    }
  }
  llvm::StringSet<> sharded;
  for (const auto &[name, dims] : options.shardings) {
    if (name.empty()) {
      error = "a sharding has an empty tensor name";
      return false;
    }
    if (!sharded.insert(name).second) {
      error = "the sharding of '" + name + "' is given twice";
      return false;
    }
    for (size_t d = 0; d < dims.size(); ++d)
      for (const std::string &axis : dims[d])
        if (!mlir::pmc::isAxisName(axis)) {
          error = "the sharding of '" + name + "': '" + axis +
                  "' is not a mesh axis name (dimension " + std::to_string(d) + ")";
          return false;
        }
  }
  return true;
}

bool (::pmc::isMultiDevice)(const CompileOptions &options) {
  return options.devices > 1 || !options.mesh.empty() || !options.shardings.empty() ||
         options.stages > 0;
}

/// True for a module with `pmc.pipeline` of several stages whose @main has
/// no `pmc.transfer` yet: planned, not partitioned.
static bool isPlannedPipeline(ModuleOp module) {
  auto pipeline = module->getAttrOfType<DictionaryAttr>(mlir::pmc::kPipelineAttrName);
  auto stages = pipeline ? pipeline.getAs<IntegerAttr>("stages") : nullptr;
  auto main = module.lookupSymbol<func::FuncOp>(mlir::pmc::kEntryFunctionName);
  if (!stages || stages.getInt() < 2 || !main || main.isExternal())
    return false;
  return !main.walk([](mlir::pmc::TransferOp) { return WalkResult::interrupt(); })
              .wasInterrupted();
}

/// The plan source: the passes that set the mesh and the shardings (and a
/// pipeline's stages) of `module` for `options`.
static LogicalResult addPlanningPasses(ModuleOp module, const ::pmc::CompileOptions &options,
                                       OpPassManager &pm) {
  llvm::StringRef plan = options.plan;
  bool userPlan = !options.mesh.empty() || !options.shardings.empty();
  if (plan.starts_with("random")) {
    llvm::StringRef seedText = plan.drop_front(6);
    uint64_t seed = 0;
    if (!seedText.empty() && (!seedText.consume_front(":") || seedText.getAsInteger(10, seed)))
      return module.emitError() << "--plan " << plan
                                << ": expected random or random:SEED (a non-negative integer)";
    if (userPlan)
      return module.emitError() << "--plan " << plan
                                << " draws the mesh and the shardings; drop --mesh/--shard";
    // A random legal plan for the differential tests (test/plans).
    mlir::pmc::PMCRandomPlanOptions random;
    random.devices = options.devices;
    random.seed = seed;
    random.stages = options.stages > 0 ? options.stages : -1;
    pm.addPass(mlir::pmc::createPMCRandomPlan(random));
    return success();
  }
  if (plan != "auto" && plan != "default")
    return module.emitError() << "--plan " << plan
                              << ": expected auto, default or random[:SEED]";
  if (options.stages > 0) {
    // A hand-made pipeline (--stages): the user's mesh with pp, cut evenly.
    mlir::pmc::PMCApplyShardingsOptions apply;
    apply.mesh = mlir::pmc::formatMeshSpec(::pmc::effectiveMesh(options));
    for (const auto &[name, dims] : options.shardings)
      apply.shard.push_back(mlir::pmc::formatShardingSpec(name, dims));
    pm.addPass(mlir::pmc::createPMCApplyShardings(apply));
    mlir::pmc::PMCAnnotatePipelineOptions pipeline;
    pipeline.stages = options.stages;
    pipeline.microbatches = options.microbatches;
    pipeline.schedule = options.schedule;
    pipeline.dataParallel = options.mesh.empty();
    pm.addPass(mlir::pmc::createPMCAnnotatePipeline(pipeline));
    return success();
  }
  if (userPlan) {
    mlir::pmc::PMCApplyShardingsOptions apply;
    apply.mesh = mlir::pmc::formatMeshSpec(options.mesh);
    for (const auto &[name, dims] : options.shardings)
      apply.shard.push_back(mlir::pmc::formatShardingSpec(name, dims));
    apply.zero = std::max(options.train.zero, 0);
    pm.addPass(mlir::pmc::createPMCApplyShardings(apply));
    return success();
  }
  if (plan == "default") {
    mlir::pmc::PMCDefaultShardingOptions defaults;
    defaults.devices = options.devices;
    pm.addPass(mlir::pmc::createPMCDefaultSharding(defaults));
    module->setAttr("pmc.plan_source", StringAttr::get(module.getContext(), "default"));
    return success();
  }
  mlir::pmc::PMCAutoShardingOptions autoOptions;
  autoOptions.devices = options.devices;
  autoOptions.zero = options.train.zero;
  autoOptions.bucketBytes = options.bucketBytes;
  autoOptions.spec = !options.deviceSpec.empty() ? options.deviceSpec
                     : options.target == "cuda"  ? "h100-sxm"
                                                 : "cpu";
  pm.addPass(mlir::pmc::createPMCAutoSharding(autoOptions));
  return success();
}

LogicalResult (::pmc::partitionModule)(ModuleOp module, const CompileOptions &options,
                                       PassManagerConfigurator configure) {
  PassManager pm(module.getContext(), ModuleOp::getOperationName());
  if (configure && failed(configure(pm)))
    return failure();
  // A module that already carries a mesh (pmc-dialect input written per rank)
  // is taken as partitioned unless a mesh or shardings are given.
  auto given = module->getAttrOfType<mlir::pmc::MeshAttr>(mlir::pmc::kMeshAttrName);
  if (given && options.mesh.empty() && options.shardings.empty() && options.stages == 0) {
    if (options.devices != 1 && options.devices != given.getNumDevices())
      return module.emitError()
             << "the module is partitioned for " << given << " ("
             << given.getNumDevices() << " devices), but --devices is "
             << options.devices;
    // A planned but unpartitioned pipeline (what the planner leaves: stages
    // on the ops, no pmc.transfer yet) is partitioned here.
    if (!isPlannedPipeline(module))
      return success();
    pm.addPass(mlir::pmc::createPMCPartitionProgram());
    return pm.run(module);
  }
  if (!isMultiDevice(options) && !options.planOnly)
    return success();
  if (failed(addPlanningPasses(module, options, pm)))
    return failure();
  if (options.planOnly) {
    if (options.plan == "default")
      return module.emitError("--emit plan needs --plan auto");
    if (failed(pm.run(module)))
      return failure();
    if (!module->hasAttr("pmc.plan_json") && options.plan == "auto" &&
        (!options.mesh.empty() || !options.shardings.empty()))
      return module.emitError("--emit plan needs the planner: drop --mesh/--shard");
    return success();
  }
  pm.addPass(mlir::pmc::createPMCPartitionProgram());
  if (failed(pm.run(module)))
    return failure();
  auto mesh = module->getAttrOfType<mlir::pmc::MeshAttr>(mlir::pmc::kMeshAttrName);
  if (!mesh)
    return module.emitError("partitioning left no pmc.mesh on the module");
  if (mesh.getNumDevices() != options.devices)
    return module.emitError() << "the plan's mesh " << mesh << " has "
                              << mesh.getNumDevices() << " devices, but --devices is "
                              << options.devices;
  return success();
}
