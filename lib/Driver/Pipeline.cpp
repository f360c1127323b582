//===- Pipeline.cpp - pipeline stages: --stages, microbatches, split-stages ===//
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

/// The virtual mesh axis that splits the batch into microbatches while
/// partitioning (docs/design/pipeline.md, "Compiler" 1).
static constexpr llvm::StringLiteral kMicrobatchAxis = "mb";
/// Argument/result attribute: the value is split into microbatches on dim 0.
static constexpr llvm::StringLiteral kMicrobatchedAttrName = "pmc.microbatched";

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
  auto main = module.lookupSymbol<func::FuncOp>("main");
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

/// `sharding` with `axis` removed from every dimension.
static ShardingAttr withoutAxis(ShardingAttr sharding, StringRef axis) {
  SmallVector<SmallVector<StringRef>> dims;
  for (int64_t d = 0; d < sharding.getRank(); ++d) {
    dims.push_back(sharding.getDimAxes(d));
    llvm::erase(dims.back(), axis);
  }
  SmallVector<StringRef> partial;
  for (StringAttr a : sharding.getPartialAxes())
    if (a.getValue() != axis)
      partial.push_back(a.getValue());
  return ShardingAttr::get(sharding.getContext(), dims, partial,
                           sharding.getPartialKind());
}

/// The first op of `main` that communicates over (or slices by) `axis`.
static Operation *findOpOnAxis(func::FuncOp main, StringRef axis) {
  Operation *found = nullptr;
  main.walk([&](Operation *op) {
    ArrayAttr axes;
    if (auto c = dyn_cast<mlir::pmc::AllReduceOp>(op))
      axes = c.getAxes();
    else if (auto c = dyn_cast<mlir::pmc::AllGatherOp>(op))
      axes = c.getAxes();
    else if (auto c = dyn_cast<mlir::pmc::ReduceScatterOp>(op))
      axes = c.getAxes();
    else if (auto c = dyn_cast<mlir::pmc::AllToAllOp>(op))
      axes = c.getAxes();
    bool uses = axes && llvm::any_of(axes, [&](Attribute a) {
                  return cast<StringAttr>(a).getValue() == axis;
                });
    if (auto shard = dyn_cast<mlir::pmc::ShardOp>(op))
      uses = llvm::is_contained(shard.getSharding().getUsedAxes(), axis);
    if (uses && !found)
      found = op;
  });
  return found;
}

/// The global dim 0 of a partitioned value of local `type` and `sharding`.
static int64_t globalDim0(RankedTensorType type, ShardingAttr sharding, MeshAttr mesh) {
  int64_t size = type.getDimSize(0);
  if (sharding)
    for (StringRef axis : sharding.getDimAxes(0))
      if (mesh.findAxis(axis))
        size *= mesh.getAxisSize(axis);
  return size;
}

