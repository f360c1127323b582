//===- Passes.td - the steps of kernel code generation -----------*- tablegen -*-===//
//
// The kernel pipelines (pmc-cpu-kernels, pmc-bufferize-kernels, lib/Target/CPU/
// KernelPipelines.cpp) are made of these passes and upstream ones; each runs
// alone in pmc-opt on IR.
//
#ifndef PMC_TARGET_PASSES_TD
#define PMC_TARGET_PASSES_TD

include "mlir/Pass/PassBase.td"

def PMCPrepareKernels : Pass<"pmc-prepare-kernels", "ModuleOp"> {
  let summary = "Keeps only the kernels of an outlined module, in the form code generation takes";
  let description = [{
    Runs on a copy of the module pmc-outline-kernels produced: `@main` (the
    runtime's part) is erased, a kernel without a body is an error, and every
    kernel gets `pmc.kernel_params` (its inputs + results, the pointers its
    entry point takes) and is made public. Zero-element tensors of rank other
    than 1 have no bare-pointer form: inside the kernel they become empty
    constants, in its signature `tensor<0xT>`. With `target=cpu` each kernel
    `@kernel_N` is renamed `@kernel_N_impl`; pmc-add-kernel-wrappers later
    exports `kernel_N(void **args)` calling it.

    ```mlir
    func.func @kernel_0(%x: tensor<4x0xf32>) -> tensor<4x0xf32> { ... }
    // after (target=cpu):
    func.func @kernel_0_impl(%x: tensor<0xf32>) -> tensor<0xf32> attributes {pmc.kernel_params = 2 : i64}
    ```
  }];
  let options = [
    Option<"target", "target", "std::string", /*default=*/"\"cpu\"",
           "cpu (kernels renamed for their exported wrappers) or cuda">,
  ];
}

def PMCDistinctKernelResults : Pass<"pmc-distinct-kernel-results", "ModuleOp"> {
  let summary = "Gives every kernel result its own tensor";
  let description = [{
    CSE merges equal computations, so a kernel computing two equal graph
    outputs (`Tanh(a)` twice) returns one value twice; buffer results become
    out-parameters only when each result is its own buffer. A repeated result
    is returned as a copy.
    ```mlir
    return %t, %t : tensor<4xf32>, tensor<4xf32>
    // after:
    %e = tensor.empty() : tensor<4xf32>
    %c = linalg.copy ins(%t : tensor<4xf32>) outs(%e : tensor<4xf32>) -> tensor<4xf32>
    return %t, %c : tensor<4xf32>, tensor<4xf32>
    ```
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect"];
}

def PMCCopiesToLinalg : Pass<"pmc-copies-to-linalg", "ModuleOp"> {
  let summary = "Rewrites memref.copy into linalg.copy (plain loops)";
  let description = [{
    A memref.copy between buffers with non-identity layouts would become a
    call into MLIR's C runner library; the kernels must not depend on it.
    ```mlir
    memref.copy %a, %b : memref<4xf32, strided<[2]>> to memref<4xf32>
    // after:
    linalg.copy ins(%a : memref<4xf32, strided<[2]>>) outs(%b : memref<4xf32>)
    ```
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

def PMCExpandBFloat16Conversions : Pass<"pmc-expand-bf16-conversions", "ModuleOp"> {
  let summary = "Expands bf16 <-> f32 conversions into integer arithmetic";
  let description = [{
    bf16 extensions become shifts and truncations the round-to-nearest-even of
    arith's bf16 expansion: LLVM would otherwise call `__truncsfbf2`, which the
    C runtime of older compilers (GCC 12) lacks, and the kernel library is
    linked with no undefined symbols.
    ```mlir
    %f = arith.extf %b : bf16 to f32
    // after: arith.bitcast / arith.extui / arith.shli ... : i16 -> i32 -> f32
    ```
  }];
}

def PMCAddKernelWrappers : Pass<"pmc-add-kernel-wrappers", "ModuleOp"> {
  let summary = "Exports `void kernel_N(void **args)` for every LLVM function `kernel_N_impl`";
  let description = [{
    On the LLVM dialect (after convert-func-to-llvm with bare pointers): each
    `llvm.func @kernel_N_impl(ptr, ..., ptr)` gets an exported wrapper
    `llvm.func @kernel_N(%args: !llvm.ptr)` that loads one pointer per
    parameter from `args` (inputs, then outputs; docs/design/bundle.md) and
    calls it; `kernel_N_impl` becomes internal.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def PMCAllocsToScratch : Pass<"pmc-allocs-to-scratch", "ModuleOp"> {
  let summary = "Turns the temporaries of bufferized kernels into scratch parameters";
  let description = [{
    For the cuda target: each top-level `memref.alloc` of a kernel becomes a
    new trailing parameter (a scratch buffer the runtime provides, placed in
    the arena by liveness) and the deallocations go. The kernel records how
    many trailing parameters are scratch in `pmc.scratch_params`. Fails,
    naming the op, on an allocation that is not static, dense and at the top
    level.
    ```mlir
    func.func @kernel_0(%a: memref<8xf32>, %b: memref<8xf32>) {
      %t = memref.alloc() : memref<8xf32>
      ...
    // after:
    func.func @kernel_0(%a: memref<8xf32>, %b: memref<8xf32>, %t: memref<8xf32>)
        attributes {pmc.scratch_params = 1 : i64}
    ```
  }];
}

def PMCVectorizeParallelLoops : Pass<"pmc-vectorize-parallel-loops", "ModuleOp"> {
  let summary = "Elementwise scf.parallel loops load and store W elements per iteration";
  let description = [{
    The CUDA target's launch vectorization (`vectorizeParallelLoops`,
    include/pmc/Target/LaunchVectorization.h) on every function: an
    elementwise loop over buffers whose root is a function parameter steps W
    = bytes / element size along its contiguous innermost dimension with
    aligned vector.load / vector.store (16 bytes: `ld.global.v4.f32`).
    ```mlir
    scf.parallel (%i) = (%c0) to (%c64) step (%c1) { %x = memref.load %a[%i] ... }
    // after (bytes=16, f32):
    scf.parallel (%i) = (%c0) to (%c64) step (%c4) { %x = vector.load %a[%i] ... : vector<4xf32> }
    ```
  }];
  let options = [
    Option<"bytes", "bytes", "int64_t", /*default=*/"16",
           "Widest access in bytes: 0 (off), 4, 8 or 16">,
  ];
  let dependentDialects = ["::mlir::vector::VectorDialect"];
}

def PMCOutlineLaunches : Pass<"pmc-outline-launches", "ModuleOp"> {
  let summary = "Moves the loop nests of each kernel into gpu.func launches";
  let description = [{
    After convert-linalg-to-parallel-loops: each top-level scf.parallel of a
    kernel becomes a `gpu.func` of the module's `gpu.module @pmc_kernels`
    launched on a 1-D grid of `block-size`-thread blocks over its linearized
    iterations; any other top-level op that writes memory a 1-thread launch.
    The kernel keeps the `gpu.launch_func` ops in order, each with
    `pmc.writes`: the kernel parameters it may write. Pure ops the launches
    use are cloned into each gpu.func; memref.globals they read are copied.
    These launches are what the bundle's `launch` commands list.
    ```mlir
    func.func @kernel_0(%a: memref<512xf32>, %b: memref<512xf32>) {
      gpu.launch_func @pmc_kernels::@kernel_0_0 blocks in (%c2, %c1, %c1)
          threads in (%c256, %c1, %c1) args(%a : memref<512xf32>, %b : memref<512xf32>)
          {pmc.writes = array<i64: 1>}
    ```
  }];
  let options = [
    Option<"blockSize", "block-size", "int64_t", /*default=*/"256",
           "Threads per block of an elementwise launch (1-1024)">,
  ];
  let dependentDialects = ["::mlir::gpu::GPUDialect", "::mlir::arith::ArithDialect"];
}

def PMCLowerToRuntimeProgram : Pass<"pmc-lower-to-runtime-program", "ModuleOp"> {
  let summary = "Lowers the outlined @main into the pmcrt programs of its ranks";
  let description = [{
    After pmc-outline-kernels: every op of `@main` becomes buffers and
    commands of the `pmcrt.program` of its pipeline stage (one program in all
    without a pipeline): graph inputs become `pmcrt.input`, constants
    `pmcrt.weight` (a `pmc.shard` of a constant: a sharded weight whose
    blocks the bundle writer slices per rank), results `pmcrt.temp`, reshapes
    `pmcrt.view`; kernel calls, float matmuls with their folded epilogue
    (`pmc.epilogue`: the bias add and activation that follow become operands
    and attributes of one `pmcrt.matmul`), convs and collectives become
    commands; a `pmc.transfer` a `pmcrt.send` in the stage it leaves and a
    `pmcrt.recv` in the stage it enters. `@main` keeps its signature (names,
    shardings, microbatched inputs and outputs: the bundle's interface) and
    loses its body. The bundle writer serializes the result.

    ```mlir
    func.func @main(%x: tensor<2x4xf32> {pmc.name = "x"}) -> tensor<2x4xf32> {
      %w = pmc.constant dense<0.5> : tensor<4x4xf32>
      %y = pmc.matmul %x, %w {pmc.epilogue = "relu"} : ...
      %r = pmc.relu %y : tensor<2x4xf32>
      return %r : tensor<2x4xf32>
    }
    // after:
    func.func private @main(tensor<2x4xf32> {pmc.name = "x"}) -> tensor<2x4xf32>
    pmcrt.program stage 0 ranks [0] {
      %0 = pmcrt.input 0 : memref<2x4xf32>
      %1 = pmcrt.weight 0 = dense<5.000000e-01> : tensor<4x4xf32> -> memref<4x4xf32>
      %2 = pmcrt.temp : memref<2x4xf32>
      pmcrt.matmul %0, %1 -> %2 {activation = "relu"} : ...
      pmcrt.outputs %2 at [0] : memref<2x4xf32>
    }
    ```
  }];
  let dependentDialects = ["::mlir::pmcrt::PMCRTDialect"];
}

def PMCTestLaunchVectorization : Pass<"pmc-test-launch-vectorization", "ModuleOp"> {
  let summary = "Test: the CUDA launch vectorization on CPU kernels (scf.parallel loops)";
  let description = [{
    Runs `vectorizeParallelLoops` (the CUDA target's launch vectorization) on
    every kernel, after moving its top-level temporaries to trailing
    parameters as the CUDA target's scratch buffers are, so that vectorized
    launches can be executed and compared on a machine without a GPU (the
    test pipeline pmc-test-cpu-vectorized-kernels). Each kernel gets a remark
    "launch vectorization (cpu test hook): N of M parallel loops vectorized".
  }];
  let options = [
    Option<"bytes", "bytes", "int64_t", /*default=*/"16",
           "Widest access in bytes (4, 8 or 16)">,
  ];
  let dependentDialects = ["::mlir::vector::VectorDialect"];
}

#endif // PMC_TARGET_PASSES_TD
