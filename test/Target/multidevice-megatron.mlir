// RUN: pmc-opt compile %s -o %t.pmc
// RUN: %python %S/Inputs/bundle_section.py %t.pmc manifest | FileCheck %s --check-prefix=MANIFEST
// RUN: %python %S/Inputs/bundle_section.py %t.pmc rank2.program | FileCheck %s --check-prefix=PROGRAM
// RUN: %python %S/Inputs/megatron_check.py %t.pmc | FileCheck %s --check-prefix=VALUES

// A partitioned (SPMD, local shapes) Megatron MLP of two blocks on 4 ranks:
// w_a split by columns, w_b by rows, one all_reduce per block. The emitter
// slices every pmc.shard(pmc.constant) into per-rank sections.

// MANIFEST: "devices": 4,
// MANIFEST: "inputs": [
// MANIFEST: "name": "x",
// MANIFEST-NEXT: "shape": [
// MANIFEST-NEXT: 4,
// MANIFEST-NEXT: 8
// MANIFEST: "mesh": {
// MANIFEST-NEXT: "axes": [
// MANIFEST-NEXT: {
// MANIFEST-NEXT: "name": "tp",
// MANIFEST-NEXT: "size": 4
// MANIFEST: "ranks": [
// MANIFEST: "program": "rank3.program",
// MANIFEST-NEXT: "rank": 3

// PROGRAM: "buffers": [
// PROGRAM: "kind": "weight",
// PROGRAM-NEXT: "section": "w/0/r2",
// PROGRAM-NEXT: "shape": [
// PROGRAM-NEXT: 8,
// PROGRAM-NEXT: 4
// PROGRAM: "section": "w/1/r2",
// PROGRAM-NEXT: "shape": [
// PROGRAM-NEXT: 4,
// PROGRAM-NEXT: 8
// The ReLU after each column-parallel matmul is its epilogue (no kernel).
// PROGRAM: "commands": [
// PROGRAM: "activation": "relu",
// PROGRAM: "op": "matmul"
// PROGRAM-NOT: "op": "kernel"
// PROGRAM: "op": "matmul"
// PROGRAM: "axes": [
// PROGRAM-NEXT: "tp"
// PROGRAM-NEXT: ],
// PROGRAM-NEXT: "in": 4,
// PROGRAM-NEXT: "op": "all_reduce",
// PROGRAM-NEXT: "out": 5,
// PROGRAM-NEXT: "reduction": "sum"
// PROGRAM: "activation": "relu",
// PROGRAM: "op": "matmul"
// PROGRAM-NOT: "op": "kernel"
// PROGRAM: "op": "matmul"
// PROGRAM: "op": "all_reduce"
// PROGRAM-NOT: "op": "all_reduce"
// PROGRAM: "rank": 2

// VALUES: megatron bundle OK

