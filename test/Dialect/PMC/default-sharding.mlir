// RUN: pmc-opt %s -split-input-file -verify-diagnostics --pmc-default-sharding=devices=4 | FileCheck %s
// RUN: pmc-opt %s -split-input-file -verify-diagnostics --pmc-default-sharding=devices=4 --pmc-sharding-propagation | FileCheck %s --check-prefix=PROP

// Batches divisible by 4 are split over dp; a scalar and an indivisible
// batch stay replicated.
// CHECK: module attributes {pmc.mesh = #pmc.mesh<["dp"=4]>, pmc.plan = "data parallel over the batch dimension (dp=4)"}
// CHECK-LABEL: func.func @main
// CHECK-SAME: %arg0: tensor<8x16xf32> {pmc.sharding = #pmc.sharding<[{"dp"}, {}]>}
// CHECK-SAME: %arg1: tensor<6x16xf32> {pmc.sharding = #pmc.sharding<[{}, {}]>}
// CHECK-SAME: %arg2: tensor<f32> {pmc.sharding = #pmc.sharding<[]>}
// PROP-LABEL: func.func @main
// PROP: pmc.matmul {{.*}}pmc.shardings = [#pmc.sharding<[{"dp"}, {}]>]
// PROP: pmc.add {{.*}}pmc.shardings = [#pmc.sharding<[{"dp"}, {}]>]
module {
  func.func @main(%x: tensor<8x16xf32>, %y: tensor<6x16xf32>, %s: tensor<f32>) -> tensor<8x4xf32> {
    %w = pmc.constant dense<1.0> : tensor<16x4xf32>
    %m = pmc.matmul %x, %w : (tensor<8x16xf32>, tensor<16x4xf32>) -> tensor<8x4xf32>
    %r = pmc.add %m, %s : (tensor<8x4xf32>, tensor<f32>) -> tensor<8x4xf32>
    return %r : tensor<8x4xf32>
  }
}

// -----

// No batch divides: everything replicated, and the plan says why.
// CHECK: module attributes {pmc.mesh = #pmc.mesh<["dp"=4]>, pmc.plan = "replicated: no input batch divisible by 4"}
// CHECK-LABEL: func.func @odd
// CHECK-SAME: pmc.sharding = #pmc.sharding<[{}]>
module {
  func.func @odd(%x: tensor<3xf32>) -> tensor<3xf32> {
    return %x : tensor<3xf32>
  }
}

// -----

// The user's plan wins: a module with a mesh is left alone.
// CHECK: module attributes {pmc.mesh = #pmc.mesh<["tp"=4]>} {
// CHECK-LABEL: func.func @user
// CHECK-NOT: pmc.sharding
// CHECK-NOT: pmc.plan
module attributes {pmc.mesh = #pmc.mesh<["tp"=4]>} {
  func.func @user(%x: tensor<8xf32>) -> tensor<8xf32> {
    return %x : tensor<8xf32>
  }
}

// -----

// Shardings without a mesh: the default plan does not guess one.
// expected-error @+1 {{the module has sharding annotations but no pmc.mesh; add a mesh, or drop the annotations to use the default plan for --devices 4}}
module {
  func.func @annotated(%x: tensor<8xf32> {pmc.sharding = #pmc.sharding<[{"dp"}]>}) -> tensor<8xf32> {
    return %x : tensor<8xf32>
  }
}
