//===- Explain.cpp - the plan as attributes, JSON and explanation text ----===//
#include "pmc/Parallel/Planner.h"
#include "PlannerInternal.h"

#include "pmc/Dialect/PMC/IR/PMCAttrs.h"
#include "pmc/Dialect/PMC/IR/PMCOps.h"

#include "llvm/Support/FormatVariadic.h"

#include <nlohmann/json.hpp>

using namespace mlir;
using namespace mlir::pmc;
using namespace mlir::pmc::planner;
using ordered_json = nlohmann::ordered_json;

namespace {

std::string shapeOf(const PlannedWeight &w) {
  std::string shape;
  llvm::raw_string_ostream ss(shape);
  llvm::interleave(w.shape, ss, "x");
  return shape;
}

std::string choiceText(const PlannedWeight &w, int choice) {
  if (choice < 0)
    return "replicated";
  int64_t dim = w.dims[choice];
  bool conv = w.dims[0] == 0;
  std::string role = conv ? (choice == 0 ? "output channels" : "input channels")
                          : (choice == 0 ? "columns" : "rows");
  return role + " (dim " + std::to_string(dim) + ") on tp";
}

ordered_json dimsJSON(const PlannedWeight &w, int choice) {
  ordered_json dims = ordered_json::array();
  for (size_t d = 0; d < w.shape.size(); ++d)
    dims.push_back(choice >= 0 && w.dims[choice] == (int64_t)d ? ordered_json::array({"tp"})
                                                              : ordered_json::array());
  return dims;
}

ordered_json meshJSON(const PlanCandidate &c) {
  ordered_json mesh = ordered_json::object();
  if (c.pp > 1)
    mesh["pp"] = c.pp;
  if (c.dp > 1 || (c.tp == 1 && c.pp == 1))
    mesh["dp"] = c.dp;
  if (c.tp > 1)
    mesh["tp"] = c.tp;
  return mesh;
}

/// The stage sub-mesh (never names pp).
ordered_json stageMeshJSON(const PlanCandidate &c) {
  ordered_json mesh = ordered_json::object();
  if (c.dp > 1 || c.tp == 1)
    mesh["dp"] = c.dp;
  if (c.tp > 1)
    mesh["tp"] = c.tp;
  return mesh;
}

ordered_json stagesJSON(const PlanCandidate &c) {
  ordered_json stages = ordered_json::array();
  for (auto [s, stage] : llvm::enumerate(c.stages))
    stages.push_back({{"stage", s},
                      {"layers", {stage.firstLayer, stage.lastLayer}},
                      {"mesh", stageMeshJSON(c)},
                      {"step_time_s", stage.stepTimeS},
                      {"compute_s", stage.computeS},
                      {"comm_s", stage.commS},
                      {"send_s", stage.sendS},
                      {"send_bytes", stage.sendBytes},
                      {"collectives", stage.collectives},
                      {"weight_bytes", stage.weightBytes},
                      {"activation_bytes", stage.activationBytes},
                      {"memory_per_device_bytes", stage.memoryBytes}});
  return stages;
}

/// What a layer holds, without names: equal signatures collapse.
std::string layerSignature(const Plan &plan, const PlanLayer &layer,
                           ArrayRef<int> choices) {
  std::string text;
  for (unsigned w : layer.weights) {
    const PlannedWeight &weight = plan.weights[w];
    for (int64_t d : weight.shape)
      text += std::to_string(d) + "x";
    text += "/" + std::to_string(choices[w]) + ";";
  }
  return text;
}

} // namespace

