// RUN: pmc-opt %s --pmc-outline-kernels --split-input-file | FileCheck %s
// RUN: pmc-opt %s --pmc-outline-kernels=target=cuda --split-input-file | FileCheck %s --check-prefix=CUDA

// Bias along the last dim and a tanh GELU fold into the matmul command on
// both targets: no kernel is left.
// CHECK-LABEL: func.func @main
// CHECK-NEXT: %[[Y:.*]] = pmc.matmul %arg0, %arg1 {pmc.epilogue = "bias_gelu"}
// CHECK-NEXT: %[[Z:.*]] = pmc.add %[[Y]], %arg2
// CHECK-NEXT: %[[G:.*]] = pmc.gelu %[[Z]] {tanh_approximation}
// CHECK-NEXT: return %[[G]]
// CHECK-NOT: func.func private @kernel
// CUDA-LABEL: func.func @main
// CUDA-NEXT: pmc.matmul %arg0, %arg1 {pmc.epilogue = "bias_gelu"}
// CUDA-NEXT: pmc.add
// CUDA-NEXT: pmc.gelu
// CUDA-NEXT: return
func.func @main(%x: tensor<2x4x16xf32>, %w: tensor<16x8xf32>, %b: tensor<8xf32>) -> tensor<2x4x8xf32> {
  %y = pmc.matmul %x, %w : (tensor<2x4x16xf32>, tensor<16x8xf32>) -> tensor<2x4x8xf32>
  %z = pmc.add %y, %b : (tensor<2x4x8xf32>, tensor<8xf32>) -> tensor<2x4x8xf32>
  %g = pmc.gelu %z {tanh_approximation} : tensor<2x4x8xf32>
  return %g : tensor<2x4x8xf32>
}

// -----

// The ONNX erf GELU (torch.onnx's pattern) after a bias: on cpu one pmc.gelu
// folded with the bias; on cuda (cuBLASLt's GELU is the tanh form) only the
// bias folds and the erf GELU stays a kernel.
// CHECK-LABEL: func.func @main
// CHECK-NEXT: %[[Y:.*]] = pmc.matmul %arg0, %arg1 {pmc.epilogue = "bias_gelu"}
// CHECK-NEXT: %[[Z:.*]] = pmc.add %[[Y]], %arg2
// CHECK-NEXT: %[[G:.*]] = pmc.gelu %[[Z]] : tensor<4x8xf32>
// CHECK-NEXT: %[[E:.*]] = call @kernel_0(%[[G]])
// CHECK-NEXT: return %[[E]]
// CHECK: func.func private @kernel_0
// CHECK-NEXT: pmc.exp
// CHECK-NEXT: return
// CUDA-LABEL: func.func @main
// CUDA: %[[Y:.*]] = pmc.matmul %arg0, %arg1 {pmc.epilogue = "bias"}
// CUDA-NEXT: %[[Z:.*]] = pmc.add %[[Y]], %arg2
// CUDA-NEXT: call @kernel_0(%[[Z]])
// CUDA: func.func private @kernel_0
// CUDA: pmc.div
// CUDA: pmc.erf
// CUDA: pmc.exp
func.func @main(%x: tensor<4x16xf32>, %w: tensor<16x8xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  %half = pmc.constant dense<0.5> : tensor<f32>
  %one = pmc.constant dense<1.0> : tensor<f32>
  %sqrt2 = pmc.constant dense<1.41421354> : tensor<f32>
  %y = pmc.matmul %x, %w : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
  %z = pmc.add %y, %b : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %d = pmc.div %z, %sqrt2 : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
  %e = pmc.erf %d : tensor<4x8xf32>
  %p = pmc.add %e, %one : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
  %m = pmc.mul %z, %p : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %g = pmc.mul %m, %half : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xf32>
  %r = pmc.exp %g : tensor<4x8xf32>
  return %r : tensor<4x8xf32>
}

// -----

