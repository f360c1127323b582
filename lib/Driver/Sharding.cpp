//===- Sharding.cpp - --mesh/--shard parsing, annotation, partitioning -----===//
#include "Commands.h"
#include "pmc/Driver/Compiler.h"
#include "pmc/Driver/Driver.h"

#include "pmc/Dialect/PMC/IR/PMCAttrs.h"
#include "pmc/Dialect/PMC/IR/PMCOps.h"
#include "pmc/Dialect/PMC/Transforms/Stages.h"
#include "pmc/Parallel/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/raw_ostream.h"


using namespace mlir;

/// A valid mesh axis name: a letter or '_' then letters, digits or '_'.
static bool isAxisName(llvm::StringRef name) {
  if (name.empty() || !(llvm::isAlpha(name.front()) || name.front() == '_'))
    return false;
  return llvm::all_of(name, [](char c) { return llvm::isAlnum(c) || c == '_'; });
}

bool (::pmc::parseMesh)(const std::string &value, CompileOptions &options,
                    std::string &error) {
  options.mesh.clear();
  llvm::SmallVector<llvm::StringRef> items;
  llvm::StringRef(value).split(items, ',', -1, /*KeepEmpty=*/true);
  for (llvm::StringRef item : items) {
    auto [name, size] = item.trim().split('=');
    int64_t n;
    if (!isAxisName(name) || size.getAsInteger(10, n) || n < 1) {
      error = "--mesh '" + value + "': '" + item.str() +
              "' is not AXIS=SIZE (an axis name and a positive size, e.g. "
              "--mesh dp=2,tp=2)";
      return false;
    }
    options.mesh.emplace_back(name.str(), n);
  }
  if (!checkMeshAndShardings(options, error)) {
    error = "--mesh '" + value + "': " + error;
    return false;
  }
  return true;
}

