// RUN: not pmc-opt %s --pmc-train-step --split-input-file 2>&1 | FileCheck %s

// CHECK: pmc-train-step: @main has no pmc.parameter argument to train
func.func @main(%x: tensor<3xf32>) -> tensor<f32> {
  %l = pmc.reduce_sum %x {axes = array<i64: 0>} : (tensor<3xf32>) -> tensor<f32>
  return %l : tensor<f32>
}

// -----

// CHECK: pmc-train-step: result 0 of @main must be the loss, a float tensor of one element, it is 'tensor<3xf32>'
func.func @main(%w: tensor<3xf32> {pmc.parameter}) -> tensor<3xf32> {
  return %w : tensor<3xf32>
}

// -----

// CHECK: pmc-train-step: the loss depends on no parameter
func.func @main(%x: tensor<3xf32>, %w: tensor<3xf32> {pmc.parameter}) -> tensor<f32> {
  %l = pmc.reduce_sum %x {axes = array<i64: 0>} : (tensor<3xf32>) -> tensor<f32>
  return %l : tensor<f32>
}
