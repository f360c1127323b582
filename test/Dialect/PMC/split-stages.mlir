// RUN: pmc-opt %s -split-input-file --pmc-split-stages -verify-diagnostics | FileCheck %s

// A constant read by two stages is cloned per stage; the all_gather the
// partitioner created takes the stage of its user; the value crossing from
// stage 0 to stage 1 goes through one pmc.transfer shared by both users.
// CHECK-LABEL: func @main
// CHECK-DAG: %[[W0:.*]] = pmc.constant {pmc.stage = 0 : i64} dense<1.000000e+00> : tensor<16xf32>
// CHECK-DAG: %[[W1:.*]] = pmc.constant {pmc.stage = 1 : i64} dense<1.000000e+00> : tensor<16xf32>
// CHECK: %[[A:.*]] = pmc.add %{{.*}}, %[[W0]] {pmc.stage = 0 : i64}
// CHECK-NEXT: %[[T:.*]] = pmc.transfer %[[A]] {from_stage = 0 : i64, pmc.stage = 1 : i64, to_stage = 1 : i64} : tensor<16xf32>
// CHECK-NEXT: %[[G:.*]] = pmc.all_gather %[[T]] {axes = ["tp"], dim = 0 : i64, pmc.stage = 1 : i64}
// CHECK-NEXT: %[[B:.*]] = pmc.mul %[[G]], %[[G]] {pmc.stage = 1 : i64}
// CHECK-NEXT: %[[C:.*]] = pmc.add %[[T]], %[[W1]] {pmc.stage = 1 : i64}
// CHECK-NOT: pmc.transfer
// CHECK: return %[[B]], %[[C]]
module attributes {pmc.mesh = #pmc.mesh<["pp"=2, "tp"=2]>} {
  func.func @main(%x: tensor<16xf32>) -> (tensor<32xf32>, tensor<16xf32>) {
    %w = pmc.constant dense<1.0> : tensor<16xf32>
    %a = pmc.add %x, %w {pmc.stage = 0 : i64} : (tensor<16xf32>, tensor<16xf32>) -> tensor<16xf32>
    %g = pmc.all_gather %a {axes = ["tp"], dim = 0 : i64} : tensor<16xf32> to tensor<32xf32>
    %b = pmc.mul %g, %g {pmc.stage = 1 : i64} : (tensor<32xf32>, tensor<32xf32>) -> tensor<32xf32>
    %c = pmc.add %a, %w {pmc.stage = 1 : i64} : (tensor<16xf32>, tensor<16xf32>) -> tensor<16xf32>
    return %b, %c : tensor<32xf32>, tensor<16xf32>
  }
}

// -----

// A value of stage 0 read by stages 1 and 2: one transfer per destination,
// straight from stage 0. A value only returned keeps the stage that computes
// it (no transfer), and an unstaged op only returned takes its operand's.
// CHECK-LABEL: func @main
// CHECK: %[[A:.*]] = pmc.relu %{{.*}} {pmc.stage = 0 : i64}
// CHECK-NEXT: %[[T1:.*]] = pmc.transfer %[[A]] {from_stage = 0 : i64, pmc.stage = 1 : i64, to_stage = 1 : i64}
// CHECK-NEXT: %[[T2:.*]] = pmc.transfer %[[A]] {from_stage = 0 : i64, pmc.stage = 2 : i64, to_stage = 2 : i64}
// CHECK: pmc.exp %[[T1]] {pmc.stage = 1 : i64}
// CHECK: %[[N:.*]] = pmc.neg %[[T2]] {pmc.stage = 2 : i64}
// CHECK-NEXT: %[[R:.*]] = pmc.all_reduce %[[N]] {axes = ["dp"], pmc.stage = 2 : i64}
// CHECK: return %[[A]], %{{.*}}, %[[R]]
module attributes {pmc.mesh = #pmc.mesh<["pp"=3, "dp"=2]>} {
  func.func @main(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) {
    %a = pmc.relu %x {pmc.stage = 0 : i64} : tensor<4xf32>
    %e = pmc.exp %a {pmc.stage = 1 : i64} : tensor<4xf32>
    %n = pmc.neg %a {pmc.stage = 2 : i64} : tensor<4xf32>
    %r = pmc.all_reduce %n {axes = ["dp"]} : tensor<4xf32>
    return %a, %e, %r : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
  }
}

// -----

// Stages must not decrease along a use-def edge.
module attributes {pmc.mesh = #pmc.mesh<["pp"=2]>} {
  func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
    %a = pmc.relu %x {pmc.stage = 1 : i64} : tensor<4xf32>
    // expected-error @+1 {{in stage 0 reads operand 0, computed by 'pmc.relu' in the later stage 1}}
    %b = pmc.exp %a {pmc.stage = 0 : i64} : tensor<4xf32>
    return %b : tensor<4xf32>
  }
}

// -----

// A stage outside the pipeline's.
module attributes {pmc.mesh = #pmc.mesh<["pp"=2]>, pmc.pipeline = {stages = 2 : i64, microbatches = 1 : i64, schedule = "gpipe"}} {
  func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
    // expected-error @+1 {{has pmc.stage = -1, outside the pipeline's stages 0..1}}
    %a = pmc.relu %x {pmc.stage = -1 : i64} : tensor<4xf32>
    return %a : tensor<4xf32>
  }
}
