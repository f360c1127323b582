// RUN: pmc-opt %s --pmc-convert-to-linalg --split-input-file | FileCheck %s

// Operator set extension lowerings.

// Python-style integer mod: remsi, then the divisor's sign is restored; a zero
// divisor is replaced (no trap) and gives 0.
// CHECK-LABEL: func.func @mod_int
// CHECK: linalg.generic
// CHECK: arith.select
// CHECK: %[[R:.*]] = arith.remsi
// CHECK: arith.addi %[[R]]
// CHECK: linalg.yield
func.func @mod_int(%x: tensor<4xi32>, %y: tensor<4xi32>) -> tensor<4xi32> {
  %0 = pmc.mod %x, %y : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>
  return %0 : tensor<4xi32>
}

// -----

// fmod on floats is arith.remf alone.
// CHECK-LABEL: func.func @fmod_f32
// CHECK: arith.remf
// CHECK-NOT: arith.addf
// CHECK: linalg.yield
func.func @fmod_f32(%x: tensor<4xf32>, %y: tensor<4xf32>) -> tensor<4xf32> {
  %0 = pmc.mod %x, %y {fmod} : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// Shifts of the bit width or more give 0 instead of poison.
// CHECK-LABEL: func.func @shift_left
// CHECK: %[[S:.*]] = arith.shli
// CHECK: %[[FAR:.*]] = arith.cmpi uge, %{{.*}}, %c8_i8
// CHECK: arith.select %[[FAR]], %c0_i8, %[[S]]
func.func @shift_left(%x: tensor<3xui8>, %y: tensor<3xui8>) -> tensor<3xui8> {
  %0 = pmc.bit_shift %x, %y {left} : (tensor<3xui8>, tensor<3xui8>) -> tensor<3xui8>
  return %0 : tensor<3xui8>
}

// -----

// Softplus avoids overflow: max(x, 0) + log1p(exp(-|x|)).
// CHECK-LABEL: func.func @softplus
// CHECK: arith.maximumf
// CHECK: math.absf
// CHECK: arith.negf
// CHECK: math.exp
// CHECK: math.log
func.func @softplus(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = pmc.softplus %x : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// Unary math ops map to the math dialect; round is round-half-to-even.
// CHECK-LABEL: func.func @unary_math
// CHECK: math.tan
// CHECK: math.atanh
// CHECK: math.roundeven
func.func @unary_math(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = pmc.tan %x : tensor<4xf32>
  %1 = pmc.atanh %0 : tensor<4xf32>
  %2 = pmc.round %1 : tensor<4xf32>
  return %2 : tensor<4xf32>
}

// -----

// ArgMax: one reduction carrying the value and the i64 index, then the kept
// dim is restored.
// CHECK-LABEL: func.func @arg_max
// CHECK: %[[G:.*]]:2 = linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]
// CHECK: arith.cmpf ogt
// CHECK: linalg.index 1
// CHECK: linalg.yield %{{.*}}, %{{.*}} : f32, i64
// CHECK: tensor.expand_shape %[[G]]#1 {{.*}} : tensor<2xi64> into tensor<2x1xi64>
func.func @arg_max(%x: tensor<2x3xf32>) -> tensor<2x1xi64> {
  %0 = pmc.arg_max %x {axis = 1 : i64, keepdims} : (tensor<2x3xf32>) -> tensor<2x1xi64>
  return %0 : tensor<2x1xi64>
}

// -----

// select_last_index keeps the last of equal values: a non-strict comparison.
// CHECK-LABEL: func.func @arg_min_last
// CHECK: arith.cmpi sle
func.func @arg_min_last(%x: tensor<5xi32>) -> tensor<i64> {
  %0 = pmc.arg_min %x {axis = 0 : i64, select_last_index} : (tensor<5xi32>) -> tensor<i64>
  return %0 : tensor<i64>
}

// -----

// Constant pad: the position is tested against the input range and the pad
// value (the 0-d operand) is selected outside.
// CHECK-LABEL: func.func @pad_constant
// CHECK: linalg.generic {indexing_maps = [#{{.*}}, #{{.*}}]
// CHECK-SAME: ins(%{{.*}} : tensor<f32>)
// CHECK: arith.cmpi sge
// CHECK: arith.cmpi slt
// CHECK: tensor.extract
// CHECK: arith.select
// CHECK: -> tensor<2x6xf32>
func.func @pad_constant(%x: tensor<2x3xf32>, %v: tensor<f32>) -> tensor<2x6xf32> {
  %0 = pmc.pad %x, %v {pads = array<i64: 0, 1, 0, 2>, mode = "constant"} : (tensor<2x3xf32>, tensor<f32>) -> tensor<2x6xf32>
  return %0 : tensor<2x6xf32>
}

// -----

// Wrap mode folds the position periodically.
// CHECK-LABEL: func.func @pad_wrap
// CHECK: arith.remsi
// CHECK: tensor.extract
// CHECK-NOT: arith.select %{{.*}}, %{{.*}}, %{{.*}} : f32
func.func @pad_wrap(%x: tensor<3xf32>) -> tensor<7xf32> {
  %0 = pmc.pad %x {pads = array<i64: 2, 2>, mode = "wrap"} : (tensor<3xf32>) -> tensor<7xf32>
  return %0 : tensor<7xf32>
}

// -----

// CumSum: the axis appears twice in the iteration space; reverse exclusive
// takes the elements strictly after the position.
// CHECK-LABEL: func.func @cumsum
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]
// CHECK: %[[I:.*]] = linalg.index 1
// CHECK: %[[K:.*]] = linalg.index 2
// CHECK: arith.cmpi ugt, %[[K]], %[[I]]
func.func @cumsum(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %0 = pmc.cumsum %x {axis = 1 : i64, exclusive, reverse} : tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

// CumProd: the same iteration space, starting from 1 and multiplying.
// CHECK-LABEL: func.func @cumprod
// CHECK: arith.constant 1.000000e+00 : f32
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]
// CHECK: arith.cmpi ule
// CHECK: arith.mulf
func.func @cumprod(%x: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %0 = pmc.cumprod %x {axis = 0 : i64} : tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

// GatherElements reads data at the index position with the axis replaced.
// CHECK-LABEL: func.func @gather_elements
// CHECK: linalg.generic
// CHECK: arith.index_cast
// CHECK: %[[D0:.*]] = linalg.index 0
// CHECK: tensor.extract %{{.*}}[%[[D0]], %{{.*}}] : tensor<2x3xf32>
func.func @gather_elements(%d: tensor<2x3xf32>, %i: tensor<2x2xi64>) -> tensor<2x2xf32> {
  %0 = pmc.gather_elements %d, %i {axis = 1 : i64} : (tensor<2x3xf32>, tensor<2x2xi64>) -> tensor<2x2xf32>
  return %0 : tensor<2x2xf32>
}
