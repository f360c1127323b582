// Each step of the CPU kernel pipeline alone, then the whole pipeline.
// RUN: pmc-opt %s --pmc-prepare-kernels | FileCheck %s --check-prefix=PREPARE
// RUN: pmc-opt %s --pmc-prepare-kernels="target=cuda" | FileCheck %s --check-prefix=CUDA
// RUN: pmc-opt %s --pmc-prepare-kernels --pmc-bufferize-kernels | FileCheck %s --check-prefix=BUFFERIZE
// RUN: pmc-opt %s --pmc-cpu-kernels | FileCheck %s --check-prefix=LLVM

// @main is the runtime's part; the kernels become public `<name>_impl`
// (target=cpu: the exported wrapper takes the name) with their pointer count,
// and a zero-element tensor of rank 2 has a rank-1 bare-pointer form.
// PREPARE-NOT: @main
// PREPARE: func.func @kernel_0_impl(%{{.*}}: tensor<4xf32>) -> tensor<4xf32> attributes {pmc.kernel_params = 2 : i64}
// PREPARE: func.func @kernel_1_impl(%{{.*}}: tensor<0xf32>) -> tensor<0xf32> attributes {pmc.kernel_params = 2 : i64}
// CUDA: func.func @kernel_0(
// CUDA: func.func @kernel_1(

// Bufferized: results become out-parameters on memrefs.
// BUFFERIZE: func.func @kernel_0_impl(%[[IN:.*]]: memref<4xf32>, %[[OUT:.*]]: memref<4xf32>)
// BUFFERIZE: linalg.generic {{.*}} ins(%[[IN]] : memref<4xf32>) outs(%[[OUT]] : memref<4xf32>)
// BUFFERIZE: math.exp

// The kernel library: the kernels internal, `void kernel_N(void **args)` exported.
// LLVM: llvm.func internal @kernel_0_impl(%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr)
// LLVM: llvm.func @kernel_0(%[[ARGS:.*]]: !llvm.ptr) {
// LLVM: llvm.call @kernel_0_impl(
// LLVM: llvm.func @kernel_1(
module {
  func.func @main(%x: tensor<4xf32>, %e: tensor<4x0xf32>) -> tensor<4xf32> {
    %0 = call @kernel_0(%x) : (tensor<4xf32>) -> tensor<4xf32>
    return %0 : tensor<4xf32>
  }
  func.func private @kernel_0(%x: tensor<4xf32>) -> tensor<4xf32> {
    %0 = pmc.exp %x : tensor<4xf32>
    %1 = pmc.add %0, %x : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    return %1 : tensor<4xf32>
  }
  func.func private @kernel_1(%e: tensor<4x0xf32>) -> tensor<4x0xf32> {
    return %e : tensor<4x0xf32>
  }
}
