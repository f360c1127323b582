//===- Driver.cpp - registration and subcommand dispatch -------------------===//
#include "pmc/Driver/Driver.h"

#include "Commands.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "pmc/Conversion/Passes.h"
#include "pmc/Dialect/PMC/IR/PMCDialect.h"
#include "pmc/Dialect/PMC/Transforms/Passes.h"
#include "llvm/ADT/StringRef.h"

void pmc::registerPMCDialects(mlir::DialectRegistry &registry) {
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  registry.insert<mlir::pmc::PMCDialect>();
}

void pmc::registerPMCPasses() {
  mlir::registerAllPasses();
  mlir::pmc::registerPMCPasses();
  mlir::pmc::registerPMCConversionPasses();
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
  return -1;
}
