// RUN: not pmc-opt %s --pmc-partition-pipeline 2>&1 | FileCheck %s

// A planned pipeline whose stages decrease along a use-def edge.
// CHECK: error: 'pmc.exp' op in stage 0 reads operand 0, computed by 'pmc.relu' in the later stage 1
module attributes {pmc.mesh = #pmc.mesh<["pp"=2]>,
                   pmc.pipeline = {stages = 2 : i64, microbatches = 1 : i64, schedule = "1f1b"}} {
  func.func @main(%x: tensor<8x4xf32> {pmc.name = "x"}) -> (tensor<8x4xf32> {pmc.name = "y"}) {
    %r = pmc.relu %x {pmc.stage = 1 : i64} : tensor<8x4xf32>
    %e = pmc.exp %r {pmc.stage = 0 : i64} : tensor<8x4xf32>
    return %e : tensor<8x4xf32>
  }
}
