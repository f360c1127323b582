// RUN: pmc-opt %s --pmc-partition-pipeline --pmc-split-stages | FileCheck %s
// (test/Target/pipeline-compile.mlir runs the same input through the compile
// command.)

// A planned pipeline (pmc.pipeline, pmc.stage on the ops, no transfers yet):
// pp=2 x dp=2, 2 microbatches. After partitioning, the types are one
// microbatch step's (8 rows / dp 2 / mb 2 = 2), `mb` is gone from the mesh and
// the shardings, x and y are marked microbatched, the weight of stage 1 lives
// in stage 1, and one pmc.transfer carries the activation.
// CHECK: module attributes {pmc.mesh = #pmc.mesh<["pp"=2, "dp"=2]>, pmc.pipeline = {microbatches = 2 : i64
// CHECK-LABEL: func.func @main
// CHECK-SAME: %[[X:.*]]: tensor<2x16xf32> {pmc.microbatched, pmc.name = "x", pmc.sharding = #pmc.sharding<[{"dp"}, {}]>}
// CHECK-SAME: -> (tensor<2x16xf32> {pmc.microbatched, pmc.name = "y", pmc.sharding = #pmc.sharding<[{"dp"}, {}]>})
// CHECK-NOT: "mb"
// CHECK: pmc.constant {pmc.stage = 1 : i64}
// CHECK: %[[H:.*]] = pmc.relu %[[X]] {pmc.stage = 0 : i64} : tensor<2x16xf32>
// CHECK-NEXT: %[[T:.*]] = pmc.transfer %[[H]] {from_stage = 0 : i64, pmc.stage = 1 : i64, to_stage = 1 : i64} : tensor<2x16xf32>
// CHECK-NEXT: %[[Y:.*]] = pmc.matmul %[[T]], %{{.*}} {pmc.stage = 1 : i64}
// CHECK-NEXT: return %[[Y]]
module attributes {pmc.mesh = #pmc.mesh<["pp"=2, "dp"=2]>,
                   pmc.pipeline = {stages = 2 : i64, microbatches = 2 : i64, schedule = "gpipe"}} {
  func.func @main(%x: tensor<8x16xf32> {pmc.name = "x", pmc.sharding = #pmc.sharding<[{"dp"}, {}]>})
      -> (tensor<8x16xf32> {pmc.name = "y"}) {
    %w = pmc.constant dense<0.5> : tensor<16x16xf32>
    %h = pmc.relu %x {pmc.stage = 0 : i64} : tensor<8x16xf32>
    %y = pmc.matmul %h, %w {pmc.stage = 1 : i64} : (tensor<8x16xf32>, tensor<16x16xf32>) -> tensor<8x16xf32>
    return %y : tensor<8x16xf32>
  }
}
