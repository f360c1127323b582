// RUN: pmc-opt %s --pmc-train-step="optimizer=sgd loss-scale=1024 loss-scale-growth-interval=5" | FileCheck %s
// RUN: not pmc-opt %s --pmc-train-step="optimizer=sgd loss-scale=8 loss-scale-backoff=2" 2>&1 | FileCheck %s --check-prefix=BAD

// Dynamic loss scaling: the scale and its growth tracker are buffers (state
// from their initial values); the backward starts from loss * scale; the
// gradient is divided by the scale and checked for inf/NaN (|g| <= max, its
// maximum over the tensor); a step that found one keeps the parameter and
// halves the scale; pmc.found_inf follows the loss.
// CHECK-LABEL: func.func @main(
// CHECK-SAME: %[[S:[^:]*]]: tensor<f32> {pmc.buffer, pmc.initial_value = dense<1.024000e+03> : tensor<f32>, pmc.name = "pmc.loss_scale"}
// CHECK-SAME: %[[N:[^:]*]]: tensor<f32> {pmc.buffer, pmc.initial_value = dense<0.000000e+00> : tensor<f32>, pmc.name = "pmc.loss_scale_growth_tracker"}
// CHECK-SAME: -> (tensor<f32> {pmc.name = "loss"}, tensor<f32> {pmc.name = "pmc.found_inf"}, tensor<3x2xf32> {pmc.name = "w", pmc.state_update}, tensor<f32> {pmc.name = "pmc.loss_scale", pmc.state_update}, tensor<f32> {pmc.name = "pmc.loss_scale_growth_tracker", pmc.state_update})
// CHECK: %[[SCALED:.*]] = pmc.mul %[[L:.*]], %[[S]]
// CHECK: %[[INV:.*]] = pmc.div %{{.*}}, %[[S]]
// CHECK: %[[G:.*]] = pmc.mul %{{.*}}, %[[INV]]
// CHECK: pmc.abs %[[G]]
// CHECK: pmc.less_equal
// CHECK: pmc.reduce_max
// CHECK: %[[FOUND:.*]] = pmc.greater
// CHECK: %[[W:.*]] = pmc.where %[[FOUND]], %arg1, %{{.*}}
// CHECK: pmc.where %[[FOUND]]
// CHECK: return %[[L]], %{{.*}}, %[[W]]

// BAD: pmc-train-step: loss-scale-backoff 2.000000e+00 must be in (0, 1)
func.func @main(%x: tensor<4x3xf32> {pmc.name = "x"},
                %w: tensor<3x2xf32> {pmc.name = "w", pmc.parameter})
    -> (tensor<f32> {pmc.name = "loss"}) {
  %m = pmc.matmul %x, %w : (tensor<4x3xf32>, tensor<3x2xf32>) -> tensor<4x2xf32>
  %l = pmc.reduce_sum %m {axes = array<i64: 0, 1>} : (tensor<4x2xf32>) -> tensor<f32>
  return %l : tensor<f32>
}
