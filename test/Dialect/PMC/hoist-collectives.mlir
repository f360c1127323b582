// RUN: pmc-opt %s --pmc-hoist-collectives | FileCheck %s

// Reductions start right after their input is ready (in their order when two
// come from one op); the all-gather stays at its use.
module attributes {pmc.mesh = #pmc.mesh<["dp"=2]>} {
  // CHECK-LABEL: func.func @hoist
  func.func @hoist(%a: tensor<4x8xf32>, %p: tensor<2x8xf32>) -> (tensor<8x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) {
    // CHECK-NEXT: %[[P:.*]] = pmc.all_reduce %arg1 {axes = ["dp"]} : tensor<2x8xf32>
    // CHECK-NEXT: %[[G:.*]] = pmc.matmul
    // CHECK-NEXT: pmc.reduce_scatter %[[G]]
    // CHECK-NEXT: pmc.all_reduce %[[G]]
    // CHECK-NEXT: pmc.exp
    // CHECK-NEXT: pmc.tanh
    // CHECK-NEXT: pmc.all_gather %arg1
    %g = pmc.matmul %a, %a {transpose_a} : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<8x8xf32>
    %e = pmc.exp %a : tensor<4x8xf32>
    %t = pmc.tanh %e : tensor<4x8xf32>
    %s = pmc.reduce_scatter %g {axes = ["dp"], dim = 0 : i64} : tensor<8x8xf32> to tensor<4x8xf32>
    %r = pmc.all_reduce %g {axes = ["dp"]} : tensor<8x8xf32>
    %q = pmc.all_reduce %p {axes = ["dp"]} : tensor<2x8xf32>
    %w = pmc.all_gather %p {axes = ["dp"], dim = 0 : i64} : tensor<2x8xf32> to tensor<4x8xf32>
    return %r, %s, %w, %t : tensor<8x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>
  }
}
