// RUN: pmc-opt %s | pmc-opt | FileCheck %s
// Every pmc operator parses, prints and parses again.

// CHECK-LABEL: func @constants
func.func @constants() -> (tensor<2xf32>, tensor<2x2xf32>) {
  // CHECK: pmc.constant dense<[1.000000e+00, 2.000000e+00]> : tensor<2xf32>
  %c = pmc.constant dense<[1.0, 2.0]> : tensor<2xf32>
  // CHECK: pmc.constant dense_resource<blob> : tensor<2x2xf32>
  %r = pmc.constant dense_resource<blob> : tensor<2x2xf32>
  return %c, %r : tensor<2xf32>, tensor<2x2xf32>
}

// CHECK-LABEL: func @unary
func.func @unary(%x: tensor<4xf32>, %i: tensor<4xi32>, %b: tensor<4xi1>) {
  // CHECK: pmc.abs %{{.*}} : tensor<4xi32>
  %0 = pmc.abs %i : tensor<4xi32>
  // CHECK: pmc.neg %{{.*}} : tensor<4xf32>
  %1 = pmc.neg %x : tensor<4xf32>
  // CHECK: pmc.relu
  %2 = pmc.relu %x : tensor<4xf32>
  // CHECK: pmc.sqrt
  %3 = pmc.sqrt %x : tensor<4xf32>
  // CHECK: pmc.exp
  %4 = pmc.exp %x : tensor<4xf32>
  // CHECK: pmc.log
  %5 = pmc.log %x : tensor<4xf32>
  // CHECK: pmc.tanh
  %6 = pmc.tanh %x : tensor<4xf32>
  // CHECK: pmc.erf
  %7 = pmc.erf %x : tensor<4xf32>
  // CHECK: pmc.sigmoid
  %8 = pmc.sigmoid %x : tensor<4xf32>
  // CHECK: pmc.reciprocal
  %9 = pmc.reciprocal %x : tensor<4xf32>
  // CHECK: pmc.floor
  %10 = pmc.floor %x : tensor<4xf32>
  // CHECK: pmc.ceil
  %11 = pmc.ceil %x : tensor<4xf32>
  // CHECK: pmc.sin
  %12 = pmc.sin %x : tensor<4xf32>
  // CHECK: pmc.cos
  %13 = pmc.cos %x : tensor<4xf32>
  // CHECK: pmc.not %{{.*}} : tensor<4xi1>
  %14 = pmc.not %b : tensor<4xi1>
  // CHECK: pmc.gelu %{{.*}} {tanh_approximation} : tensor<4xf32>
  %15 = pmc.gelu %x {tanh_approximation} : tensor<4xf32>
  // CHECK: pmc.gelu %{{.*}} : tensor<4xf32>
  %16 = pmc.gelu %x : tensor<4xf32>
  // CHECK: pmc.cast %{{.*}} : tensor<4xf32> to tensor<4xi64>
  %17 = pmc.cast %x : tensor<4xf32> to tensor<4xi64>
  return
}

// CHECK-LABEL: func @binary
func.func @binary(%x: tensor<2x3xf32>, %y: tensor<3xf32>, %i: tensor<2x3xi64>,
                  %b: tensor<2x3xi1>, %c: tensor<1xi1>) {
  // CHECK: pmc.add %{{.*}}, %{{.*}} : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %0 = pmc.add %x, %y : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  // CHECK: pmc.sub
  %1 = pmc.sub %x, %y : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  // CHECK: pmc.mul
  %2 = pmc.mul %x, %y : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  // CHECK: pmc.div
  %3 = pmc.div %i, %i : (tensor<2x3xi64>, tensor<2x3xi64>) -> tensor<2x3xi64>
  // CHECK: pmc.min
  %4 = pmc.min %x, %y : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  // CHECK: pmc.max
  %5 = pmc.max %x, %y : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  // CHECK: pmc.pow %{{.*}}, %{{.*}} : (tensor<2x3xf32>, tensor<2x3xi64>) -> tensor<2x3xf32>
  %6 = pmc.pow %x, %i : (tensor<2x3xf32>, tensor<2x3xi64>) -> tensor<2x3xf32>
  // CHECK: pmc.equal %{{.*}} -> tensor<2x3xi1>
  %7 = pmc.equal %x, %y : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xi1>
  // CHECK: pmc.less
  %8 = pmc.less %x, %y : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xi1>
  // CHECK: pmc.less_equal
  %9 = pmc.less_equal %x, %y : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xi1>
  // CHECK: pmc.greater
  %10 = pmc.greater %x, %y : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xi1>
  // CHECK: pmc.greater_equal
  %11 = pmc.greater_equal %x, %y : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xi1>
  // CHECK: pmc.and
  %12 = pmc.and %b, %c : (tensor<2x3xi1>, tensor<1xi1>) -> tensor<2x3xi1>
  // CHECK: pmc.or
  %13 = pmc.or %b, %c : (tensor<2x3xi1>, tensor<1xi1>) -> tensor<2x3xi1>
  // CHECK: pmc.xor
  %14 = pmc.xor %b, %c : (tensor<2x3xi1>, tensor<1xi1>) -> tensor<2x3xi1>
  // CHECK: pmc.where %{{.*}}, %{{.*}}, %{{.*}} : (tensor<1xi1>, tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %15 = pmc.where %c, %x, %y : (tensor<1xi1>, tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  return
}

