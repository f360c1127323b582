// RUN: pmc-opt %s -split-input-file --pmc-partition | FileCheck %s
// The plans pmc-partition emits at function results for key pairs (all pairs
// are simulated on data by test/unit/Partition/ReshardTest.cpp).

// Sharded -> replicated: all_gather.
// CHECK-LABEL: func @gather
// CHECK: pmc.all_gather %{{.*}} {axes = ["tp"], dim = 1 : i64} : tensor<8x4xf32> to tensor<8x8xf32>
// CHECK-NOT: pmc.
// CHECK: return
module attributes {pmc.mesh = #pmc.mesh<["dp"=2, "tp"=2]>} {
  func.func @gather(%x: tensor<8x8xf32> {pmc.sharding = #pmc.sharding<[{}, {"tp"}]>}) -> tensor<8x8xf32> {
    return %x : tensor<8x8xf32>
  }
}

// -----

// Split moves from dimension 0 to 1: one all_to_all, not gather + slice.
// CHECK-LABEL: func @move
// CHECK: pmc.all_to_all %{{.*}} {axes = ["tp"], concat_dim = 0 : i64, split_dim = 1 : i64} : tensor<4x8xf32> to tensor<8x4xf32>
// CHECK-NOT: pmc.
// CHECK: return
module attributes {pmc.mesh = #pmc.mesh<["dp"=2, "tp"=2]>} {
  func.func @move(%x: tensor<8x8xf32> {pmc.sharding = #pmc.sharding<[{"tp"}, {}]>})
      -> (tensor<8x8xf32> {pmc.sharding = #pmc.sharding<[{}, {"tp"}]>}) {
    return %x : tensor<8x8xf32>
  }
}

// -----

// Replicated -> sharded on both axes: a local slice, no communication.
// CHECK-LABEL: func @slice
// CHECK: pmc.shard %{{.*}} {sharding = #pmc.sharding<[{"dp"}, {"tp"}]>} : tensor<8x8xf32> to tensor<4x4xf32>
// CHECK-NOT: pmc.all_
module attributes {pmc.mesh = #pmc.mesh<["dp"=2, "tp"=2]>} {
  func.func @slice(%x: tensor<8x8xf32>)
      -> (tensor<8x8xf32> {pmc.sharding = #pmc.sharding<[{"dp"}, {"tp"}]>}) {
    return %x : tensor<8x8xf32>
  }
}

// -----

// Partial -> split on a dimension over the same axis: reduce_scatter, not
// all_reduce + slice.
// CHECK-LABEL: func @partial_to_split
// CHECK: %[[Y:.*]] = pmc.matmul {{.*}} -> tensor<8x8xf32>
// CHECK-NEXT: pmc.reduce_scatter %[[Y]] {axes = ["tp"], dim = 1 : i64} : tensor<8x8xf32> to tensor<8x4xf32>
// CHECK-NOT: pmc.all_
module attributes {pmc.mesh = #pmc.mesh<["dp"=2, "tp"=2]>} {
  func.func @partial_to_split(%x: tensor<8x8xf32> {pmc.sharding = #pmc.sharding<[{}, {"tp"}]>},
                              %w: tensor<8x8xf32> {pmc.sharding = #pmc.sharding<[{"tp"}, {}]>})
      -> (tensor<8x8xf32> {pmc.sharding = #pmc.sharding<[{}, {"tp"}]>}) {
    %y = pmc.matmul %x, %w {pmc.shardings = [#pmc.sharding<[{}, {}], partial_sum = {"tp"}>]} : (tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<8x8xf32>
    return %y : tensor<8x8xf32>
  }
}

// -----

// Mixed: rows over dp*tp -> columns over dp: gather the inner axis, move the
// outer one.
// CHECK-LABEL: func @mixed
// CHECK: %[[G:.*]] = pmc.all_gather %{{.*}} {axes = ["tp"], dim = 0 : i64} : tensor<2x8xf32> to tensor<4x8xf32>
// CHECK-NEXT: pmc.all_to_all %[[G]] {axes = ["dp"], concat_dim = 0 : i64, split_dim = 1 : i64} : tensor<4x8xf32> to tensor<8x4xf32>
// CHECK-NOT: pmc.
// CHECK: return
module attributes {pmc.mesh = #pmc.mesh<["dp"=2, "tp"=2]>} {
  func.func @mixed(%x: tensor<8x8xf32> {pmc.sharding = #pmc.sharding<[{"dp", "tp"}, {}]>})
      -> (tensor<8x8xf32> {pmc.sharding = #pmc.sharding<[{}, {"dp"}]>}) {
    return %x : tensor<8x8xf32>
  }
}
