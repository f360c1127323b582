// RUN: pmc-opt %s -split-input-file --pmc-sharding-propagation | FileCheck %s
// RUN: pmc-opt %s -split-input-file --pmc-sharding-propagation="debug-sharding-origins" | FileCheck %s --check-prefix=ORIGIN
// RUN: pmc-opt %s -split-input-file --pmc-debug-sharding-origins | FileCheck %s --check-prefix=ORIGIN
//
// Determinism: two runs give the same text, and propagating the output again
// changes nothing (every annotation is then the user's).
// RUN: pmc-opt %s -split-input-file --pmc-sharding-propagation > %t.first
// RUN: pmc-opt %s -split-input-file --pmc-sharding-propagation > %t.second
// RUN: diff %t.first %t.second
// RUN: pmc-opt %t.first -split-input-file --pmc-sharding-propagation | diff %t.first -

// Megatron MLP: w1 column-sharded, w2 row-sharded over tp. The hidden
// activation is column-sharded, the second matmul's result is a pending sum
// over tp (the partitioner all-reduces it), the bias b1 is sharded backward,
// and the function result is never partial.
// CHECK-LABEL: func.func @mlp
// CHECK-SAME: pmc.sharding = #pmc.sharding<[{}, {}]>
// CHECK-SAME: -> (tensor<8x16xf32> {pmc.sharding = #pmc.sharding<[{}, {}]>})
// CHECK: %[[W1:.*]] = pmc.constant {pmc.shardings = [#pmc.sharding<[{}, {"tp"}]>]}
// CHECK: %[[B1:.*]] = pmc.constant {pmc.shardings = [#pmc.sharding<[{"tp"}]>]}
// CHECK: %[[W2:.*]] = pmc.constant {pmc.shardings = [#pmc.sharding<[{"tp"}, {}]>]}
// CHECK: %[[B2:.*]] = pmc.constant {pmc.shardings = [#pmc.sharding<[{}]>]}
// CHECK: %[[H:.*]] = pmc.matmul %arg0, %[[W1]] {pmc.shardings = [#pmc.sharding<[{}, {"tp"}]>]}
// CHECK: %[[HB:.*]] = pmc.add %[[H]], %[[B1]] {pmc.shardings = [#pmc.sharding<[{}, {"tp"}]>]}
// CHECK: %[[G:.*]] = pmc.gelu %[[HB]] {pmc.shardings = [#pmc.sharding<[{}, {"tp"}]>]}
// CHECK: %[[Y:.*]] = pmc.matmul %[[G]], %[[W2]] {pmc.shardings = [#pmc.sharding<[{}, {}], partial_sum = {"tp"}>]}
// CHECK: pmc.add %[[Y]], %[[B2]] {pmc.shardings = [#pmc.sharding<[{}, {}]>]}

