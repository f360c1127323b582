// RUN: pmc-opt %s -split-input-file -canonicalize | FileCheck %s

// Integer shape arithmetic with broadcasting folds to one constant.
// CHECK-LABEL: func @fold_int_arith
// CHECK-NEXT: %[[C:.*]] = pmc.constant dense<[5, 1, -3]> : tensor<3xi64>
// CHECK-NEXT: return %[[C]]
func.func @fold_int_arith() -> tensor<3xi64> {
  %a = pmc.constant dense<[1, 2, 3]> : tensor<3xi64>
  %b = pmc.constant dense<2> : tensor<i64>
  %c = pmc.constant dense<[7, -2, -3]> : tensor<3xi64>
  %0 = pmc.mul %a, %b : (tensor<3xi64>, tensor<i64>) -> tensor<3xi64>
  %1 = pmc.sub %c, %0 : (tensor<3xi64>, tensor<3xi64>) -> tensor<3xi64>
  %2 = pmc.add %1, %a : (tensor<3xi64>, tensor<3xi64>) -> tensor<3xi64>
  // [7-2+1, -2-4+2, -3-6+3] = [6, -4, -6]; integer division truncates toward zero.
  %3 = pmc.div %2, %b : (tensor<3xi64>, tensor<i64>) -> tensor<3xi64>
  // [3, -2, -3] -> max with [1, 2, 3] -> [3, 2, 3]; + [2, -1, -6]
  %4 = pmc.max %3, %a : (tensor<3xi64>, tensor<3xi64>) -> tensor<3xi64>
  %d = pmc.constant dense<[2, -1, -6]> : tensor<3xi64>
  %5 = pmc.add %4, %d : (tensor<3xi64>, tensor<3xi64>) -> tensor<3xi64>
  return %5 : tensor<3xi64>
}

// -----

// Float arithmetic, min, pow and unary neg/abs fold.
// CHECK-LABEL: func @fold_float
// CHECK-NEXT: %[[C:.*]] = pmc.constant dense<{{\[\[}}1.000000e+00, 2.500000e-01], [1.600000e+01, 2.500000e-01]]> : tensor<2x2xf32>
// CHECK-NEXT: return %[[C]]
func.func @fold_float() -> tensor<2x2xf32> {
  %a = pmc.constant dense<[[1.0, -0.5], [-4.0, 0.5]]> : tensor<2x2xf32>
  %two = pmc.constant dense<[2.0, 2.0]> : tensor<2xf32>
  %0 = pmc.abs %a : tensor<2x2xf32>
  %1 = pmc.pow %0, %two : (tensor<2x2xf32>, tensor<2xf32>) -> tensor<2x2xf32>
  %2 = pmc.neg %1 : tensor<2x2xf32>
  %3 = pmc.neg %2 : tensor<2x2xf32>
  %4 = pmc.max %3, %two : (tensor<2x2xf32>, tensor<2xf32>) -> tensor<2x2xf32>
  %quarter = pmc.constant dense<0.25> : tensor<f32>
  %5 = pmc.min %4, %1 : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
  %6 = pmc.max %5, %quarter : (tensor<2x2xf32>, tensor<f32>) -> tensor<2x2xf32>
  return %6 : tensor<2x2xf32>
}

// -----

// Division by zero is left for run time.
// CHECK-LABEL: func @no_fold_div_zero
// CHECK: pmc.div
func.func @no_fold_div_zero() -> tensor<2xi32> {
  %a = pmc.constant dense<[1, 2]> : tensor<2xi32>
  %z = pmc.constant dense<[1, 0]> : tensor<2xi32>
  %0 = pmc.div %a, %z : (tensor<2xi32>, tensor<2xi32>) -> tensor<2xi32>
  return %0 : tensor<2xi32>
}

// -----

