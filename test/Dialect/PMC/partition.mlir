// RUN: pmc-opt %s -split-input-file --pmc-partition | FileCheck %s

// Megatron MLP: column-parallel matmul, elementwise, row-parallel matmul ->
// exactly one all_reduce, where the sum is first needed whole.
// CHECK-LABEL: func @megatron_mlp
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32>) -> tensor<4x8xf32>
// CHECK: %[[W1:.*]] = pmc.constant
// CHECK: %[[S1:.*]] = pmc.shard %[[W1]] {sharding = #pmc.sharding<[{}, {"tp"}]>} : tensor<8x16xf32> to tensor<8x8xf32>
// CHECK: %[[W2:.*]] = pmc.constant
// CHECK: %[[S2:.*]] = pmc.shard %[[W2]] {sharding = #pmc.sharding<[{"tp"}, {}]>} : tensor<16x8xf32> to tensor<8x8xf32>
// CHECK-NOT: pmc.all_
// CHECK: %[[H:.*]] = pmc.matmul %[[X]], %[[S1]] : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
// CHECK-NOT: pmc.all_
// CHECK: %[[G:.*]] = pmc.gelu %[[H]] : tensor<4x8xf32>
// CHECK-NOT: pmc.all_
// CHECK: %[[Y:.*]] = pmc.matmul %[[G]], %[[S2]] : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
// CHECK-NEXT: %[[R:.*]] = pmc.all_reduce %[[Y]] {axes = ["tp"]} : tensor<4x8xf32>
// CHECK-NOT: pmc.all_
// CHECK: %[[Z:.*]] = pmc.add %[[R]], %[[X]]
// CHECK-NOT: pmc.all_
// CHECK: return %[[Z]]
module attributes {pmc.mesh = #pmc.mesh<["tp"=2]>} {
  func.func @megatron_mlp(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
    %w1 = pmc.constant {pmc.shardings = [#pmc.sharding<[{}, {"tp"}]>]} dense<1.0> : tensor<8x16xf32>
    %w2 = pmc.constant {pmc.shardings = [#pmc.sharding<[{"tp"}, {}]>]} dense<1.0> : tensor<16x8xf32>
    %h = pmc.matmul %x, %w1 {pmc.shardings = [#pmc.sharding<[{}, {"tp"}]>]} : (tensor<4x8xf32>, tensor<8x16xf32>) -> tensor<4x16xf32>
    %g = pmc.gelu %h {pmc.shardings = [#pmc.sharding<[{}, {"tp"}]>]} : tensor<4x16xf32>
    %y = pmc.matmul %g, %w2 {pmc.shardings = [#pmc.sharding<[{}, {}], partial_sum = {"tp"}>]} : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
    %z = pmc.add %y, %x {pmc.shardings = [#pmc.sharding<[{}, {}]>]} : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    return %z : tensor<4x8xf32>
  }
}

// -----

// The same block with the row-parallel matmul annotated replicated: the
// partial sum is still computed locally and reduced once, right after it
// (never an all_gather of the hidden activation).
// CHECK-LABEL: func @megatron_mlp_replicated_annotation
// CHECK-NOT: pmc.all_gather
// CHECK: pmc.matmul
// CHECK: pmc.matmul
// CHECK-NEXT: pmc.all_reduce %{{.*}} {axes = ["tp"]} : tensor<4x8xf32>
// CHECK-NOT: pmc.all_
// CHECK: return
module attributes {pmc.mesh = #pmc.mesh<["tp"=2]>} {
  func.func @megatron_mlp_replicated_annotation(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
    %w1 = pmc.constant {pmc.shardings = [#pmc.sharding<[{}, {"tp"}]>]} dense<1.0> : tensor<8x16xf32>
    %w2 = pmc.constant {pmc.shardings = [#pmc.sharding<[{"tp"}, {}]>]} dense<1.0> : tensor<16x8xf32>
    %h = pmc.matmul %x, %w1 {pmc.shardings = [#pmc.sharding<[{}, {"tp"}]>]} : (tensor<4x8xf32>, tensor<8x16xf32>) -> tensor<4x16xf32>
    %r = pmc.relu %h {pmc.shardings = [#pmc.sharding<[{}, {"tp"}]>]} : tensor<4x16xf32>
    %y = pmc.matmul %r, %w2 {pmc.shardings = [#pmc.sharding<[{}, {}]>]} : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
    return %y : tensor<4x8xf32>
  }
}

// -----

// Attention with the heads sharded over tp (heads are the batch dimension of
// the per-head weights): one all_reduce, after the output projection's sum
// over heads.
// CHECK-LABEL: func @attention
// CHECK-SAME: (%[[X:.*]]: tensor<8x16xf32>) -> tensor<8x16xf32>
// CHECK-NOT: pmc.all_
// CHECK: pmc.matmul %[[X]], %{{.*}} : (tensor<8x16xf32>, tensor<2x16x4xf32>) -> tensor<2x8x4xf32>
// CHECK-NOT: pmc.all_
// CHECK: pmc.matmul %{{.*}}, %{{.*}} {transpose_b} : (tensor<2x8x4xf32>, tensor<2x8x4xf32>) -> tensor<2x8x8xf32>
// CHECK-NOT: pmc.all_
// CHECK: pmc.softmax %{{.*}} {axis = 2 : i64} : tensor<2x8x8xf32>
// CHECK-NOT: pmc.all_
// CHECK: pmc.matmul %{{.*}}, %{{.*}} : (tensor<2x8x4xf32>, tensor<2x4x16xf32>) -> tensor<2x8x16xf32>
// CHECK-NOT: pmc.all_
// CHECK: %[[S:.*]] = pmc.reduce_sum %{{.*}} {axes = array<i64: 0>} : (tensor<2x8x16xf32>) -> tensor<8x16xf32>
// CHECK-NEXT: %[[R:.*]] = pmc.all_reduce %[[S]] {axes = ["tp"]} : tensor<8x16xf32>
// CHECK-NOT: pmc.all_
// CHECK: return %[[R]]
module attributes {pmc.mesh = #pmc.mesh<["tp"=2]>} {
  func.func @attention(%x: tensor<8x16xf32>) -> tensor<8x16xf32> {
    %wq = pmc.constant {pmc.shardings = [#pmc.sharding<[{"tp"}, {}, {}]>]} dense<1.0> : tensor<4x16x4xf32>
    %wk = pmc.constant {pmc.shardings = [#pmc.sharding<[{"tp"}, {}, {}]>]} dense<1.0> : tensor<4x16x4xf32>
    %wv = pmc.constant {pmc.shardings = [#pmc.sharding<[{"tp"}, {}, {}]>]} dense<1.0> : tensor<4x16x4xf32>
    %wo = pmc.constant {pmc.shardings = [#pmc.sharding<[{"tp"}, {}, {}]>]} dense<1.0> : tensor<4x4x16xf32>
    %q = pmc.matmul %x, %wq {pmc.shardings = [#pmc.sharding<[{"tp"}, {}, {}]>]} : (tensor<8x16xf32>, tensor<4x16x4xf32>) -> tensor<4x8x4xf32>
    %k = pmc.matmul %x, %wk {pmc.shardings = [#pmc.sharding<[{"tp"}, {}, {}]>]} : (tensor<8x16xf32>, tensor<4x16x4xf32>) -> tensor<4x8x4xf32>
    %v = pmc.matmul %x, %wv {pmc.shardings = [#pmc.sharding<[{"tp"}, {}, {}]>]} : (tensor<8x16xf32>, tensor<4x16x4xf32>) -> tensor<4x8x4xf32>
    %s = pmc.matmul %q, %k {transpose_b, pmc.shardings = [#pmc.sharding<[{"tp"}, {}, {}]>]} : (tensor<4x8x4xf32>, tensor<4x8x4xf32>) -> tensor<4x8x8xf32>
    %p = pmc.softmax %s {axis = 2 : i64, pmc.shardings = [#pmc.sharding<[{"tp"}, {}, {}]>]} : tensor<4x8x8xf32>
    %c = pmc.matmul %p, %v {pmc.shardings = [#pmc.sharding<[{"tp"}, {}, {}]>]} : (tensor<4x8x8xf32>, tensor<4x8x4xf32>) -> tensor<4x8x4xf32>
    %o = pmc.matmul %c, %wo {pmc.shardings = [#pmc.sharding<[{"tp"}, {}, {}]>]} : (tensor<4x8x4xf32>, tensor<4x4x16xf32>) -> tensor<4x8x16xf32>
    %y = pmc.reduce_sum %o {axes = array<i64: 0>, pmc.shardings = [#pmc.sharding<[{}, {}], partial_sum = {"tp"}>]} : (tensor<4x8x16xf32>) -> tensor<8x16xf32>
    return %y : tensor<8x16xf32>
  }
}

// -----

// Pure data parallelism: batch split over dp, weights replicated: no
// communication at all; the signature takes local shapes.
// CHECK-LABEL: func @data_parallel
// CHECK-SAME: (%{{.*}}: tensor<4x8xf32> {pmc.sharding = #pmc.sharding<[{"dp"}, {}]>}) -> (tensor<4x4xf32> {pmc.sharding = #pmc.sharding<[{"dp"}, {}]>})
// CHECK-NOT: pmc.all_
// CHECK-NOT: pmc.shard
// CHECK: pmc.matmul %{{.*}}, %{{.*}} : (tensor<4x8xf32>, tensor<8x4xf32>) -> tensor<4x4xf32>
// CHECK: pmc.relu %{{.*}} : tensor<4x4xf32>
// CHECK-NOT: pmc.all_
module attributes {pmc.mesh = #pmc.mesh<["dp"=2]>} {
  func.func @data_parallel(%x: tensor<8x8xf32> {pmc.sharding = #pmc.sharding<[{"dp"}, {}]>})
      -> (tensor<8x4xf32> {pmc.sharding = #pmc.sharding<[{"dp"}, {}]>}) {
    %w = pmc.constant {pmc.shardings = [#pmc.sharding<[{}, {}]>]} dense<1.0> : tensor<8x4xf32>
    %y = pmc.matmul %x, %w {pmc.shardings = [#pmc.sharding<[{"dp"}, {}]>]} : (tensor<8x8xf32>, tensor<8x4xf32>) -> tensor<8x4xf32>
    %r = pmc.relu %y {pmc.shardings = [#pmc.sharding<[{"dp"}, {}]>]} : tensor<8x4xf32>
    return %r : tensor<8x4xf32>
  }
}

// -----

// 2-D: batch over dp, Megatron over tp. The one all_reduce is over tp only;
// the output stays split over dp.
// CHECK-LABEL: func @dp_tp
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32> {pmc.sharding = #pmc.sharding<[{"dp"}, {}]>}) -> (tensor<4x8xf32> {pmc.sharding = #pmc.sharding<[{"dp"}, {}]>})
// CHECK-NOT: pmc.all_
// CHECK: pmc.matmul %[[X]], %{{.*}} : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
// CHECK-NOT: pmc.all_
// CHECK: %[[Y:.*]] = pmc.matmul %{{.*}}, %{{.*}} : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
// CHECK-NEXT: %[[R:.*]] = pmc.all_reduce %[[Y]] {axes = ["tp"]} : tensor<4x8xf32>
// CHECK-NOT: pmc.all_
// CHECK: return %[[R]]
module attributes {pmc.mesh = #pmc.mesh<["dp"=2, "tp"=2]>} {
  func.func @dp_tp(%x: tensor<8x8xf32> {pmc.sharding = #pmc.sharding<[{"dp"}, {}]>})
      -> (tensor<8x8xf32> {pmc.sharding = #pmc.sharding<[{"dp"}, {}]>}) {
    %w1 = pmc.constant {pmc.shardings = [#pmc.sharding<[{}, {"tp"}]>]} dense<1.0> : tensor<8x16xf32>
    %w2 = pmc.constant {pmc.shardings = [#pmc.sharding<[{"tp"}, {}]>]} dense<1.0> : tensor<16x8xf32>
    %h = pmc.matmul %x, %w1 {pmc.shardings = [#pmc.sharding<[{"dp"}, {"tp"}]>]} : (tensor<8x8xf32>, tensor<8x16xf32>) -> tensor<8x16xf32>
    %r = pmc.relu %h {pmc.shardings = [#pmc.sharding<[{"dp"}, {"tp"}]>]} : tensor<8x16xf32>
    %y = pmc.matmul %r, %w2 {pmc.shardings = [#pmc.sharding<[{"dp"}, {}], partial_sum = {"tp"}>]} : (tensor<8x16xf32>, tensor<16x8xf32>) -> tensor<8x8xf32>
    return %y : tensor<8x8xf32>
  }
}

// -----

// A transpose moves the split from the rows of its input to the rows of its
// result, which are the input's columns: one all_to_all, no gather.
// CHECK-LABEL: func @transpose_moves_split
// CHECK: %[[A:.*]] = pmc.all_to_all %{{.*}} {axes = ["tp"], concat_dim = 0 : i64, split_dim = 1 : i64} : tensor<2x8xf32> to tensor<4x4xf32>
// CHECK: %[[T:.*]] = pmc.transpose %[[A]] {perm = array<i64: 1, 0>} : (tensor<4x4xf32>) -> tensor<4x4xf32>
// CHECK: return %[[T]]
module attributes {pmc.mesh = #pmc.mesh<["tp"=2]>} {
  func.func @transpose_moves_split(%x: tensor<4x8xf32> {pmc.sharding = #pmc.sharding<[{"tp"}, {}]>})
      -> (tensor<8x4xf32> {pmc.sharding = #pmc.sharding<[{"tp"}, {}]>}) {
    %t = pmc.transpose %x {perm = array<i64: 1, 0>, pmc.shardings = [#pmc.sharding<[{"tp"}, {}]>]} : (tensor<4x8xf32>) -> tensor<8x4xf32>
    return %t : tensor<8x4xf32>
  }
}

// -----

// A row-parallel conv with a bias: the input channels are split, so each rank
// adds half of the bias to its partial sum (a share), and the all_reduce
// counts the bias once.
// CHECK-LABEL: func @conv_bias_share
// CHECK: %[[B:.*]] = pmc.constant dense<1.000000e+00> : tensor<4xf32>
// CHECK: %[[HALF:.*]] = pmc.constant dense<5.000000e-01> : tensor<f32>
// CHECK: %[[SHARE:.*]] = pmc.mul %[[B]], %[[HALF]] : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
// CHECK: %[[Y:.*]] = pmc.conv %{{.*}}, %{{.*}}, %[[SHARE]] {{.*}} : (tensor<2x4x8x8xf32>, tensor<4x4x1x1xf32>, tensor<4xf32>) -> tensor<2x4x8x8xf32>
// CHECK: pmc.all_reduce %[[Y]] {axes = ["tp"]}
module attributes {pmc.mesh = #pmc.mesh<["tp"=2]>} {
  func.func @conv_bias_share(%x: tensor<2x8x8x8xf32> {pmc.sharding = #pmc.sharding<[{}, {"tp"}, {}, {}]>}) -> tensor<2x4x8x8xf32> {
    %w = pmc.constant {pmc.shardings = [#pmc.sharding<[{}, {"tp"}, {}, {}]>]} dense<1.0> : tensor<4x8x1x1xf32>
    %b = pmc.constant dense<1.0> : tensor<4xf32>
    %y = pmc.conv %x, %w, %b {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 1 : i64, pmc.shardings = [#pmc.sharding<[{}, {}, {}, {}], partial_sum = {"tp"}>]}
        : (tensor<2x8x8x8xf32>, tensor<4x8x1x1xf32>, tensor<4xf32>) -> tensor<2x4x8x8xf32>
    return %y : tensor<2x4x8x8xf32>
  }
}

// -----

// A depthwise conv split on channels: each rank convolves whole groups, and
// its `group` counts the local ones.
// CHECK-LABEL: func @depthwise_channels
// CHECK: pmc.conv {{.*}}group = 4 : i64{{.*}} : (tensor<2x4x8x8xf32>, tensor<4x1x3x3xf32>) -> tensor<2x4x6x6xf32>
// CHECK-NOT: pmc.all_
module attributes {pmc.mesh = #pmc.mesh<["tp"=2]>} {
  func.func @depthwise_channels(%x: tensor<2x8x8x8xf32> {pmc.sharding = #pmc.sharding<[{}, {"tp"}, {}, {}]>}) -> (tensor<2x8x6x6xf32> {pmc.sharding = #pmc.sharding<[{}, {"tp"}, {}, {}]>}) {
    %w = pmc.constant dense<1.0> : tensor<8x1x3x3xf32>
    %y = pmc.conv %x, %w {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 8 : i64, pmc.shardings = [#pmc.sharding<[{}, {"tp"}, {}, {}]>]}
        : (tensor<2x8x8x8xf32>, tensor<8x1x3x3xf32>) -> tensor<2x8x6x6xf32>
    return %y : tensor<2x8x6x6xf32>
  }
}
