//===- PartitionPipeline.cpp - --pmc-partition-pipeline: stages x SPMD ----===//
//
// Partitions a module that carries `pmc.pipeline` and `pmc.stage` on its ops
// (docs/design/pipeline.md, "Compiler"): microbatches become a virtual mesh
// axis `mb` on dim 0 of the batched inputs, pmc-sharding-propagation and
// pmc-partition run as a nested pipeline, a collective over `mb` (the model
// mixes the examples of a batch) is an error for a user's plan and a retry
// with one microbatch for a planner's, then `mb` is removed and the batched
// arguments and results are marked `pmc.microbatched`.
//
#include "pmc/Dialect/PMC/IR/PMCAttrs.h"
#include "pmc/Dialect/PMC/IR/PMCOps.h"
#include "pmc/Parallel/Partition/Passes.h"
#include "pmc/Dialect/PMC/Transforms/Stages.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"

namespace mlir::pmc {
#define GEN_PASS_DEF_PMCPARTITIONPIPELINE
#define GEN_PASS_DEF_PMCPARTITIONPROGRAM
#include "pmc/Parallel/Partition/Passes.h.inc"
} // namespace mlir::pmc

using namespace mlir;
using namespace mlir::pmc;

namespace {
/// Runs pmc-sharding-propagation and pmc-partition on the module.
using RunPipeline = llvm::function_ref<LogicalResult()>;
} // namespace

/// The virtual mesh axis that splits the batch into microbatches while
/// partitioning (docs/design/pipeline.md, "Compiler" 1).
static constexpr llvm::StringLiteral kMicrobatchAxis = "mb";
/// Argument/result attribute: the value is split into microbatches on dim 0.
static constexpr llvm::StringLiteral kMicrobatchedAttrName = "pmc.microbatched";

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
  main.walk([&](CollectiveOpInterface op) {
    if (llvm::is_contained(op.getMeshAxes(), axis)) {
      found = op;
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
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
                                   RunPipeline runPartitioning) {
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
      auto sharding = main.getArgAttrOfType<ShardingAttr>(i, kShardingAttrName);
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
      main.setArgAttr(i, kShardingAttrName, ShardingAttr::get(context, dims));
    }
    SmallVector<StringAttr> names(mesh.getNames());
    SmallVector<int64_t> sizes(mesh.getSizes());
    unsigned at = !names.empty() && names[0].getValue() == "pp" ? 1 : 0;
    names.insert(names.begin() + at, builder.getStringAttr(kMicrobatchAxis));
    sizes.insert(sizes.begin() + at, microbatches);
    module->setAttr(kMeshAttrName, MeshAttr::get(context, names, sizes));
  }

  if (failed(runPartitioning()))
    return failure();

  if (microbatches > 1) {
    mixed = findOpOnAxis(main, kMicrobatchAxis);
    if (mixed)
      return failure();
  }
  // Remove `mb`; the local types are those of one microbatch step.
  auto partitioned = module->getAttrOfType<MeshAttr>(kMeshAttrName);
  auto markAndStrip = [&](ShardingAttr sharding, auto setAttr) {
    if (!sharding)
      return;
    setAttr(kShardingAttrName, withoutAxis(sharding, kMicrobatchAxis));
  };
  for (unsigned i = 0; i < main.getNumArguments(); ++i) {
    auto sharding = main.getArgAttrOfType<ShardingAttr>(i, kShardingAttrName);
    if (microbatched[i])
      main.setArgAttr(i, kMicrobatchedAttrName, builder.getUnitAttr());
    markAndStrip(sharding, [&](StringRef name, Attribute a) { main.setArgAttr(i, name, a); });
  }
  for (unsigned i = 0; i < main.getNumResults(); ++i) {
    auto sharding = main.getResultAttrOfType<ShardingAttr>(i, kShardingAttrName);
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
    module->setAttr(kMeshAttrName, MeshAttr::get(context, names, sizes));
  }
  return success();
}