// CHECK-LABEL: func @contractions
func.func @contractions(%a: tensor<2x8x16xf32>, %w: tensor<4x16xf32>,
                        %x: tensor<1x3x8x8xf32>, %k: tensor<4x3x3x3xf32>, %bias: tensor<4xf32>) {
  // CHECK: pmc.matmul %{{.*}}, %{{.*}} {transpose_b} : (tensor<2x8x16xf32>, tensor<4x16xf32>) -> tensor<2x8x4xf32>
  %0 = pmc.matmul %a, %w {transpose_b} : (tensor<2x8x16xf32>, tensor<4x16xf32>) -> tensor<2x8x4xf32>
  // CHECK: pmc.conv %{{.*}}, %{{.*}}, %{{.*}} {dilations = array<i64: 1, 1>, group = 1 : i64, pads = array<i64: 1, 1, 1, 1>, strides = array<i64: 1, 1>}
  %1 = pmc.conv %x, %k, %bias {strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>,
         dilations = array<i64: 1, 1>, group = 1 : i64}
       : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>) -> tensor<1x4x8x8xf32>
  // CHECK: pmc.conv %{{.*}}, %{{.*}} {{.*}} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x3x3xf32>
  %2 = pmc.conv %x, %k {strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>,
         dilations = array<i64: 1, 1>, group = 1 : i64}
       : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x3x3xf32>
  return
}

// CHECK-LABEL: func @pooling_and_reductions
func.func @pooling_and_reductions(%x: tensor<1x3x8x8xf32>) {
  // CHECK: pmc.max_pool %{{.*}} {ceil_mode, dilations = array<i64: 1, 1>, kernel_shape = array<i64: 3, 3>, pads = array<i64: 0, 0, 0, 0>, strides = array<i64: 2, 2>} : (tensor<1x3x8x8xf32>) -> tensor<1x3x4x4xf32>
  %0 = pmc.max_pool %x {kernel_shape = array<i64: 3, 3>, strides = array<i64: 2, 2>,
         pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, ceil_mode}
       : (tensor<1x3x8x8xf32>) -> tensor<1x3x4x4xf32>
  // CHECK: pmc.avg_pool %{{.*}} {count_include_pad
  %1 = pmc.avg_pool %x {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>,
         pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, count_include_pad}
       : (tensor<1x3x8x8xf32>) -> tensor<1x3x4x4xf32>
  // CHECK: pmc.reduce_sum %{{.*}} {axes = array<i64: 1>, keepdims} : (tensor<1x3x8x8xf32>) -> tensor<1x1x8x8xf32>
  %2 = pmc.reduce_sum %x {axes = array<i64: 1>, keepdims} : (tensor<1x3x8x8xf32>) -> tensor<1x1x8x8xf32>
  // CHECK: pmc.reduce_mean %{{.*}} {axes = array<i64: 2, 3>} : (tensor<1x3x8x8xf32>) -> tensor<1x3xf32>
  %3 = pmc.reduce_mean %x {axes = array<i64: 2, 3>} : (tensor<1x3x8x8xf32>) -> tensor<1x3xf32>
  // CHECK: pmc.reduce_max
  %4 = pmc.reduce_max %x {axes = array<i64: 0>} : (tensor<1x3x8x8xf32>) -> tensor<3x8x8xf32>
  // CHECK: pmc.reduce_min
  %5 = pmc.reduce_min %x {axes = array<i64: 0>} : (tensor<1x3x8x8xf32>) -> tensor<3x8x8xf32>
  // CHECK: pmc.reduce_prod
  %6 = pmc.reduce_prod %x {axes = array<i64>} : (tensor<1x3x8x8xf32>) -> tensor<1x3x8x8xf32>
  return
}

