// RUN: pmc-opt %s -split-input-file --pmc-combine-all-reduces | FileCheck %s
// RUN: pmc-opt %s -split-input-file --pmc-combine-all-reduces=bucket-bytes=100 | FileCheck %s --check-prefix=SMALL
// RUN: pmc-opt %s -split-input-file --pmc-combine-all-reduces=bucket-bytes=0 | FileCheck %s --check-prefix=NONE

// Two gradients of a backward pass, used only by the update at the end: one
// bucket where the second is ready, each result sliced out before its use.
module attributes {pmc.mesh = #pmc.mesh<["dp"=2]>} {
  // CHECK-LABEL: func.func @gradients
  func.func @gradients(%a: tensor<4x8xf32>, %b: tensor<4x8xf32>, %c: tensor<4x8xf32>, %w: tensor<8x8xf32>, %v: tensor<8xf32>) -> (tensor<8x8xf32>, tensor<8xf32>) {
    // CHECK: %[[G1:.*]] = pmc.matmul
    %g1 = pmc.matmul %a, %b {transpose_a} : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<8x8xf32>
    %r1 = pmc.all_reduce %g1 {axes = ["dp"]} : tensor<8x8xf32>
    // CHECK: %[[G2:.*]] = pmc.reduce_sum
    %g2 = pmc.reduce_sum %c {axes = array<i64: 0>} : (tensor<4x8xf32>) -> tensor<8xf32>
    // CHECK-NEXT: %[[F1:.*]] = pmc.reshape %[[G1]] : tensor<8x8xf32> to tensor<64xf32>
    // CHECK-NEXT: %[[CAT:.*]] = pmc.concat %[[F1]], %[[G2]] {axis = 0 : i64} : (tensor<64xf32>, tensor<8xf32>) -> tensor<72xf32>
    // CHECK-NEXT: %[[RED:.*]] = pmc.all_reduce %[[CAT]] {axes = ["dp"]} : tensor<72xf32>
    %r2 = pmc.all_reduce %g2 {axes = ["dp"]} : tensor<8xf32>
    // CHECK-NEXT: pmc.exp %a
    %e = pmc.exp %a : tensor<4x8xf32>
    // Both results are sliced out before the first use of either.
    // CHECK-NEXT: %[[S1:.*]] = pmc.slice %[[RED]] {starts = array<i64: 0>, steps = array<i64: 1>} : tensor<72xf32> to tensor<64xf32>
    // CHECK-NEXT: %[[R1:.*]] = pmc.reshape %[[S1]] : tensor<64xf32> to tensor<8x8xf32>
    // CHECK-NEXT: %[[R2:.*]] = pmc.slice %[[RED]] {starts = array<i64: 64>, steps = array<i64: 1>} : tensor<72xf32> to tensor<8xf32>
    // CHECK-NEXT: pmc.sub %{{.*}}, %[[R1]]
    %u1 = pmc.sub %w, %r1 : (tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<8x8xf32>
    // CHECK-NEXT: pmc.sub %{{.*}}, %[[R2]]
    %u2 = pmc.sub %v, %r2 : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
    // CHECK-NOT: pmc.all_reduce
    return %u1, %u2 : tensor<8x8xf32>, tensor<8xf32>
  }
  // SMALL-LABEL: func.func @gradients
  // SMALL-COUNT-2: pmc.all_reduce
  // SMALL-NOT: pmc.concat
  // NONE-LABEL: func.func @gradients
  // NONE-COUNT-2: pmc.all_reduce
  // NONE-NOT: pmc.concat
}

// -----

// A chain (tensor parallel forward): the second input needs the first
// result, so nothing is combined; other axes or reductions never mix.
module attributes {pmc.mesh = #pmc.mesh<["dp"=2, "tp"=2]>} {
  // CHECK-LABEL: func.func @chain_and_kinds
  func.func @chain_and_kinds(%x: tensor<8xf32>, %y: tensor<8xf32>) -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) {
    // CHECK-NOT: pmc.concat
    // CHECK-COUNT-4: pmc.all_reduce
    %a = pmc.all_reduce %x {axes = ["tp"]} : tensor<8xf32>
    %b = pmc.exp %a : tensor<8xf32>
    %c = pmc.all_reduce %b {axes = ["tp"]} : tensor<8xf32>
    %d = pmc.all_reduce %y {axes = ["dp"]} : tensor<8xf32>
    %e = pmc.all_reduce %y {axes = ["dp"], reduction = "max"} : tensor<8xf32>
    return %c, %d, %e : tensor<8xf32>, tensor<8xf32>, tensor<8xf32>
  }
}
