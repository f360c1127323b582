// RUN: pmc-opt %s -split-input-file -verify-diagnostics

// Operator set extension: verifiers and shape inference reject bad attributes.

func.func @arg_max_axis(%x: tensor<2x3xf32>) -> tensor<2xi64> {
  // expected-error @+2 {{axis 2 is out of range for rank 2}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = pmc.arg_max %x {axis = 2 : i64} : (tensor<2x3xf32>) -> tensor<2xi64>
  return %0 : tensor<2xi64>
}

// -----

func.func @pad_mode(%x: tensor<2x3xf32>) -> tensor<2x4xf32> {
  // expected-error @+2 {{mode must be constant, reflect, edge or wrap, got 'mirror'}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = pmc.pad %x {pads = array<i64: 0, 0, 0, 1>, mode = "mirror"} : (tensor<2x3xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @pad_reflect_too_wide(%x: tensor<2x3xf32>) -> tensor<2x6xf32> {
  // expected-error @+2 {{reflect pads of dim 1 must be smaller than its size 3}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = pmc.pad %x {pads = array<i64: 0, 0, 0, 3>, mode = "reflect"} : (tensor<2x3xf32>) -> tensor<2x6xf32>
  return %0 : tensor<2x6xf32>
}

// -----

func.func @pad_value_type(%x: tensor<2x3xf32>, %v: tensor<i32>) -> tensor<2x4xf32> {
  // expected-error @+2 {{the pad value must be one element of the input's element type}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = pmc.pad %x, %v {pads = array<i64: 0, 0, 0, 1>, mode = "constant"} : (tensor<2x3xf32>, tensor<i32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @cumsum_axis(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{axis 1 is out of range for rank 1}}
  %0 = pmc.cumsum %x {axis = 1 : i64} : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @cumprod_axis(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{axis -1 is out of range for rank 1}}
  %0 = pmc.cumprod %x {axis = -1 : i64} : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @gather_elements_rank(%d: tensor<2x3xf32>, %i: tensor<2xi64>) -> tensor<2xf32> {
  // expected-error @+2 {{indices must have the data's rank 2, got 1}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = pmc.gather_elements %d, %i {axis = 0 : i64} : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

func.func @bitwise_on_float(%x: tensor<2xf32>) -> tensor<2xf32> {
  // expected-error @+1 {{must be ranked tensor of}}
  %0 = pmc.bitwise_and %x, %x : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

func.func @round_on_int(%x: tensor<2xi32>) -> tensor<2xi32> {
  // expected-error @+1 {{must be ranked tensor of floating-point values}}
  %0 = pmc.round %x : tensor<2xi32>
  return %0 : tensor<2xi32>
}