// Cast: float to int truncates toward zero, to bool is x != 0, int widens signed,
// unsigned widens with zeros.
// CHECK-LABEL: func @fold_cast
// CHECK-DAG: pmc.constant dense<[1, -2, 0]> : tensor<3xi32>
// CHECK-DAG: pmc.constant dense<[true, true, false]> : tensor<3xi1>
// CHECK-DAG: pmc.constant dense<[-1, 127]> : tensor<2xi64>
// CHECK-DAG: pmc.constant dense<[255, 1]> : tensor<2xi64>
// CHECK-DAG: pmc.constant dense<[1.000000e+00, 0.000000e+00]> : tensor<2xf16>
// CHECK-NOT: pmc.cast
func.func @fold_cast() -> (tensor<3xi32>, tensor<3xi1>, tensor<2xi64>, tensor<2xi64>, tensor<2xf16>) {
  %f = pmc.constant dense<[1.9, -2.7, 0.0]> : tensor<3xf32>
  %0 = pmc.cast %f : tensor<3xf32> to tensor<3xi32>
  %1 = pmc.cast %f : tensor<3xf32> to tensor<3xi1>
  %i = pmc.constant dense<[-1, 127]> : tensor<2xi8>
  %2 = pmc.cast %i : tensor<2xi8> to tensor<2xi64>
  %u = pmc.constant dense<[255, 1]> : tensor<2xui8>
  %3 = pmc.cast %u : tensor<2xui8> to tensor<2xi64>
  %b = pmc.constant dense<[true, false]> : tensor<2xi1>
  %4 = pmc.cast %b : tensor<2xi1> to tensor<2xf16>
  return %0, %1, %2, %3, %4 : tensor<3xi32>, tensor<3xi1>, tensor<2xi64>, tensor<2xi64>, tensor<2xf16>
}

// -----

