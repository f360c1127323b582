// RUN: pmc-opt %s -split-input-file -verify-diagnostics

// Operands whose shapes do not broadcast.
func.func @add_no_broadcast(%x: tensor<2x3xf32>, %y: tensor<4xf32>) -> tensor<2x3xf32> {
  // expected-error @+2 {{shapes [2x3] and [4] do not broadcast}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = pmc.add %x, %y : (tensor<2x3xf32>, tensor<4xf32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

// A result type that is not the broadcast shape.
func.func @add_wrong_result(%x: tensor<2x3xf32>, %y: tensor<3xf32>) -> tensor<3xf32> {
  // expected-error @+2 {{inferred type(s) 'tensor<2x3xf32>' are incompatible with return type(s) of operation 'tensor<3xf32>'}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = pmc.add %x, %y : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

// -----

// Comparison results are i1.
func.func @less_not_bool(%x: tensor<3xf32>) -> tensor<3xf32> {
  // expected-error @+2 {{inferred type(s) 'tensor<3xi1>' are incompatible}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = pmc.less %x, %x : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

// -----

// Float-only operators reject integers.
func.func @sqrt_int(%x: tensor<3xi32>) -> tensor<3xi32> {
  // expected-error @+1 {{operand #0 must be ranked tensor of floating-point values}}
  %0 = pmc.sqrt %x : tensor<3xi32>
  return %0 : tensor<3xi32>
}

// -----

func.func @where_branch_types(%c: tensor<3xi1>, %x: tensor<3xf32>, %y: tensor<3xi32>) -> tensor<3xf32> {
  // expected-error @+2 {{both branches must have one element type}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = pmc.where %c, %x, %y : (tensor<3xi1>, tensor<3xf32>, tensor<3xi32>) -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

// -----

// The contracting dimensions of a matmul must agree.
func.func @matmul_contracting(%a: tensor<2x3xf32>, %b: tensor<4x5xf32>) -> tensor<2x5xf32> {
  // expected-error @+2 {{contracting dimensions differ: 3 vs 4 (shapes [2x3] and [4x5])}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = pmc.matmul %a, %b : (tensor<2x3xf32>, tensor<4x5xf32>) -> tensor<2x5xf32>
  return %0 : tensor<2x5xf32>
}

// -----

func.func @matmul_rank(%a: tensor<3xf32>, %b: tensor<3x5xf32>) -> tensor<5xf32> {
  // expected-error @+2 {{operands must have rank >= 2, got 1 and 2}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = pmc.matmul %a, %b : (tensor<3xf32>, tensor<3x5xf32>) -> tensor<5xf32>
  return %0 : tensor<5xf32>
}

// -----

func.func @matmul_batch(%a: tensor<2x4x3xf32>, %b: tensor<3x3x5xf32>) -> tensor<3x4x5xf32> {
  // expected-error @+2 {{batch dimensions [2] and [3] do not broadcast}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = pmc.matmul %a, %b : (tensor<2x4x3xf32>, tensor<3x3x5xf32>) -> tensor<3x4x5xf32>
  return %0 : tensor<3x4x5xf32>
}

// -----

// The group must divide the channels and the filters.
func.func @conv_group(%x: tensor<1x4x8x8xf32>, %w: tensor<6x2x3x3xf32>) -> tensor<1x6x6x6xf32> {
  // expected-error @+2 {{group 3 must divide the 4 input channels and the 6 filters}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = pmc.conv %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>,
         dilations = array<i64: 1, 1>, group = 3 : i64}
       : (tensor<1x4x8x8xf32>, tensor<6x2x3x3xf32>) -> tensor<1x6x6x6xf32>
  return %0 : tensor<1x6x6x6xf32>
}

// -----

func.func @conv_weight_channels(%x: tensor<1x4x8x8xf32>, %w: tensor<6x3x3x3xf32>) -> tensor<1x6x6x6xf32> {
  // expected-error @+2 {{weight dim 1 is 3 but input channels / group is 4}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = pmc.conv %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>,
         dilations = array<i64: 1, 1>, group = 1 : i64}
       : (tensor<1x4x8x8xf32>, tensor<6x3x3x3xf32>) -> tensor<1x6x6x6xf32>
  return %0 : tensor<1x6x6x6xf32>
}

// -----

func.func @conv_bias(%x: tensor<1x4x8x8xf32>, %w: tensor<6x4x3x3xf32>, %b: tensor<4xf32>) -> tensor<1x6x6x6xf32> {
  // expected-error @+2 {{bias must have shape [6]}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = pmc.conv %x, %w, %b {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>,
         dilations = array<i64: 1, 1>, group = 1 : i64}
       : (tensor<1x4x8x8xf32>, tensor<6x4x3x3xf32>, tensor<4xf32>) -> tensor<1x6x6x6xf32>
  return %0 : tensor<1x6x6x6xf32>
}

// -----

// Window attributes need one entry per spatial dimension (pads: two).
func.func @pool_attr_count(%x: tensor<1x3x8x8xf32>) -> tensor<1x3x4x4xf32> {
  // expected-error @+2 {{expected 2 kernel sizes, strides and dilations and 4 pads for 2 spatial dimensions}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = pmc.max_pool %x {kernel_shape = array<i64: 2>, strides = array<i64: 2, 2>,
         pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>}
       : (tensor<1x3x8x8xf32>) -> tensor<1x3x4x4xf32>
  return %0 : tensor<1x3x4x4xf32>
}

