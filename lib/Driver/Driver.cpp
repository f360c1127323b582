//===- Driver.cpp - registration and subcommand dispatch -------------------===//
#include "pmc/Driver/Driver.h"

#include "Commands.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "pmc/Conversion/Passes.h"
#include "pmc/Dialect/PMC/IR/PMCDialect.h"
#include "pmc/Dialect/PMC/Transforms/Passes.h"
#include "pmc/Dialect/Runtime/IR/RuntimeDialect.h"
#include "pmc/Parallel/Partition/Passes.h"
#include "pmc/Parallel/Passes.h"
#include "pmc/Parallel/TestPasses.h"
#include "pmc/Target/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/ADT/StringRef.h"

#include <mutex>

void pmc::registerPMCDialects(mlir::DialectRegistry &registry) {
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  registry.insert<mlir::pmc::PMCDialect, mlir::pmcrt::PMCRTDialect>();
}

void pmc::registerPMCPasses() {
  mlir::registerAllPasses();
  mlir::pmc::registerPMCPasses();
  mlir::pmc::registerPMCPartitionPasses();
  mlir::pmc::registerPMCConversionPasses();
  mlir::pmc::registerParallelTestPasses();
  mlir::pmc::registerPMCParallelPasses();
  mlir::pmc::registerPMCTargetPassesAndPipelines();
  // Shardy's spelling of propagation that records every value's origin.
  mlir::PassPipelineRegistration<>(
      "pmc-debug-sharding-origins",
      "Sharding propagation that annotates every value with where its sharding "
      "came from (pmc-sharding-propagation{debug-sharding-origins})",
      [](mlir::OpPassManager &pm) {
        mlir::pmc::PMCShardingPropagationOptions options;
        options.debugShardingOrigins = true;
        pm.addPass(mlir::pmc::createPMCShardingPropagation(options));
      });
}

void pmc::registerPMCPassesOnce() {
  static std::once_flag registered;
  std::call_once(registered, [] { registerPMCPasses(); });
}

int pmc::runDriverSubcommand(int argc, char **argv) {
  if (argc < 2)
    return -1;
  llvm::StringRef subcommand = argv[1];
  // The subcommand sees itself as argv[0], so its usage reads "pmc-opt import".
  if (subcommand == "import")
    return runImportCommand(argc - 1, argv + 1);
  if (subcommand == "compile")
    return runCompileCommand(argc - 1, argv + 1);
  if (subcommand == "calibrate")
    return runCalibrateCommand(argc - 1, argv + 1);
  if (subcommand == "schedule")
    return runScheduleCommand(argc - 1, argv + 1);
  return -1;
}
