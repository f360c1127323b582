// RUN: pmc-opt compile %s --devices 4 -o %t.pmc --mlir-print-ir-after-all \
// RUN:   --mlir-elide-elementsattrs-if-larger=4 2>&1 | FileCheck %s

// The compile command on a planned pipeline runs the passes of
// test/Dialect/PMC/pipeline-partition.mlir, outlines the kernels (the
// transfer stays in @main between the stages' kernel calls), and lowers @main
// into one pmcrt program per stage: a send in stage 0, the recv in stage 1.

// CHECK-LABEL: IR Dump After PMCPartitionPipeline
// CHECK-LABEL: IR Dump After PMCSplitStages
// CHECK-LABEL: IR Dump After PMCOutlineKernels
// CHECK: %[[H:.*]] = call @kernel_0(%[[X:.*]]) {pmc.stage = 0 : i64} : (tensor<2x16xf32>) -> tensor<2x16xf32>
// CHECK-NEXT: pmc.transfer %[[H]] {from_stage = 0 : i64, pmc.stage = 1 : i64, to_stage = 1 : i64}
// CHECK-LABEL: IR Dump After PMCLowerToRuntimeProgram
// CHECK: func.func private @main(tensor<2x16xf32> {pmc.microbatched
// CHECK: pmcrt.program stage 0 ranks [0, 1] {
// CHECK: pmcrt.kernel @kernel_0
// CHECK-NEXT: pmcrt.send %{{.*}} to_stage 1 tag 0 : memref<2x16xf32>
// CHECK-NEXT: pmcrt.outputs at []
// CHECK: pmcrt.program stage 1 ranks [2, 3] {
// CHECK: pmcrt.recv %[[R:.*]] from_stage 0 tag 0 : memref<2x16xf32>
// CHECK: pmcrt.matmul %[[R]]
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
