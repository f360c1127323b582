//===- Driver.h - pmc-opt's subcommands (compile, import) -------*- C++ -*-===//
#ifndef PMC_DRIVER_DRIVER_H
#define PMC_DRIVER_DRIVER_H

namespace mlir {
class DialectRegistry;
} // namespace mlir

namespace pmc {

/// Registers every dialect the pmc pipelines create or read.
void registerPMCDialects(mlir::DialectRegistry &registry);

/// Registers pmc's passes and the upstream passes its pipelines use.
void registerPMCPasses();
/// registerPMCPasses() the first time it is called (the subcommands run
/// before pmc-opt registers its passes, and look pipelines up by name).
void registerPMCPassesOnce();

/// Runs `pmc-opt <subcommand> ...` when argv[1] names a driver subcommand
/// (`compile`, `import`); returns the process exit code. Returns -1 when argv[1]
/// is not a subcommand, so the caller goes on as an opt tool.
int runDriverSubcommand(int argc, char **argv);

} // namespace pmc

#endif // PMC_DRIVER_DRIVER_H
