// RUN: pmc-opt %s --pmc-convert-to-linalg --split-input-file | FileCheck %s

// Broadcasting add: the rank-1 operand reads dim 1, the size-1 dim reads 0.
// CHECK-DAG: #[[ID:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG: #[[ROW:.*]] = affine_map<(d0, d1) -> (d1)>
// CHECK-DAG: #[[COL:.*]] = affine_map<(d0, d1) -> (d0, 0)>
// CHECK-LABEL: func.func @add_broadcast
// CHECK: %[[E:.*]] = tensor.empty() : tensor<2x3xf32>
// CHECK: linalg.generic {indexing_maps = [#[[ID]], #[[ROW]], #[[ID]]], iterator_types = ["parallel", "parallel"]}
// CHECK-SAME: outs(%[[E]] : tensor<2x3xf32>)
// CHECK: arith.addf
// CHECK: linalg.generic {indexing_maps = [#[[COL]], #[[ID]], #[[ID]]]
// CHECK: arith.mulf
func.func @add_broadcast(%x: tensor<2x3xf32>, %y: tensor<3xf32>, %z: tensor<2x1xf32>) -> tensor<2x3xf32> {
  %0 = pmc.add %x, %y : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %1 = pmc.mul %z, %0 : (tensor<2x1xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  return %1 : tensor<2x3xf32>
}

// -----

// f16 computes in f32: extend, compute, truncate.
// CHECK-LABEL: func.func @exp_f16
// CHECK: ^bb0(%[[IN:.*]]: f16, %{{.*}}: f16):
// CHECK: %[[W:.*]] = arith.extf %[[IN]] : f16 to f32
// CHECK: %[[X:.*]] = math.exp %[[W]] : f32
// CHECK: %[[T:.*]] = arith.truncf %[[X]] : f32 to f16
// CHECK: linalg.yield %[[T]] : f16
func.func @exp_f16(%x: tensor<4xf16>) -> tensor<4xf16> {
  %0 = pmc.exp %x : tensor<4xf16>
  return %0 : tensor<4xf16>
}

// -----

// Unsigned integers become signless in the signature and use unsigned ops;
// a zero divisor yields 0 instead of trapping.
// CHECK-LABEL: func.func @div_u8(
// CHECK-SAME: %{{.*}}: tensor<4xi8>, %{{.*}}: tensor<4xi8>) -> tensor<4xi8>
// CHECK: arith.cmpi eq
// CHECK: arith.divui
// CHECK-NOT: arith.divsi
// CHECK: arith.maxui
func.func @div_u8(%x: tensor<4xui8>, %y: tensor<4xui8>) -> tensor<4xui8> {
  %0 = pmc.div %x, %y : (tensor<4xui8>, tensor<4xui8>) -> tensor<4xui8>
  %1 = pmc.max %0, %y : (tensor<4xui8>, tensor<4xui8>) -> tensor<4xui8>
  return %1 : tensor<4xui8>
}

// -----

// Signed division truncates toward zero (divsi); comparisons are signed.
// CHECK-LABEL: func.func @div_i32
// CHECK: arith.divsi
// CHECK: arith.cmpi slt
func.func @div_i32(%x: tensor<4xi32>, %y: tensor<4xi32>) -> tensor<4xi1> {
  %0 = pmc.div %x, %y : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>
  %1 = pmc.less %0, %y : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi1>
  return %1 : tensor<4xi1>
}

// -----

// Float min/max propagate NaN.
// CHECK-LABEL: func.func @minmax
// CHECK: arith.minimumf
// CHECK: arith.maximumf
func.func @minmax(%x: tensor<4xf32>, %y: tensor<4xf32>) -> tensor<4xf32> {
  %0 = pmc.min %x, %y : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %1 = pmc.max %0, %y : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %1 : tensor<4xf32>
}

// -----

// Casts: float to int truncates (fptosi), to unsigned uses fptoui, to bool is
// x != 0, bool to float is uitofp.
// CHECK-LABEL: func.func @casts
// CHECK: arith.fptosi %{{.*}} : f32 to i32
// CHECK: arith.fptoui %{{.*}} : f32 to i8
// CHECK: arith.cmpf une
// CHECK: arith.uitofp %{{.*}} : i1 to f32
func.func @casts(%x: tensor<4xf32>) -> (tensor<4xi32>, tensor<4xui8>, tensor<4xf32>) {
  %0 = pmc.cast %x : tensor<4xf32> to tensor<4xi32>
  %1 = pmc.cast %x : tensor<4xf32> to tensor<4xui8>
  %2 = pmc.cast %x : tensor<4xf32> to tensor<4xi1>
  %3 = pmc.cast %2 : tensor<4xi1> to tensor<4xf32>
  return %0, %1, %3 : tensor<4xi32>, tensor<4xui8>, tensor<4xf32>
}

// -----

// Where broadcasts all three operands into one select.
// CHECK-DAG: #[[C:.*]] = affine_map<(d0, d1) -> (d0, 0)>
// CHECK-DAG: #[[S:.*]] = affine_map<(d0, d1) -> ()>
// CHECK-LABEL: func.func @where
// CHECK: linalg.generic {indexing_maps = [#[[C]], #{{.*}}, #[[S]], #{{.*}}]
// CHECK: arith.select
func.func @where(%c: tensor<2x1xi1>, %x: tensor<2x3xf32>, %y: tensor<f32>) -> tensor<2x3xf32> {
  %0 = pmc.where %c, %x, %y : (tensor<2x1xi1>, tensor<2x3xf32>, tensor<f32>) -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

// Exact GELU uses erf; the tanh approximation uses tanh.
// CHECK-LABEL: func.func @gelu
// CHECK: math.erf
// CHECK: math.tanh
func.func @gelu(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = pmc.gelu %x : tensor<4xf32>
  %1 = pmc.gelu %0 {tanh_approximation} : tensor<4xf32>
  return %1 : tensor<4xf32>
}

// -----

// Pow with an integer exponent converts the exponent; sigmoid and logical not.
// CHECK-LABEL: func.func @pow_sigmoid_not
// CHECK: arith.sitofp %{{.*}} : i32 to f32
// CHECK: math.powf
// CHECK: math.exp
// CHECK: arith.divf
// CHECK: arith.xori
func.func @pow_sigmoid_not(%x: tensor<4xf32>, %e: tensor<4xi32>, %b: tensor<4xi1>) -> (tensor<4xf32>, tensor<4xi1>) {
  %0 = pmc.pow %x, %e : (tensor<4xf32>, tensor<4xi32>) -> tensor<4xf32>
  %1 = pmc.sigmoid %0 : tensor<4xf32>
  %2 = pmc.not %b : tensor<4xi1>
  return %1, %2 : tensor<4xf32>, tensor<4xi1>
}

// -----

// @main keeps its pmc ops; only the kernels are lowered.
// CHECK-LABEL: func.func @main
// CHECK: pmc.relu
// CHECK-LABEL: func.func private @kernel_0
// CHECK-NOT: pmc.
// CHECK: linalg.generic
func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = pmc.relu %x : tensor<4xf32>
  %1 = call @kernel_0(%0) : (tensor<4xf32>) -> tensor<4xf32>
  return %1 : tensor<4xf32>
}
func.func private @kernel_0(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = pmc.neg %x : tensor<4xf32>
  return %0 : tensor<4xf32>
}
