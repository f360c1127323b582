// RUN: pmc-opt compile %s -o %t.pmc
// RUN: %python %S/Inputs/bundle_section.py %t.pmc manifest | FileCheck %s --check-prefix=MANIFEST
// RUN: pmc-opt %s --pmc-outline-kernels --pmc-lower-to-runtime-program | FileCheck %s --check-prefix=PROGRAM
// RUN: %python %S/Inputs/bundle_section.py %t.pmc kernels.cpu %t.so
// RUN: llvm-nm -D --defined-only %t.so | FileCheck %s --check-prefix=SYMBOLS
// RUN: %python -c "import numpy as np; np.save('%t.x.npy', np.array([[1, 2, 3, 4], [-1, 0.5, 0.25, 2]], np.float32))"
// RUN: pmc-run %t.pmc --input x=%t.x.npy --print | FileCheck %s --check-prefix=OUT

// An MLP whose matmul, bias and ReLU are one command of the runtime's BLAS
// (the epilogue folded by pmc-outline-kernels) and whose softmax is a
// generated kernel.

// MANIFEST: "format": "pmc-bundle"
// MANIFEST: "inputs": [
// MANIFEST: "dtype": "float32"
// MANIFEST: "name": "x"
// MANIFEST: "shape": [
// MANIFEST-NEXT: 2,
// MANIFEST-NEXT: 4
// MANIFEST: "kernel_library": "kernels.cpu"
// MANIFEST: "outputs": [
// MANIFEST: "name": "y"

// The rank program (serialized as rank0.program): input, weights, the
// matmul command with its epilogue, the softmax kernel.
// PROGRAM: pmcrt.program stage 0 ranks [0] {
// PROGRAM-NEXT: %[[X:.*]] = pmcrt.input 0 : memref<2x4xf32>
// PROGRAM-NEXT: %[[W:.*]] = pmcrt.weight 0 =
// PROGRAM-NEXT: %[[B:.*]] = pmcrt.weight 1 =
// PROGRAM-NEXT: %[[H:.*]] = pmcrt.temp : memref<2x3xf32>
// PROGRAM-NEXT: pmcrt.matmul %[[X]], %[[W]] bias %[[B]] -> %[[H]] {activation = "relu"}
// PROGRAM-NEXT: %[[S:.*]] = pmcrt.temp : memref<2x3xf32>
// PROGRAM-NEXT: pmcrt.kernel @kernel_0 ins(%[[H]] : memref<2x3xf32>) outs(%[[S]] : memref<2x3xf32>)
// PROGRAM-NEXT: pmcrt.outputs %[[S]] at [0]

// SYMBOLS: T kernel_0
// SYMBOLS-NOT: kernel_0_impl

// OUT: y: float32[2x3] [0.0109869, 1.14213e-17, 0.989013, 0.976979, 0.00512672, 0.017894]

func.func @main(%x: tensor<2x4xf32> {pmc.name = "x"}) -> (tensor<2x3xf32> {pmc.name = "y"}) {
  %w = pmc.constant dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0], [1.0, 0.0, -1.0]]> : tensor<4x3xf32>
  %b = pmc.constant dense<[0.5, -100.0, 1.0]> : tensor<3xf32>
  %h = pmc.matmul %x, %w : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
  %a = pmc.add %h, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %r = pmc.relu %a : tensor<2x3xf32>
  %s = pmc.softmax %r {axis = 1 : i64} : tensor<2x3xf32>
  return %s : tensor<2x3xf32>
}
