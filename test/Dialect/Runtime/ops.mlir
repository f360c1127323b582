// RUN: pmc-opt %s | pmc-opt | FileCheck %s

// Every pmcrt op prints and parses back (docs/design/bundle.md names the
// command each one is serialized as).

// CHECK-LABEL: pmcrt.program stage 0 ranks [0, 1] {
// CHECK: pmcrt.input 0 : memref<4x8xf32>
// CHECK: pmcrt.weight 0 = dense<5.000000e-01> : tensor<8x16xf32> {sharding = #pmc.sharding<[{}, {"tp"}]>} -> memref<8x8xf32>
// CHECK: pmcrt.view %{{.*}} : memref<4x8xf32> to memref<32xf32>
// CHECK: pmcrt.kernel @kernel_0 ins(%{{.*}} : memref<4x8xf32>) outs(%{{.*}} : memref<4x8xf32>)
// CHECK: pmcrt.kernel @kernel_1 outs(%{{.*}} : memref<4x8xf32>)
// CHECK: pmcrt.matmul %{{.*}}, %{{.*}} -> %{{.*}} {trans_b = true} : memref<4x8xf32>, memref<8x8xf32> -> memref<4x8xf32>
// CHECK: pmcrt.all_reduce %{{.*}} -> %{{.*}} {axes = ["tp"], reduction = "max"}
// CHECK: pmcrt.all_gather %{{.*}} -> %{{.*}} {axes = ["tp"], dim = 1 : i64} : memref<4x8xf32> -> memref<4x16xf32>
// CHECK: pmcrt.reduce_scatter %{{.*}} -> %{{.*}} {axes = ["tp"], dim = 0 : i64, reduction = "sum"}
// CHECK: pmcrt.all_to_all %{{.*}} -> %{{.*}} {axes = ["tp"], concat_dim = 1 : i64, split_dim = 0 : i64}
// CHECK: pmcrt.shard %{{.*}} -> %{{.*}} {sharding = #pmc.sharding<[{}, {"tp"}]>} : memref<4x8xf32> -> memref<4x4xf32>
// CHECK: pmcrt.send %{{.*}} to_stage 1 tag 3 : memref<4x8xf32>
// CHECK: pmcrt.outputs %{{.*}} at [1] : memref<4x8xf32>
// CHECK-LABEL: pmcrt.program stage 1 ranks [2, 3] {
// CHECK: pmcrt.recv %{{.*}} from_stage 0 tag 3 : memref<4x8xf32>
// CHECK: pmcrt.outputs %{{.*}} at [0] : memref<4x8xf32>
module attributes {pmc.mesh = #pmc.mesh<["pp"=2, "tp"=2]>} {
  pmcrt.program stage 0 ranks [0, 1] {
    %x = pmcrt.input 0 : memref<4x8xf32>
    %w = pmcrt.weight 0 = dense<0.5> : tensor<8x16xf32> {sharding = #pmc.sharding<[{}, {"tp"}]>} -> memref<8x8xf32>
    %f = pmcrt.view %x : memref<4x8xf32> to memref<32xf32>
    %k = pmcrt.temp : memref<4x8xf32>
    pmcrt.kernel @kernel_0 ins(%x : memref<4x8xf32>) outs(%k : memref<4x8xf32>)
    %z = pmcrt.temp : memref<4x8xf32>
    pmcrt.kernel @kernel_1 outs(%z : memref<4x8xf32>)
    %m = pmcrt.temp : memref<4x8xf32>
    pmcrt.matmul %k, %w -> %m {trans_b = true} : memref<4x8xf32>, memref<8x8xf32> -> memref<4x8xf32>
    %r = pmcrt.temp : memref<4x8xf32>
    pmcrt.all_reduce %m -> %r {axes = ["tp"], reduction = "max"} : memref<4x8xf32> -> memref<4x8xf32>
    %g = pmcrt.temp : memref<4x16xf32>
    pmcrt.all_gather %r -> %g {axes = ["tp"], dim = 1 : i64} : memref<4x8xf32> -> memref<4x16xf32>
    %s = pmcrt.temp : memref<2x8xf32>
    pmcrt.reduce_scatter %r -> %s {axes = ["tp"], dim = 0 : i64, reduction = "sum"} : memref<4x8xf32> -> memref<2x8xf32>
    %a = pmcrt.temp : memref<2x16xf32>
    pmcrt.all_to_all %r -> %a {axes = ["tp"], split_dim = 0 : i64, concat_dim = 1 : i64} : memref<4x8xf32> -> memref<2x16xf32>
    %h = pmcrt.temp : memref<4x4xf32>
    pmcrt.shard %r -> %h {sharding = #pmc.sharding<[{}, {"tp"}]>} : memref<4x8xf32> -> memref<4x4xf32>
    pmcrt.send %r to_stage 1 tag 3 : memref<4x8xf32>
    pmcrt.outputs %r at [1] : memref<4x8xf32>
  }
  pmcrt.program stage 1 ranks [2, 3] {
    %t = pmcrt.temp : memref<4x8xf32>
    pmcrt.recv %t from_stage 0 tag 3 : memref<4x8xf32>
    pmcrt.outputs %t at [0] : memref<4x8xf32>
  }
}