// Gemm-style: the bias first, a [1, N] bias, then ReLU. An op between the
// matmul and its add (the bias defined there) does not stop the fold: the
// chain is made contiguous.
// CHECK-LABEL: func.func @main
// CHECK: %[[B:.*]] = call @kernel_0
// CHECK-NEXT: %[[Y:.*]] = pmc.matmul %arg0, %arg1 {pmc.epilogue = "bias_relu", transpose_b}
// CHECK-NEXT: %[[Z:.*]] = pmc.add %[[B]], %[[Y]]
// CHECK-NEXT: %[[R:.*]] = pmc.relu %[[Z]]
// CHECK-NEXT: return %[[R]]
func.func @main(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>, %b: tensor<1x8xf32>) -> tensor<4x8xf32> {
  %y = pmc.matmul %x, %w {transpose_b} : (tensor<4x16xf32>, tensor<8x16xf32>) -> tensor<4x8xf32>
  %b2 = pmc.neg %b : tensor<1x8xf32>
  %z = pmc.add %b2, %y : (tensor<1x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %r = pmc.relu %z : tensor<4x8xf32>
  return %r : tensor<4x8xf32>
}

// -----

// An activation alone (no bias).
// CHECK-LABEL: func.func @main
// CHECK-NEXT: pmc.matmul %arg0, %arg1 {pmc.epilogue = "relu"}
// CHECK-NEXT: pmc.relu
// CHECK-NEXT: return
func.func @main(%x: tensor<4x16xf32>, %w: tensor<16x8xf32>) -> tensor<4x8xf32> {
  %y = pmc.matmul %x, %w : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
  %r = pmc.relu %y : tensor<4x8xf32>
  return %r : tensor<4x8xf32>
}

// -----

// Not folded: the matmul's result has another user.
// CHECK-LABEL: func.func @main
// CHECK: pmc.matmul
// CHECK-NOT: pmc.epilogue
// CHECK: call @kernel_0
func.func @main(%x: tensor<4x16xf32>, %w: tensor<16x8xf32>, %b: tensor<8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  %y = pmc.matmul %x, %w : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
  %z = pmc.add %y, %b : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %n = pmc.neg %y : tensor<4x8xf32>
  return %z, %n : tensor<4x8xf32>, tensor<4x8xf32>
}

// -----

// Not folded: the added tensor does not broadcast along the last dim only
// ([4, 1] is per row; [4, 8] a full matrix).
// CHECK-LABEL: func.func @main
// CHECK: pmc.matmul
// CHECK-NOT: pmc.epilogue
// CHECK: call @kernel_0
// CHECK-LABEL: func.func private @kernel_0
// CHECK: pmc.add
// CHECK: pmc.add
func.func @main(%x: tensor<4x16xf32>, %w: tensor<16x8xf32>, %r: tensor<4x1xf32>, %f: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %y = pmc.matmul %x, %w : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
  %z = pmc.add %y, %r : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
  %y2 = pmc.matmul %x, %w : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
  %z2 = pmc.add %y2, %f : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %s = pmc.add %z, %z2 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  return %s : tensor<4x8xf32>
}

// -----

// Not folded: the add runs in another pipeline stage than the matmul (and
// the ReLU follows the add, not the matmul).
// CHECK-LABEL: func.func @main
// CHECK: pmc.matmul
// CHECK-NOT: pmc.epilogue
// CHECK: call @kernel_0(%{{.*}}) {pmc.stage = 1 : i64}
func.func @main(%x: tensor<4x16xf32>, %w: tensor<16x8xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  %y = pmc.matmul %x, %w {pmc.stage = 0 : i64} : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
  %z = pmc.add %y, %b {pmc.stage = 1 : i64} : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %r = pmc.relu %z {pmc.stage = 1 : i64} : tensor<4x8xf32>
  return %r : tensor<4x8xf32>
}

// -----

// Same stage: folded, the stage stays on the ops.
// CHECK-LABEL: func.func @main
// CHECK-NEXT: pmc.matmul %arg0, %arg1 {pmc.epilogue = "bias", pmc.stage = 1 : i64}
// CHECK-NEXT: pmc.add %{{.*}}, %arg2 {pmc.stage = 1 : i64}
// CHECK-NEXT: return
func.func @main(%x: tensor<4x16xf32>, %w: tensor<16x8xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  %y = pmc.matmul %x, %w {pmc.stage = 1 : i64} : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
  %z = pmc.add %y, %b {pmc.stage = 1 : i64} : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %z : tensor<4x8xf32>
}

// -----

// An integer matmul is a kernel op, not a library call: nothing folds.
// CHECK-LABEL: func.func @main
// CHECK-NEXT: call @kernel_0
// CHECK: func.func private @kernel_0
// CHECK-NEXT: pmc.matmul
// CHECK-NOT: pmc.epilogue
// CHECK-NEXT: pmc.add
func.func @main(%x: tensor<4x16xi32>, %w: tensor<16x8xi32>, %b: tensor<8xi32>) -> tensor<4x8xi32> {
  %y = pmc.matmul %x, %w : (tensor<4x16xi32>, tensor<16x8xi32>) -> tensor<4x8xi32>
  %z = pmc.add %y, %b : (tensor<4x8xi32>, tensor<8xi32>) -> tensor<4x8xi32>
  return %z : tensor<4x8xi32>
}
