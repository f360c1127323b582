//===- UserPlan.cpp - --mesh/--shard/--stages applied to a module --------===//
#include "pmc/Parallel/UserPlan.h"
#include "pmc/Parallel/Passes.h"
#include "pmc/Parallel/TrainingState.h"

#include "pmc/Dialect/PMC/IR/PMCAttrs.h"
#include "pmc/Dialect/PMC/IR/PMCOps.h"
#include "pmc/Dialect/PMC/Transforms/Stages.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/raw_ostream.h"

namespace mlir::pmc {
#define GEN_PASS_DEF_PMCAPPLYSHARDINGS
#define GEN_PASS_DEF_PMCANNOTATEPIPELINE
#include "pmc/Parallel/Passes.h.inc"
} // namespace mlir::pmc

using namespace mlir;
using namespace mlir::pmc;

bool mlir::pmc::isAxisName(StringRef name) {
  if (name.empty() || !(llvm::isAlpha(name.front()) || name.front() == '_'))
    return false;
  return llvm::all_of(name, [](char c) { return llvm::isAlnum(c) || c == '_'; });
}

bool mlir::pmc::parseMeshSpec(StringRef value, MeshSpec &mesh, std::string &error) {
  mesh.clear();
  llvm::SmallVector<StringRef> items;
  value.split(items, ',', -1, /*KeepEmpty=*/true);
  for (StringRef item : items) {
    auto [name, size] = item.trim().split('=');
    int64_t n;
    if (!isAxisName(name) || size.getAsInteger(10, n) || n < 1) {
      error = "--mesh '" + value.str() + "': '" + item.str() +
              "' is not AXIS=SIZE (an axis name and a positive size, e.g. "
              "--mesh dp=2,tp=2)";
      return false;
    }
    mesh.emplace_back(name.str(), n);
  }
  return true;
}

bool mlir::pmc::parseShardingSpec(StringRef value, ShardingSpecs &shardings,
                                  std::string &error) {
  auto [name, spec] = value.split('=');
  if (name.empty() || !value.contains('=')) {
    error = "--shard expects NAME=DIMS (e.g. --shard w_fc=,tp), got '" + value.str() + "'";
    return false;
  }
  std::vector<std::vector<std::string>> dims;
  llvm::SmallVector<StringRef> dimTexts;
  spec.split(dimTexts, ',', -1, /*KeepEmpty=*/true);
  for (StringRef dimText : dimTexts) {
    std::vector<std::string> axes;
    if (!dimText.trim().empty()) {
      llvm::SmallVector<StringRef> axisTexts;
      dimText.split(axisTexts, '+', -1, /*KeepEmpty=*/true);
      for (StringRef axis : axisTexts) {
        if (!isAxisName(axis.trim())) {
          error = "--shard '" + value.str() + "': '" + axis.str() +
                  "' is not a mesh axis name (dimension " + std::to_string(dims.size()) +
                  ")";
          return false;
        }
        axes.push_back(axis.trim().str());
      }
    }
    dims.push_back(std::move(axes));
  }
  for (const auto &entry : shardings)
    if (entry.first == name) {
      error = "--shard: '" + name.str() + "' is given twice";
      return false;
    }
  shardings.emplace_back(name.str(), std::move(dims));
  return true;
}

std::string mlir::pmc::formatMeshSpec(const MeshSpec &mesh) {
  std::string text;
  llvm::raw_string_ostream os(text);
  llvm::interleave(
      mesh, os, [&](const auto &axis) { os << axis.first << "=" << axis.second; }, ",");
  return text;
}

std::string mlir::pmc::formatShardingSpec(const std::string &name,
                                          const std::vector<std::vector<std::string>> &dims) {
  std::string text = name + "=";
  llvm::raw_string_ostream os(text);
  llvm::interleave(
      dims, os, [&](const auto &axes) { llvm::interleave(axes, os, "+"); }, ",");
  return text;
}

/// The text of the user's plan: `mesh dp=2,tp=2; w_fc=,tp; x=dp`.
static std::string userPlanText(const MeshSpec &mesh, const ShardingSpecs &shardings) {
  std::string text = "mesh " + formatMeshSpec(mesh);
  for (const auto &[name, dims] : shardings)
    text += "; " + formatShardingSpec(name, dims);
  return text;
}

/// The name an importer gave to a weight: the `pmc.name` attribute, else the
/// name of its location (the ONNX initializer's name).
static std::string weightName(ConstantOp constant) {
  if (auto name = constant->getAttrOfType<StringAttr>("pmc.name"))
    return name.str();
  if (auto loc = dyn_cast<NameLoc>(constant.getLoc()))
    return loc.getName().str();
  return "";
}

