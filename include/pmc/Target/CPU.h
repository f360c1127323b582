//===- CPU.h - kernels to a host shared library -----------------*- C++ -*-===//
#ifndef PMC_TARGET_CPU_H
#define PMC_TARGET_CPU_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"

#include <string>

namespace pmc {

/// How the CPU kernels are generated.
struct CPUTargetOptions {
  /// LLVM CPU name the kernels are tuned for and may use the ISA of. "host"
  /// (the default) means this machine (`llvm::sys::getHostCPUName()` and its
  /// features): fastest, but the bundle then needs a CPU at least as capable.
  /// Use "x86-64-v2" (or another LLVM CPU name) for a portable bundle.
  std::string cpu = "host";
  /// LLVM optimization level of the kernels (0-3).
  unsigned optLevel = 2;
  /// C compiler driver that links the object into a shared library.
  std::string linker = "cc";
  /// The pass pipeline that takes the outlined module to the LLVM dialect,
  /// as pmc-opt spells it (a registered pipeline such as
  /// `pmc-test-cpu-vectorized-kernels{bytes=16}`); empty: pmc-cpu-kernels.
  /// The name must be registered (pmc::registerPMCPasses).
  std::string kernelPipeline;
};

/// A kernel's zero-element operands and results (other than rank 1) have no
/// bare-pointer form: inside `func` they become empty constants, in its
/// signature `tensor<0xT>`, so the entry point still takes one pointer each.
void dropZeroSizeSignatures(mlir::func::FuncOp func);

/// Rewrites every memref.copy of `module` into linalg.copy (plain loops), so
/// that no kernel calls MLIR's C runner library.
void copiesToLinalg(mlir::ModuleOp module);

/// Compiles every function of `module` except @main (the kernels produced by
/// pmc-outline-kernels) into a host shared library that exports, for each
/// kernel `@kernel_N`, `extern "C" void kernel_N(void **args)` (args: the data
/// pointers of the inputs, then of the outputs; docs/design/bundle.md).
/// `module` is not modified. `configurePassManager` may add instrumentation
/// (IR printing, timing) to the pass manager before it runs. Returns the
/// library's bytes; on failure emits diagnostics on the module and returns
/// failure.
mlir::FailureOr<std::string> compileKernelsToSharedLibrary(
    mlir::ModuleOp module, const CPUTargetOptions &options,
    llvm::function_ref<mlir::LogicalResult(mlir::PassManager &)>
        configurePassManager = nullptr);

} // namespace pmc

#endif // PMC_TARGET_CPU_H
