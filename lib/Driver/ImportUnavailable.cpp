//===- ImportUnavailable.cpp - importONNXFile when the importer is absent --===//
//
// Built only when the tree has no PMCImportONNX library, so that pmc-opt still
// links and compiles .mlir inputs; an .onnx input gets a clear error.
//
#include "pmc/Import/ONNX/ONNXImporter.h"

#include "mlir/IR/Diagnostics.h"

mlir::OwningOpRef<mlir::ModuleOp>
pmc::importONNXFile(mlir::MLIRContext &context, const std::string &path,
                    const ImportOptions &) {
  mlir::emitError(mlir::UnknownLoc::get(&context))
      << "cannot import '" << path
      << "': this build of pmc has no ONNX importer (PMCImportONNX)";
  return nullptr;
}
