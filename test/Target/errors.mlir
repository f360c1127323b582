// RUN: not pmc-opt compile %s --devices 0 -o %t.pmc 2>&1 | FileCheck %s --check-prefix=DEVICES
// RUN: not pmc-opt compile %s --target tpu -o %t.pmc 2>&1 | FileCheck %s --check-prefix=TARGET
// RUN: not pmc-opt compile %s --emit nonsense -o %t.pmc 2>&1 | FileCheck %s --check-prefix=EMIT
// RUN: pmc-opt compile %s --emit mlir | FileCheck %s --check-prefix=MLIR

// DEVICES: error: --devices 0: expected a positive device count
// TARGET: error: unknown target 'tpu' (expected cpu or cuda)
// EMIT: error: --emit nonsense: expected bundle, mlir or plan

// --emit mlir prints @main with the runtime's commands and the kernels in linalg.
// MLIR-LABEL: func.func @main
// MLIR: call @kernel_0
// MLIR-LABEL: func.func private @kernel_0
// MLIR: linalg.generic
// MLIR-NOT: pmc.tanh
func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = pmc.tanh %x : tensor<4xf32>
  return %0 : tensor<4xf32>
}