LogicalResult mlir::pmc::applyShardings(ModuleOp module, const MeshSpec &meshSpec,
                                        const ShardingSpecs &shardings, int zero) {
  if (meshSpec.empty())
    return success();
  MLIRContext *context = module.getContext();
  SmallVector<StringAttr> names;
  SmallVector<int64_t> sizes;
  for (const auto &[name, size] : meshSpec) {
    names.push_back(StringAttr::get(context, name));
    sizes.push_back(size);
  }
  auto mesh = MeshAttr::get(context, names, sizes);
  module->setAttr(kMeshAttrName, mesh);
  module->setAttr("pmc.plan", StringAttr::get(context, userPlanText(meshSpec, shardings)));
  module->setAttr("pmc.plan_source", StringAttr::get(context, "user"));

  auto main = module.lookupSymbol<func::FuncOp>(kEntryFunctionName);
  if (!main || main.isExternal())
    return module.emitError("--shard: the module has no @main function");
  llvm::StringMap<unsigned> inputs;
  for (unsigned i = 0, e = main.getNumArguments(); i < e; ++i)
    if (auto name = main.getArgAttrOfType<StringAttr>(i, "pmc.name"))
      inputs[name.getValue()] = i;
  llvm::StringMap<ConstantOp> weights;
  std::vector<std::string> weightNames;
  main.walk([&](ConstantOp constant) {
    std::string name = weightName(constant);
    if (!name.empty() && weights.try_emplace(name, constant).second)
      weightNames.push_back(name);
  });

  for (const auto &[name, dims] : shardings) {
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
    auto sharding = ShardingAttr::get(context, dimAxes);
    if (failed(sharding.verifyFor(mesh, type.getShape(), [&] {
          return emitError(at->getLoc()) << "--shard " << name << " (" << type << "): ";
        })))
      return failure();
    if (input != inputs.end())
      main.setArgAttr(input->second, kShardingAttrName, sharding);
    else
      at->setAttr(kShardingsAttrName, ArrayAttr::get(context, {sharding}));
  }
  shardTrainingState(main, mesh, zero);
  return success();
}

LogicalResult mlir::pmc::annotatePipeline(ModuleOp module, int64_t stages,
                                          int64_t microbatches, StringRef schedule,
                                          bool dataParallel) {
  MLIRContext *context = module.getContext();
  Builder builder(context);
  auto main = module.lookupSymbol<func::FuncOp>(kEntryFunctionName);
  if (!main || main.isExternal())
    return emitError(module.getLoc(), "--stages: the module has no @main function");
  // Without a user mesh the rest of the mesh is data parallel over the batch.
  auto mesh = module->getAttrOfType<MeshAttr>(kMeshAttrName);
  std::optional<unsigned> dp = mesh ? mesh.findAxis("dp") : std::nullopt;
  if (dataParallel && dp) {
    int64_t size = mesh.getAxisSize("dp");
    for (unsigned i = 0; i < main.getNumArguments(); ++i) {
      auto type = dyn_cast<RankedTensorType>(main.getArgument(i).getType());
      if (!type || type.getRank() < 1 || type.getDimSize(0) % size != 0)
        continue;
      // A train step's state is no batch: replicated over dp.
      if (main.getArgAttr(i, kParameterAttrName) || main.getArgAttr(i, kBufferAttrName) ||
          main.getArgAttr(i, kOptimizerStateAttrName))
        continue;
      SmallVector<SmallVector<StringRef>> dims(type.getRank());
      dims[0].push_back("dp");
      main.setArgAttr(i, kShardingAttrName, ShardingAttr::get(context, dims));
    }
  }
  // The plan text (exe.plan) says what the pipeline is.
  if (auto plan = module->getAttrOfType<StringAttr>("pmc.plan"))
    module->setAttr("pmc.plan",
                    builder.getStringAttr(plan.str() + "; pipeline " +
                                          std::to_string(stages) + " stages x " +
                                          std::to_string(microbatches) +
                                          " microbatches (" + schedule.str() + ")"));
  module->setAttr(kPipelineAttrName,
                  builder.getDictionaryAttr(
                      {builder.getNamedAttr("stages", builder.getI64IntegerAttr(stages)),
                       builder.getNamedAttr("microbatches",
                                            builder.getI64IntegerAttr(microbatches)),
                       builder.getNamedAttr("schedule",
                                            builder.getStringAttr(schedule))}));
  // A train step comes cut already: its forward was cut before the backward
  // was built, and each backward op took the stage of what it differentiates.
  if (isTrainStepModule(module) &&
      llvm::any_of(main.getOps(), [](Operation &op) { return getStage(&op).has_value(); }))
    return success();
  return assignEvenStages(main, stages);
}

namespace {
struct ApplyShardings : public mlir::pmc::impl::PMCApplyShardingsBase<ApplyShardings> {
  using PMCApplyShardingsBase::PMCApplyShardingsBase;
  void runOnOperation() override {
    MeshSpec meshSpec;
    ShardingSpecs shardings;
    std::string error;
    bool parsed = parseMeshSpec(mesh, meshSpec, error);
    for (const std::string &text : shard)
      parsed = parsed && parseShardingSpec(text, shardings, error);
    if (!parsed) {
      getOperation().emitError() << error;
      return signalPassFailure();
    }
    if (failed(applyShardings(getOperation(), meshSpec, shardings, zero)))
      signalPassFailure();
  }
};

struct AnnotatePipeline : public mlir::pmc::impl::PMCAnnotatePipelineBase<AnnotatePipeline> {
  using PMCAnnotatePipelineBase::PMCAnnotatePipelineBase;
  void runOnOperation() override {
    if (failed(annotatePipeline(getOperation(), stages, microbatches, schedule, dataParallel)))
      signalPassFailure();
  }
};
} // namespace