// Comparisons, logic and where fold; NaN compares false.
// CHECK-LABEL: func @fold_compare_where
// CHECK-DAG: pmc.constant dense<[false, true, false]> : tensor<3xi1>
// CHECK-DAG: pmc.constant dense<[1.000000e+00, 2.000000e+00, 3.000000e+00]> : tensor<3xf32>
func.func @fold_compare_where() -> (tensor<3xi1>, tensor<3xf32>) {
  %a = pmc.constant dense<[1.0, 2.0, 0x7FC00000]> : tensor<3xf32>
  %b = pmc.constant dense<[1.0, 5.0, 3.0]> : tensor<3xf32>
  %lt = pmc.less %a, %b : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xi1>
  %eq = pmc.equal %a, %b : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xi1>
  %ge = pmc.greater_equal %a, %b : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xi1>
  %or = pmc.or %eq, %ge : (tensor<3xi1>, tensor<3xi1>) -> tensor<3xi1>
  %x = pmc.xor %or, %lt : (tensor<3xi1>, tensor<3xi1>) -> tensor<3xi1>
  %n = pmc.and %x, %lt : (tensor<3xi1>, tensor<3xi1>) -> tensor<3xi1>
  %w = pmc.where %x, %a, %b : (tensor<3xi1>, tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  return %n, %w : tensor<3xi1>, tensor<3xf32>
}

// -----

// Data movement on constants: transpose, reshape, broadcast, concat, slice
// (with a negative step) and gather (with a negative index).
// CHECK-LABEL: func @fold_data_movement
// CHECK-DAG: pmc.constant dense<{{\[\[}}1, 4], [2, 5], [3, 6]]> : tensor<3x2xi64>
// CHECK-DAG: pmc.constant dense<[1, 2, 3, 4, 5, 6]> : tensor<6xi64>
// CHECK-DAG: pmc.constant dense<{{\[\[}}7, 8], [7, 8]]> : tensor<2x2xi64>
// CHECK-DAG: pmc.constant dense<[7, 8, 1, 2, 3]> : tensor<5xi64>
// CHECK-DAG: pmc.constant dense<[6, 4]> : tensor<2xi64>
// CHECK-DAG: pmc.constant dense<{{\[\[}}3, 1], [6, 4]]> : tensor<2x2xi64>
// CHECK-NOT: pmc.transpose
// CHECK-NOT: pmc.gather
func.func @fold_data_movement() -> (tensor<3x2xi64>, tensor<6xi64>, tensor<2x2xi64>, tensor<5xi64>, tensor<2xi64>, tensor<2x2xi64>) {
  %m = pmc.constant dense<[[1, 2, 3], [4, 5, 6]]> : tensor<2x3xi64>
  %v = pmc.constant dense<[7, 8]> : tensor<2xi64>
  %0 = pmc.transpose %m {perm = array<i64: 1, 0>} : (tensor<2x3xi64>) -> tensor<3x2xi64>
  %1 = pmc.reshape %m : tensor<2x3xi64> to tensor<6xi64>
  %2 = pmc.broadcast %v : tensor<2xi64> to tensor<2x2xi64>
  %row = pmc.slice %m {starts = array<i64: 0, 0>, steps = array<i64: 1, 1>} : tensor<2x3xi64> to tensor<1x3xi64>
  %flat = pmc.reshape %row : tensor<1x3xi64> to tensor<3xi64>
  %3 = pmc.concat %v, %flat {axis = 0 : i64} : (tensor<2xi64>, tensor<3xi64>) -> tensor<5xi64>
  %4 = pmc.slice %1 {starts = array<i64: 5>, steps = array<i64: -2>} : tensor<6xi64> to tensor<2xi64>
  %idx = pmc.constant dense<[-1, 0]> : tensor<2xi32>
  %5 = pmc.gather %m, %idx {axis = 1 : i64} : (tensor<2x3xi64>, tensor<2xi32>) -> tensor<2x2xi64>
  return %0, %1, %2, %3, %4, %5 : tensor<3x2xi64>, tensor<6xi64>, tensor<2x2xi64>, tensor<5xi64>, tensor<2xi64>, tensor<2x2xi64>
}

// -----

// Identity folds on non-constant values; a reshape of a reshape reads the source.
// CHECK-LABEL: func @identities
// CHECK-SAME: (%[[X:.*]]: tensor<2x3xf32>)
// CHECK-NEXT: %[[R:.*]] = pmc.reshape %[[X]] : tensor<2x3xf32> to tensor<6xf32>
// CHECK-NEXT: return %[[X]], %[[X]], %[[X]], %[[X]], %[[R]]
func.func @identities(%x: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<6xf32>) {
  %0 = pmc.transpose %x {perm = array<i64: 0, 1>} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %1 = pmc.cast %x : tensor<2x3xf32> to tensor<2x3xf32>
  %2 = pmc.slice %x {starts = array<i64: 0, 0>, steps = array<i64: 1, 1>} : tensor<2x3xf32> to tensor<2x3xf32>
  %3 = pmc.concat %x {axis = 0 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %a = pmc.reshape %x : tensor<2x3xf32> to tensor<3x2xf32>
  %4 = pmc.reshape %a : tensor<3x2xf32> to tensor<6xf32>
  return %0, %1, %2, %3, %4 : tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<6xf32>
}

// -----

// Large tensors are not folded element by element (weights stay as they are),
// splats of any size are.
// CHECK-LABEL: func @size_limits
// CHECK-DAG: %[[S:.*]] = pmc.constant dense<3.000000e+00> : tensor<4096x4096xf32>
// CHECK-DAG: %[[T:.*]] = pmc.transpose
// CHECK: return %[[T]], %[[S]]
func.func @size_limits(%w: tensor<64x128xf32>) -> (tensor<128x64xf32>, tensor<4096x4096xf32>) {
  %big = pmc.constant dense_resource<weights> : tensor<64x128xf32>
  %0 = pmc.transpose %big {perm = array<i64: 1, 0>} : (tensor<64x128xf32>) -> tensor<128x64xf32>
  %one = pmc.constant dense<1.0> : tensor<4096x4096xf32>
  %two = pmc.constant dense<2.0> : tensor<4096x4096xf32>
  %1 = pmc.add %one, %two : (tensor<4096x4096xf32>, tensor<4096x4096xf32>) -> tensor<4096x4096xf32>
  return %0, %1 : tensor<128x64xf32>, tensor<4096x4096xf32>
}

// -----

// Integer remainders of constants fold (torchscript exports compute Slice
// bounds with them): the divisor's sign, or the dividend's with fmod.
// CHECK-LABEL: func @fold_mod
// CHECK-DAG: pmc.constant dense<[1, 2, -2, -1, 0]> : tensor<5xi64>
// CHECK-DAG: pmc.constant dense<[1, -1, 1, -1, 0]> : tensor<5xi64>
// CHECK-NOT: pmc.mod
func.func @fold_mod() -> (tensor<5xi64>, tensor<5xi64>) {
  %a = pmc.constant dense<[7, -7, 7, -7, 5]> : tensor<5xi64>
  %b = pmc.constant dense<[3, 3, -3, -3, 0]> : tensor<5xi64>
  %m = pmc.mod %a, %b : (tensor<5xi64>, tensor<5xi64>) -> tensor<5xi64>
  %f = pmc.mod %a, %b {fmod} : (tensor<5xi64>, tensor<5xi64>) -> tensor<5xi64>
  return %m, %f : tensor<5xi64>, tensor<5xi64>
}
