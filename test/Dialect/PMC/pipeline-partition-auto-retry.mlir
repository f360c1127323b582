// RUN: pmc-opt %s --pmc-partition-pipeline --pmc-split-stages | FileCheck %s

// A planner plan (pmc.plan_source = "auto") whose model sums over the batch:
// 2 microbatches would need a collective over `mb`, so the compiler falls
// back to one microbatch and says so in the explanation.
// CHECK: pmc.pipeline = {microbatches = 1 : i64, schedule = "1f1b", stages = 2 : i64}
// CHECK-SAME: pmc.plan_explain = "planner: 2 stages\0Amicrobatches: 2 -> 1: the model mixes examples of the batch (pmc.all_reduce over the microbatch axis)\0A"
// CHECK-LABEL: func.func @main
// CHECK-SAME: tensor<8x4xf32> {pmc.microbatched
// CHECK: pmc.transfer
module attributes {pmc.mesh = #pmc.mesh<["pp"=2]>, pmc.plan_source = "auto",
                   pmc.plan_explain = "planner: 2 stages",
                   pmc.pipeline = {stages = 2 : i64, microbatches = 2 : i64, schedule = "1f1b"}} {
  func.func @main(%x: tensor<8x4xf32> {pmc.name = "x"}) -> (tensor<1x4xf32> {pmc.name = "y"}) {
    %r = pmc.relu %x {pmc.stage = 0 : i64} : tensor<8x4xf32>
    %s = pmc.reduce_sum %r {axes = array<i64: 0>, keepdims, pmc.stage = 1 : i64} : (tensor<8x4xf32>) -> tensor<1x4xf32>
    return %s : tensor<1x4xf32>
  }
}
