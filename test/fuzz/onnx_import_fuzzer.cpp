//===- onnx_import_fuzzer.cpp - libFuzzer: bytes -> ModelProto -> pmc IR -> linalg ===//
//
// Each input is written to a private temp folder as model.onnx and goes
// through pmc's real entry point, pmc::importONNXFile, then through the
// front of `pmc-opt compile --emit mlir`: verification, convertPrecision,
// partitionModule (a no-op for one device) and outlineAndLower down to linalg
// (no LLVM code generation). A rejected model is fine; a crash, a sanitizer
// report, or one of these is a bug (abort):
//   - the importer or a pass fails without an error diagnostic;
//   - the importer returns a module that does not verify;
//   - a pass succeeds and leaves IR that does not verify.
// PMC_FUZZ_VERBOSE=1 prints the diagnostics (to see why an input is rejected);
// PMC_FUZZ_IMPORT_ONLY=1 stops after the import. See test/fuzz/README.md.
//
#include "FuzzTempDir.h"
#include "OnnxModelMutator.h"

#include "pmc/Driver/Compiler.h"
#include "pmc/Driver/Driver.h"
#include "pmc/Import/ONNX/ONNXImporter.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassInstrumentation.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <string>
#include <unistd.h>

namespace {

std::string modelDir;
std::string modelPath;
bool verbose = false;
bool importOnly = false;
mlir::DialectRegistry *registry = nullptr;

void removeModelDir() {
  ::unlink(modelPath.c_str());
  ::rmdir(modelDir.c_str());
}

[[noreturn]] void bug(const std::string &what, mlir::Operation *op = nullptr) {
  llvm::errs() << "==pmc-fuzz== BUG: " << what << "\n";
  if (op)
    op->print(llvm::errs(), mlir::OpPrintingFlags().elideLargeElementsAttrs(8));
  llvm::errs().flush();
  std::abort();
}

/// Verifies the IR after every pass that reports success (the pass manager's
/// own verifier is off, so that invalid IR is a bug, not an error message).
struct VerifyAfterPass : mlir::PassInstrumentation {
  void runAfterPass(mlir::Pass *pass, mlir::Operation *op) override {
    if (failed(mlir::verify(op)))
      bug(std::string("pass '") + pass->getArgument().str() +
              "' succeeded but left IR that does not verify",
          op);
  }
};

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  verbose = std::getenv("PMC_FUZZ_VERBOSE") != nullptr;
  importOnly = std::getenv("PMC_FUZZ_IMPORT_ONLY") != nullptr;
  modelDir = pmc::fuzz::makeFuzzTempDir("pmc-fuzz-onnx");
  modelPath = modelDir + "/model.onnx";
  std::atexit(removeModelDir);
  registry = new mlir::DialectRegistry();
  pmc::registerPMCDialects(*registry);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  // The importer reads a file (and external data beside it).
  int fd = ::open(modelPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || ::write(fd, data, size) != static_cast<ssize_t>(size)) {
    std::perror(modelPath.c_str());
    std::abort();
  }
  ::close(fd);

  mlir::MLIRContext context(*registry, mlir::MLIRContext::Threading::DISABLED);
  int errors = 0;
  mlir::ScopedDiagnosticHandler handler(&context, [&](mlir::Diagnostic &d) {
    if (d.getSeverity() == mlir::DiagnosticSeverity::Error)
      ++errors;
    if (verbose)
      llvm::errs() << d.getLocation() << ": " << d.str() << "\n";
    return mlir::success();
  });

  pmc::ImportOptions importOptions;
  mlir::OwningOpRef<mlir::ModuleOp> module =
      pmc::importONNXFile(context, modelPath, importOptions);
  if (!module) {
    if (!errors)
      bug("importONNXFile failed without an error diagnostic");
    return 0;
  }
  if (failed(mlir::verify(*module)))
    bug("importONNXFile returned a module that does not verify", *module);
  if (importOnly)
    return 0;

  pmc::CompileOptions options;
  auto configure = [](mlir::PassManager &pm) -> mlir::LogicalResult {
    pm.enableVerifier(false);
    pm.addInstrumentation(std::make_unique<VerifyAfterPass>());
    return mlir::success();
  };
  int before = errors;
  if (failed(pmc::checkCompileOptions(module->getLoc(), options)) ||
      failed(pmc::convertPrecision(*module, options, configure)) ||
      failed(pmc::partitionModule(*module, options, configure)) ||
      failed(pmc::outlineAndLower(*module, /*lowerKernels=*/true, configure, options.target))) {
    if (errors == before)
      bug("the compiler's front steps failed without an error diagnostic");
    return 0;
  }
  return 0;
}

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t maxSize,
                                          unsigned int seed) {
  return pmc::fuzz::mutateOnnxModel(data, size, maxSize, seed);
}

extern "C" size_t LLVMFuzzerCustomCrossOver(const uint8_t *data1, size_t size1,
                                            const uint8_t *data2, size_t size2, uint8_t *out,
                                            size_t maxOutSize, unsigned int seed) {
  return pmc::fuzz::crossOverOnnxModels(data1, size1, data2, size2, out, maxOutSize, seed);
}
