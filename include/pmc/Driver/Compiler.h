//===- Compiler.h - the compiler as a library: model -> bundle --*- C++ -*-===//
#ifndef PMC_DRIVER_COMPILER_H
#define PMC_DRIVER_COMPILER_H

#include "pmc/Import/ONNX/ONNXImporter.h"
#include "pmc/Target/CPU.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/Pass/PassManager.h"

#include <string>

namespace pmc {

/// What `pmc-opt compile` and `pmc._compiler.compile` do.
struct CompileOptions {
  /// "cpu" (the only one implemented); "cuda" is reported as not yet supported.
  std::string target = "cpu";
  /// Device count; only 1 for now.
  int devices = 1;
  /// Input shapes and bound inputs for the ONNX importer.
  ImportOptions import;
  /// Code generation of the CPU kernels.
  CPUTargetOptions cpu;
};

/// Parses `--input-shape` values (`x=1x128`, or several joined by commas) into
/// `options.inputShapes`; on a malformed value returns false and sets `error`.
bool parseInputShapes(const std::vector<std::string> &values,
                      ImportOptions &options, std::string &error);

/// Reads `--bind` values (`name=value.npy`) into `options.boundInputs`; on a
/// malformed value or an unreadable file returns false and sets `error`.
bool parseBindings(const std::vector<std::string> &values, ImportOptions &options,
                   std::string &error);

/// Hook that may add instrumentation (IR printing, timing) to each pass
/// manager the compiler runs.
using PassManagerConfigurator = llvm::function_ref<mlir::LogicalResult(mlir::PassManager &)>;

/// Fails with a diagnostic at `loc` when `options` asks for something this
/// version cannot do (another target, several devices).
mlir::LogicalResult checkCompileOptions(mlir::Location loc,
                                        const CompileOptions &options);

/// Loads `path`: `.onnx` through the ONNX importer, `.mlir` parsed as a module
/// in the pmc dialect. Diagnostics go to the context; null on failure.
mlir::OwningOpRef<mlir::ModuleOp> loadModel(mlir::MLIRContext &context,
                                            const std::string &path,
                                            const ImportOptions &options);

/// Splits @main into kernels (pmc-outline-kernels) and, when
/// `lowerKernels`, lowers the kernels to linalg (pmc-convert-to-linalg): the
/// module `pmc-opt compile --emit mlir` prints.
mlir::LogicalResult outlineAndLower(mlir::ModuleOp module, bool lowerKernels,
                                    PassManagerConfigurator configure = nullptr);

/// Compiles a pmc-dialect module (@main) into the bundle at `bundlePath`:
/// outlining, kernel code generation, manifest and program. Diagnostics go to
/// the module's context.
mlir::LogicalResult compileModuleToBundle(mlir::ModuleOp module,
                                          const CompileOptions &options,
                                          const std::string &bundlePath,
                                          PassManagerConfigurator configure = nullptr);

/// Everything from a model file to a bundle file in a fresh context, with
/// the diagnostics collected as `file:line:col: error: ...` text (for Python).
/// Example: `compileModelFile("mlp.onnx", "mlp.pmc", {}, diagnostics)`.
bool compileModelFile(const std::string &modelPath, const std::string &bundlePath,
                      const CompileOptions &options, std::string &diagnostics);

/// Imports a model file and prints it in the pmc dialect into `text`; the
/// diagnostics are collected as text.
bool importModelToText(const std::string &modelPath, const ImportOptions &options,
                       std::string &text, std::string &diagnostics);

} // namespace pmc

#endif // PMC_DRIVER_COMPILER_H
