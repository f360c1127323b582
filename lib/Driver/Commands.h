//===- Commands.h - the driver's subcommands --------------------*- C++ -*-===//
#ifndef PMC_LIB_DRIVER_COMMANDS_H
#define PMC_LIB_DRIVER_COMMANDS_H

#include "pmc/Driver/Compiler.h"
#include "mlir/IR/MLIRContext.h"

#include <string>
#include <vector>

namespace pmc {

/// Registers the dialects a driver context needs and prints diagnostics to
/// stderr in the usual `file:line:col: error: ...` form.
void prepareDriverContext(mlir::MLIRContext &context);

/// `pmc-opt import model.onnx [--input-shape x=1x4] [-o out.mlir]`.
int runImportCommand(int argc, char **argv);
/// `pmc-opt compile model.onnx [-o model.pmc] [--target cpu] [--emit ...]`.
int runCompileCommand(int argc, char **argv);
/// `pmc-opt calibrate --target cpu [-o spec.json] [--quick]`.
int runCalibrateCommand(int argc, char **argv);
/// `pmc-opt schedule --schedule zb-h1 --stages 4 [--microbatches 8] [--svg t.svg]`.
int runScheduleCommand(int argc, char **argv);

/// Fails with a diagnostic at `loc` for bad --stages/--microbatches/--schedule
/// values (docs/design/pipeline.md).
mlir::LogicalResult checkPipelineOptions(mlir::Location loc, const CompileOptions &options);

} // namespace pmc

#endif // PMC_LIB_DRIVER_COMMANDS_H