std::string mlir::pmc::planToJSON(const Plan &plan) {
  const PlanCandidate &c = plan.chosen;
  ordered_json j;
  j["devices"] = plan.devices;
  j["device_spec"] = plan.specName;
  j["mesh"] = meshJSON(c);
  j["stages"] = c.pp;
  j["microbatches"] = c.microbatches;
  j["schedule"] = c.schedule;
  j["bubble_fraction"] = c.bubbleFraction;
  j["predicted"] = {{"step_time_s", c.stepTimeS},
                    {"compute_s", c.computeS},
                    {"comm_s", c.commS},
                    {"memory_per_device_bytes", c.memoryPerDeviceBytes},
                    {"weight_bytes", c.weightBytes},
                    {"activation_bytes", c.activationBytes}};
  if (plan.training) {
    j["zero"] = c.zero;
    j["predicted"]["gradient_bytes"] = c.gradientBytes;
    j["predicted"]["optimizer_state_bytes"] = c.optimizerStateBytes;
    j["predicted"]["state_update_bytes"] = c.stateUpdateBytes;
  }
  ordered_json weights = ordered_json::object();
  for (auto [i, w] : llvm::enumerate(plan.weights))
    weights[w.name] = dimsJSON(w, c.choices[i]);
  j["shardings"] = {{"inputs", c.dp > 1 ? "batch (dim 0) on dp" : "replicated"},
                    {"weights", weights}};
  j["stage_plans"] = stagesJSON(c);
  ordered_json layers = ordered_json::array();
  for (const PlanLayer &layer : plan.layers) {
    ordered_json names = ordered_json::array();
    for (unsigned w : layer.weights)
      names.push_back(plan.weights[w].name);
    layers.push_back({{"ops", {layer.firstOp, layer.lastOp}}, {"weights", names}});
  }
  j["layers"] = layers;
  ordered_json alternatives = ordered_json::array();
  for (const PlanCandidate &a : plan.alternatives)
    alternatives.push_back({{"name", a.name},
                            {"mesh", meshJSON(a)},
                            {"stages", a.pp},
                            {"microbatches", a.microbatches},
                            {"schedule", a.schedule},
                            {"bubble_fraction", a.bubbleFraction},
                            {"step_time_s", a.stepTimeS},
                            {"compute_s", a.computeS},
                            {"comm_s", a.commS},
                            {"memory_per_device_bytes", a.memoryPerDeviceBytes},
                            {"weight_bytes", a.weightBytes},
                            {"gradient_bytes", a.gradientBytes},
                            {"optimizer_state_bytes", a.optimizerStateBytes},
                            {"state_update_bytes", a.stateUpdateBytes},
                            {"activation_bytes", a.activationBytes},
                            {"zero", a.zero},
                            {"fits", a.fits},
                            {"chosen", a.reason == "chosen"},
                            {"reason", a.reason}});
  j["alternatives"] = alternatives;
  j["search"] = {{"method", plan.method},
                 {"evaluations", plan.evaluations}};
  return j.dump(2);
}

std::string mlir::pmc::explainPlan(const Plan &plan) {
  std::string text;
  llvm::raw_string_ostream os(text);
  const PlanCandidate &c = plan.chosen;
  double memory = c.memoryPerDeviceBytes.empty() ? 0 : *llvm::max_element(c.memoryPerDeviceBytes);
  os << llvm::formatv("plan for {0} devices ({1}): {2}\n", plan.devices, plan.specName, c.name);
  os << llvm::formatv("  predicted step {0:F3} ms = compute {1:F3} ms + communication "
                      "{2:F3} ms ({3} collectives)\n",
                      c.stepTimeS * 1e3, c.computeS * 1e3, c.commS * 1e3, c.collectives);
  if (plan.training)
    os << llvm::formatv("  memory per device {0:F3} GiB of {1:F3} GiB (weights {2:F3} GiB, "
                        "optimizer state {3:F3} GiB; at the peak: gradients {4:F3} GiB, "
                        "state updates {5:F3} GiB, activations {6:F3} GiB); ZeRO stage {7}\n",
                        memory / (1ull << 30), plan.memoryBytes / (1ull << 30),
                        c.weightBytes / (1ull << 30), c.optimizerStateBytes / (1ull << 30),
                        c.gradientBytes / (1ull << 30), c.stateUpdateBytes / (1ull << 30),
                        c.activationBytes / (1ull << 30), c.zero);
  else
    os << llvm::formatv("  memory per device {0:F3} GiB of {1:F3} GiB (weights {2:F3} GiB, "
                        "activations {3:F3} GiB)\n",
                        memory / (1ull << 30), plan.memoryBytes / (1ull << 30),
                        c.weightBytes / (1ull << 30), c.activationBytes / (1ull << 30));
  if (c.pp > 1)
    os << llvm::formatv("  pipeline: {0} stages of {1}, {2} microbatches, {3} schedule, "
                        "bubble {4:F1}% of the step\n",
                        c.pp, meshName(1, c.dp, c.tp), c.microbatches, c.schedule,
                        c.bubbleFraction * 100);
  os << "  inputs: " << (c.dp > 1 ? "batch (dim 0) split over dp" : "replicated") << "\n";
  for (auto [s, stage] : llvm::enumerate(c.stages)) {
    if (c.pp > 1)
      os << llvm::formatv("  stage {0}: layers {1}-{2}, ranks {3}-{4}, {5} per microbatch "
                          "(compute {6}, collectives {7} x{8}, send {9} {10}), "
                          "memory {11} (weights {12}, activations {13})\n",
                          s, stage.firstLayer, stage.lastLayer, s * c.dp * c.tp,
                          (s + 1) * c.dp * c.tp - 1, ms(stage.stepTimeS), ms(stage.computeS),
                          ms(stage.commS), stage.collectives, mb(stage.sendBytes),
                          ms(stage.sendS), gib(stage.memoryBytes), gib(stage.weightBytes),
                          gib(stage.activationBytes));
    // Per layer, collapsing runs that repeat the previous 1 to 4 layers.
    std::vector<std::string> signatures;
    for (unsigned l = stage.firstLayer; l <= stage.lastLayer && l < plan.layers.size(); ++l)
      signatures.push_back(layerSignature(plan, plan.layers[l], c.choices));
    for (size_t k = 0; k < signatures.size();) {
      unsigned l = stage.firstLayer + k;
      size_t bestRun = 0, bestPeriod = 0;
      for (size_t period = 1; period <= 4 && period <= k; ++period) {
        size_t run = 0;
        while (k + run < signatures.size() &&
               signatures[k + run] == signatures[k + run - period])
          ++run;
        run -= run % period; // whole repetitions only
        if (run > bestRun) {
          bestRun = run;
          bestPeriod = period;
        }
      }
      if (bestRun > 0) {
        unsigned last = l + bestRun - 1;
        std::string range = bestRun == 1 ? "layer " + std::to_string(l)
                                         : llvm::formatv("layers {0}-{1}", l, last).str();
        std::string source =
            bestPeriod == 1 ? "layer " + std::to_string(l - 1)
                            : llvm::formatv("layers {0}-{1}", l - bestPeriod, l - 1).str();
        os << "    " << range << ": same as " << source << "\n";
        k += bestRun;
        continue;
      }
      const PlanLayer &layer = plan.layers[l];
      os << "    layer " << l << ":";
      if (layer.weights.empty())
        os << " no weights";
      for (auto [n, w] : llvm::enumerate(layer.weights)) {
        const PlannedWeight &weight = plan.weights[w];
        os << (n ? ", " : " ") << weight.name << " " << shapeOf(weight) << " "
           << choiceText(weight, c.choices[w]);
      }
      os << "\n";
      ++k;
    }
  }
  os << "  alternatives:\n";
  for (const PlanCandidate &a : plan.alternatives)
    os << llvm::formatv("    {0,-44} {1,10:F3} ms  {2}\n", a.name, a.stepTimeS * 1e3,
                        a.reason);
  os << "  search: " << plan.method << "; " << plan.evaluations << " candidates scored\n";
  return text;
}

