// RUN: pmc-opt %s --pmc-autodiff --split-input-file | FileCheck %s

// A dense layer: the seed (ones) broadcast to the loss's operand, tanh's
// derivative 1 - t*t, the bias gradient summed over the broadcast batch dim,
// the matmul's gradients as matmuls with transposes. The integer argument gets
// no gradient; the loss stays result 0.
// CHECK-LABEL: func.func @main(
// CHECK-SAME: -> (tensor<f32> {pmc.name = "loss"}, tensor<2x3xf32> {pmc.name = "x.grad"}, tensor<3x4xf32> {pmc.name = "w.grad"}, tensor<4xf32> {pmc.name = "b.grad"})
// CHECK: %[[T:.*]] = pmc.tanh
// CHECK: %[[L:.*]] = pmc.reduce_sum %[[T]]
// CHECK: %[[SEED:.*]] = pmc.constant dense<1.000000e+00> : tensor<f32>
// CHECK: %[[G:.*]] = pmc.broadcast {{.*}} to tensor<2x4xf32>
// CHECK: %[[TT:.*]] = pmc.mul %[[T]], %[[T]]
// CHECK: %[[D:.*]] = pmc.sub {{.*}}, %[[TT]]
// CHECK: %[[GA:.*]] = pmc.mul %[[G]], %[[D]]
// CHECK: %[[GB:.*]] = pmc.reduce_sum %[[GA]] {axes = array<i64: 0>, keepdims}
// CHECK: %[[DB:.*]] = pmc.reshape %[[GB]] : tensor<1x4xf32> to tensor<4xf32>
// CHECK: %[[DX:.*]] = pmc.matmul %[[GA]], %arg1 {transpose_b}
// CHECK: %[[DW:.*]] = pmc.matmul %arg0, %[[GA]] {transpose_a}
// CHECK: return %[[L]], %[[DX]], %[[DW]], %[[DB]]
func.func @main(%x: tensor<2x3xf32> {pmc.name = "x"}, %w: tensor<3x4xf32> {pmc.name = "w"},
                %b: tensor<4xf32> {pmc.name = "b"}, %ids: tensor<2xi64> {pmc.name = "ids"})
    -> (tensor<f32> {pmc.name = "loss"}) {
  %m = pmc.matmul %x, %w : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32>
  %a = pmc.add %m, %b : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  %t = pmc.tanh %a : tensor<2x4xf32>
  %l = pmc.reduce_sum %t {axes = array<i64: 0, 1>} : (tensor<2x4xf32>) -> tensor<f32>
  return %l : tensor<f32>
}

// -----

// An argument the loss does not depend on gets a zero gradient; a value used
// twice gets the sum of both gradients.
// CHECK-LABEL: func.func @main(
// CHECK: %[[SQ:.*]] = pmc.mul %arg0, %arg0
// CHECK: %[[G1:.*]] = pmc.mul %{{.*}}, %arg0
// CHECK: %[[G2:.*]] = pmc.mul %{{.*}}, %arg0
// CHECK: %[[SUM:.*]] = pmc.add %[[G1]], %[[G2]]
// CHECK: %[[ZERO:.*]] = pmc.constant dense<0.000000e+00> : tensor<3xf32>
// CHECK: return %{{.*}}, %[[SUM]], %[[ZERO]]
func.func @main(%x: tensor<3xf32> {pmc.name = "x"}, %unused: tensor<3xf32> {pmc.name = "u"})
    -> tensor<f32> {
  %sq = pmc.mul %x, %x : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  %l = pmc.reduce_sum %sq {axes = array<i64: 0>} : (tensor<3xf32>) -> tensor<f32>
  return %l : tensor<f32>
}
