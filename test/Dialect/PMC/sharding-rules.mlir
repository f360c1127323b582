// RUN: pmc-opt %s -split-input-file --pmc-test-print-sharding-rules | FileCheck %s

// The sharding rule of every pmc op. Conventions: factors are named i, j, ...
// in order of first appearance; a dimension of size 1 has no factor ("1");
// reduction= lists sum-reduction factors, reduction_max= max-reduction ones,
// whole= the factors that must not be split.
// Highlights: add/mul/where broadcast (a stretched 1 has no factor); matmul
// batch dims broadcast and transpose flags swap m/k and k/n; conv channels
// are [groups, per group]: the groups factor scales `group`, a group's input
// channels are a sum reduction with the bias as addend; reduce_mean/min/prod keep
// reduced dims whole; reshape [6,4] -> [2,3,4] splits 6 into compound factors
// [i j]; [2,3] -> [3,2] has no common refinement (all whole); a sliced
// dimension is whole while a full one stays parallel; collectives have none.

// CHECK-LABEL: func.func @rules
// CHECK: pmc.constant {{.*}}pmc.sharding_rule = "() -> ([i, 1, j]) {i=4, j=3}"
// CHECK: pmc.relu {{.*}}pmc.sharding_rule = "([i, j]) -> ([i, j]) {i=8, j=16}"
// CHECK: pmc.cast {{.*}}pmc.sharding_rule = "([i, j]) -> ([i, j]) {i=8, j=16}"
// CHECK: pmc.matmul {{.*}}pmc.sharding_rule = "([i, j], [j, k]) -> ([i, k]) {i=8, j=16, k=4} reduction={j}"
// CHECK: pmc.add {{.*}}pmc.sharding_rule = "([i, j], [j]) -> ([i, j]) {i=8, j=4}"
// CHECK: pmc.mul {{.*}}pmc.sharding_rule = "([i, j], [i, 1]) -> ([i, j]) {i=8, j=4}"
// CHECK: pmc.where {{.*}}pmc.sharding_rule = "([i, j], [i, j], [j]) -> ([i, j]) {i=8, j=4}"
// CHECK: pmc.matmul {{.*}}pmc.sharding_rule = "([i, j, k], [k, l]) -> ([i, j, l]) {i=2, j=8, k=16, l=4} reduction={k}"
// CHECK: pmc.matmul {{.*}}pmc.sharding_rule = "([i, j], [k, l, i]) -> ([k, j, l]) {i=8, j=16, k=2, l=4} reduction={i}"
// CHECK: pmc.conv {{.*}}pmc.sharding_rule = "([i, j, k, l], [m, j, n, o], [m]) -> ([i, m, p, q]) {i=2, j=3, k=8, l=8, m=4, n=3, o=3, p=8, q=8} reduction={j} whole={k, l, n, o, p, q} addends={2}"
// CHECK: pmc.conv {{.*}}pmc.sharding_rule = "([i, j, k, l], [j, 1, m, n]) -> ([i, j, o, p]) {i=2, j=6, k=8, l=8, m=3, n=3, o=6, p=6} whole={k, l, m, n, o, p} scales group by j"
// CHECK: pmc.conv {{.*}}pmc.sharding_rule = "([i, j k, l, m], [j n, k, o, p], [j n]) -> ([i, j n, q, r]) {i=2, j=2, k=2, l=8, m=8, n=4, o=3, p=3, q=6, r=6} reduction={k} whole={l, m, o, p, q, r} addends={2} scales group by j"
// CHECK: pmc.max_pool {{.*}}pmc.sharding_rule = "([i, j, k, l]) -> ([i, j, m, n]) {i=2, j=3, k=8, l=8, m=4, n=4} whole={k, l, m, n}"
// CHECK: pmc.avg_pool {{.*}}pmc.sharding_rule = "([i, j, k, l]) -> ([i, j, m, n]) {i=2, j=3, k=8, l=8, m=4, n=4} whole={k, l, m, n}"
// CHECK: pmc.reduce_sum {{.*}}pmc.sharding_rule = "([i, j, k]) -> ([i, 1, k]) {i=2, j=8, k=16} reduction={j}"
// CHECK: pmc.reduce_max {{.*}}pmc.sharding_rule = "([i, j, k]) -> ([i, j]) {i=2, j=8, k=16} reduction_max={k}"
// CHECK: pmc.reduce_mean {{.*}}pmc.sharding_rule = "([i, j, k]) -> ([i, j]) {i=2, j=8, k=16} whole={k}"
// CHECK: pmc.reduce_min {{.*}}pmc.sharding_rule = "([i, j, k]) -> ([j]) {i=2, j=8, k=16} whole={i, k}"
// CHECK: pmc.reduce_prod {{.*}}pmc.sharding_rule = "([i, j, k]) -> ([i, k]) {i=2, j=8, k=16} whole={j}"
// CHECK: pmc.softmax {{.*}}pmc.sharding_rule = "([i, j, k]) -> ([i, j, k]) {i=2, j=8, k=16} whole={k}"
// CHECK: pmc.log_softmax {{.*}}pmc.sharding_rule = "([i, j, k]) -> ([i, j, k]) {i=2, j=8, k=16} whole={j}"
// CHECK: pmc.layer_norm {{.*}}pmc.sharding_rule = "([i, j, k], [j, k], [j, k]) -> ([i, j, k], [i, 1, 1], [i, 1, 1]) {i=2, j=8, k=16} whole={j, k}"
// CHECK: pmc.transpose {{.*}}pmc.sharding_rule = "([i, j, k]) -> ([k, i, j]) {i=2, j=8, k=16}"
// CHECK: pmc.reshape {{.*}}pmc.sharding_rule = "([i j, k]) -> ([i, j, k]) {i=2, j=3, k=4}"
// CHECK: pmc.reshape {{.*}}pmc.sharding_rule = "([i, j]) -> ([k, l]) {i=2, j=3, k=3, l=2} whole={i, j, k, l}"
// CHECK: pmc.reshape {{.*}}pmc.sharding_rule = "([i, j, k]) -> ([i j, 1, k]) {i=2, j=8, k=16}"
// CHECK: pmc.broadcast {{.*}}pmc.sharding_rule = "([i]) -> ([j, i]) {i=4, j=8}"
// CHECK: pmc.concat {{.*}}pmc.sharding_rule = "([i, j], [i, k]) -> ([i, l]) {i=8, j=16, k=16, l=32} whole={j, k, l}"
// CHECK: pmc.slice {{.*}}pmc.sharding_rule = "([i, j]) -> ([i, k]) {i=8, j=16, k=2} whole={j, k}"
// CHECK: pmc.gather {{.*}}pmc.sharding_rule = "([i, j], [k, l]) -> ([k, l, j]) {i=6, j=4, k=2, l=5} whole={i}"
// CHECK: pmc.gather {{.*}}pmc.sharding_rule = "([i, j, k], [l, m]) -> ([i, l, m, k]) {i=2, j=8, k=16, l=2, m=5} whole={j}"
// CHECK: pmc.all_reduce {{.*}}pmc.sharding_rule = "none"
// CHECK: pmc.gelu {{.*}}pmc.sharding_rule = "([i, j]) -> ([i, j]) {i=8, j=16}"
// CHECK: pmc.equal {{.*}}pmc.sharding_rule = "([i, j], [i, j]) -> ([i, j]) {i=8, j=16}"

