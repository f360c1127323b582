// RUN: not pmc-opt %s --pmc-autodiff --split-input-file 2>&1 | FileCheck %s

// An op on the loss's path without a gradient rule is an error naming it.
// (A draw's offset is a counter, not a value to differentiate.)
// CHECK: error: pmc.random_uniform has no gradient rule; the loss depends on it through a differentiated argument
func.func @main(%x: tensor<f32>) -> tensor<3x4xf32> {
  %m = pmc.random_uniform %x {key = 3 : i64} : (tensor<f32>) -> tensor<3x4xf32>
  return %m : tensor<3x4xf32>
}

// -----

// The loss must be a float tensor.
// CHECK: error: the loss (result 0) must be a float tensor, it is 'tensor<3xi64>'
func.func @main(%x: tensor<3xf32>, %i: tensor<3xi64>) -> tensor<3xi64> {
  return %i : tensor<3xi64>
}
