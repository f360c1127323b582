//===- Commands.h - the driver's subcommands --------------------*- C++ -*-===//
#ifndef PMC_LIB_DRIVER_COMMANDS_H
#define PMC_LIB_DRIVER_COMMANDS_H

#include "pmc/Import/ONNX/ONNXImporter.h"
#include "mlir/IR/MLIRContext.h"

#include <string>
#include <vector>

namespace pmc {

/// Parses `--input-shape` values (`x=1x128`, or several joined by commas) into
/// `options.inputShapes`; on a malformed value returns false and sets `error`.
bool parseInputShapes(const std::vector<std::string> &values,
                      ImportOptions &options, std::string &error);

/// Reads `--bind` values (`name=value.npy`) into `options.boundInputs`; on a
/// malformed value or an unreadable file returns false and sets `error`.
bool parseBindings(const std::vector<std::string> &values, ImportOptions &options,
                   std::string &error);

/// Registers the dialects a driver context needs and prints diagnostics to
/// stderr in the usual `file:line:col: error: ...` form.
void prepareDriverContext(mlir::MLIRContext &context);

/// `pmc-opt import model.onnx [--input-shape x=1x4] [-o out.mlir]`.
int runImportCommand(int argc, char **argv);
/// `pmc-opt compile model.onnx [-o model.pmc] [--target cpu] [--emit ...]`.
int runCompileCommand(int argc, char **argv);

} // namespace pmc

#endif // PMC_LIB_DRIVER_COMMANDS_H
