// Pipeline plans: a deep chain (6 matmul layers of 4 MiB weights, batch 4096)
// on 8 devices whose links are slow (10 GB/s) and whose memory (20 MB) does
// not hold the replicated weights (data parallel) nor tp=8's replicated
// activations. Tensor parallelism all-reduces 16 MB per layer pair over the
// slow links; a 2-stage pipeline only sends one activation per microbatch
// between the stages, so the planner cuts the layers in two.
// RUN: pmc-opt %s --pmc-auto-sharding="devices=8 spec=%S/Inputs/slow-links-20mb.json" | FileCheck %s
// RUN: pmc-opt %s --pmc-auto-sharding="devices=8 spec=%S/Inputs/slow-links-20mb.json" -o %t.1.mlir
// RUN: pmc-opt %s --pmc-auto-sharding="devices=8 spec=%S/Inputs/slow-links-20mb.json" -o %t.2.mlir
// RUN: diff %t.1.mlir %t.2.mlir
// CHECK: module attributes {
// CHECK-SAME: pmc.mesh = #pmc.mesh<["pp"=2, "dp"=4]>
// CHECK-SAME: pmc.pipeline = {microbatches = 8 : i64, schedule = "1f1b", stages = 2 : i64}
// CHECK-SAME: auto: pp=2 x dp=4 (8 microbatches, 1f1b)
// CHECK-SAME: bubble 11.1% of the step
// CHECK-SAME: stage 0: layers 0-1, ranks 0-3
// CHECK-SAME: layer 1: same as layer 0
// CHECK-SAME: stage 1: layers 2-5, ranks 4-7
// CHECK-SAME: layers 3-5: same as layer 2
// CHECK-SAME: data parallel (dp=8){{ +}}{{[0-9.]+}} ms  needs 0.03 GiB per device, 0.02 GiB available
// CHECK-SAME: dp=4 x tp=2{{ +}}{{[0-9.]+}} ms  {{[0-9.]+}}x slower: communication
// CHECK-SAME: dp=2 x tp=4{{ +}}{{[0-9.]+}} ms  {{[0-9.]+}}x slower: communication
// CHECK-SAME: pp=4 x dp=2 (16 microbatches, 1f1b){{ +}}{{[0-9.]+}} ms  {{[0-9.]+}}x slower: pipeline bubble 16%
// CHECK-SAME: pipelines: 6 layers, stages 2,4
// CHECK: func.func @main(%arg0: tensor<4096x1024xf32> {pmc.sharding = #pmc.sharding<[{"dp"}, {}]>})
// Stages are non-decreasing in program order; constants take their user's.
// CHECK: pmc.constant {pmc.shardings = [#pmc.sharding<[{}, {}]>], pmc.stage = 0 : i64}
// CHECK: pmc.constant {pmc.shardings = [#pmc.sharding<[{}, {}]>], pmc.stage = 1 : i64}
// CHECK: pmc.matmul %arg0, %{{.*}} {pmc.stage = 0 : i64}
// CHECK: pmc.relu %{{.*}} {pmc.stage = 0 : i64}
// CHECK: pmc.relu %{{.*}} {pmc.stage = 0 : i64}
// CHECK-NEXT: pmc.matmul %{{.*}} {pmc.stage = 1 : i64}
// CHECK-NOT: pmc.stage = 0
// CHECK: return

// The search (dynamic programming over the cuts) finds the optimum of
// enumerating every cut, microbatch count and schedule (search=exhaustive,
// which also enumerates every per-weight sharding of the meshes).
// RUN: pmc-opt %s --pmc-auto-sharding="devices=8 spec=%S/Inputs/slow-links-20mb.json" | grep -o 'pmc.mesh = #pmc.mesh<[^>]*>\|pmc.pipeline = {[^}]*}\|predicted step [0-9.]* ms' > %t.auto
// RUN: pmc-opt %s --pmc-auto-sharding="devices=8 spec=%S/Inputs/slow-links-20mb.json search=exhaustive" | grep -o 'pmc.mesh = #pmc.mesh<[^>]*>\|pmc.pipeline = {[^}]*}\|predicted step [0-9.]* ms' | diff %t.auto -

