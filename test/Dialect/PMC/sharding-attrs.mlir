// RUN: pmc-opt %s -split-input-file | pmc-opt -split-input-file | FileCheck %s

// Meshes and shardings print back as they were written.
// CHECK: module attributes {pmc.mesh = #pmc.mesh<["dp"=2, "tp"=2]>}
// CHECK-LABEL: func @annotated
// CHECK-SAME: pmc.sharding = #pmc.sharding<[{"dp"}, {}]>
// CHECK-SAME: pmc.sharding = #pmc.sharding<[{}, {"tp"}]>
// CHECK: pmc.shardings = [#pmc.sharding<[{"dp"}, {}], partial_sum = {"tp"}>]
module attributes {pmc.mesh = #pmc.mesh<["dp"=2, "tp"=2]>} {
  func.func @annotated(%x: tensor<8x16xf32> {pmc.sharding = #pmc.sharding<[{"dp"}, {}]>},
                       %w: tensor<16x8xf32> {pmc.sharding = #pmc.sharding<[{}, {"tp"}]>}) -> tensor<8x8xf32> {
    %y = pmc.matmul %x, %w {pmc.shardings = [#pmc.sharding<[{"dp"}, {}], partial_sum = {"tp"}>]}
        : (tensor<8x16xf32>, tensor<16x8xf32>) -> tensor<8x8xf32>
    return %y : tensor<8x8xf32>
  }
}

// -----

// The four collectives with local shapes; group sizes come from the mesh.
// CHECK-LABEL: func @collectives
// CHECK: pmc.all_reduce %{{.*}} {axes = ["tp"], reduction = "max"} : tensor<4x8xf32>
// CHECK: pmc.all_gather %{{.*}} {axes = ["tp"], dim = 1 : i64} : tensor<4x8xf32> to tensor<4x32xf32>
// CHECK: pmc.reduce_scatter %{{.*}} {axes = ["dp", "tp"], dim = 0 : i64} : tensor<4x8xf32> to tensor<1x8xf32>
// CHECK: pmc.all_to_all %{{.*}} {axes = ["tp"], concat_dim = 1 : i64, split_dim = 0 : i64} : tensor<4x8xf32> to tensor<1x32xf32>
module attributes {pmc.mesh = #pmc.mesh<["dp"=1, "tp"=4]>} {
  func.func @collectives(%x: tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x32xf32>, tensor<1x8xf32>, tensor<1x32xf32>) {
    %r = pmc.all_reduce %x {axes = ["tp"], reduction = "max"} : tensor<4x8xf32>
    %g = pmc.all_gather %x {axes = ["tp"], dim = 1} : tensor<4x8xf32> to tensor<4x32xf32>
    %s = pmc.reduce_scatter %x {axes = ["dp", "tp"], dim = 0} : tensor<4x8xf32> to tensor<1x8xf32>
    %a = pmc.all_to_all %x {axes = ["tp"], split_dim = 0, concat_dim = 1} : tensor<4x8xf32> to tensor<1x32xf32>
    return %r, %g, %s, %a : tensor<4x8xf32>, tensor<4x32xf32>, tensor<1x8xf32>, tensor<1x32xf32>
  }
}

// -----

// pmc.shard keeps the local block of a replicated tensor.
// CHECK-LABEL: func @local_block
// CHECK: pmc.shard %{{.*}} {sharding = #pmc.sharding<[{}, {"tp"}]>} : tensor<16x8xf32> to tensor<16x4xf32>
module attributes {pmc.mesh = #pmc.mesh<["dp"=2, "tp"=2]>} {
  func.func @local_block(%w: tensor<16x8xf32>) -> tensor<16x4xf32> {
    %l = pmc.shard %w {sharding = #pmc.sharding<[{}, {"tp"}]>} : tensor<16x8xf32> to tensor<16x4xf32>
    return %l : tensor<16x4xf32>
  }
}
