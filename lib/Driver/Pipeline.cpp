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
  // A training pipeline runs one microbatch per step until the schedule is
  // compiled into the stage programs (docs/design/pipeline.md, "Training
  // pipelines").
  if (options.train.enabled && options.microbatches > 1)
    return emitError(loc) << "--microbatches " << options.microbatches
                          << " with --train: training pipelines run one microbatch per "
                             "step so far (use --microbatches 1)";
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
