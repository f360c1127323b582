// RUN: pmc-opt %s --pmc-convert-to-linalg --split-input-file | FileCheck %s

// pmc.random_uniform: one parallel generic; each element's counter is its
// row-major index (3 * i + j) and the offset, ten Philox rounds of two
// extended multiplies, the top 24 bits scaled by 2^-24.
// CHECK-LABEL: func.func @uniform
// CHECK: linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel"]
// CHECK-SAME: ins(%{{.*}} : tensor<f32>)
// CHECK: linalg.index 0
// CHECK: linalg.index 1
// CHECK: arith.fptoui %{{.*}} : f32 to i64
// CHECK-COUNT-20: arith.mului_extended
// CHECK: arith.shrui
// CHECK: arith.uitofp
// CHECK: arith.mulf
// CHECK: -> tensor<2x3xf32>
func.func @uniform(%t: tensor<f32>) -> tensor<2x3xf32> {
  %u = pmc.random_uniform %t {key = 7 : i64} : (tensor<f32>) -> tensor<2x3xf32>
  return %u : tensor<2x3xf32>
}

// -----

// An integer offset widens (unsigned) instead.
// CHECK-LABEL: func.func @int_offset
// CHECK: arith.extui %{{.*}} : i32 to i64
func.func @int_offset(%t: tensor<i32>) -> tensor<4xf32> {
  %u = pmc.random_uniform %t {key = -1 : i64} : (tensor<i32>) -> tensor<4xf32>
  return %u : tensor<4xf32>
}