static LogicalResult partitionPipeline(ModuleOp module, RunPipeline runPartitioning) {
  MLIRContext *context = module.getContext();
  Builder builder(context);
  auto pipeline = module->getAttrOfType<DictionaryAttr>(kPipelineAttrName);
  auto stagesAttr = pipeline ? pipeline.getAs<IntegerAttr>("stages") : nullptr;
  auto microbatchesAttr = pipeline ? pipeline.getAs<IntegerAttr>("microbatches") : nullptr;
  auto scheduleAttr = pipeline ? pipeline.getAs<StringAttr>("schedule") : nullptr;
  if (!stagesAttr || !microbatchesAttr || !scheduleAttr || stagesAttr.getInt() < 1 ||
      microbatchesAttr.getInt() < 1 ||
      (scheduleAttr.getValue() != "gpipe" && scheduleAttr.getValue() != "1f1b"))
    return emitError(module.getLoc()) << kPipelineAttrName
                              << " must be {stages = K >= 1, microbatches = M >= 1, "
                                 "schedule = \"gpipe\"|\"1f1b\"}, got "
                              << (pipeline ? Attribute(pipeline) : Attribute());
  int64_t stages = stagesAttr.getInt(), microbatches = microbatchesAttr.getInt();
  auto mesh = module->getAttrOfType<MeshAttr>(kMeshAttrName);
  if (!mesh)
    return emitError(module.getLoc()) << "a pipeline needs a " << kMeshAttrName;
  std::optional<unsigned> pp = mesh.findAxis("pp");
  if (stages > 1 && (!pp || *pp != 0 || mesh.getAxisSize("pp") != stages))
    return emitError(module.getLoc()) << "a pipeline of " << stages << " stages needs the mesh's "
                              << "first axis to be pp=" << stages << ", got " << mesh;
  auto main = module.lookupSymbol<func::FuncOp>(kEntryFunctionName);
  if (!main || main.isExternal() || !main.getBody().hasOneBlock())
    return emitError(module.getLoc(), "a pipeline needs a @main function with one block");
  const bool train = isTrainStepModule(module);
  if (failed(verifyStages(main, stages, /*allowUnstaged=*/train, /*allowDecreasing=*/train)))
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
      partitionOnce(module, main, mesh, microbatches, mixed, runPartitioning);
  if (failed(partitioned) && mixed && original) {
    std::string opName = mixed->getName().getStringRef().str();
    module.getBodyRegion().takeBody(original->getBodyRegion());
    module->setAttrs(original.get()->getAttrDictionary());
    main = module.lookupSymbol<func::FuncOp>(kEntryFunctionName);
    NamedAttrList fields(pipeline);
    fields.set("microbatches", builder.getI64IntegerAttr(1));
    module->setAttr(kPipelineAttrName, fields.getDictionary(context));
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
    partitioned = partitionOnce(module, main, mesh, 1, mixed, runPartitioning);
  } else if (failed(partitioned) && mixed) {
    return mixed->emitOpError()
           << "communicates over the microbatch axis '" << kMicrobatchAxis
           << "': the model mixes examples of the batch, so it cannot run in "
           << microbatches << " microbatches (use --microbatches 1)";
  }
  return partitioned;
}

namespace {
struct PartitionPipeline
    : public mlir::pmc::impl::PMCPartitionPipelineBase<PartitionPipeline> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (!module->hasAttr(kPipelineAttrName))
      return; // Not a pipeline: nothing to do (pmc-partition partitions it).
    OpPassManager partitioning(ModuleOp::getOperationName());
    partitioning.addPass(createPMCShardingPropagation());
    partitioning.addPass(createPMCPartition());
    if (failed(partitionPipeline(module, [&] { return runPipeline(partitioning, module); })))
      signalPassFailure();
  }
};
} // namespace

namespace {
struct PartitionProgram
    : public mlir::pmc::impl::PMCPartitionProgramBase<PartitionProgram> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    OpPassManager nested(ModuleOp::getOperationName());
    if (module->hasAttr(kPipelineAttrName)) {
      nested.addPass(createPMCPartitionPipeline());
      nested.addPass(createPMCSplitStages());
    } else {
      nested.addPass(createPMCShardingPropagation());
      nested.addPass(createPMCPartition());
    }
    if (failed(runPipeline(nested, module)))
      signalPassFailure();
  }
};
} // namespace