module attributes {pmc.mesh = #pmc.mesh<["tp"=4]>} {
  func.func @main(%x: tensor<4x8xf32> {pmc.name = "x"}) -> (tensor<4x8xf32> {pmc.name = "y"}) {
    %w0a = pmc.constant dense<[[-0.2, 0.3, -0.3, 0.2, -0.4, 0.1, -0.5, 0.0, 0.5, -0.1, 0.4, -0.2, 0.3, -0.3, 0.2, -0.4],
 [0.1, -0.5, 0.0, 0.5, -0.1, 0.4, -0.2, 0.3, -0.3, 0.2, -0.4, 0.1, -0.5, 0.0, 0.5, -0.1],
 [0.4, -0.2, 0.3, -0.3, 0.2, -0.4, 0.1, -0.5, 0.0, 0.5, -0.1, 0.4, -0.2, 0.3, -0.3, 0.2],
 [-0.4, 0.1, -0.5, 0.0, 0.5, -0.1, 0.4, -0.2, 0.3, -0.3, 0.2, -0.4, 0.1, -0.5, 0.0, 0.5],
 [-0.1, 0.4, -0.2, 0.3, -0.3, 0.2, -0.4, 0.1, -0.5, 0.0, 0.5, -0.1, 0.4, -0.2, 0.3, -0.3],
 [0.2, -0.4, 0.1, -0.5, 0.0, 0.5, -0.1, 0.4, -0.2, 0.3, -0.3, 0.2, -0.4, 0.1, -0.5, 0.0],
 [0.5, -0.1, 0.4, -0.2, 0.3, -0.3, 0.2, -0.4, 0.1, -0.5, 0.0, 0.5, -0.1, 0.4, -0.2, 0.3],
 [-0.3, 0.2, -0.4, 0.1, -0.5, 0.0, 0.5, -0.1, 0.4, -0.2, 0.3, -0.3, 0.2, -0.4, 0.1, -0.5]]> : tensor<8x16xf32>
    %w0b = pmc.constant dense<[[0.1, -0.5, 0.0, 0.5, -0.1, 0.4, -0.2, 0.3],
 [-0.3, 0.2, -0.4, 0.1, -0.5, 0.0, 0.5, -0.1],
 [0.4, -0.2, 0.3, -0.3, 0.2, -0.4, 0.1, -0.5],
 [0.0, 0.5, -0.1, 0.4, -0.2, 0.3, -0.3, 0.2],
 [-0.4, 0.1, -0.5, 0.0, 0.5, -0.1, 0.4, -0.2],
 [0.3, -0.3, 0.2, -0.4, 0.1, -0.5, 0.0, 0.5],
 [-0.1, 0.4, -0.2, 0.3, -0.3, 0.2, -0.4, 0.1],
 [-0.5, 0.0, 0.5, -0.1, 0.4, -0.2, 0.3, -0.3],
 [0.2, -0.4, 0.1, -0.5, 0.0, 0.5, -0.1, 0.4],
 [-0.2, 0.3, -0.3, 0.2, -0.4, 0.1, -0.5, 0.0],
 [0.5, -0.1, 0.4, -0.2, 0.3, -0.3, 0.2, -0.4],
 [0.1, -0.5, 0.0, 0.5, -0.1, 0.4, -0.2, 0.3],
 [-0.3, 0.2, -0.4, 0.1, -0.5, 0.0, 0.5, -0.1],
 [0.4, -0.2, 0.3, -0.3, 0.2, -0.4, 0.1, -0.5],
 [0.0, 0.5, -0.1, 0.4, -0.2, 0.3, -0.3, 0.2],
 [-0.4, 0.1, -0.5, 0.0, 0.5, -0.1, 0.4, -0.2]]> : tensor<16x8xf32>
    %l0a = pmc.shard %w0a {sharding = #pmc.sharding<[{}, {"tp"}]>} : tensor<8x16xf32> to tensor<8x4xf32>
    %l0b = pmc.shard %w0b {sharding = #pmc.sharding<[{"tp"}, {}]>} : tensor<16x8xf32> to tensor<4x8xf32>
    %h0 = pmc.matmul %x, %l0a : (tensor<4x8xf32>, tensor<8x4xf32>) -> tensor<4x4xf32>
    %r0 = pmc.relu %h0 : tensor<4x4xf32>
    %p0 = pmc.matmul %r0, %l0b : (tensor<4x4xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %y0 = pmc.all_reduce %p0 {axes = ["tp"], reduction = "sum"} : tensor<4x8xf32>
    %w1a = pmc.constant dense<[[0.4, -0.2, 0.3, -0.3, 0.2, -0.4, 0.1, -0.5, 0.0, 0.5, -0.1, 0.4, -0.2, 0.3, -0.3, 0.2],
 [-0.4, 0.1, -0.5, 0.0, 0.5, -0.1, 0.4, -0.2, 0.3, -0.3, 0.2, -0.4, 0.1, -0.5, 0.0, 0.5],
 [-0.1, 0.4, -0.2, 0.3, -0.3, 0.2, -0.4, 0.1, -0.5, 0.0, 0.5, -0.1, 0.4, -0.2, 0.3, -0.3],
 [0.2, -0.4, 0.1, -0.5, 0.0, 0.5, -0.1, 0.4, -0.2, 0.3, -0.3, 0.2, -0.4, 0.1, -0.5, 0.0],
 [0.5, -0.1, 0.4, -0.2, 0.3, -0.3, 0.2, -0.4, 0.1, -0.5, 0.0, 0.5, -0.1, 0.4, -0.2, 0.3],
 [-0.3, 0.2, -0.4, 0.1, -0.5, 0.0, 0.5, -0.1, 0.4, -0.2, 0.3, -0.3, 0.2, -0.4, 0.1, -0.5],
 [0.0, 0.5, -0.1, 0.4, -0.2, 0.3, -0.3, 0.2, -0.4, 0.1, -0.5, 0.0, 0.5, -0.1, 0.4, -0.2],
 [0.3, -0.3, 0.2, -0.4, 0.1, -0.5, 0.0, 0.5, -0.1, 0.4, -0.2, 0.3, -0.3, 0.2, -0.4, 0.1]]> : tensor<8x16xf32>
    %w1b = pmc.constant dense<[[-0.4, 0.1, -0.5, 0.0, 0.5, -0.1, 0.4, -0.2],
 [0.3, -0.3, 0.2, -0.4, 0.1, -0.5, 0.0, 0.5],
 [-0.1, 0.4, -0.2, 0.3, -0.3, 0.2, -0.4, 0.1],
 [-0.5, 0.0, 0.5, -0.1, 0.4, -0.2, 0.3, -0.3],
 [0.2, -0.4, 0.1, -0.5, 0.0, 0.5, -0.1, 0.4],
 [-0.2, 0.3, -0.3, 0.2, -0.4, 0.1, -0.5, 0.0],
 [0.5, -0.1, 0.4, -0.2, 0.3, -0.3, 0.2, -0.4],
 [0.1, -0.5, 0.0, 0.5, -0.1, 0.4, -0.2, 0.3],
 [-0.3, 0.2, -0.4, 0.1, -0.5, 0.0, 0.5, -0.1],
 [0.4, -0.2, 0.3, -0.3, 0.2, -0.4, 0.1, -0.5],
 [0.0, 0.5, -0.1, 0.4, -0.2, 0.3, -0.3, 0.2],
 [-0.4, 0.1, -0.5, 0.0, 0.5, -0.1, 0.4, -0.2],
 [0.3, -0.3, 0.2, -0.4, 0.1, -0.5, 0.0, 0.5],
 [-0.1, 0.4, -0.2, 0.3, -0.3, 0.2, -0.4, 0.1],
 [-0.5, 0.0, 0.5, -0.1, 0.4, -0.2, 0.3, -0.3],
 [0.2, -0.4, 0.1, -0.5, 0.0, 0.5, -0.1, 0.4]]> : tensor<16x8xf32>
    %l1a = pmc.shard %w1a {sharding = #pmc.sharding<[{}, {"tp"}]>} : tensor<8x16xf32> to tensor<8x4xf32>
    %l1b = pmc.shard %w1b {sharding = #pmc.sharding<[{"tp"}, {}]>} : tensor<16x8xf32> to tensor<4x8xf32>
    %h1 = pmc.matmul %y0, %l1a : (tensor<4x8xf32>, tensor<8x4xf32>) -> tensor<4x4xf32>
    %r1 = pmc.relu %h1 : tensor<4x4xf32>
    %p1 = pmc.matmul %r1, %l1b : (tensor<4x4xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %y1 = pmc.all_reduce %p1 {axes = ["tp"], reduction = "sum"} : tensor<4x8xf32>
    return %y1 : tensor<4x8xf32>
  }
}
