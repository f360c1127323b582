//===- TestPrintCosts.cpp - --pmc-test-print-costs: predicted costs as remarks -===//
#include "pmc/Parallel/CostModel.h"
#include "pmc/Parallel/TestPasses.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace mlir::pmc;

namespace {
struct TestPrintCostsPass
    : public PassWrapper<TestPrintCostsPass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(TestPrintCostsPass)
  TestPrintCostsPass() = default;
  TestPrintCostsPass(const TestPrintCostsPass &other) : PassWrapper(other) {}

  StringRef getArgument() const final { return "pmc-test-print-costs"; }
  StringRef getDescription() const final {
    return "Reports the cost model's per-op and per-function predictions as remarks";
  }

  Option<std::string> specName{*this, "spec",
                               llvm::cl::desc("Built-in spec name or spec JSON path"),
                               llvm::cl::init("h100-sxm")};
  Option<double> activationMultiplier{
      *this, "activation-multiplier",
      llvm::cl::desc("In-flight microbatches of the pipeline schedule"), llvm::cl::init(1)};

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto mesh = module->getAttrOfType<MeshAttr>(kMeshAttrName);
    if (!mesh) {
      module.emitError() << "pmc-test-print-costs needs a '" << kMeshAttrName
                         << "' attribute on the module";
      return signalPassFailure();
    }
    llvm::Expected<DeviceSpec> spec = loadDeviceSpec(specName);
    if (!spec) {
      module.emitError() << llvm::toString(spec.takeError());
      return signalPassFailure();
    }
    CostOptions options;
    options.activationMultiplier = activationMultiplier;
    for (auto func : module.getOps<func::FuncOp>()) {
      FailureOr<CostEstimate> estimate = estimateCost(func, mesh, *spec, options);
      if (failed(estimate))
        return signalPassFailure();
      for (const OpCost &cost : estimate->ops) {
        if (cost.work.free && cost.comm.collectives == 0)
          continue;
        cost.op->emitRemark() << llvm::formatv(
            "compute {0:F3} us ({1:F0} FLOP, {2:F0} B), comm {3:F3} us ({4} collectives)",
            cost.computeS * 1e6, cost.work.flops, cost.work.bytes, cost.comm.seconds * 1e6,
            cost.comm.collectives);
      }
      func.emitRemark() << llvm::formatv(
          "step {0:F3} us = compute {1:F3} us + comm {2:F3} us; per device: weights "
          "{3:F0} B, peak activations {4:F0} B",
          estimate->stepTimeS * 1e6, estimate->computeS * 1e6, estimate->commS * 1e6,
          estimate->memory.weightBytes, estimate->memory.peakActivationBytes);
    }
  }
};
} // namespace

void mlir::pmc::registerParallelTestPasses() { PassRegistration<TestPrintCostsPass>(); }
