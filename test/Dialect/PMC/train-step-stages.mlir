// RUN: pmc-opt %s --pmc-train-step="optimizer=sgd momentum=0.9" | FileCheck %s

// A forward cut into pipeline stages (docs/design/pipeline.md, "Training
// pipelines"): the backward of each op runs in the stage of the op, and a
// parameter's update (with its momentum buffer) in the stage of its first use.
// CHECK-LABEL: func.func @main(
// The backward of the second matmul and of the loss: stage 1.
// CHECK: pmc.matmul %{{.*}}, %{{.*}} {pmc.stage = 1 : i64, transpose_b}
// CHECK: pmc.matmul %{{.*}}, %{{.*}} {pmc.gradient_of = "w2", pmc.stage = 1 : i64, transpose_a}
// The backward of the relu and of the first matmul: stage 0.
// CHECK: pmc.where %{{.*}} {pmc.stage = 0 : i64}
// CHECK: pmc.matmul %{{.*}}, %{{.*}} {pmc.gradient_of = "w1", pmc.stage = 0 : i64, transpose_a}
// The update of w1 in stage 0, of w2 in stage 1.
// CHECK: %[[W1:.*]] = pmc.sub %arg1, %{{.*}} {pmc.keep_f32, pmc.stage = 0 : i64}
// CHECK: %[[W2:.*]] = pmc.sub %arg2, %{{.*}} {pmc.keep_f32, pmc.stage = 1 : i64}
// CHECK: return %{{.*}}, %[[W1]], %[[W2]]
func.func @main(%x: tensor<4x3xf32> {pmc.name = "x"},
                %w1: tensor<3x5xf32> {pmc.name = "w1", pmc.parameter},
                %w2: tensor<5x2xf32> {pmc.name = "w2", pmc.parameter})
    -> (tensor<f32> {pmc.name = "loss"}) {
  %h = pmc.matmul %x, %w1 {pmc.stage = 0 : i64} : (tensor<4x3xf32>, tensor<3x5xf32>) -> tensor<4x5xf32>
  %r = pmc.relu %h {pmc.stage = 0 : i64} : tensor<4x5xf32>
  %m = pmc.matmul %r, %w2 {pmc.stage = 1 : i64} : (tensor<4x5xf32>, tensor<5x2xf32>) -> tensor<4x2xf32>
  %l = pmc.reduce_sum %m {axes = array<i64: 0, 1>, pmc.stage = 1 : i64} : (tensor<4x2xf32>) -> tensor<f32>
  return %l : tensor<f32>
}
