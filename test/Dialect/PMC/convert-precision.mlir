// RUN: pmc-opt %s --pmc-convert-precision=dtype=bf16 --split-input-file | FileCheck %s
// RUN: pmc-opt %s --pmc-convert-precision=dtype=f16 --split-input-file | FileCheck %s --check-prefix=F16

// Weights become bf16 (a dense_resource gets a new bf16 blob), the matmul and
// the add run in bf16, the signature stays f32 with casts at entry and exit.
// CHECK-LABEL: func.func @mlp
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32>) -> tensor<4x8xf32>
// CHECK: %[[XB:.*]] = pmc.cast %[[X]] : tensor<4x8xf32> to tensor<4x8xbf16>
// CHECK: %[[W:.*]] = pmc.constant dense<5.000000e-01> : tensor<8x8xbf16>
// CHECK: %[[B:.*]] = pmc.constant dense_resource<b.bf16> : tensor<8xbf16>
// CHECK: %[[MM:.*]] = pmc.matmul %[[XB]], %[[W]] : (tensor<4x8xbf16>, tensor<8x8xbf16>) -> tensor<4x8xbf16>
// CHECK: %[[ADD:.*]] = pmc.add %[[MM]], %[[B]] : (tensor<4x8xbf16>, tensor<8xbf16>) -> tensor<4x8xbf16>
// CHECK: %[[R:.*]] = pmc.relu %[[ADD]] : tensor<4x8xbf16>
// CHECK: %[[OUT:.*]] = pmc.cast %[[R]] : tensor<4x8xbf16> to tensor<4x8xf32>
// CHECK: return %[[OUT]] : tensor<4x8xf32>
// CHECK: b.bf16: "0x02000000803F004040408040A040C040E0400041"
// F16-LABEL: func.func @mlp
// F16: pmc.constant dense<5.000000e-01> : tensor<8x8xf16>
// F16: pmc.constant dense_resource<b.f16> : tensor<8xf16>
// F16: pmc.matmul %{{.*}}, %{{.*}} : (tensor<4x8xf16>, tensor<8x8xf16>) -> tensor<4x8xf16>
// F16: b.f16: "0x02000000003C0040004200440045004600470048"
func.func @mlp(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %w = pmc.constant dense<0.5> : tensor<8x8xf32>
  %b = pmc.constant dense_resource<b> : tensor<8xf32>
  %y = pmc.matmul %x, %w : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  %a = pmc.add %y, %b : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %r = pmc.relu %a : tensor<4x8xf32>
  return %r : tensor<4x8xf32>
}
{-#
  dialect_resources: {
    builtin: {
      b: "0x040000000000803F0000004000004040000080400000A0400000C0400000E04000000041"
    }
  }
#-}

// -----

// Softmax runs in f32 on a widened operand; its result is narrowed for the
// bf16 users, and a result returned directly is never rounded to bf16.
// CHECK-LABEL: func.func @softmax
// CHECK: %[[MM:.*]] = pmc.matmul {{.*}} -> tensor<2x4xbf16>
// CHECK: %[[WIDE:.*]] = pmc.cast %[[MM]] : tensor<2x4xbf16> to tensor<2x4xf32>
// CHECK: %[[S:.*]] = pmc.softmax %[[WIDE]] {axis = 1 : i64} : tensor<2x4xf32>
// CHECK: %[[SB:.*]] = pmc.cast %[[S]] : tensor<2x4xf32> to tensor<2x4xbf16>
// CHECK: %[[M:.*]] = pmc.mul %[[SB]], %[[SB]] : (tensor<2x4xbf16>, tensor<2x4xbf16>) -> tensor<2x4xbf16>
// CHECK: %[[MW:.*]] = pmc.cast %[[M]] : tensor<2x4xbf16> to tensor<2x4xf32>
// CHECK: return %[[MW]], %[[S]] : tensor<2x4xf32>, tensor<2x4xf32>
func.func @softmax(%x: tensor<2x3xf32>, %w: tensor<3x4xf32>) -> (tensor<2x4xf32>, tensor<2x4xf32>) {
  %y = pmc.matmul %x, %w : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32>
  %s = pmc.softmax %y {axis = 1 : i64} : tensor<2x4xf32>
  %m = pmc.mul %s, %s : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  return %m, %s : tensor<2x4xf32>, tensor<2x4xf32>
}

// -----

// LayerNorm computes its mean and variance in f32: input, scale and bias are
// widened (the f32 scale weight is read before rounding would apply to it
// only through the bf16 constant), the normalized output is narrowed.
// CHECK-LABEL: func.func @layer_norm
// CHECK: %[[XB:.*]] = pmc.cast %{{.*}} : tensor<4x8xf32> to tensor<4x8xbf16>
// CHECK: %[[G:.*]] = pmc.constant dense<1.000000e+00> : tensor<8xbf16>
// CHECK: %[[A:.*]] = pmc.add %[[XB]], %[[XB]] : (tensor<4x8xbf16>, tensor<4x8xbf16>) -> tensor<4x8xbf16>
// CHECK: %[[AW:.*]] = pmc.cast %[[A]] : tensor<4x8xbf16> to tensor<4x8xf32>
// CHECK: %[[GW:.*]] = pmc.cast %[[G]] : tensor<8xbf16> to tensor<8xf32>
// CHECK: %[[Y:.*]], %{{.*}}, %{{.*}} = pmc.layer_norm %[[AW]], %[[GW]] {{.*}} -> (tensor<4x8xf32>, tensor<4x1xf32>, tensor<4x1xf32>)
// CHECK: %[[YB:.*]] = pmc.cast %[[Y]] : tensor<4x8xf32> to tensor<4x8xbf16>
// CHECK: pmc.tanh %[[YB]] : tensor<4x8xbf16>
func.func @layer_norm(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %g = pmc.constant dense<1.0> : tensor<8xf32>
  %a = pmc.add %x, %x : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  %y, %mean, %inv = pmc.layer_norm %a, %g {axis = 1 : i64, epsilon = 1.0e-05 : f32}
      : (tensor<4x8xf32>, tensor<8xf32>) -> (tensor<4x8xf32>, tensor<4x1xf32>, tensor<4x1xf32>)
  %t = pmc.tanh %y : tensor<4x8xf32>
  return %t : tensor<4x8xf32>
}

// -----

// Reductions accumulate in f32. A reduction of a graph input reads the f32
// argument itself (no round trip through bf16); the mean of a bf16 value is
// computed on its widened copy. Integer tensors are untouched.
// CHECK-LABEL: func.func @reductions
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32>, %[[I:.*]]: tensor<4xi64>)
// CHECK: %[[S:.*]] = pmc.reduce_sum %[[X]] {{.*}} : (tensor<4x8xf32>) -> tensor<4x1xf32>
// CHECK: %[[SB:.*]] = pmc.cast %[[S]] : tensor<4x1xf32> to tensor<4x1xbf16>
// CHECK: %[[E:.*]] = pmc.exp %{{.*}} : tensor<4x8xbf16>
// CHECK: %[[EW:.*]] = pmc.cast %[[E]] : tensor<4x8xbf16> to tensor<4x8xf32>
// CHECK: %[[M:.*]] = pmc.reduce_mean %[[EW]] {{.*}} : (tensor<4x8xf32>) -> tensor<4x1xf32>
// CHECK: %[[MB:.*]] = pmc.cast %[[M]] : tensor<4x1xf32> to tensor<4x1xbf16>
// CHECK: %[[D:.*]] = pmc.div %[[MB]], %[[SB]] : (tensor<4x1xbf16>, tensor<4x1xbf16>) -> tensor<4x1xbf16>
// CHECK: %[[J:.*]] = pmc.add %[[I]], %[[I]] : (tensor<4xi64>, tensor<4xi64>) -> tensor<4xi64>
// CHECK: %[[DW:.*]] = pmc.cast %[[D]] : tensor<4x1xbf16> to tensor<4x1xf32>
// CHECK: return %[[DW]], %[[J]] : tensor<4x1xf32>, tensor<4xi64>
func.func @reductions(%x: tensor<4x8xf32>, %i: tensor<4xi64>) -> (tensor<4x1xf32>, tensor<4xi64>) {
  %s = pmc.reduce_sum %x {axes = array<i64: 1>, keepdims} : (tensor<4x8xf32>) -> tensor<4x1xf32>
  %e = pmc.exp %x : tensor<4x8xf32>
  %m = pmc.reduce_mean %e {axes = array<i64: 1>, keepdims} : (tensor<4x8xf32>) -> tensor<4x1xf32>
  %d = pmc.div %m, %s : (tensor<4x1xf32>, tensor<4x1xf32>) -> tensor<4x1xf32>
  %j = pmc.add %i, %i : (tensor<4xi64>, tensor<4xi64>) -> tensor<4xi64>
  return %d, %j : tensor<4x1xf32>, tensor<4xi64>
}

