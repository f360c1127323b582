// RUN: not pmc-opt %s --pmc-partition-pipeline 2>&1 | FileCheck %s

// A user plan that sums over the batch cannot run in microbatches: the error
// names the collective over `mb`.
// CHECK: error: 'pmc.all_reduce' op communicates over the microbatch axis 'mb': the model mixes examples of the batch, so it cannot run in 2 microbatches (use --microbatches 1)
module attributes {pmc.mesh = #pmc.mesh<["pp"=2]>, pmc.plan_source = "user",
                   pmc.pipeline = {stages = 2 : i64, microbatches = 2 : i64, schedule = "1f1b"}} {
  func.func @main(%x: tensor<8x4xf32> {pmc.name = "x"}) -> (tensor<1x4xf32> {pmc.name = "y"}) {
    %r = pmc.relu %x {pmc.stage = 0 : i64} : tensor<8x4xf32>
    %s = pmc.reduce_sum %r {axes = array<i64: 0>, keepdims, pmc.stage = 1 : i64} : (tensor<8x4xf32>) -> tensor<1x4xf32>
    return %s : tensor<1x4xf32>
  }
}