// Where every sharding came from.
// ORIGIN-LABEL: func.func @mlp
// ORIGIN-SAME: pmc.sharding_origin = "no information: replicated"
// ORIGIN-SAME: pmc.sharding_origin = "returned pmc.add #8 (no information: replicated)"
// ORIGIN: pmc.sharding_origins = ["user: pmc.constant 'w1'"]
// ORIGIN: pmc.sharding_origins = ["backward through pmc.add: tp from pmc.constant 'w1'"]
// ORIGIN: pmc.sharding_origins = ["user: pmc.constant 'w2'"]
// ORIGIN: pmc.sharding_origins = ["no information: replicated"]
// ORIGIN: pmc.matmul {{.*}}pmc.sharding_origins = ["forward through pmc.matmul: tp from pmc.constant 'w1'"]
// ORIGIN: pmc.add {{.*}}pmc.sharding_origins = ["forward through pmc.add: tp from pmc.constant 'w1'"]
// ORIGIN: pmc.gelu {{.*}}pmc.sharding_origins = ["forward through pmc.gelu: tp from pmc.constant 'w1'"]
// ORIGIN: pmc.matmul {{.*}}pmc.sharding_origins = ["forward through pmc.matmul: tp from pmc.constant 'w2'"]
module attributes {pmc.mesh = #pmc.mesh<["dp"=2, "tp"=2]>} {
  func.func @mlp(%x: tensor<8x16xf32> {pmc.name = "x"}) -> tensor<8x16xf32> {
    %w1 = pmc.constant {pmc.shardings = [#pmc.sharding<[{}, {"tp"}]>]} dense<1.0> : tensor<16x32xf32> loc("w1")
    %b1 = pmc.constant dense<0.5> : tensor<32xf32> loc("b1")
    %w2 = pmc.constant {pmc.shardings = [#pmc.sharding<[{"tp"}, {}]>]} dense<1.0> : tensor<32x16xf32> loc("w2")
    %b2 = pmc.constant dense<0.5> : tensor<16xf32> loc("b2")
    %h = pmc.matmul %x, %w1 : (tensor<8x16xf32>, tensor<16x32xf32>) -> tensor<8x32xf32>
    %hb = pmc.add %h, %b1 : (tensor<8x32xf32>, tensor<32xf32>) -> tensor<8x32xf32>
    %g = pmc.gelu %hb : tensor<8x32xf32>
    %y = pmc.matmul %g, %w2 : (tensor<8x32xf32>, tensor<32x16xf32>) -> tensor<8x16xf32>
    %yb = pmc.add %y, %b2 : (tensor<8x16xf32>, tensor<16xf32>) -> tensor<8x16xf32>
    return %yb : tensor<8x16xf32>
  }
}

// -----

// Data parallel: dp on the input batch reaches every activation of a
// GPT-style block (layer norm, attention with heads, softmax, MLP, residuals);
// weights stay replicated.
// CHECK-LABEL: func.func @gpt_block_dp
// CHECK-SAME: {pmc.name = "x", pmc.sharding = #pmc.sharding<[{"dp"}, {}, {}]>}
// CHECK-SAME: -> (tensor<4x8x16xf32> {pmc.sharding = #pmc.sharding<[{"dp"}, {}, {}]>})
// CHECK-COUNT-9: pmc.constant {pmc.shardings = [#pmc.sharding<[{{(\{\}, )*}}{}]>]}
// CHECK: pmc.layer_norm {{.*}}pmc.shardings = [#pmc.sharding<[{"dp"}, {}, {}]>, #pmc.sharding<[{"dp"}, {}, {}]>, #pmc.sharding<[{"dp"}, {}, {}]>]
// CHECK-COUNT-3: pmc.matmul {{.*}}pmc.shardings = [#pmc.sharding<[{"dp"}, {}, {}]>]
// CHECK-COUNT-3: pmc.reshape {{.*}}pmc.shardings = [#pmc.sharding<[{"dp"}, {}, {}, {}]>]
// CHECK-COUNT-3: pmc.transpose {{.*}}pmc.shardings = [#pmc.sharding<[{"dp"}, {}, {}, {}]>]
// CHECK: pmc.matmul {{.*}}pmc.shardings = [#pmc.sharding<[{"dp"}, {}, {}, {}]>]
// CHECK: pmc.mul {{.*}}pmc.shardings = [#pmc.sharding<[{"dp"}, {}, {}, {}]>]
// CHECK: pmc.softmax {{.*}}pmc.shardings = [#pmc.sharding<[{"dp"}, {}, {}, {}]>]
// CHECK: pmc.matmul {{.*}}pmc.shardings = [#pmc.sharding<[{"dp"}, {}, {}, {}]>]
// CHECK: pmc.transpose {{.*}}pmc.shardings = [#pmc.sharding<[{"dp"}, {}, {}, {}]>]
// CHECK: pmc.reshape {{.*}}pmc.shardings = [#pmc.sharding<[{"dp"}, {}, {}]>]
// CHECK: pmc.matmul {{.*}}pmc.shardings = [#pmc.sharding<[{"dp"}, {}, {}]>]
// CHECK: pmc.add {{.*}}pmc.shardings = [#pmc.sharding<[{"dp"}, {}, {}]>]
// CHECK: pmc.layer_norm {{.*}}pmc.shardings = [#pmc.sharding<[{"dp"}, {}, {}]>, #pmc.sharding<[{"dp"}, {}, {}]>, #pmc.sharding<[{"dp"}, {}, {}]>]
// CHECK: pmc.matmul {{.*}}pmc.shardings = [#pmc.sharding<[{"dp"}, {}, {}]>]
// CHECK: pmc.gelu {{.*}}pmc.shardings = [#pmc.sharding<[{"dp"}, {}, {}]>]
// CHECK: pmc.matmul {{.*}}pmc.shardings = [#pmc.sharding<[{"dp"}, {}, {}]>]
// CHECK: pmc.add {{.*}}pmc.shardings = [#pmc.sharding<[{"dp"}, {}, {}]>]
module attributes {pmc.mesh = #pmc.mesh<["dp"=4]>} {
  func.func @gpt_block_dp(%x: tensor<4x8x16xf32> {pmc.name = "x", pmc.sharding = #pmc.sharding<[{"dp"}, {}, {}]>}) -> tensor<4x8x16xf32> {
    %g = pmc.constant dense<1.0> : tensor<16xf32> loc("ln.g")
    %b = pmc.constant dense<0.0> : tensor<16xf32> loc("ln.b")
    %wq = pmc.constant dense<0.1> : tensor<16x16xf32> loc("wq")
    %wk = pmc.constant dense<0.1> : tensor<16x16xf32> loc("wk")
    %wv = pmc.constant dense<0.1> : tensor<16x16xf32> loc("wv")
    %wo = pmc.constant dense<0.1> : tensor<16x16xf32> loc("wo")
    %w1 = pmc.constant dense<0.1> : tensor<16x64xf32> loc("w1")
    %w2 = pmc.constant dense<0.1> : tensor<64x16xf32> loc("w2")
    %scale = pmc.constant dense<0.35> : tensor<1xf32> loc("scale")
    %ln:3 = pmc.layer_norm %x, %g, %b {axis = 2 : i64, epsilon = 1.0e-05 : f32} : (tensor<4x8x16xf32>, tensor<16xf32>, tensor<16xf32>) -> (tensor<4x8x16xf32>, tensor<4x8x1xf32>, tensor<4x8x1xf32>)
    %q = pmc.matmul %ln#0, %wq : (tensor<4x8x16xf32>, tensor<16x16xf32>) -> tensor<4x8x16xf32>
    %k = pmc.matmul %ln#0, %wk : (tensor<4x8x16xf32>, tensor<16x16xf32>) -> tensor<4x8x16xf32>
    %v = pmc.matmul %ln#0, %wv : (tensor<4x8x16xf32>, tensor<16x16xf32>) -> tensor<4x8x16xf32>
    %q4 = pmc.reshape %q : tensor<4x8x16xf32> to tensor<4x8x2x8xf32>
    %k4 = pmc.reshape %k : tensor<4x8x16xf32> to tensor<4x8x2x8xf32>
    %v4 = pmc.reshape %v : tensor<4x8x16xf32> to tensor<4x8x2x8xf32>
    %qh = pmc.transpose %q4 {perm = array<i64: 0, 2, 1, 3>} : (tensor<4x8x2x8xf32>) -> tensor<4x2x8x8xf32>
    %kh = pmc.transpose %k4 {perm = array<i64: 0, 2, 1, 3>} : (tensor<4x8x2x8xf32>) -> tensor<4x2x8x8xf32>
    %vh = pmc.transpose %v4 {perm = array<i64: 0, 2, 1, 3>} : (tensor<4x8x2x8xf32>) -> tensor<4x2x8x8xf32>
    %s = pmc.matmul %qh, %kh {transpose_b} : (tensor<4x2x8x8xf32>, tensor<4x2x8x8xf32>) -> tensor<4x2x8x8xf32>
    %ss = pmc.mul %s, %scale : (tensor<4x2x8x8xf32>, tensor<1xf32>) -> tensor<4x2x8x8xf32>
    %p = pmc.softmax %ss {axis = 3 : i64} : tensor<4x2x8x8xf32>
    %o = pmc.matmul %p, %vh : (tensor<4x2x8x8xf32>, tensor<4x2x8x8xf32>) -> tensor<4x2x8x8xf32>
    %ot = pmc.transpose %o {perm = array<i64: 0, 2, 1, 3>} : (tensor<4x2x8x8xf32>) -> tensor<4x8x2x8xf32>
    %o3 = pmc.reshape %ot : tensor<4x8x2x8xf32> to tensor<4x8x16xf32>
    %proj = pmc.matmul %o3, %wo : (tensor<4x8x16xf32>, tensor<16x16xf32>) -> tensor<4x8x16xf32>
    %r1 = pmc.add %x, %proj : (tensor<4x8x16xf32>, tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
    %ln2:3 = pmc.layer_norm %r1, %g, %b {axis = 2 : i64, epsilon = 1.0e-05 : f32} : (tensor<4x8x16xf32>, tensor<16xf32>, tensor<16xf32>) -> (tensor<4x8x16xf32>, tensor<4x8x1xf32>, tensor<4x8x1xf32>)
    %h = pmc.matmul %ln2#0, %w1 : (tensor<4x8x16xf32>, tensor<16x64xf32>) -> tensor<4x8x64xf32>
    %a = pmc.gelu %h : tensor<4x8x64xf32>
    %m = pmc.matmul %a, %w2 : (tensor<4x8x64xf32>, tensor<64x16xf32>) -> tensor<4x8x16xf32>
    %r2 = pmc.add %r1, %m : (tensor<4x8x16xf32>, tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
    return %r2 : tensor<4x8x16xf32>
  }
}

// -----

// Attention heads (2-D: dp on the batch, tp on heads): wq/wk/wv column- and
// wo/w2 row-sharded. The reshape [4,8,16] -> [4,8,2,8] splits the hidden
// dimension into compound factors (heads major), so tp lands on the heads,
// which the transposes move to dimension 1; the score matmul, the softmax
// and the value matmul run per head; the projections are partial sums over tp.
// CHECK-LABEL: func.func @gpt_block_dp_tp
// CHECK: pmc.layer_norm {{.*}}pmc.shardings = [#pmc.sharding<[{"dp"}, {}, {}]>,
// CHECK-COUNT-3: pmc.matmul {{.*}}pmc.shardings = [#pmc.sharding<[{"dp"}, {}, {"tp"}]>]
// CHECK-COUNT-3: pmc.reshape {{.*}}pmc.shardings = [#pmc.sharding<[{"dp"}, {}, {"tp"}, {}]>]
// CHECK-COUNT-3: pmc.transpose {{.*}}pmc.shardings = [#pmc.sharding<[{"dp"}, {"tp"}, {}, {}]>]
// CHECK: pmc.matmul {{.*}}pmc.shardings = [#pmc.sharding<[{"dp"}, {"tp"}, {}, {}]>], transpose_b}
// CHECK: pmc.mul {{.*}}pmc.shardings = [#pmc.sharding<[{"dp"}, {"tp"}, {}, {}]>]
// CHECK: pmc.softmax {{.*}}pmc.shardings = [#pmc.sharding<[{"dp"}, {"tp"}, {}, {}]>]
// CHECK: pmc.matmul {{.*}}pmc.shardings = [#pmc.sharding<[{"dp"}, {"tp"}, {}, {}]>]
// CHECK: pmc.transpose {{.*}}pmc.shardings = [#pmc.sharding<[{"dp"}, {}, {"tp"}, {}]>]
// CHECK: pmc.reshape {{.*}}pmc.shardings = [#pmc.sharding<[{"dp"}, {}, {"tp"}]>]
// CHECK: pmc.matmul {{.*}}pmc.shardings = [#pmc.sharding<[{"dp"}, {}, {}], partial_sum = {"tp"}>]
// CHECK: pmc.add {{.*}}pmc.shardings = [#pmc.sharding<[{"dp"}, {}, {}]>]
// CHECK: pmc.layer_norm
// CHECK: pmc.matmul {{.*}}pmc.shardings = [#pmc.sharding<[{"dp"}, {}, {"tp"}]>]
// CHECK: pmc.gelu {{.*}}pmc.shardings = [#pmc.sharding<[{"dp"}, {}, {"tp"}]>]
// CHECK: pmc.matmul {{.*}}pmc.shardings = [#pmc.sharding<[{"dp"}, {}, {}], partial_sum = {"tp"}>]
// CHECK: pmc.add {{.*}}pmc.shardings = [#pmc.sharding<[{"dp"}, {}, {}]>]
module attributes {pmc.mesh = #pmc.mesh<["dp"=2, "tp"=2]>} {
  func.func @gpt_block_dp_tp(%x: tensor<4x8x16xf32> {pmc.name = "x", pmc.sharding = #pmc.sharding<[{"dp"}, {}, {}]>}) -> tensor<4x8x16xf32> {
    %g = pmc.constant dense<1.0> : tensor<16xf32> loc("ln.g")
    %b = pmc.constant dense<0.0> : tensor<16xf32> loc("ln.b")
    %wq = pmc.constant {pmc.shardings = [#pmc.sharding<[{}, {"tp"}]>]} dense<0.1> : tensor<16x16xf32> loc("wq")
    %wk = pmc.constant {pmc.shardings = [#pmc.sharding<[{}, {"tp"}]>]} dense<0.1> : tensor<16x16xf32> loc("wk")
    %wv = pmc.constant {pmc.shardings = [#pmc.sharding<[{}, {"tp"}]>]} dense<0.1> : tensor<16x16xf32> loc("wv")
    %wo = pmc.constant {pmc.shardings = [#pmc.sharding<[{"tp"}, {}]>]} dense<0.1> : tensor<16x16xf32> loc("wo")
    %w1 = pmc.constant {pmc.shardings = [#pmc.sharding<[{}, {"tp"}]>]} dense<0.1> : tensor<16x64xf32> loc("w1")
    %w2 = pmc.constant {pmc.shardings = [#pmc.sharding<[{"tp"}, {}]>]} dense<0.1> : tensor<64x16xf32> loc("w2")
    %scale = pmc.constant dense<0.35> : tensor<1xf32> loc("scale")
    %ln:3 = pmc.layer_norm %x, %g, %b {axis = 2 : i64, epsilon = 1.0e-05 : f32} : (tensor<4x8x16xf32>, tensor<16xf32>, tensor<16xf32>) -> (tensor<4x8x16xf32>, tensor<4x8x1xf32>, tensor<4x8x1xf32>)
    %q = pmc.matmul %ln#0, %wq : (tensor<4x8x16xf32>, tensor<16x16xf32>) -> tensor<4x8x16xf32>
    %k = pmc.matmul %ln#0, %wk : (tensor<4x8x16xf32>, tensor<16x16xf32>) -> tensor<4x8x16xf32>
    %v = pmc.matmul %ln#0, %wv : (tensor<4x8x16xf32>, tensor<16x16xf32>) -> tensor<4x8x16xf32>
    %q4 = pmc.reshape %q : tensor<4x8x16xf32> to tensor<4x8x2x8xf32>
    %k4 = pmc.reshape %k : tensor<4x8x16xf32> to tensor<4x8x2x8xf32>
    %v4 = pmc.reshape %v : tensor<4x8x16xf32> to tensor<4x8x2x8xf32>
    %qh = pmc.transpose %q4 {perm = array<i64: 0, 2, 1, 3>} : (tensor<4x8x2x8xf32>) -> tensor<4x2x8x8xf32>
    %kh = pmc.transpose %k4 {perm = array<i64: 0, 2, 1, 3>} : (tensor<4x8x2x8xf32>) -> tensor<4x2x8x8xf32>
    %vh = pmc.transpose %v4 {perm = array<i64: 0, 2, 1, 3>} : (tensor<4x8x2x8xf32>) -> tensor<4x2x8x8xf32>
    %s = pmc.matmul %qh, %kh {transpose_b} : (tensor<4x2x8x8xf32>, tensor<4x2x8x8xf32>) -> tensor<4x2x8x8xf32>
    %ss = pmc.mul %s, %scale : (tensor<4x2x8x8xf32>, tensor<1xf32>) -> tensor<4x2x8x8xf32>
    %p = pmc.softmax %ss {axis = 3 : i64} : tensor<4x2x8x8xf32>
    %o = pmc.matmul %p, %vh : (tensor<4x2x8x8xf32>, tensor<4x2x8x8xf32>) -> tensor<4x2x8x8xf32>
    %ot = pmc.transpose %o {perm = array<i64: 0, 2, 1, 3>} : (tensor<4x2x8x8xf32>) -> tensor<4x8x2x8xf32>
    %o3 = pmc.reshape %ot : tensor<4x8x2x8xf32> to tensor<4x8x16xf32>
    %proj = pmc.matmul %o3, %wo : (tensor<4x8x16xf32>, tensor<16x16xf32>) -> tensor<4x8x16xf32>
    %r1 = pmc.add %x, %proj : (tensor<4x8x16xf32>, tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
    %ln2:3 = pmc.layer_norm %r1, %g, %b {axis = 2 : i64, epsilon = 1.0e-05 : f32} : (tensor<4x8x16xf32>, tensor<16xf32>, tensor<16xf32>) -> (tensor<4x8x16xf32>, tensor<4x8x1xf32>, tensor<4x8x1xf32>)
    %h = pmc.matmul %ln2#0, %w1 : (tensor<4x8x16xf32>, tensor<16x64xf32>) -> tensor<4x8x64xf32>
    %a = pmc.gelu %h : tensor<4x8x64xf32>
    %m = pmc.matmul %a, %w2 : (tensor<4x8x64xf32>, tensor<64x16xf32>) -> tensor<4x8x16xf32>
    %r2 = pmc.add %r1, %m : (tensor<4x8x16xf32>, tensor<4x8x16xf32>) -> tensor<4x8x16xf32>
    return %r2 : tensor<4x8x16xf32>
  }
}

// -----

// Reshape: a dimension's axes go to its compound factors major first.
// [8] over {dp, tp} is [2 4]: dp takes the 2, tp splits the 4.
// CHECK-LABEL: func.func @reshape_split
// CHECK: pmc.reshape {{.*}}pmc.shardings = [#pmc.sharding<[{"dp"}, {"tp"}, {}]>]
// Merging [2, 4] split {dp}, {tp} gives [8] split {dp, tp}.
// CHECK-LABEL: func.func @reshape_merge
// CHECK: pmc.reshape {{.*}}pmc.shardings = [#pmc.sharding<[{"dp", "tp"}, {}]>]
// Splitting only the minor factor of a merged dimension is not a block of it:
// the result stays replicated (the partitioner reshards).
// CHECK-LABEL: func.func @reshape_minor_only
// CHECK: pmc.reshape {{.*}}pmc.shardings = [#pmc.sharding<[{}, {}]>]
// Backward from a user-annotated result through the reshape to the argument.
// CHECK-LABEL: func.func @reshape_backward
// CHECK-SAME: %arg0: tensor<8x4xf32> {pmc.sharding = #pmc.sharding<[{"tp", "dp"}, {}]>}
// Reshape: compound factors carry axes through splits and merges.
module attributes {pmc.mesh = #pmc.mesh<["dp"=2, "tp"=2]>} {
  func.func @reshape_split(%x: tensor<8x4xf32> {pmc.sharding = #pmc.sharding<[{"dp", "tp"}, {}]>}) -> tensor<2x4x4xf32> {
    %y = pmc.reshape %x : tensor<8x4xf32> to tensor<2x4x4xf32>
    return %y : tensor<2x4x4xf32>
  }
  func.func @reshape_merge(%x: tensor<2x4x4xf32> {pmc.sharding = #pmc.sharding<[{"dp"}, {"tp"}, {}]>}) -> tensor<8x4xf32> {
    %y = pmc.reshape %x : tensor<2x4x4xf32> to tensor<8x4xf32>
    return %y : tensor<8x4xf32>
  }
  func.func @reshape_minor_only(%x: tensor<2x4x4xf32> {pmc.sharding = #pmc.sharding<[{}, {"tp"}, {}]>}) -> tensor<8x4xf32> {
    %y = pmc.reshape %x : tensor<2x4x4xf32> to tensor<8x4xf32>
    return %y : tensor<8x4xf32>
  }
  func.func @reshape_backward(%x: tensor<8x4xf32>) -> (tensor<2x4x4xf32> {pmc.sharding = #pmc.sharding<[{"tp"}, {"dp"}, {}]>}) {
    %y = pmc.reshape %x : tensor<8x4xf32> to tensor<2x4x4xf32>
    return %y : tensor<2x4x4xf32>
  }
}


// -----


// Conflict resolution (see the pass description for the priority).
// Two user shardings of one length: the first operand wins.
// CHECK-LABEL: func.func @user_vs_user
// CHECK: pmc.add {{.*}}pmc.shardings = [#pmc.sharding<[{"tp"}, {}]>]
// A user sharding beats a propagated one.
// CHECK-LABEL: func.func @user_beats_propagated
// CHECK: pmc.relu {{.*}}pmc.shardings = [#pmc.sharding<[{"tp"}, {}]>]
// CHECK: pmc.add {{.*}}pmc.shardings = [#pmc.sharding<[{"dp"}, {}]>]
// Between conflicting user shardings, more axes win.
// CHECK-LABEL: func.func @more_axes_win
// CHECK: pmc.add {{.*}}pmc.shardings = [#pmc.sharding<[{"dp", "tp"}, {}]>]
// A prefix is no conflict: the longer refines it.
// CHECK-LABEL: func.func @prefix_merges
// CHECK: pmc.add {{.*}}pmc.shardings = [#pmc.sharding<[{"dp", "tp"}, {}]>]
// One axis, two factors: the first factor (m) keeps it.
// CHECK-LABEL: func.func @axis_once
// CHECK: pmc.matmul {{.*}}pmc.shardings = [#pmc.sharding<[{"tp"}, {}]>]
// ...unless the later factor's axis comes from the user.
// CHECK-LABEL: func.func @user_axis_first
// CHECK: pmc.relu {{.*}}pmc.shardings = [#pmc.sharding<[{"dp"}, {}]>]
// CHECK: pmc.add {{.*}}pmc.shardings = [#pmc.sharding<[{}, {"dp"}]>]
// Forward before backward: %r got dp on rows forward; the result's columns
// over dp (backward) conflict and are dropped for it.
// CHECK-LABEL: func.func @forward_first
// CHECK: pmc.relu {{.*}}pmc.shardings = [#pmc.sharding<[{"dp"}, {}]>]
// CHECK: pmc.exp {{.*}}pmc.shardings = [#pmc.sharding<[{}, {"dp"}]>]
// A Whole factor (the softmax axis) is never split.
// CHECK-LABEL: func.func @whole_blocks
// CHECK: pmc.softmax {{.*}}pmc.shardings = [#pmc.sharding<[{"dp"}, {}]>]
// A split max-reduction makes the result a pending max; the function result
// is not partial.
// CHECK-LABEL: func.func @reduce_max_partial
// CHECK-SAME: -> (tensor<8xf32> {pmc.sharding = #pmc.sharding<[{"dp"}]>})
// CHECK: pmc.reduce_max {{.*}}pmc.shardings = [#pmc.sharding<[{"dp"}], partial_max = {"tp"}>]
// Ops without a rule stop propagation; values without information replicate.
// CHECK-LABEL: func.func @no_rule_stops
// CHECK: pmc.all_reduce {{.*}}pmc.shardings = [#pmc.sharding<[{}, {}]>]
// CHECK: pmc.exp {{.*}}pmc.shardings = [#pmc.sharding<[{}, {}]>]
module attributes {pmc.mesh = #pmc.mesh<["dp"=2, "tp"=2]>} {
  func.func @user_vs_user(%a: tensor<8x8xf32> {pmc.sharding = #pmc.sharding<[{"tp"}, {}]>},
                          %b: tensor<8x8xf32> {pmc.sharding = #pmc.sharding<[{"dp"}, {}]>}) -> tensor<8x8xf32> {
    %y = pmc.add %a, %b : (tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<8x8xf32>
    return %y : tensor<8x8xf32>
  }
  func.func @user_beats_propagated(%a: tensor<8x8xf32> {pmc.sharding = #pmc.sharding<[{"tp"}, {}]>},
                                   %b: tensor<8x8xf32> {pmc.sharding = #pmc.sharding<[{"dp"}, {}]>}) -> tensor<8x8xf32> {
    %r = pmc.relu %a : tensor<8x8xf32>
    %y = pmc.add %r, %b : (tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<8x8xf32>
    return %y : tensor<8x8xf32>
  }
  func.func @more_axes_win(%a: tensor<8x8xf32> {pmc.sharding = #pmc.sharding<[{"tp"}, {}]>},
                           %b: tensor<8x8xf32> {pmc.sharding = #pmc.sharding<[{"dp", "tp"}, {}]>}) -> tensor<8x8xf32> {
    %y = pmc.add %a, %b : (tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<8x8xf32>
    return %y : tensor<8x8xf32>
  }
  func.func @prefix_merges(%a: tensor<8x8xf32> {pmc.sharding = #pmc.sharding<[{"dp"}, {}]>},
                           %b: tensor<8x8xf32> {pmc.sharding = #pmc.sharding<[{"dp", "tp"}, {}]>}) -> tensor<8x8xf32> {
    %y = pmc.add %a, %b : (tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<8x8xf32>
    return %y : tensor<8x8xf32>
  }
  func.func @axis_once(%x: tensor<8x16xf32> {pmc.sharding = #pmc.sharding<[{"tp"}, {}]>},
                       %w: tensor<16x4xf32> {pmc.sharding = #pmc.sharding<[{}, {"tp"}]>}) -> tensor<8x4xf32> {
    %y = pmc.matmul %x, %w : (tensor<8x16xf32>, tensor<16x4xf32>) -> tensor<8x4xf32>
    return %y : tensor<8x4xf32>
  }
  func.func @user_axis_first(%a: tensor<8x8xf32> {pmc.sharding = #pmc.sharding<[{"dp"}, {}]>},
                             %b: tensor<8x8xf32> {pmc.sharding = #pmc.sharding<[{}, {"dp"}]>}) -> tensor<8x8xf32> {
    %r = pmc.relu %a : tensor<8x8xf32>
    %y = pmc.add %r, %b : (tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<8x8xf32>
    return %y : tensor<8x8xf32>
  }
  func.func @forward_first(%a: tensor<8x8xf32> {pmc.sharding = #pmc.sharding<[{"dp"}, {}]>}) -> (tensor<8x8xf32> {pmc.sharding = #pmc.sharding<[{}, {"dp"}]>}) {
    %r = pmc.relu %a : tensor<8x8xf32>
    %e = pmc.exp %r : tensor<8x8xf32>
    return %e : tensor<8x8xf32>
  }
  func.func @whole_blocks(%a: tensor<8x8xf32> {pmc.sharding = #pmc.sharding<[{"dp"}, {"tp"}]>}) -> tensor<8x8xf32> {
    %s = pmc.softmax %a {axis = 1 : i64} : tensor<8x8xf32>
    return %s : tensor<8x8xf32>
  }
  func.func @reduce_max_partial(%a: tensor<8x8xf32> {pmc.sharding = #pmc.sharding<[{"dp"}, {"tp"}]>}) -> tensor<8xf32> {
    %s = pmc.reduce_max %a {axes = array<i64: 1>} : (tensor<8x8xf32>) -> tensor<8xf32>
    return %s : tensor<8xf32>
  }
  func.func @no_rule_stops(%a: tensor<8x8xf32> {pmc.sharding = #pmc.sharding<[{"dp"}, {}]>}) -> tensor<8x8xf32> {
    %r = pmc.all_reduce %a {axes = ["tp"], reduction = "sum"} : tensor<8x8xf32>
    %e = pmc.exp %r : tensor<8x8xf32>
    return %e : tensor<8x8xf32>
  }
}

// -----

// A function result annotated differently from the value returned: the value
// keeps the op's sharding (the partitioner reshards at the return), and a value
// returned twice with two shardings takes the first.
// CHECK-LABEL: func @result_differs_from_value
// CHECK-SAME: -> (tensor<8x4xf32> {pmc.sharding = #pmc.sharding<[{}, {"tp"}]>})
// CHECK: pmc.relu %{{.*}} {pmc.shardings = [#pmc.sharding<[{"dp"}, {}]>]}
// CHECK-LABEL: func @returned_twice
// CHECK-SAME: (%{{.*}}: tensor<8xf32> {pmc.sharding = #pmc.sharding<[{"dp"}]>})
// CHECK-SAME: -> (tensor<8xf32> {pmc.sharding = #pmc.sharding<[{"dp"}]>}, tensor<8xf32> {pmc.sharding = #pmc.sharding<[{"tp"}]>})
module attributes {pmc.mesh = #pmc.mesh<["dp"=2, "tp"=2]>} {
  func.func @result_differs_from_value(%x: tensor<8x4xf32>) -> (tensor<8x4xf32> {pmc.sharding = #pmc.sharding<[{}, {"tp"}]>}) {
    %y = pmc.relu %x {pmc.shardings = [#pmc.sharding<[{"dp"}, {}]>]} : tensor<8x4xf32>
    return %y : tensor<8x4xf32>
  }
  func.func @returned_twice(%x: tensor<8xf32>) -> (tensor<8xf32> {pmc.sharding = #pmc.sharding<[{"dp"}]>}, tensor<8xf32> {pmc.sharding = #pmc.sharding<[{"tp"}]>}) {
    return %x, %x : tensor<8xf32>, tensor<8xf32>
  }
}
