// RUN: pmc-opt %s --pmc-train-step="optimizer=sgd momentum=0.9" | FileCheck %s
// RUN: pmc-opt %s --pmc-train-step="optimizer=adamw weight-decay=0.1" | FileCheck %s --check-prefix=ADAMW
// RUN: not pmc-opt %s --pmc-train-step="optimizer=lion" 2>&1 | FileCheck %s --check-prefix=BAD

// SGD with momentum: the step takes pmc.lr, pmc.step and the momentum buffer
// of the parameter (pmc.optimizer_state names it), and returns the loss, the
// parameter and the buffer under their input names (pmc.state_update); the
// gradient as the update reads it is marked pmc.gradient_of; the first
// step's buffer is the gradient itself.
// CHECK-LABEL: func.func @main(
// CHECK-SAME: {pmc.name = "w", pmc.parameter}
// CHECK-SAME: %[[LR:.*]]: tensor<f32> {pmc.name = "pmc.lr"}, %[[T:.*]]: tensor<f32> {pmc.name = "pmc.step"}, %[[BUF:.*]]: tensor<3x2xf32> {pmc.name = "w.momentum_buffer", pmc.optimizer_state = "w"})
// CHECK-SAME: -> (tensor<f32> {pmc.name = "loss"}, tensor<3x2xf32> {pmc.name = "w", pmc.state_update}, tensor<3x2xf32> {pmc.name = "w.momentum_buffer", pmc.state_update})
// CHECK: %[[G:.*]] = pmc.matmul %arg0, {{.*}} {pmc.gradient_of = "w", transpose_a}
// CHECK: %[[FIRST:.*]] = pmc.equal %[[T]]
// CHECK: %[[NEXT:.*]] = pmc.where %[[FIRST]], %[[G]], {{.*}}
// CHECK: %[[STEP:.*]] = pmc.mul %[[LR]], %[[NEXT]]
// CHECK: %[[W:.*]] = pmc.sub %arg1, %[[STEP]]
// CHECK: return %{{.*}}, %[[W]], %[[NEXT]]

// AdamW: two moments per parameter, bias corrections from pmc.step.
// ADAMW: {pmc.name = "w.exp_avg", pmc.optimizer_state = "w"}, %{{.*}}: tensor<3x2xf32> {pmc.name = "w.exp_avg_sq", pmc.optimizer_state = "w"})
// ADAMW: pmc.pow
// ADAMW: pmc.sqrt

// BAD: pmc-train-step: optimizer 'lion' is not supported (expected sgd, adam or adamw)
func.func @main(%x: tensor<4x3xf32> {pmc.name = "x"},
                %w: tensor<3x2xf32> {pmc.name = "w", pmc.parameter})
    -> (tensor<f32> {pmc.name = "loss"}) {
  %m = pmc.matmul %x, %w : (tensor<4x3xf32>, tensor<3x2xf32>) -> tensor<4x2xf32>
  %l = pmc.reduce_sum %m {axes = array<i64: 0, 1>} : (tensor<4x2xf32>) -> tensor<f32>
  return %l : tensor<f32>
}
