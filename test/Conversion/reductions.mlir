// RUN: pmc-opt %s --pmc-convert-to-linalg --split-input-file | FileCheck %s

// Sum with keepdims: a reduction generic into the kept dims, then a reshape.
// CHECK-DAG: #[[IN:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG: #[[OUT:.*]] = affine_map<(d0, d1) -> (d0)>
// CHECK-LABEL: func.func @sum_keepdims
// CHECK: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[INIT:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%{{.*}} : tensor<2xf32>)
// CHECK: %[[R:.*]] = linalg.generic {indexing_maps = [#[[IN]], #[[OUT]]], iterator_types = ["parallel", "reduction"]}
// CHECK-SAME: outs(%[[INIT]] : tensor<2xf32>)
// CHECK: arith.addf
// CHECK: tensor.expand_shape
// CHECK-SAME: tensor<2xf32> into tensor<2x1xf32>
func.func @sum_keepdims(%x: tensor<2x3xf32>) -> tensor<2x1xf32> {
  %0 = pmc.reduce_sum %x {axes = array<i64: 1>, keepdims} : (tensor<2x3xf32>) -> tensor<2x1xf32>
  return %0 : tensor<2x1xf32>
}

// -----

// Max starts from -inf and propagates NaN; min of signed ints starts at INT_MAX.
// CHECK-LABEL: func.func @max_min
// CHECK: arith.constant 0xFF800000 : f32
// CHECK: arith.maximumf
// CHECK: arith.constant 2147483647 : i32
// CHECK: arith.minsi
func.func @max_min(%x: tensor<2x3xf32>, %y: tensor<4xi32>) -> (tensor<3xf32>, tensor<i32>) {
  %0 = pmc.reduce_max %x {axes = array<i64: 0>} : (tensor<2x3xf32>) -> tensor<3xf32>
  %1 = pmc.reduce_min %y {axes = array<i64: 0>} : (tensor<4xi32>) -> tensor<i32>
  return %0, %1 : tensor<3xf32>, tensor<i32>
}

// -----

// Mean divides the sum by the reduced element count (here 6); f16 accumulates
// in f32 and truncates at the end.
// CHECK-LABEL: func.func @mean_f16
// CHECK: linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<f32>)
// CHECK: arith.extf
// CHECK: arith.addf
// CHECK: %[[N:.*]] = arith.constant 6.000000e+00 : f32
// CHECK: arith.divf %{{.*}}, %[[N]] : f32
// CHECK: arith.truncf
func.func @mean_f16(%x: tensor<2x3xf16>) -> tensor<f16> {
  %0 = pmc.reduce_mean %x {axes = array<i64: 0, 1>} : (tensor<2x3xf16>) -> tensor<f16>
  return %0 : tensor<f16>
}

// -----

// Softmax: max, exp(x - max), sum, divide.
// CHECK-LABEL: func.func @softmax
// CHECK: arith.maximumf
// CHECK: arith.subf
// CHECK: math.exp
// CHECK: arith.addf
// CHECK: arith.divf
func.func @softmax(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %0 = pmc.softmax %x {axis = 1 : i64} : tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}

// -----

// LogSoftmax subtracts the log of the sum.
// CHECK-LABEL: func.func @log_softmax
// CHECK: math.exp
// CHECK: math.log
// CHECK: arith.subf
func.func @log_softmax(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %0 = pmc.log_softmax %x {axis = 1 : i64} : tensor<2x8xf32>
  return %0 : tensor<2x8xf32>
}

// -----

// LayerNorm: mean, variance, rsqrt(var + eps), then the scaled output; the
// statistics come back with the normalized dims set to 1.
// CHECK-LABEL: func.func @layer_norm
// CHECK: iterator_types = ["parallel", "reduction"]
// CHECK: math.rsqrt
// CHECK: %[[Y:.*]] = linalg.generic
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK: %[[M:.*]] = tensor.expand_shape %{{.*}} {{\[\[}}0, 1]] output_shape [4, 1] : tensor<4xf32> into tensor<4x1xf32>
// CHECK: %[[I:.*]] = tensor.expand_shape
// CHECK: return %[[Y]], %[[M]], %[[I]]
func.func @layer_norm(%x: tensor<4x8xf32>, %g: tensor<8xf32>, %b: tensor<8xf32>) -> (tensor<4x8xf32>, tensor<4x1xf32>, tensor<4x1xf32>) {
  %y, %mean, %inv = pmc.layer_norm %x, %g, %b {axis = 1 : i64, epsilon = 1.0e-05 : f32}
      : (tensor<4x8xf32>, tensor<8xf32>, tensor<8xf32>) -> (tensor<4x8xf32>, tensor<4x1xf32>, tensor<4x1xf32>)
  return %y, %mean, %inv : tensor<4x8xf32>, tensor<4x1xf32>, tensor<4x1xf32>
}