// -----

func.func @pool_negative_pad(%x: tensor<1x3x8x8xf32>) -> tensor<1x3x4x4xf32> {
  // expected-error @+2 {{pads must be non-negative}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = pmc.avg_pool %x {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>,
         pads = array<i64: -1, 0, 0, 0>, dilations = array<i64: 1, 1>}
       : (tensor<1x3x8x8xf32>) -> tensor<1x3x4x4xf32>
  return %0 : tensor<1x3x4x4xf32>
}

// -----

// Reduction axes are sorted and unique.
func.func @reduce_unsorted(%x: tensor<2x3x4xf32>) -> tensor<3xf32> {
  // expected-error @+2 {{axes must be sorted and unique}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = pmc.reduce_sum %x {axes = array<i64: 2, 0>} : (tensor<2x3x4xf32>) -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

// -----

func.func @reduce_axis_range(%x: tensor<2x3xf32>) -> tensor<2xf32> {
  // expected-error @+2 {{axis 2 is out of range for rank 2}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = pmc.reduce_max %x {axes = array<i64: 2>} : (tensor<2x3xf32>) -> tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

func.func @softmax_axis(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  // expected-error @+1 {{axis 2 is out of range for rank 2}}
  %0 = pmc.softmax %x {axis = 2 : i64} : tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

// Layer norm statistics keep the leading dimensions and set the others to 1.
func.func @layer_norm_stats(%x: tensor<4x8xf32>, %g: tensor<8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{statistics must have shape [4x1]}}
  %0:3 = pmc.layer_norm %x, %g {axis = 1 : i64, epsilon = 1.0e-05 : f32}
      : (tensor<4x8xf32>, tensor<8xf32>) -> (tensor<4x8xf32>, tensor<4xf32>, tensor<4xf32>)
  return %0#0 : tensor<4x8xf32>
}

// -----

func.func @layer_norm_scale(%x: tensor<4x8xf32>, %g: tensor<4xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{scale of shape [4] does not broadcast to the normalized shape [8]}}
  %0:3 = pmc.layer_norm %x, %g {axis = 1 : i64, epsilon = 1.0e-05 : f32}
      : (tensor<4x8xf32>, tensor<4xf32>) -> (tensor<4x8xf32>, tensor<4x1xf32>, tensor<4x1xf32>)
  return %0#0 : tensor<4x8xf32>
}

// -----

// A scale that would broadcast the normalized shape [1] up to [4] (found by
// fuzzing): ONNX broadcasts the scale to the normalized shape only.
func.func @layer_norm_scale_stretches_input(%x: tensor<3x1xf32>, %g: tensor<4xf32>) -> tensor<3x1xf32> {
  // expected-error @+1 {{scale of shape [4] does not broadcast to the normalized shape [1]}}
  %0:3 = pmc.layer_norm %x, %g {axis = 1 : i64, epsilon = 1.0e-05 : f32}
      : (tensor<3x1xf32>, tensor<4xf32>) -> (tensor<3x1xf32>, tensor<3x1xf32>, tensor<3x1xf32>)
  return %0#0 : tensor<3x1xf32>
}

// -----

func.func @transpose_bad_perm(%x: tensor<2x3xf32>) -> tensor<3x2xf32> {
  // expected-error @+2 {{perm is not a permutation of 0..1}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = pmc.transpose %x {perm = array<i64: 1, 1>} : (tensor<2x3xf32>) -> tensor<3x2xf32>
  return %0 : tensor<3x2xf32>
}

// -----

func.func @transpose_perm_size(%x: tensor<2x3xf32>) -> tensor<3x2xf32> {
  // expected-error @+2 {{perm has 3 entries for an input of rank 2}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = pmc.transpose %x {perm = array<i64: 1, 0, 2>} : (tensor<2x3xf32>) -> tensor<3x2xf32>
  return %0 : tensor<3x2xf32>
}

// -----

func.func @reshape_count(%x: tensor<2x3xf32>) -> tensor<5xf32> {
  // expected-error @+1 {{cannot reshape [2x3] (6 elements) to [5] (5 elements)}}
  %0 = pmc.reshape %x : tensor<2x3xf32> to tensor<5xf32>
  return %0 : tensor<5xf32>
}

// -----

func.func @reshape_element_type(%x: tensor<2x3xf32>) -> tensor<6xi32> {
  // expected-error @+1 {{input and result must have one element type}}
  %0 = pmc.reshape %x : tensor<2x3xf32> to tensor<6xi32>
  return %0 : tensor<6xi32>
}

// -----

func.func @broadcast_bad(%x: tensor<2x3xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{cannot broadcast [2x3] to [2x4]}}
  %0 = pmc.broadcast %x : tensor<2x3xf32> to tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @concat_dims(%x: tensor<2x3xf32>, %y: tensor<2x4xf32>) -> tensor<4x3xf32> {
  // expected-error @+2 {{input 1 has dim 1 = 4, input 0 has 3}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = pmc.concat %x, %y {axis = 0 : i64} : (tensor<2x3xf32>, tensor<2x4xf32>) -> tensor<4x3xf32>
  return %0 : tensor<4x3xf32>
}

// -----

// A slice must stay inside the input.
func.func @slice_range(%x: tensor<4xf32>) -> tensor<3xf32> {
  // expected-error @+1 {{dim 0: 3 elements from 2 by step 1 leave the input's range [0, 4)}}
  %0 = pmc.slice %x {starts = array<i64: 2>, steps = array<i64: 1>} : tensor<4xf32> to tensor<3xf32>
  return %0 : tensor<3xf32>
}

// -----

func.func @slice_zero_step(%x: tensor<4xf32>) -> tensor<2xf32> {
  // expected-error @+1 {{step of dim 0 is zero}}
  %0 = pmc.slice %x {starts = array<i64: 0>, steps = array<i64: 0>} : tensor<4xf32> to tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

func.func @slice_rank(%x: tensor<4x4xf32>) -> tensor<2x2xf32> {
  // expected-error @+1 {{expected 2 starts and steps}}
  %0 = pmc.slice %x {starts = array<i64: 0>, steps = array<i64: 1>} : tensor<4x4xf32> to tensor<2x2xf32>
  return %0 : tensor<2x2xf32>
}

// -----

func.func @gather_axis(%x: tensor<4x4xf32>, %i: tensor<2xi64>) -> tensor<2x4xf32> {
  // expected-error @+2 {{axis 2 is out of range for rank 2}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = pmc.gather %x, %i {axis = 2 : i64} : (tensor<4x4xf32>, tensor<2xi64>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @random_uniform_offset_not_scalar(%t: tensor<2xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{offset must be a scalar (rank 0)}}
  %0 = pmc.random_uniform %t {key = 1 : i64} : (tensor<2xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}
