// RUN: pmc-opt %s --pmc-convert-to-linalg --split-input-file --verify-diagnostics

// Convolutions of types the runtime does not convolve are reported, not dropped.
func.func @conv_f16(%x: tensor<1x1x4x4xf16>, %w: tensor<1x1x3x3xf16>) -> tensor<1x1x2x2xf16> {
  // expected-error @+2 {{failed to legalize operation 'pmc.conv'}}
  // expected-error @+1 {{'pmc.conv' op on 'f16' is not supported by the CPU kernels: the runtime convolves f32, f64, f16 and bf16 only}}
  %0 = pmc.conv %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>,
         dilations = array<i64: 1, 1>, group = 1 : i64}
       : (tensor<1x1x4x4xf16>, tensor<1x1x3x3xf16>) -> tensor<1x1x2x2xf16>
  return %0 : tensor<1x1x2x2xf16>
}

// -----

// Averaging needs a float input.
func.func @avg_pool_int(%x: tensor<1x1x4x4xi32>) -> tensor<1x1x2x2xi32> {
  // expected-error @+2 {{failed to legalize operation 'pmc.avg_pool'}}
  // expected-error @+1 {{'pmc.avg_pool' op average pooling needs a float input}}
  %0 = pmc.avg_pool %x {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>,
         pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>}
       : (tensor<1x1x4x4xi32>) -> tensor<1x1x2x2xi32>
  return %0 : tensor<1x1x2x2xi32>
}
