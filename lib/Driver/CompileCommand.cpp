//===- CompileCommand.cpp - `pmc-opt compile model.onnx` -------------------===//
#include "Commands.h"

#include "llvm/Support/raw_ostream.h"

int pmc::runCompileCommand(int, char **) {
  llvm::errs() << "error: pmc-opt compile is being built in this change\n";
  return 1;
}