module attributes {pmc.mesh = #pmc.mesh<["tp"=2]>} {
func.func @rules(%x: tensor<8x16xf32>, %w: tensor<16x4xf32>, %b: tensor<4xf32>, %c: tensor<8x1xf32>,
                 %cond: tensor<8x4xi1>, %a3: tensor<2x8x16xf32>, %img: tensor<2x3x8x8xf32>,
                 %k: tensor<4x3x3x3xf32>, %kg: tensor<6x1x3x3xf32>, %img6: tensor<2x6x8x8xf32>,
                 %ids: tensor<2x5xi64>, %r: tensor<6x4xf32>, %r2: tensor<2x3xf32>, %t: tensor<2x4x8xf32>,
                 %img4: tensor<2x4x8x8xf32>, %kg2: tensor<8x2x3x3xf32>, %b8: tensor<8xf32>) {
  %0 = pmc.constant dense<1.0> : tensor<4x1x3xf32>
  %1 = pmc.relu %x : tensor<8x16xf32>
  %2 = pmc.cast %x : tensor<8x16xf32> to tensor<8x16xf16>
  %3 = pmc.matmul %x, %w : (tensor<8x16xf32>, tensor<16x4xf32>) -> tensor<8x4xf32>
  %4 = pmc.add %3, %b : (tensor<8x4xf32>, tensor<4xf32>) -> tensor<8x4xf32>
  %5 = pmc.mul %3, %c : (tensor<8x4xf32>, tensor<8x1xf32>) -> tensor<8x4xf32>
  %6 = pmc.where %cond, %3, %b : (tensor<8x4xi1>, tensor<8x4xf32>, tensor<4xf32>) -> tensor<8x4xf32>
  %7 = pmc.matmul %a3, %w : (tensor<2x8x16xf32>, tensor<16x4xf32>) -> tensor<2x8x4xf32>
  %8 = pmc.matmul %x, %t {transpose_a, transpose_b} : (tensor<8x16xf32>, tensor<2x4x8xf32>) -> tensor<2x16x4xf32>
  %9 = pmc.conv %img, %k, %b {strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 1 : i64}
      : (tensor<2x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>) -> tensor<2x4x8x8xf32>
  %10 = pmc.conv %img6, %kg {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 6 : i64}
      : (tensor<2x6x8x8xf32>, tensor<6x1x3x3xf32>) -> tensor<2x6x6x6xf32>
  %g2 = pmc.conv %img4, %kg2, %b8 {strides = array<i64: 1, 1>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>, group = 2 : i64}
      : (tensor<2x4x8x8xf32>, tensor<8x2x3x3xf32>, tensor<8xf32>) -> tensor<2x8x6x6xf32>
  %11 = pmc.max_pool %img {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>}
      : (tensor<2x3x8x8xf32>) -> tensor<2x3x4x4xf32>
  %12 = pmc.avg_pool %img {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>, pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>}
      : (tensor<2x3x8x8xf32>) -> tensor<2x3x4x4xf32>
  %13 = pmc.reduce_sum %a3 {axes = array<i64: 1>, keepdims} : (tensor<2x8x16xf32>) -> tensor<2x1x16xf32>
  %14 = pmc.reduce_max %a3 {axes = array<i64: 2>} : (tensor<2x8x16xf32>) -> tensor<2x8xf32>
  %15 = pmc.reduce_mean %a3 {axes = array<i64: 2>} : (tensor<2x8x16xf32>) -> tensor<2x8xf32>
  %16 = pmc.reduce_min %a3 {axes = array<i64: 0, 2>} : (tensor<2x8x16xf32>) -> tensor<8xf32>
  %17 = pmc.reduce_prod %a3 {axes = array<i64: 1>} : (tensor<2x8x16xf32>) -> tensor<2x16xf32>
  %18 = pmc.softmax %a3 {axis = 2 : i64} : tensor<2x8x16xf32>
  %19 = pmc.log_softmax %a3 {axis = 1 : i64} : tensor<2x8x16xf32>
  %20:3 = pmc.layer_norm %a3, %x, %x {axis = 1 : i64, epsilon = 1.0e-05 : f32}
      : (tensor<2x8x16xf32>, tensor<8x16xf32>, tensor<8x16xf32>) -> (tensor<2x8x16xf32>, tensor<2x1x1xf32>, tensor<2x1x1xf32>)
  %21 = pmc.transpose %a3 {perm = array<i64: 2, 0, 1>} : (tensor<2x8x16xf32>) -> tensor<16x2x8xf32>
  %22 = pmc.reshape %r : tensor<6x4xf32> to tensor<2x3x4xf32>
  %23 = pmc.reshape %r2 : tensor<2x3xf32> to tensor<3x2xf32>
  %24 = pmc.reshape %a3 : tensor<2x8x16xf32> to tensor<16x1x16xf32>
  %25 = pmc.broadcast %b : tensor<4xf32> to tensor<8x4xf32>
  %26 = pmc.concat %x, %x {axis = 1 : i64} : (tensor<8x16xf32>, tensor<8x16xf32>) -> tensor<8x32xf32>
  %27 = pmc.slice %x {starts = array<i64: 0, 3>, steps = array<i64: 1, -1>} : tensor<8x16xf32> to tensor<8x2xf32>
  %28 = pmc.gather %r, %ids {axis = 0 : i64} : (tensor<6x4xf32>, tensor<2x5xi64>) -> tensor<2x5x4xf32>
  %29 = pmc.gather %a3, %ids {axis = 1 : i64} : (tensor<2x8x16xf32>, tensor<2x5xi64>) -> tensor<2x2x5x16xf32>
  %30 = pmc.all_reduce %x {axes = ["tp"], reduction = "sum"} : tensor<8x16xf32>
  %31 = pmc.gelu %x {tanh_approximation} : tensor<8x16xf32>
  %32 = pmc.equal %x, %x : (tensor<8x16xf32>, tensor<8x16xf32>) -> tensor<8x16xi1>
  return
}
}

