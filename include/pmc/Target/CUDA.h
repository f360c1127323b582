//===- CUDA.h - kernels to PTX and GPU launch lists -------------*- C++ -*-===//
#ifndef PMC_TARGET_CUDA_H
#define PMC_TARGET_CUDA_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"

#include <array>
#include <map>
#include <string>
#include <vector>

namespace pmc {

/// How the CUDA kernels are generated.
struct CUDATargetOptions {
  /// The NVIDIA chips a PTX module is emitted for, one bundle section each
  /// (`kernels.ptx.<chip>`). The runtime picks the newest one that the device
  /// supports; the driver JIT-compiles PTX for newer devices.
  std::vector<std::string> chips = {"sm_80", "sm_90"};
  /// Threads per block of an elementwise (parallel) launch.
  int64_t blockSize = 256;
  /// Widest global memory access, in bytes, of a vectorized elementwise launch
  /// (16: `ld.global.v4.f32`, `v8` of 16-bit types); 0 keeps scalar accesses.
  /// Kernel parameters are at least 64-byte aligned (docs/design/cuda-runtime.md).
  int64_t vectorBytes = 16;
  /// LLVM optimization level of the NVPTX back end (0-3).
  unsigned optLevel = 2;
  /// CUDA toolkit root whose `nvvm/libdevice/libdevice.10.bc` is linked (math
  /// functions). Empty: $CUDA_ROOT, $CUDA_HOME, $CUDA_PATH, the toolkit of
  /// `ptxas` on PATH, else /usr/local/cuda.
  std::string toolkitPath;
};

/// One `launch` command: a PTX entry run on a grid (docs/design/bundle.md).
struct GPULaunch {
  /// The PTX entry (`.visible .entry <function>`), e.g. `kernel_3_1`.
  std::string function;
  std::array<int64_t, 3> grid = {1, 1, 1};
  std::array<int64_t, 3> block = {1, 1, 1};
  /// The entry's parameters in order, each the data pointer of a buffer:
  /// `i < K` is parameter `i` of the kernel function (its inputs, then its
  /// outputs, as in the `kernel` command), `i >= K` is scratch `i - K`.
  std::vector<int64_t> args;
  /// The subset of `args` (same numbering) that the launch may write.
  std::vector<int64_t> writes;
  int64_t sharedBytes = 0;
};

/// What one kernel function (`@kernel_N` of pmc-outline-kernels) became.
struct GPUKernel {
  /// Number of parameters (inputs + outputs) of the kernel function.
  int64_t numParams = 0;
  /// Device buffers the kernel needs only while it runs (bufferization
  /// temporaries), as tensor types: element type and static shape.
  std::vector<mlir::RankedTensorType> scratch;
  /// Launches to run in order; empty when the kernel has nothing to compute
  /// (all its results are empty).
  std::vector<GPULaunch> launches;
};

/// The CUDA code of a module: PTX per chip and the launches of each kernel.
struct CUDAKernels {
  /// (chip, PTX text) in the order of CUDATargetOptions::chips; empty when
  /// the module has no kernel that launches anything.
  std::vector<std::pair<std::string, std::string>> ptx;
  /// Kernel function name -> its launches.
  std::map<std::string, GPUKernel> kernels;
  /// The code generator, for the manifest (e.g. "MLIR/LLVM 22.1.8 NVPTX").
  std::string producer;
};

/// Compiles every function of `module` except @main (the kernels of
/// pmc-outline-kernels) to PTX: pmc -> linalg -> bufferized memrefs (as on
/// the CPU), temporaries become scratch parameters, linalg -> scf.parallel,
/// elementwise nests take `vectorBytes`-wide aligned vector loads/stores along
/// their contiguous innermost dimension (W iterations a thread),
/// each top-level loop nest -> one `gpu.func` launched on a 1-D grid of
/// `blockSize` threads over its linearized parallel iterations (reduction
/// loops run sequentially inside a thread; a nest without parallel loops is
/// a 1-thread launch), then gpu -> NVVM (bare-pointer arguments) -> PTX with
/// libdevice. `module` is not modified. `configurePassManager` may add
/// instrumentation. Example: `compileKernelsToPTX(module, {})` on a module
/// with `@kernel_0` returns `kernels["kernel_0"].launches[0].function ==
/// "kernel_0_0"` and PTX for sm_80 and sm_90. On failure emits diagnostics
/// naming the kernel and op and returns failure.
mlir::FailureOr<CUDAKernels> compileKernelsToPTX(
    mlir::ModuleOp module, const CUDATargetOptions &options,
    llvm::function_ref<mlir::LogicalResult(mlir::PassManager &)>
        configurePassManager = nullptr);

} // namespace pmc

#endif // PMC_TARGET_CUDA_H
