//===- ImportCommand.cpp - `pmc-opt import model.onnx` ---------------------===//
#include "Commands.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

namespace cl = llvm::cl;

int pmc::runImportCommand(int argc, char **argv) {
  cl::opt<std::string> modelPath(cl::Positional, cl::desc("<model.onnx>"),
                                 cl::Required);
  cl::opt<std::string> outputPath("o", cl::desc("Output file (default: stdout)"),
                                  cl::value_desc("file"), cl::init("-"));
  cl::list<std::string> inputShapes(
      "input-shape", cl::desc("Static shape of a dynamic input: name=1x128 (name= for a scalar)"),
      cl::value_desc("name=DIMS"));
  cl::list<std::string> sequenceLengths(
      "sequence-length",
      cl::desc("Length of a sequence graph input: name=N; its elements are the "
               "inputs name[0] ... name[N-1] (shapes from the model or --input-shape)"),
      cl::value_desc("name=N"));
  cl::list<std::string> absentInputs(
      "absent", cl::desc("An optional graph input given no value"),
      cl::value_desc("name"));
  cl::list<std::string> bindings(
      "bind",
      cl::desc("Specialize a graph input to the value in a .npy file (it leaves "
               "the signature and becomes a constant): name=value.npy"),
      cl::value_desc("name=FILE"));
  cl::opt<bool> printLargeConstants(
      "print-large-constants",
      cl::desc("Print every constant in full (the output then parses again); "
               "by default tensors over 16 elements and resources over 64 bytes "
               "are elided"),
      cl::init(false));
  mlir::registerAsmPrinterCLOptions();
  mlir::registerMLIRContextCLOptions();
  cl::ParseCommandLineOptions(argc, argv,
                              "pmc-opt import: prints an ONNX model in the pmc dialect\n");

  ImportOptions options;
  std::string error;
  if (!parseInputShapes(inputShapes, options, error) ||
      !parseSequenceInputs(sequenceLengths, absentInputs, options, error) ||
      !parseBindings(bindings, options, error)) {
    llvm::errs() << "error: " << error << "\n";
    return 1;
  }
  mlir::MLIRContext context;
  prepareDriverContext(context);
  llvm::SourceMgr sourceMgr;
  mlir::SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);
  mlir::OwningOpRef<mlir::ModuleOp> module =
      importONNXFile(context, modelPath, options);
  if (!module)
    return 1;
  auto output = mlir::openOutputFile(outputPath, &error);
  if (!output) {
    llvm::errs() << "error: " << error << "\n";
    return 1;
  }
  mlir::OpPrintingFlags flags;
  if (!printLargeConstants)
    flags.elideLargeElementsAttrs(16).elideLargeResourceString(64);
  module->print(output->os(), flags);
  output->os() << "\n";
  output->keep();
  return 0;
}