// CHECK-LABEL: func @normalizations
func.func @normalizations(%x: tensor<4x8xf32>, %g: tensor<8xf32>, %b: tensor<8xf32>) {
  // CHECK: pmc.softmax %{{.*}} {axis = 1 : i64} : tensor<4x8xf32>
  %0 = pmc.softmax %x {axis = 1 : i64} : tensor<4x8xf32>
  // CHECK: pmc.log_softmax %{{.*}} {axis = 0 : i64} : tensor<4x8xf32>
  %1 = pmc.log_softmax %x {axis = 0 : i64} : tensor<4x8xf32>
  // CHECK: pmc.layer_norm %{{.*}}, %{{.*}}, %{{.*}} {axis = 1 : i64, epsilon = 9.99999974E-6 : f32}
  %2:3 = pmc.layer_norm %x, %g, %b {axis = 1 : i64, epsilon = 1.0e-05 : f32}
      : (tensor<4x8xf32>, tensor<8xf32>, tensor<8xf32>) -> (tensor<4x8xf32>, tensor<4x1xf32>, tensor<4x1xf32>)
  // CHECK: pmc.layer_norm %{{.*}}, %{{.*}} {axis = 1 : i64, {{.*}}} : (tensor<4x8xf32>, tensor<8xf32>) -> (tensor<4x8xf32>, tensor<4x1xf32>, tensor<4x1xf32>)
  %3:3 = pmc.layer_norm %x, %g {axis = 1 : i64, epsilon = 1.0e-05 : f32}
      : (tensor<4x8xf32>, tensor<8xf32>) -> (tensor<4x8xf32>, tensor<4x1xf32>, tensor<4x1xf32>)
  return
}

// CHECK-LABEL: func @data_movement
func.func @data_movement(%x: tensor<2x3xf32>, %t: tensor<100x16xf32>, %ids: tensor<2x5xi64>) {
  // CHECK: pmc.transpose %{{.*}} {perm = array<i64: 1, 0>} : (tensor<2x3xf32>) -> tensor<3x2xf32>
  %0 = pmc.transpose %x {perm = array<i64: 1, 0>} : (tensor<2x3xf32>) -> tensor<3x2xf32>
  // CHECK: pmc.reshape %{{.*}} : tensor<2x3xf32> to tensor<6xf32>
  %1 = pmc.reshape %x : tensor<2x3xf32> to tensor<6xf32>
  // CHECK: pmc.broadcast %{{.*}} : tensor<2x3xf32> to tensor<4x2x3xf32>
  %2 = pmc.broadcast %x : tensor<2x3xf32> to tensor<4x2x3xf32>
  // CHECK: pmc.concat %{{.*}}, %{{.*}} {axis = 0 : i64} : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<4x3xf32>
  %3 = pmc.concat %x, %x {axis = 0 : i64} : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<4x3xf32>
  // CHECK: pmc.slice %{{.*}} {starts = array<i64: 0, 2>, steps = array<i64: 1, -1>} : tensor<2x3xf32> to tensor<2x2xf32>
  %4 = pmc.slice %x {starts = array<i64: 0, 2>, steps = array<i64: 1, -1>} : tensor<2x3xf32> to tensor<2x2xf32>
  // CHECK: pmc.gather %{{.*}}, %{{.*}} {axis = 0 : i64} : (tensor<100x16xf32>, tensor<2x5xi64>) -> tensor<2x5x16xf32>
  %5 = pmc.gather %t, %ids {axis = 0 : i64} : (tensor<100x16xf32>, tensor<2x5xi64>) -> tensor<2x5x16xf32>
  return
}

{-#
  dialect_resources: {
    builtin: {
      blob: "0x040000000000803F000000400000404000008040"
    }
  }
#-}