// Without pipelines the best that fits is dp=4 x tp=2; a fast interconnect
// (h100-sxm, 80 GB) keeps plain data parallelism.
// RUN: pmc-opt %s --pmc-auto-sharding="devices=8 spec=%S/Inputs/slow-links-20mb.json pipeline=false" | FileCheck %s --check-prefix=NOPP
// NOPP: pmc.mesh = #pmc.mesh<["dp"=4, "tp"=2]>
// NOPP-NOT: pmc.pipeline
// NOPP-NOT: pmc.stage
// RUN: pmc-opt %s --pmc-auto-sharding="devices=8 spec=h100-sxm" | FileCheck %s --check-prefix=FAST
// FAST: pmc.mesh = #pmc.mesh<["dp"=8]>
// FAST-NOT: pmc.stage

// The annotated module goes through sharding propagation unchanged in its
// stages (shardings never name pp).
// RUN: pmc-opt %s --pmc-auto-sharding="devices=8 spec=%S/Inputs/slow-links-20mb.json" --pmc-sharding-propagation | FileCheck %s --check-prefix=PROP
// PROP: pmc.matmul %arg0, %{{.*}} {pmc.shardings = [#pmc.sharding<[{"dp"}, {}]>], pmc.stage = 0 : i64}
// PROP-NOT: "pp"}

// RUN: not pmc-opt %s --pmc-auto-sharding="devices=8 max-microbatches=0" 2>&1 | FileCheck %s --check-prefix=BADMB
// BADMB: error: pmc-auto-sharding: max-microbatches=0: expected >= 1
module {
  func.func @main(%x: tensor<4096x1024xf32>) -> tensor<4096x1024xf32> {
    %w0 = pmc.constant dense<1.0> : tensor<1024x1024xf32> loc("w0")
    %w1 = pmc.constant dense<1.0> : tensor<1024x1024xf32> loc("w1")
    %w2 = pmc.constant dense<1.0> : tensor<1024x1024xf32> loc("w2")
    %w3 = pmc.constant dense<1.0> : tensor<1024x1024xf32> loc("w3")
    %w4 = pmc.constant dense<1.0> : tensor<1024x1024xf32> loc("w4")
    %w5 = pmc.constant dense<1.0> : tensor<1024x1024xf32> loc("w5")
    %m0 = pmc.matmul %x, %w0 : (tensor<4096x1024xf32>, tensor<1024x1024xf32>) -> tensor<4096x1024xf32>
    %r0 = pmc.relu %m0 : tensor<4096x1024xf32>
    %m1 = pmc.matmul %r0, %w1 : (tensor<4096x1024xf32>, tensor<1024x1024xf32>) -> tensor<4096x1024xf32>
    %r1 = pmc.relu %m1 : tensor<4096x1024xf32>
    %m2 = pmc.matmul %r1, %w2 : (tensor<4096x1024xf32>, tensor<1024x1024xf32>) -> tensor<4096x1024xf32>
    %r2 = pmc.relu %m2 : tensor<4096x1024xf32>
    %m3 = pmc.matmul %r2, %w3 : (tensor<4096x1024xf32>, tensor<1024x1024xf32>) -> tensor<4096x1024xf32>
    %r3 = pmc.relu %m3 : tensor<4096x1024xf32>
    %m4 = pmc.matmul %r3, %w4 : (tensor<4096x1024xf32>, tensor<1024x1024xf32>) -> tensor<4096x1024xf32>
    %r4 = pmc.relu %m4 : tensor<4096x1024xf32>
    %m5 = pmc.matmul %r4, %w5 : (tensor<4096x1024xf32>, tensor<1024x1024xf32>) -> tensor<4096x1024xf32>
    %r5 = pmc.relu %m5 : tensor<4096x1024xf32>
    return %r5 : tensor<4096x1024xf32>
  }
}
