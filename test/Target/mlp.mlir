// RUN: pmc-opt compile %s -o %t.pmc
// RUN: %python %S/Inputs/bundle_section.py %t.pmc manifest | FileCheck %s --check-prefix=MANIFEST
// RUN: %python %S/Inputs/bundle_section.py %t.pmc rank0.program | FileCheck %s --check-prefix=PROGRAM
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

// PROGRAM: "buffers": [
// PROGRAM: "id": 0
// PROGRAM-NEXT: "input": 0
// PROGRAM-NEXT: "kind": "input"
// PROGRAM: "id": 1
// PROGRAM-NEXT: "kind": "weight"
// PROGRAM-NEXT: "section": "w/0"
// PROGRAM: "commands": [
// PROGRAM: "a": 0,
// PROGRAM-NEXT: "activation": "relu",
// PROGRAM-NEXT: "b": 1,
// PROGRAM-NEXT: "bias": 2,
// PROGRAM-NEXT: "c": 3,
// PROGRAM-NEXT: "op": "matmul"
// PROGRAM: "inputs": [
// PROGRAM-NEXT: 3
// PROGRAM-NEXT: ],
// PROGRAM-NEXT: "op": "kernel",
// PROGRAM-NEXT: "outputs": [
// PROGRAM-NEXT: 4
// PROGRAM: "symbol": "kernel_0"
// PROGRAM: "outputs": [
// PROGRAM-NEXT: 4

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
