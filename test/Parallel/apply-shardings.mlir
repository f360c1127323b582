// The planning steps of `pmc-opt compile` as passes, each alone, and the
// whole compile in one pass manager.
// RUN: pmc-opt %s --pmc-apply-shardings="mesh=dp=2,tp=2 shard={w=,tp},x=dp" | FileCheck %s --check-prefix=APPLY
// RUN: pmc-opt %s --pmc-apply-shardings="mesh=dp=2,tp=2 shard={w=,tp},x=dp" --pmc-partition-program | FileCheck %s --check-prefix=PARTITION
// RUN: pmc-opt %s --pmc-apply-shardings="mesh=pp=2,dp=2" --pmc-annotate-pipeline="stages=2 microbatches=2" | FileCheck %s --check-prefix=PIPELINE
// RUN: pmc-opt %s --pmc-apply-shardings="mesh=pp=2,dp=2" --pmc-annotate-pipeline="stages=2 microbatches=2" --pmc-partition-program | FileCheck %s --check-prefix=PPPART
// RUN: not pmc-opt %s --pmc-apply-shardings="mesh=dp=2 shard=nope=dp" 2>&1 | FileCheck %s --check-prefix=NAME
// RUN: not pmc-opt %s --pmc-apply-shardings="mesh=dp=x" 2>&1 | FileCheck %s --check-prefix=MESH
// RUN: pmc-opt compile %s --devices 4 --mesh dp=2,tp=2 --shard w=,tp --shard x=dp -o %t.pmc --mlir-print-ir-after-all 2>&1 | FileCheck %s --check-prefix=COMPILE

// APPLY: module attributes {pmc.mesh = #pmc.mesh<["dp"=2, "tp"=2]>, pmc.plan = "mesh dp=2,tp=2; w=,tp; x=dp", pmc.plan_source = "user"}
// APPLY: %{{.*}}: tensor<8x16xf32> {pmc.name = "x", pmc.sharding = #pmc.sharding<[{"dp"}, {}]>}
// APPLY: pmc.constant {{.*}}pmc.shardings = [#pmc.sharding<[{}, {"tp"}]>]

// Per-rank shapes: x is 4 rows of 16, w 16 by 8; y stays split (the
// runtime assembles it from the ranks' blocks).
// PARTITION: func.func @main(%{{.*}}: tensor<4x16xf32> {{.*}} -> (tensor<4x8xf32> {pmc.name = "y", pmc.sharding = #pmc.sharding<[{"dp"}, {"tp"}]>})
// PARTITION: pmc.shard %{{.*}} : tensor<16x16xf32> to tensor<16x8xf32>
// PARTITION: pmc.matmul {{.*}} -> tensor<4x8xf32>

// PIPELINE: pmc.pipeline = {microbatches = 2 : i64, schedule = "1f1b", stages = 2 : i64}
// PIPELINE: pmc.sharding = #pmc.sharding<[{"dp"}, {}]>
// PIPELINE: pmc.relu {{.*}}{pmc.stage = 0 : i64}
// PIPELINE: pmc.matmul {{.*}}{pmc.stage = 1 : i64}

// One microbatch step per rank: 8 rows / dp 2 / 2 microbatches.
// PPPART: func.func @main(%{{.*}}: tensor<2x16xf32> {pmc.microbatched
// PPPART: pmc.transfer

// NAME: error: --shard nope: no graph input or weight has this name; inputs: x; weights: w
// MESH: error: --mesh 'dp=x': 'dp=x' is not AXIS=SIZE

// The whole compile is one pipeline of passes.
// COMPILE: IR Dump After PMCApplyShardings
// COMPILE: IR Dump After PMCShardingPropagation
// COMPILE: IR Dump After PMCPartition
// COMPILE: IR Dump After PMCPartitionProgram
// COMPILE: IR Dump After PMCOutlineKernels
// COMPILE: IR Dump After PMCPrepareKernels
// COMPILE: IR Dump After OneShotBufferizePass
// COMPILE: IR Dump After PMCAddKernelWrappers
module {
  func.func @main(%x: tensor<8x16xf32> {pmc.name = "x"}) -> (tensor<8x16xf32> {pmc.name = "y"}) {
    %w = pmc.constant dense<0.5> : tensor<16x16xf32> loc("w")
    %h = pmc.relu %x : tensor<8x16xf32>
    %y = pmc.matmul %h, %w : (tensor<8x16xf32>, tensor<16x16xf32>) -> tensor<8x16xf32>
    return %y : tensor<8x16xf32>
  }
}