// -----

// Every other elementwise op, broadcasting binaries, and the ops with no rule.
// CHECK-LABEL: func.func @elementwise
// CHECK: pmc.abs {{.*}}pmc.sharding_rule = "([i, 1, j]) -> ([i, 1, j]) {i=4, j=8}"
// CHECK: pmc.neg {{.*}}pmc.sharding_rule = "([i, 1, j]) -> ([i, 1, j]) {i=4, j=8}"
// CHECK: pmc.sqrt {{.*}}pmc.sharding_rule = "([i, 1, j]) -> ([i, 1, j]) {i=4, j=8}"
// CHECK: pmc.exp {{.*}}pmc.sharding_rule = "([i, 1, j]) -> ([i, 1, j]) {i=4, j=8}"
// CHECK: pmc.log {{.*}}pmc.sharding_rule = "([i, 1, j]) -> ([i, 1, j]) {i=4, j=8}"
// CHECK: pmc.tanh {{.*}}pmc.sharding_rule = "([i, 1, j]) -> ([i, 1, j]) {i=4, j=8}"
// CHECK: pmc.erf {{.*}}pmc.sharding_rule = "([i, 1, j]) -> ([i, 1, j]) {i=4, j=8}"
// CHECK: pmc.sigmoid {{.*}}pmc.sharding_rule = "([i, 1, j]) -> ([i, 1, j]) {i=4, j=8}"
// CHECK: pmc.reciprocal {{.*}}pmc.sharding_rule = "([i, 1, j]) -> ([i, 1, j]) {i=4, j=8}"
// CHECK: pmc.floor {{.*}}pmc.sharding_rule = "([i, 1, j]) -> ([i, 1, j]) {i=4, j=8}"
// CHECK: pmc.ceil {{.*}}pmc.sharding_rule = "([i, 1, j]) -> ([i, 1, j]) {i=4, j=8}"
// CHECK: pmc.sin {{.*}}pmc.sharding_rule = "([i, 1, j]) -> ([i, 1, j]) {i=4, j=8}"
// CHECK: pmc.cos {{.*}}pmc.sharding_rule = "([i, 1, j]) -> ([i, 1, j]) {i=4, j=8}"
// CHECK: pmc.not {{.*}}pmc.sharding_rule = "([i, j]) -> ([i, j]) {i=4, j=8}"
// CHECK: pmc.sub {{.*}}pmc.sharding_rule = "([i, 1, j], [k, 1]) -> ([i, k, j]) {i=4, j=8, k=3}"
// CHECK: pmc.div {{.*}}pmc.sharding_rule = "([i, 1, j], [k, 1]) -> ([i, k, j]) {i=4, j=8, k=3}"
// CHECK: pmc.min {{.*}}pmc.sharding_rule = "([i, 1, j], [k, 1]) -> ([i, k, j]) {i=4, j=8, k=3}"
// CHECK: pmc.max {{.*}}pmc.sharding_rule = "([i, 1, j], [k, 1]) -> ([i, k, j]) {i=4, j=8, k=3}"
// CHECK: pmc.pow {{.*}}pmc.sharding_rule = "([i, 1, j], [k, 1]) -> ([i, k, j]) {i=4, j=8, k=3}"
// CHECK: pmc.less {{.*}}pmc.sharding_rule = "([i, 1, j], [k, 1]) -> ([i, k, j]) {i=4, j=8, k=3}"
// CHECK: pmc.less_equal {{.*}}pmc.sharding_rule = "([i, 1, j], [k, 1]) -> ([i, k, j]) {i=4, j=8, k=3}"
// CHECK: pmc.greater {{.*}}pmc.sharding_rule = "([i, 1, j], [k, 1]) -> ([i, k, j]) {i=4, j=8, k=3}"
// CHECK: pmc.greater_equal {{.*}}pmc.sharding_rule = "([i, 1, j], [k, 1]) -> ([i, k, j]) {i=4, j=8, k=3}"
// CHECK: pmc.and {{.*}}pmc.sharding_rule = "([i, j], [i, j]) -> ([i, j]) {i=4, j=8}"
// CHECK: pmc.or {{.*}}pmc.sharding_rule = "([i, j], [i, j]) -> ([i, j]) {i=4, j=8}"
// CHECK: pmc.xor {{.*}}pmc.sharding_rule = "([i, j], [i, j]) -> ([i, j]) {i=4, j=8}"
// CHECK: pmc.all_gather {{.*}}pmc.sharding_rule = "none"
// CHECK: pmc.reduce_scatter {{.*}}pmc.sharding_rule = "none"
// CHECK: pmc.all_to_all {{.*}}pmc.sharding_rule = "none"
// CHECK: pmc.shard {{.*}}pmc.sharding_rule = "none"
module attributes {pmc.mesh = #pmc.mesh<["tp"=2]>} {
func.func @elementwise(%x: tensor<4x1x8xf32>, %y: tensor<3x1xf32>, %c: tensor<4x8xi1>) {
  %u0 = pmc.abs %x : tensor<4x1x8xf32>
  %u1 = pmc.neg %x : tensor<4x1x8xf32>
  %u2 = pmc.sqrt %x : tensor<4x1x8xf32>
  %u3 = pmc.exp %x : tensor<4x1x8xf32>
  %u4 = pmc.log %x : tensor<4x1x8xf32>
  %u5 = pmc.tanh %x : tensor<4x1x8xf32>
  %u6 = pmc.erf %x : tensor<4x1x8xf32>
  %u7 = pmc.sigmoid %x : tensor<4x1x8xf32>
  %u8 = pmc.reciprocal %x : tensor<4x1x8xf32>
  %u9 = pmc.floor %x : tensor<4x1x8xf32>
  %u10 = pmc.ceil %x : tensor<4x1x8xf32>
  %u11 = pmc.sin %x : tensor<4x1x8xf32>
  %u12 = pmc.cos %x : tensor<4x1x8xf32>
  %n = pmc.not %c : tensor<4x8xi1>
  %b0 = pmc.sub %x, %y : (tensor<4x1x8xf32>, tensor<3x1xf32>) -> tensor<4x3x8xf32>
  %b1 = pmc.div %x, %y : (tensor<4x1x8xf32>, tensor<3x1xf32>) -> tensor<4x3x8xf32>
  %b2 = pmc.min %x, %y : (tensor<4x1x8xf32>, tensor<3x1xf32>) -> tensor<4x3x8xf32>
  %b3 = pmc.max %x, %y : (tensor<4x1x8xf32>, tensor<3x1xf32>) -> tensor<4x3x8xf32>
  %b4 = pmc.pow %x, %y : (tensor<4x1x8xf32>, tensor<3x1xf32>) -> tensor<4x3x8xf32>
  %b5 = pmc.less %x, %y : (tensor<4x1x8xf32>, tensor<3x1xf32>) -> tensor<4x3x8xi1>
  %b6 = pmc.less_equal %x, %y : (tensor<4x1x8xf32>, tensor<3x1xf32>) -> tensor<4x3x8xi1>
  %b7 = pmc.greater %x, %y : (tensor<4x1x8xf32>, tensor<3x1xf32>) -> tensor<4x3x8xi1>
  %b8 = pmc.greater_equal %x, %y : (tensor<4x1x8xf32>, tensor<3x1xf32>) -> tensor<4x3x8xi1>
  %l0 = pmc.and %c, %c : (tensor<4x8xi1>, tensor<4x8xi1>) -> tensor<4x8xi1>
  %l1 = pmc.or %c, %c : (tensor<4x8xi1>, tensor<4x8xi1>) -> tensor<4x8xi1>
  %l2 = pmc.xor %c, %c : (tensor<4x8xi1>, tensor<4x8xi1>) -> tensor<4x8xi1>
  %g = pmc.all_gather %x {axes = ["tp"], dim = 2} : tensor<4x1x8xf32> to tensor<4x1x16xf32>
  %s = pmc.reduce_scatter %x {axes = ["tp"], dim = 2, reduction = "sum"} : tensor<4x1x8xf32> to tensor<4x1x4xf32>
  %a = pmc.all_to_all %x {axes = ["tp"], split_dim = 0, concat_dim = 2} : tensor<4x1x8xf32> to tensor<2x1x16xf32>
  %h = pmc.shard %x {sharding = #pmc.sharding<[{}, {}, {"tp"}]>} : tensor<4x1x8xf32> to tensor<4x1x4xf32>
  return
}
}

// -----

// The operator-set extension: unary and binary elementwise ops share the
// elementwise rules; cumsum and cumprod keep their axis whole.
// CHECK-LABEL: func @extension
// CHECK: pmc.tan {{.*}}pmc.sharding_rule = "([i, j]) -> ([i, j]) {i=4, j=8}"
// CHECK: pmc.mod {{.*}}pmc.sharding_rule = "([i, j], [j]) -> ([i, j]) {i=4, j=8}"
// CHECK: pmc.cumsum {{.*}}pmc.sharding_rule = "([i, j]) -> ([i, j]) {i=4, j=8} whole={j}"
// CHECK: pmc.cumprod {{.*}}pmc.sharding_rule = "([i, j]) -> ([i, j]) {i=4, j=8} whole={i}"
// CHECK: pmc.pad {{.*}}pmc.sharding_rule = "([i, j]) -> ([i, k]) {i=4, j=8, k=10} whole={j, k}"
// CHECK: pmc.arg_max {{.*}}pmc.sharding_rule = "([i, j]) -> ([i, 1]) {i=4, j=8} whole={j}"
// CHECK: pmc.gather_elements {{.*}}pmc.sharding_rule = "([i, j], [i, k]) -> ([i, k]) {i=4, j=8, k=2} whole={j, k}"
func.func @extension(%x: tensor<4x8xf32>, %v: tensor<8xf32>, %ids: tensor<4x2xi64>) {
  %t = pmc.tan %x : tensor<4x8xf32>
  %m = pmc.mod %x, %v {fmod} : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %c = pmc.cumsum %x {axis = 1 : i64} : tensor<4x8xf32>
  %cp = pmc.cumprod %x {axis = 0 : i64, exclusive} : tensor<4x8xf32>
  %p = pmc.pad %x {pads = array<i64: 0, 1, 0, 1>, mode = "constant"} : (tensor<4x8xf32>) -> tensor<4x10xf32>
  %a = pmc.arg_max %x {axis = 1 : i64, keepdims} : (tensor<4x8xf32>) -> tensor<4x1xi64>
  %g = pmc.gather_elements %x, %ids {axis = 1 : i64} : (tensor<4x8xf32>, tensor<4x2xi64>) -> tensor<4x2xf32>
  return
}

// -----

// A reshape of an empty tensor keeps every dimension whole.
// CHECK-LABEL: func @empty_reshape
// CHECK: pmc.reshape {{.*}}pmc.sharding_rule = "([i, j, k]) -> ([l, m, n]) {i=0, j=3, k=4, l=3, m=4, n=0} whole={i, j, k, l, m, n}"
func.func @empty_reshape(%x: tensor<0x3x4xf32>) {
  %r = pmc.reshape %x : tensor<0x3x4xf32> to tensor<3x4x0xf32>
  return
}