// -----

// f64 tensors and casts from integers: an f64 value stays f64; a cast that
// produced f32 now produces bf16.
// CHECK-LABEL: func.func @other_types
// CHECK: pmc.add %{{.*}}, %{{.*}} : (tensor<4xf64>, tensor<4xf64>) -> tensor<4xf64>
// CHECK: pmc.cast %{{.*}} : tensor<4xi64> to tensor<4xbf16>
func.func @other_types(%d: tensor<4xf64>, %i: tensor<4xi64>) -> (tensor<4xf64>, tensor<4xf32>) {
  %a = pmc.add %d, %d : (tensor<4xf64>, tensor<4xf64>) -> tensor<4xf64>
  %c = pmc.cast %i : tensor<4xi64> to tensor<4xf32>
  %t = pmc.tanh %c : tensor<4xf32>
  return %a, %t : tensor<4xf64>, tensor<4xf32>
}

// -----

// Tensors that are narrow in the model already keep their type everywhere,
// also where they meet the function's results or an f32-keeping op.
// CHECK-LABEL: func.func @already_narrow
// CHECK-SAME: (%[[H:.*]]: tensor<4xbf16>) -> (tensor<4xbf16>, tensor<1xbf16>)
// CHECK: %[[T:.*]] = pmc.tanh %[[H]] : tensor<4xbf16>
// CHECK: %[[S:.*]] = pmc.reduce_sum %[[T]] {{.*}} : (tensor<4xbf16>) -> tensor<1xbf16>
// CHECK: return %[[T]], %[[S]] : tensor<4xbf16>, tensor<1xbf16>
func.func @already_narrow(%h: tensor<4xbf16>) -> (tensor<4xbf16>, tensor<1xbf16>) {
  %t = pmc.tanh %h : tensor<4xbf16>
  %s = pmc.reduce_sum %t {axes = array<i64: 0>, keepdims} : (tensor<4xbf16>) -> tensor<1xbf16>
  return %t, %s : tensor<4xbf16>, tensor<1xbf16>
}
