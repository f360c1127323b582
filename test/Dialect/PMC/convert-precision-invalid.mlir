// RUN: not pmc-opt %s --pmc-convert-precision=dtype=f8 2>&1 | FileCheck %s

// An unknown target type is rejected with the supported ones named.
// CHECK: pmc-convert-precision: dtype 'f8' is not supported (expected bf16 or f16)
func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}
