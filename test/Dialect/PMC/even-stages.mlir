// RUN: pmc-opt %s -split-input-file --pmc-even-stages=stages=2 -verify-diagnostics | FileCheck %s

// Two matmuls of equal cost around a cheap relu: the cut falls after the
// first matmul; constants get no stage.
// CHECK-LABEL: func @main
// CHECK: pmc.constant dense<1.000000e+00> : tensor<16x16xf32>
// CHECK: pmc.matmul {{.*}}pmc.stage = 0
// CHECK: pmc.relu {{.*}}pmc.stage = 1
// CHECK: pmc.matmul {{.*}}pmc.stage = 1
// CHECK: return
func.func @main(%x: tensor<8x16xf32>) -> tensor<8x16xf32> {
  %w1 = pmc.constant dense<1.0> : tensor<16x16xf32>
  %h = pmc.matmul %x, %w1 : (tensor<8x16xf32>, tensor<16x16xf32>) -> tensor<8x16xf32>
  %r = pmc.relu %h : tensor<8x16xf32>
  %y = pmc.matmul %r, %w1 : (tensor<8x16xf32>, tensor<16x16xf32>) -> tensor<8x16xf32>
  return %y : tensor<8x16xf32>
}

// -----

// A heavy first op and a light tail: the matmul fills stage 0 alone.
// CHECK-LABEL: func @main
// CHECK: pmc.matmul {{.*}}pmc.stage = 0
// CHECK: pmc.relu {{.*}}pmc.stage = 1
// CHECK: pmc.exp {{.*}}pmc.stage = 1
func.func @main(%x: tensor<8x64xf32>) -> tensor<8x64xf32> {
  %w = pmc.constant dense<1.0> : tensor<64x64xf32>
  %h = pmc.matmul %x, %w : (tensor<8x64xf32>, tensor<64x64xf32>) -> tensor<8x64xf32>
  %r = pmc.relu %h : tensor<8x64xf32>
  %e = pmc.exp %r : tensor<8x64xf32>
  return %e : tensor<8x64xf32>
}

// -----

// Fewer ops than stages.
// expected-error @+1 {{has 1 ops, too few for 2 pipeline stages}}
func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  %r = pmc.relu %x : tensor<4xf32>
  return %r : tensor<4xf32>
}

// -----

// Near the middle, the cut that sends one tensor wins over the one that
// sends two: after the first matmul (%h crosses), not after the relu (%h
// and %a would both cross).
// CHECK-LABEL: func @main
// CHECK: pmc.matmul {{.*}}pmc.stage = 0
// CHECK: pmc.relu {{.*}}pmc.stage = 1
// CHECK: pmc.exp {{.*}}pmc.stage = 1
// CHECK: pmc.add {{.*}}pmc.stage = 1
// CHECK: pmc.matmul {{.*}}pmc.stage = 1
func.func @main(%x: tensor<8x16xf32>) -> tensor<8x16xf32> {
  %w = pmc.constant dense<1.0> : tensor<16x16xf32>
  %h = pmc.matmul %x, %w : (tensor<8x16xf32>, tensor<16x16xf32>) -> tensor<8x16xf32>
  %a = pmc.relu %h : tensor<8x16xf32>
  %b = pmc.exp %h : tensor<8x16xf32>
  %c = pmc.add %a, %b : (tensor<8x16xf32>, tensor<8x16xf32>) -> tensor<8x16xf32>
  %y = pmc.matmul %c, %w : (tensor<8x16xf32>, tensor<16x16xf32>) -> tensor<8x16xf32>
  return %y : tensor<8x16xf32>
}