bool (::pmc::checkMeshAndShardings)(const CompileOptions &options, std::string &error) {
  llvm::StringSet<> seen;
  for (const auto &[name, size] : options.mesh) {
    if (!isAxisName(name)) {
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
        if (!isAxisName(axis)) {
          error = "the sharding of '" + name + "': '" + axis +
                  "' is not a mesh axis name (dimension " + std::to_string(d) + ")";
          return false;
        }
  }
  return true;
}

bool (::pmc::parseShardings)(const std::vector<std::string> &values,
                         CompileOptions &options, std::string &error) {
  for (const std::string &value : values) {
    auto [name, spec] = llvm::StringRef(value).split('=');
    if (name.empty() || !llvm::StringRef(value).contains('=')) {
      error = "--shard expects NAME=DIMS (e.g. --shard w_fc=,tp), got '" + value + "'";
      return false;
    }
    std::vector<std::vector<std::string>> dims;
    llvm::SmallVector<llvm::StringRef> dimTexts;
    spec.split(dimTexts, ',', -1, /*KeepEmpty=*/true);
    for (llvm::StringRef dimText : dimTexts) {
      std::vector<std::string> axes;
      if (!dimText.trim().empty()) {
        llvm::SmallVector<llvm::StringRef> axisTexts;
        dimText.split(axisTexts, '+', -1, /*KeepEmpty=*/true);
        for (llvm::StringRef axis : axisTexts) {
          if (!isAxisName(axis.trim())) {
            error = "--shard '" + value + "': '" + axis.str() +
                    "' is not a mesh axis name (dimension " +
                    std::to_string(dims.size()) + ")";
            return false;
          }
          axes.push_back(axis.trim().str());
        }
      }
      dims.push_back(std::move(axes));
    }
    for (const auto &entry : options.shardings)
      if (entry.first == name) {
        error = "--shard: '" + name.str() + "' is given twice";
        return false;
      }
    options.shardings.emplace_back(name.str(), std::move(dims));
  }
  return true;
}

bool (::pmc::isMultiDevice)(const CompileOptions &options) {
  return options.devices > 1 || !options.mesh.empty() || !options.shardings.empty() ||
         options.stages > 0;
}

/// The text of the user's plan: `mesh dp=2,tp=2; w_fc=,tp; x=dp`.
static std::string userPlanText(const ::pmc::CompileOptions &options) {
  std::string text = "mesh ";
  llvm::raw_string_ostream os(text);
  llvm::interleave(
      options.mesh, os, [&](const auto &axis) { os << axis.first << "=" << axis.second; },
      ",");
  for (const auto &[name, dims] : options.shardings) {
    os << "; " << name << "=";
    llvm::interleave(
        dims, os, [&](const auto &axes) { llvm::interleave(axes, os, "+"); }, ",");
  }
  return text;
}

/// The name an importer gave to a weight: the `pmc.name` attribute, else the
/// name of its location (the ONNX initializer's name).
static std::string weightName(mlir::pmc::ConstantOp constant) {
  if (auto name = constant->getAttrOfType<StringAttr>("pmc.name"))
    return name.str();
  if (auto loc = dyn_cast<NameLoc>(constant.getLoc()))
    return loc.getName().str();
  return "";
}

LogicalResult (::pmc::annotateShardings)(ModuleOp module, const CompileOptions &options) {
  if (options.mesh.empty())
    return success();
  MLIRContext *context = module.getContext();
  SmallVector<StringAttr> names;
  SmallVector<int64_t> sizes;
  for (const auto &[name, size] : options.mesh) {
    names.push_back(StringAttr::get(context, name));
    sizes.push_back(size);
  }
  auto mesh = mlir::pmc::MeshAttr::get(context, names, sizes);
  module->setAttr(mlir::pmc::kMeshAttrName, mesh);
  module->setAttr("pmc.plan", StringAttr::get(context, userPlanText(options)));
  module->setAttr("pmc.plan_source", StringAttr::get(context, "user"));

  auto main = module.lookupSymbol<func::FuncOp>(mlir::pmc::kEntryFunctionName);
  if (!main || main.isExternal())
    return module.emitError("--shard: the module has no @main function");
  llvm::StringMap<unsigned> inputs;
  for (unsigned i = 0, e = main.getNumArguments(); i < e; ++i)
    if (auto name = main.getArgAttrOfType<StringAttr>(i, "pmc.name"))
      inputs[name.getValue()] = i;
  llvm::StringMap<mlir::pmc::ConstantOp> weights;
  std::vector<std::string> weightNames;
  main.walk([&](mlir::pmc::ConstantOp constant) {
    std::string name = weightName(constant);
    if (!name.empty() && weights.try_emplace(name, constant).second)
      weightNames.push_back(name);
  });

  for (const auto &[name, dims] : options.shardings) {
    SmallVector<SmallVector<StringRef>> dimAxes;
    for (const auto &axes : dims)
      dimAxes.emplace_back(axes.begin(), axes.end());
    Operation *at;
    RankedTensorType type;
    auto input = inputs.find(name);
    auto weight = weights.find(name);
    if (input != inputs.end()) {
      at = main;
      type = dyn_cast<RankedTensorType>(main.getArgumentTypes()[input->second]);
    } else if (weight != weights.end()) {
      at = weight->second;
      type = dyn_cast<RankedTensorType>(weight->second.getType());
    } else {
      InFlightDiagnostic diag = emitError(module.getLoc())
                                << "--shard " << name
                                << ": no graph input or weight has this name; inputs: ";
      llvm::interleaveComma(inputs.keys(), diag);
      diag << "; weights: ";
      size_t shown = std::min<size_t>(weightNames.size(), 12);
      llvm::interleaveComma(llvm::ArrayRef(weightNames).take_front(shown), diag);
      if (shown < weightNames.size())
        diag << ", ... (" << weightNames.size() - shown << " more)";
      return diag;
    }
    if (!type)
      return emitError(at->getLoc()) << "--shard " << name << ": not a ranked tensor";
    if ((int64_t)dimAxes.size() > type.getRank())
      return emitError(at->getLoc()) << "--shard " << name << ": " << dimAxes.size()
                             << " dimensions given, but '" << name << "' is " << type;
    // Dimensions not given replicate.
    dimAxes.resize(type.getRank());
    auto sharding = mlir::pmc::ShardingAttr::get(context, dimAxes);
    if (failed(sharding.verifyFor(mesh, type.getShape(), [&] {
          return emitError(at->getLoc()) << "--shard " << name << " (" << type << "): ";
        })))
      return failure();
    if (input != inputs.end())
      main.setArgAttr(input->second, mlir::pmc::kShardingAttrName, sharding);
    else
      at->setAttr(mlir::pmc::kShardingsAttrName, ArrayAttr::get(context, {sharding}));
  }
  return success();
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

/// `pmc-sharding-propagation,pmc-partition` on `module` in `pm` (which may
/// hold instrumentation).
static LogicalResult runPropagationAndPartition(ModuleOp module, PassManager &pm) {
  std::string pipeline = "pmc-sharding-propagation,pmc-partition";
  std::string errorText;
  llvm::raw_string_ostream errorStream(errorText);
  if (failed(parsePassPipeline(pipeline, pm, errorStream)))
    return emitError(module.getLoc()) << "multi-device compilation needs the passes '"
                              << pipeline << "', which this build of pmc cannot run: "
                              << errorText;
  return pm.run(module);
}

LogicalResult (::pmc::partitionModule)(ModuleOp module, const CompileOptions &options,
                                   PassManagerConfigurator configure) {
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
    if (isPlannedPipeline(module)) {
      ::pmc::registerPMCPassesOnce();
      return partitionPipeline(module, configure);
    }
    return success();
  }
  if (!isMultiDevice(options) && !options.planOnly)
    return success();
  ::pmc::registerPMCPassesOnce();

  std::string pipeline;
  PassManager pm(module.getContext(), ModuleOp::getOperationName());
  if (configure && failed(configure(pm)))
    return failure();
  std::optional<uint64_t> randomSeed;
  if (llvm::StringRef(options.plan).starts_with("random")) {
    llvm::StringRef seedText = llvm::StringRef(options.plan).drop_front(6);
    uint64_t seed = 0;
    if (!seedText.empty() && (!seedText.consume_front(":") || seedText.getAsInteger(10, seed)))
      return module.emitError() << "--plan " << options.plan
                                << ": expected random or random:SEED (a non-negative integer)";
    if (!options.mesh.empty() || !options.shardings.empty())
      return module.emitError() << "--plan " << options.plan
                                << " draws the mesh and the shardings; drop --mesh/--shard";
    randomSeed = seed;
  } else if (options.plan != "auto" && options.plan != "default") {
    return module.emitError() << "--plan " << options.plan
                              << ": expected auto, default or random[:SEED]";
  }
  if (randomSeed) {
    // A random legal plan for the differential tests (test/plans).
    mlir::pmc::PMCRandomPlanOptions randomOptions;
    randomOptions.devices = options.devices;
    randomOptions.seed = *randomSeed;
    randomOptions.stages = options.stages > 0 ? options.stages : -1;
    pm.addPass(mlir::pmc::createPMCRandomPlan(randomOptions));
  } else if (options.stages > 0) {
    // A hand-made pipeline (--stages): the user's mesh with pp, cut evenly.
    CompileOptions pipelined = options;
    pipelined.mesh = effectiveMesh(options);
    if (failed(annotateShardings(module, pipelined)) ||
        failed(annotatePipeline(module, options)))
      return failure();
  } else if (options.mesh.empty() && options.shardings.empty()) {
    if (options.plan == "default") {
      pipeline = "pmc-default-sharding{devices=" + std::to_string(options.devices) + "},";
      module->setAttr("pmc.plan_source", StringAttr::get(module.getContext(), "default"));
    } else {
      mlir::pmc::PMCAutoShardingOptions autoOptions;
      autoOptions.devices = options.devices;
      autoOptions.spec = !options.deviceSpec.empty() ? options.deviceSpec
                         : options.target == "cuda" ? "h100-sxm"
                                                    : "cpu";
      pm.addPass(mlir::pmc::createPMCAutoSharding(autoOptions));
    }
  } else if (failed(annotateShardings(module, options))) {
    return failure();
  }
  if (options.planOnly) {
    if (!module->hasAttr("pmc.plan_json") && options.plan == "auto" &&
        (!options.mesh.empty() || !options.shardings.empty()))
      return module.emitError("--emit plan needs the planner: drop --mesh/--shard");
    if (options.plan == "default")
      return module.emitError("--emit plan needs --plan auto");
    return pm.run(module);
  }
  // A pipeline (from --stages or the planner) is partitioned stage-aware.
  if (!pipeline.empty() || pm.size() != 0) {
    std::string errorText;
    llvm::raw_string_ostream errorStream(errorText);
    if (!pipeline.empty() && failed(parsePassPipeline(pipeline.substr(0, pipeline.size() - 1),
                                                       pm, errorStream)))
      return emitError(module.getLoc()) << "cannot run '" << pipeline << "': " << errorText;
    if (failed(pm.run(module)))
      return failure();
    pipeline.clear();
    pm.clear();
  }
  if (module->hasAttr(mlir::pmc::kPipelineAttrName)) {
    if (failed(partitionPipeline(module, configure)))
      return failure();
  } else if (failed(runPropagationAndPartition(module, pm))) {
    return failure();
  }
  auto mesh = module->getAttrOfType<mlir::pmc::MeshAttr>(mlir::pmc::kMeshAttrName);
  if (!mesh)
    return module.emitError("partitioning left no pmc.mesh on the module");
  if (mesh.getNumDevices() != options.devices)
    return module.emitError() << "the plan's mesh " << mesh << " has "
                              << mesh.getNumDevices() << " devices, but --devices is "
                              << options.devices;
  return success();
}
