// RUN: pmc-opt %s --pmc-outline-kernels=fold-epilogues=false --split-input-file --verify-diagnostics | FileCheck %s

// The float matmul stays a runtime command; the ops after it form one kernel.
// CHECK-LABEL: func.func @main
// CHECK: %[[W:.*]] = pmc.constant dense_resource<w>
// CHECK: %[[Y:.*]] = pmc.matmul %{{.*}}, %[[W]]
// CHECK: %[[K:.*]] = call @kernel_0(%[[Y]]) : (tensor<4x8xf32>) -> tensor<4x8xf32>
// CHECK: return %[[K]]
// CHECK: func.func private @kernel_0(%[[A:.*]]: tensor<4x8xf32>) -> tensor<4x8xf32>
// CHECK: %[[R:.*]] = pmc.relu %[[A]]
// CHECK: %[[E:.*]] = pmc.exp %[[R]]
// CHECK: return %[[E]]
func.func @main(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %w = pmc.constant dense_resource<w> : tensor<8x8xf32>
  %y = pmc.matmul %x, %w : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  %r = pmc.relu %y : tensor<4x8xf32>
  %e = pmc.exp %r : tensor<4x8xf32>
  return %e : tensor<4x8xf32>
}
{-#
  dialect_resources: {
    builtin: {
      w: "0x04000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    }
  }
#-}

// -----

// Splat constants are cloned into the kernel; other constants are weights
// passed as arguments. A value used after the run is a kernel result.
// CHECK-LABEL: func.func @main
// CHECK-NOT: dense<2.0
// CHECK: %[[B:.*]] = pmc.constant dense<[1.000000e+00, 2.000000e+00]>
// CHECK: %[[K:.*]]:2 = call @kernel_0(%{{.*}}, %[[B]])
// CHECK: %[[M:.*]] = pmc.matmul %[[K]]#0, %[[K]]#1
// CHECK: func.func private @kernel_0(%{{.*}}: tensor<2x2xf32>, %{{.*}}: tensor<2xf32>) -> (tensor<2x2xf32>, tensor<2x2xf32>)
// CHECK: pmc.constant dense<2.000000e+00> : tensor<2xf32>
func.func @main(%x: tensor<2x2xf32>) -> tensor<2x2xf32> {
  %s = pmc.constant dense<2.0> : tensor<2xf32>
  %b = pmc.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %0 = pmc.mul %x, %s : (tensor<2x2xf32>, tensor<2xf32>) -> tensor<2x2xf32>
  %1 = pmc.add %0, %b : (tensor<2x2xf32>, tensor<2xf32>) -> tensor<2x2xf32>
  %2 = pmc.matmul %0, %1 : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
  return %2 : tensor<2x2xf32>
}

// -----

// A reshape of a value from outside the run is a view and stays in @main; a
// reshape of a kernel's own value joins the kernel. Two runs split by a
// matmul become two kernels.
// CHECK-LABEL: func.func @main
// CHECK: %[[V:.*]] = pmc.reshape %{{.*}} : tensor<2x3xf32> to tensor<3x2xf32>
// CHECK: %[[K0:.*]] = call @kernel_0(%[[V]])
// CHECK: %[[M:.*]] = pmc.matmul
// CHECK: call @kernel_1(%[[M]])
// CHECK: func.func private @kernel_0
// CHECK: pmc.neg
// CHECK: pmc.reshape
// CHECK: func.func private @kernel_1
// CHECK: pmc.exp
func.func @main(%x: tensor<2x3xf32>) -> tensor<6x6xf32> {
  %v = pmc.reshape %x : tensor<2x3xf32> to tensor<3x2xf32>
  %n = pmc.neg %v : tensor<3x2xf32>
  %r = pmc.reshape %n : tensor<3x2xf32> to tensor<6x1xf32>
  %t = pmc.reshape %x : tensor<2x3xf32> to tensor<1x6xf32>
  %m = pmc.matmul %r, %t : (tensor<6x1xf32>, tensor<1x6xf32>) -> tensor<6x6xf32>
  %e = pmc.exp %m : tensor<6x6xf32>
  return %e : tensor<6x6xf32>
}

// -----

// A matmul the BLAS does not take (integers) is outlined into the kernel.
// CHECK-LABEL: func.func @main
// CHECK-NOT: pmc.matmul
// CHECK: call @kernel_0
// CHECK: func.func private @kernel_0
// CHECK: pmc.matmul
// CHECK: pmc.relu
func.func @main(%a: tensor<2x2xi32>, %b: tensor<2x2xi32>) -> tensor<2x2xi32> {
  %m = pmc.matmul %a, %b : (tensor<2x2xi32>, tensor<2x2xi32>) -> tensor<2x2xi32>
  %r = pmc.relu %m : tensor<2x2xi32>
  return %r : tensor<2x2xi32>
}

// -----

// Ops whose results nobody uses are dropped, not outlined.
// CHECK-LABEL: func.func @main
// CHECK-NOT: call
// CHECK: return %arg0
// CHECK-NOT: func.func private @kernel
func.func @main(%x: tensor<2xf32>) -> tensor<2xf32> {
  %e = pmc.exp %x : tensor<2xf32>
  return %x : tensor<2xf32>
}

// -----

// expected-error @+1 {{pmc-outline-kernels: the module has no @main function with a body}}
module {
  func.func @not_main(%x: tensor<2xf32>) -> tensor<2xf32> {
    return %x : tensor<2xf32>
  }
}

// -----

// Pipeline stages: a kernel never mixes ops of two stages, the call carries
// the stage, and pmc.transfer stays a runtime command.
// CHECK-LABEL: func.func @main
// CHECK: %[[K0:.*]] = call @kernel_0(%{{.*}}) {pmc.stage = 0 : i64}
// CHECK-NEXT: %[[T:.*]] = pmc.transfer %[[K0]] {from_stage = 0 : i64, pmc.stage = 1 : i64, to_stage = 1 : i64}
// CHECK-NEXT: %[[K1:.*]] = call @kernel_1(%[[T]]) {pmc.stage = 1 : i64}
// CHECK-NEXT: return %[[K1]]
// CHECK: func.func private @kernel_0
// CHECK-NEXT: pmc.relu
// CHECK-NEXT: pmc.exp
// CHECK-NEXT: return
// CHECK: func.func private @kernel_1
// CHECK-NEXT: pmc.neg
// CHECK-NEXT: return
func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  %a = pmc.relu %x {pmc.stage = 0 : i64} : tensor<4xf32>
  %b = pmc.exp %a {pmc.stage = 0 : i64} : tensor<4xf32>
  %t = pmc.transfer %b {from_stage = 0 : i64, to_stage = 1 : i64, pmc.stage = 1 : i64} : tensor<4xf32>
  %c = pmc.neg %t {pmc.stage = 1 : i64} : tensor<4xf32>
  return %c : tensor<4xf32>
}

// -----

// Without a transfer between them (ops of two stages that happen to be
// adjacent), the run is still cut at the stage boundary.
// CHECK-LABEL: func.func @main
// CHECK: call @kernel_0(%{{.*}}) {pmc.stage = 0 : i64}
// CHECK: call @kernel_1(%{{.*}}) {pmc.stage = 1 : i64}
func.func @main(%x: tensor<4xf32>, %y: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %a = pmc.relu %x {pmc.stage = 0 : i64} : tensor<4xf32>
  %c = pmc.neg %y {pmc.stage = 1 : i64} : tensor<4xf32>
  return %a, %c : tensor<4xf32>, tensor<4xf32>
}