LogicalResult mlir::pmc::applyPlan(ModuleOp module, const Plan &plan) {
  MLIRContext *context = module.getContext();
  const PlanCandidate &c = plan.chosen;
  func::FuncOp func = planner::plannedFunction(module);
  if (!func)
    return module.emitError("pmc-auto-sharding: no function to annotate");
  // The same attributes the --mesh/--shard flags write.
  planner::annotate(module, c.pp, /*mb=*/1, c.dp, c.tp, c.choices, c.zero);
  module->removeAttr("pmc.pipeline");
  if (c.pp > 1) {
    Builder b(context);
    module->setAttr("pmc.pipeline",
                    b.getDictionaryAttr({b.getNamedAttr("stages", b.getI64IntegerAttr(c.pp)),
                                         b.getNamedAttr("microbatches",
                                                        b.getI64IntegerAttr(c.microbatches)),
                                         b.getNamedAttr("schedule",
                                                        b.getStringAttr(c.schedule))}));
    // pmc.stage on every op of the function: its layer's stage (a constant:
    // its first user's, set by opLayers).
    std::vector<int> layerOf = planner::opLayers(func, plan.layers);
    std::vector<int64_t> stageOfLayer(plan.layers.size(), 0);
    for (auto [s, stage] : llvm::enumerate(c.stages))
      for (unsigned l = stage.firstLayer; l <= stage.lastLayer && l < stageOfLayer.size(); ++l)
        stageOfLayer[l] = s;
    for (auto [i, op] : llvm::enumerate(func.getBody().front().getOperations())) {
      if (op.hasTrait<OpTrait::IsTerminator>())
        continue;
      int layer = layerOf[i];
      // An op outside every layer (an unused constant) goes with stage 0.
      op.setAttr("pmc.stage", b.getI64IntegerAttr(layer < 0 ? 0 : stageOfLayer[layer]));
    }
  }
  module->setAttr("pmc.plan", StringAttr::get(context, "auto: " + c.name));
  module->setAttr("pmc.plan_source", StringAttr::get(context, "auto"));
  module->setAttr("pmc.plan_json", StringAttr::get(context, planToJSON(plan)));
  module->setAttr("pmc.plan_explain", StringAttr::get(context, explainPlan(plan)));
  return success();
}
