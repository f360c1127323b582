//===- pmc-opt.cpp - pmc's opt tool and compiler driver --------------------===//
//
// `pmc-opt in.mlir --pass...` is an MLIR opt tool; `pmc-opt compile|import ...`
// runs the compiler driver.
//
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "pmc/Driver/Driver.h"
#include "llvm/Support/PrettyStackTrace.h"

int main(int argc, char **argv) {
  llvm::setBugReportMsg("pmc-opt crashed: please report it with the stack trace "
                        "and the input at https://github.com/pmc-compiler/pmc/issues\n");
  int subcommandResult = pmc::runDriverSubcommand(argc, argv);
  if (subcommandResult >= 0)
    return subcommandResult;
  mlir::DialectRegistry registry;
  pmc::registerPMCDialects(registry);
  pmc::registerPMCPasses();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "pmc optimizer driver\n", registry));
}