/// One attempt at partitioning with `microbatches`; `mixed` receives the
/// collective over `mb` when there is one (the caller decides what to do).
static LogicalResult partitionOnce(ModuleOp module, func::FuncOp main, MeshAttr mesh,
                                   int64_t microbatches, Operation *&mixed,
                                   ::pmc::PassManagerConfigurator configure) {
  MLIRContext *context = module.getContext();
  Builder builder(context);
  // The batch: dim 0 of the first input of rank >= 1.
  std::optional<int64_t> batch;
  for (Type type : main.getArgumentTypes())
    if (auto tensor = dyn_cast<RankedTensorType>(type); tensor && tensor.getRank() >= 1) {
      batch = tensor.getDimSize(0);
      break;
    }
  if (!batch && microbatches > 1)
    return emitError(main.getLoc()) << "@main: has no input with a batch dimension to split into "
                              << microbatches << " microbatches";
  SmallVector<bool> microbatched;
  for (unsigned i = 0; i < main.getNumArguments(); ++i) {
    auto type = dyn_cast<RankedTensorType>(main.getArgument(i).getType());
    microbatched.push_back(type && type.getRank() >= 1 && type.getDimSize(0) == *batch);
  }
  if (microbatches > 1) {
    if (mesh.findAxis(kMicrobatchAxis))
      return emitError(module.getLoc()) << "the mesh " << mesh << " has an axis '"
                                << kMicrobatchAxis
                                << "', the name pmc reserves for microbatches";
    for (unsigned i = 0; i < main.getNumArguments(); ++i) {
      if (!microbatched[i])
        continue;
      auto type = cast<RankedTensorType>(main.getArgument(i).getType());
      auto sharding = main.getArgAttrOfType<ShardingAttr>(i, mlir::pmc::kShardingAttrName);
      if (!sharding)
        sharding = ShardingAttr::getReplicated(context, type.getRank());
      int64_t split = 1;
      for (StringRef axis : sharding.getDimAxes(0))
        split *= mesh.getAxisSize(axis);
      auto name = main.getArgAttrOfType<StringAttr>(i, "pmc.name");
      if ((*batch / split) % microbatches != 0)
        return emitError(main.getLoc()) << "@main: "
               << "input '" << (name ? name.getValue() : StringRef("?")) << "': "
               << microbatches << " microbatches do not divide its batch of " << *batch
               << (split > 1 ? " / " + std::to_string(split) + " (its data-parallel split)"
                             : std::string())
               << " rows";
      SmallVector<SmallVector<StringRef>> dims;
      for (int64_t d = 0; d < sharding.getRank(); ++d)
        dims.push_back(sharding.getDimAxes(d));
      dims[0].insert(dims[0].begin(), kMicrobatchAxis);
      main.setArgAttr(i, mlir::pmc::kShardingAttrName, ShardingAttr::get(context, dims));
    }
    SmallVector<StringAttr> names(mesh.getNames());
    SmallVector<int64_t> sizes(mesh.getSizes());
    unsigned at = !names.empty() && names[0].getValue() == "pp" ? 1 : 0;
    names.insert(names.begin() + at, builder.getStringAttr(kMicrobatchAxis));
    sizes.insert(sizes.begin() + at, microbatches);
    module->setAttr(mlir::pmc::kMeshAttrName, MeshAttr::get(context, names, sizes));
  }

  PassManager pm(context, ModuleOp::getOperationName());
  if (configure && failed(configure(pm)))
    return failure();
  std::string errorText;
  llvm::raw_string_ostream errorStream(errorText);
  if (failed(parsePassPipeline("pmc-sharding-propagation,pmc-partition", pm, errorStream)))
    return emitError(module.getLoc()) << "pipeline partitioning: " << errorText;
  if (failed(pm.run(module)))
    return failure();

  if (microbatches > 1) {
    mixed = findOpOnAxis(main, kMicrobatchAxis);
    if (mixed)
      return failure();
  }
  // Remove `mb`; the local types are those of one microbatch step.
  auto partitioned = module->getAttrOfType<MeshAttr>(mlir::pmc::kMeshAttrName);
  auto markAndStrip = [&](ShardingAttr sharding, auto setAttr) {
    if (!sharding)
      return;
    setAttr(mlir::pmc::kShardingAttrName, withoutAxis(sharding, kMicrobatchAxis));
  };
  for (unsigned i = 0; i < main.getNumArguments(); ++i) {
    auto sharding = main.getArgAttrOfType<ShardingAttr>(i, mlir::pmc::kShardingAttrName);
    if (microbatched[i])
      main.setArgAttr(i, kMicrobatchedAttrName, builder.getUnitAttr());
    markAndStrip(sharding, [&](StringRef name, Attribute a) { main.setArgAttr(i, name, a); });
  }
  for (unsigned i = 0; i < main.getNumResults(); ++i) {
    auto sharding = main.getResultAttrOfType<ShardingAttr>(i, mlir::pmc::kShardingAttrName);
    auto type = dyn_cast<RankedTensorType>(main.getResultTypes()[i]);
    bool isMicrobatched =
        type && type.getRank() >= 1 &&
        (microbatches > 1
             ? sharding && llvm::is_contained(sharding.getDimAxes(0), kMicrobatchAxis)
             : batch && globalDim0(type, sharding, partitioned) == *batch);
    if (isMicrobatched)
      main.setResultAttr(i, kMicrobatchedAttrName, builder.getUnitAttr());
    markAndStrip(sharding,
                 [&](StringRef name, Attribute a) { main.setResultAttr(i, name, a); });
  }
  if (microbatches > 1) {
    SmallVector<StringAttr> names;
    SmallVector<int64_t> sizes;
    for (auto [name, size] : llvm::zip(partitioned.getNames(), partitioned.getSizes()))
      if (name.getValue() != kMicrobatchAxis) {
        names.push_back(name);
        sizes.push_back(size);
      }
    module->setAttr(mlir::pmc::kMeshAttrName, MeshAttr::get(context, names, sizes));
  }
  return success();
}

