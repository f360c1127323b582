//===- Explain.cpp - the plan as attributes, JSON and explanation text ----===//
#include "pmc/Parallel/Planner.h"

#include "pmc/Dialect/PMC/IR/PMCAttrs.h"
#include "pmc/Dialect/PMC/IR/PMCOps.h"

#include "llvm/Support/FormatVariadic.h"

#include <nlohmann/json.hpp>

using namespace mlir;
using namespace mlir::pmc;
using ordered_json = nlohmann::ordered_json;

namespace {

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
  if (c.dp > 1 || c.tp == 1)
    mesh["dp"] = c.dp;
  if (c.tp > 1)
    mesh["tp"] = c.tp;
  return mesh;
}

} // namespace

std::string mlir::pmc::planToJSON(const Plan &plan) {
  const PlanCandidate &c = plan.chosen;
  ordered_json j;
  j["devices"] = plan.devices;
  j["device_spec"] = plan.specName;
  j["mesh"] = meshJSON(c);
  j["stages"] = 1;
  j["microbatches"] = 1;
  j["schedule"] = "none";
  j["predicted"] = {{"step_time_s", c.stepTimeS},
                    {"compute_s", c.computeS},
                    {"comm_s", c.commS},
                    {"memory_per_device_bytes", c.memoryPerDeviceBytes},
                    {"weight_bytes", c.weightBytes},
                    {"activation_bytes", c.activationBytes}};
  ordered_json weights = ordered_json::object();
  for (auto [i, w] : llvm::enumerate(plan.weights))
    weights[w.name] = dimsJSON(w, c.choices[i]);
  j["shardings"] = {{"inputs", c.dp > 1 ? "batch (dim 0) on dp" : "replicated"},
                    {"weights", weights}};
  ordered_json alternatives = ordered_json::array();
  for (const PlanCandidate &a : plan.alternatives)
    alternatives.push_back({{"name", a.name},
                            {"mesh", meshJSON(a)},
                            {"step_time_s", a.stepTimeS},
                            {"compute_s", a.computeS},
                            {"comm_s", a.commS},
                            {"memory_per_device_bytes", a.memoryPerDeviceBytes},
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
  double memory = c.memoryPerDeviceBytes.empty() ? 0 : c.memoryPerDeviceBytes.front();
  os << llvm::formatv("plan for {0} devices ({1}): {2}\n", plan.devices, plan.specName, c.name);
  os << llvm::formatv("  predicted step {0:F3} ms = compute {1:F3} ms + communication "
                      "{2:F3} ms ({3} collectives)\n",
                      c.stepTimeS * 1e3, c.computeS * 1e3, c.commS * 1e3, c.collectives);
  os << llvm::formatv("  memory per device {0:F3} GiB of {1:F3} GiB (weights {2:F3} GiB, "
                      "activations {3:F3} GiB)\n",
                      memory / (1ull << 30), plan.memoryBytes / (1ull << 30),
                      c.weightBytes / (1ull << 30), c.activationBytes / (1ull << 30));
  os << "  inputs: " << (c.dp > 1 ? "batch (dim 0) split over dp" : "replicated") << "\n";
  if (!plan.weights.empty())
    os << "  weights:\n";
  for (auto [i, w] : llvm::enumerate(plan.weights)) {
    std::string shape;
    llvm::raw_string_ostream ss(shape);
    llvm::interleave(w.shape, ss, "x");
    os << "    " << w.name << " (" << shape << "): " << choiceText(w, c.choices[i]) << "\n";
  }
  os << "  alternatives:\n";
  for (const PlanCandidate &a : plan.alternatives)
    os << llvm::formatv("    {0,-28} {1,10:F3} ms  {2}\n", a.name, a.stepTimeS * 1e3,
                        a.reason);
  os << "  search: " << plan.method << "; " << plan.evaluations << " candidates scored\n";
  return text;
}

LogicalResult mlir::pmc::applyPlan(ModuleOp module, const Plan &plan) {
  MLIRContext *context = module.getContext();
  const PlanCandidate &c = plan.chosen;
  // Reuse the search's annotation by scoring nothing: write the same
  // attributes the --mesh/--shard flags write.
  SmallVector<StringAttr> names;
  SmallVector<int64_t> sizes;
  if (c.dp > 1 || c.tp == 1) {
    names.push_back(StringAttr::get(context, "dp"));
    sizes.push_back(c.dp);
  }
  if (c.tp > 1) {
    names.push_back(StringAttr::get(context, "tp"));
    sizes.push_back(c.tp);
  }
  module->setAttr(kMeshAttrName, MeshAttr::get(context, names, sizes));
  func::FuncOp func;
  if (auto main = module.lookupSymbol<func::FuncOp>("main"); main && !main.isExternal())
    func = main;
  for (auto f : module.getOps<func::FuncOp>())
    if (!func && !f.isExternal() && !f.isPrivate())
      func = f;
  if (!func)
    return module.emitError("pmc-auto-sharding: no function to annotate");
  for (unsigned i = 0; i < func.getNumArguments(); ++i) {
    auto type = dyn_cast<RankedTensorType>(func.getArgument(i).getType());
    if (!type)
      continue;
    SmallVector<SmallVector<StringRef>> dims(type.getRank());
    if (c.dp > 1 && type.getRank() >= 1 && type.getDimSize(0) % c.dp == 0)
      dims[0].push_back("dp");
    func.setArgAttr(i, kShardingAttrName, ShardingAttr::get(context, dims));
  }
  unsigned index = 0;
  func.walk([&](ConstantOp constant) {
    auto type = dyn_cast<RankedTensorType>(constant.getType());
    if (!type || type.getRank() < 2 ||
        !llvm::any_of(constant->getUsers(), [](Operation *u) { return isa<MatMulOp, ConvOp>(u); }))
      return;
    const PlannedWeight &w = plan.weights[index];
    int choice = c.choices[index++];
    SmallVector<SmallVector<StringRef>> dims(type.getRank());
    if (choice >= 0)
      dims[w.dims[choice]].push_back("tp");
    constant->setAttr(kShardingsAttrName,
                      ArrayAttr::get(context, {ShardingAttr::get(context, dims)}));
  });
  std::string summary = c.name;
  module->setAttr("pmc.plan", StringAttr::get(context, "auto: " + summary));
  module->setAttr("pmc.plan_source", StringAttr::get(context, "auto"));
  module->setAttr("pmc.plan_json", StringAttr::get(context, planToJSON(plan)));
  module->setAttr("pmc.plan_explain", StringAttr::get(context, explainPlan(plan)));
  return success();
}