LogicalResult (::pmc::partitionPipeline)(ModuleOp module,
                                         PassManagerConfigurator configure) {
  MLIRContext *context = module.getContext();
  Builder builder(context);
  auto pipeline = module->getAttrOfType<DictionaryAttr>(mlir::pmc::kPipelineAttrName);
  auto stagesAttr = pipeline ? pipeline.getAs<IntegerAttr>("stages") : nullptr;
  auto microbatchesAttr = pipeline ? pipeline.getAs<IntegerAttr>("microbatches") : nullptr;
  auto scheduleAttr = pipeline ? pipeline.getAs<StringAttr>("schedule") : nullptr;
  if (!stagesAttr || !microbatchesAttr || !scheduleAttr || stagesAttr.getInt() < 1 ||
      microbatchesAttr.getInt() < 1 ||
      (scheduleAttr.getValue() != "gpipe" && scheduleAttr.getValue() != "1f1b"))
    return emitError(module.getLoc()) << mlir::pmc::kPipelineAttrName
                              << " must be {stages = K >= 1, microbatches = M >= 1, "
                                 "schedule = \"gpipe\"|\"1f1b\"}, got "
                              << (pipeline ? Attribute(pipeline) : Attribute());
  int64_t stages = stagesAttr.getInt(), microbatches = microbatchesAttr.getInt();
  auto mesh = module->getAttrOfType<MeshAttr>(mlir::pmc::kMeshAttrName);
  if (!mesh)
    return emitError(module.getLoc()) << "a pipeline needs a " << mlir::pmc::kMeshAttrName;
  std::optional<unsigned> pp = mesh.findAxis("pp");
  if (stages > 1 && (!pp || *pp != 0 || mesh.getAxisSize("pp") != stages))
    return emitError(module.getLoc()) << "a pipeline of " << stages << " stages needs the mesh's "
                              << "first axis to be pp=" << stages << ", got " << mesh;
  auto main = module.lookupSymbol<func::FuncOp>("main");
  if (!main || main.isExternal() || !main.getBody().hasOneBlock())
    return emitError(module.getLoc(), "a pipeline needs a @main function with one block");
  if (failed(mlir::pmc::verifyStages(main, stages)))
    return failure();

  // A planned (or randomly drawn) plan falls back to one microbatch when the
  // model mixes the examples of a batch; a user's plan gets an error.
  bool planned = false;
  if (auto source = module->getAttrOfType<StringAttr>("pmc.plan_source"))
    planned = source.getValue() == "auto" || source.getValue() == "random";
  // A planner plan falls back to one microbatch when the model mixes examples.
  OwningOpRef<ModuleOp> original;
  if (planned && microbatches > 1)
    original = module.clone();
  Operation *mixed = nullptr;
  LogicalResult partitioned =
      partitionOnce(module, main, mesh, microbatches, mixed, configure);
  if (failed(partitioned) && mixed && original) {
    std::string opName = mixed->getName().getStringRef().str();
    module.getBodyRegion().takeBody(original->getBodyRegion());
    module->setAttrs(original.get()->getAttrDictionary());
    main = module.lookupSymbol<func::FuncOp>("main");
    NamedAttrList fields(pipeline);
    fields.set("microbatches", builder.getI64IntegerAttr(1));
    module->setAttr(mlir::pmc::kPipelineAttrName, fields.getDictionary(context));
    std::string explain;
    if (auto text = module->getAttrOfType<StringAttr>("pmc.plan_explain"))
      explain = text.str();
    if (!explain.empty() && explain.back() != '\n')
      explain += "\n";
    explain += "microbatches: " + std::to_string(microbatches) +
               " -> 1: the model mixes examples of the batch (" + opName +
               " over the microbatch axis)\n";
    module->setAttr("pmc.plan_explain", builder.getStringAttr(explain));
    mixed = nullptr;
    partitioned = partitionOnce(module, main, mesh, 1, mixed, configure);
  } else if (failed(partitioned) && mixed) {
    return mixed->emitOpError()
           << "communicates over the microbatch axis '" << kMicrobatchAxis
           << "': the model mixes examples of the batch, so it cannot run in "
           << microbatches << " microbatches (use --microbatches 1)";
  }
  if (failed(partitioned))
    return failure();

  PassManager pm(context, ModuleOp::getOperationName());
  if (configure && failed(configure(pm)))
    return failure();
  pm.addPass(mlir::pmc::createPMCSplitStages());
  return pm.run(module);
}
