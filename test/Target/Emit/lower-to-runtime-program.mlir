// RUN: pmc-opt %s --split-input-file --pmc-outline-kernels --pmc-lower-to-runtime-program \
// RUN:   --mlir-elide-elementsattrs-if-larger=4 | FileCheck %s

// pmc-lower-to-runtime-program: @main keeps its signature (the bundle's
// interface) and its ops become the buffers and commands of pmcrt programs.
// A matmul's folded epilogue (bias add, GELU) is one pmcrt.matmul; the
// softmax a generated kernel.

// CHECK-LABEL: func.func private @main(tensor<2x4xf32> {pmc.name = "x"}) -> (tensor<2x3xf32> {pmc.name = "y"})
// CHECK-NOT: pmc.matmul
// CHECK: pmcrt.program stage 0 ranks [0] {
// CHECK-NEXT: %[[X:.*]] = pmcrt.input 0 : memref<2x4xf32>
// CHECK-NEXT: %[[W:.*]] = pmcrt.weight 0 = dense_resource<__elided__> : tensor<4x3xf32> -> memref<4x3xf32>
// CHECK-NEXT: %[[B:.*]] = pmcrt.weight 1 = dense<[5.000000e-01, -1.000000e+02, 1.000000e+00]> : tensor<3xf32> -> memref<3xf32>
// CHECK-NEXT: %[[H:.*]] = pmcrt.temp : memref<2x3xf32>
// CHECK-NEXT: pmcrt.matmul %[[X]], %[[W]] bias %[[B]] -> %[[H]] {activation = "gelu_tanh"} : memref<2x4xf32>, memref<4x3xf32>, memref<3xf32> -> memref<2x3xf32>
// CHECK-NEXT: %[[S:.*]] = pmcrt.temp : memref<2x3xf32>
// CHECK-NEXT: pmcrt.kernel @kernel_0 ins(%[[H]] : memref<2x3xf32>) outs(%[[S]] : memref<2x3xf32>)
// CHECK-NEXT: pmcrt.outputs %[[S]] at [0] : memref<2x3xf32>
// CHECK-NEXT: }
// CHECK: func.func private @kernel_0
// CHECK-NEXT: pmc.softmax
func.func @main(%x: tensor<2x4xf32> {pmc.name = "x"}) -> (tensor<2x3xf32> {pmc.name = "y"}) {
  %w = pmc.constant dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0], [1.0, 0.0, -1.0]]> : tensor<4x3xf32>
  %b = pmc.constant dense<[0.5, -100.0, 1.0]> : tensor<3xf32>
  %h = pmc.matmul %x, %w : (tensor<2x4xf32>, tensor<4x3xf32>) -> tensor<2x3xf32>
  %a = pmc.add %h, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %g = pmc.gelu %a {tanh_approximation} : tensor<2x3xf32>
  %s = pmc.softmax %g {axis = 1 : i64} : tensor<2x3xf32>
  return %s : tensor<2x3xf32>
}

// -----

// SPMD: a column- then row-parallel pair of matmuls. The weights are
// sharded (the bundle writer slices each rank's block); the partial sums
// are all-reduced over tp. A reshape of a reshape views the root buffer; an
// input returned as is is its input buffer.

// CHECK-LABEL: func.func private @main
// CHECK: pmcrt.program stage 0 ranks [0, 1, 2, 3] {
// CHECK-NEXT: %[[X:.*]] = pmcrt.input 0 : memref<4x8xf32>
// CHECK-NEXT: %[[A:.*]] = pmcrt.weight 0 = dense<2.500000e-01> : tensor<8x16xf32> {sharding = #pmc.sharding<[{}, {"tp"}]>} -> memref<8x4xf32>
// CHECK-NEXT: %[[B:.*]] = pmcrt.weight 1 = dense<5.000000e-01> : tensor<16x8xf32> {sharding = #pmc.sharding<[{"tp"}, {}]>} -> memref<4x8xf32>
// CHECK-NEXT: %[[H:.*]] = pmcrt.temp : memref<4x4xf32>
// CHECK-NEXT: pmcrt.matmul %[[X]], %[[A]] -> %[[H]] : memref<4x8xf32>, memref<8x4xf32> -> memref<4x4xf32>
// CHECK-NEXT: %[[P:.*]] = pmcrt.temp : memref<4x8xf32>
// CHECK-NEXT: pmcrt.matmul %[[H]], %[[B]] -> %[[P]]
// CHECK-NEXT: %[[R:.*]] = pmcrt.temp : memref<4x8xf32>
// CHECK-NEXT: pmcrt.all_reduce %[[P]] -> %[[R]] {axes = ["tp"], reduction = "sum"} : memref<4x8xf32> -> memref<4x8xf32>
// CHECK-NEXT: %[[V1:.*]] = pmcrt.view %[[R]] : memref<4x8xf32> to memref<32xf32>
// CHECK-NEXT: %[[V2:.*]] = pmcrt.view %[[R]] : memref<4x8xf32> to memref<2x16xf32>
// CHECK-NEXT: pmcrt.outputs %[[V2]], %[[X]] at [0, 1] : memref<2x16xf32>, memref<4x8xf32>
module attributes {pmc.mesh = #pmc.mesh<["tp"=4]>} {
  func.func @main(%x: tensor<4x8xf32> {pmc.name = "x"}) -> (tensor<2x16xf32>, tensor<4x8xf32>) {
    %wa = pmc.constant dense<0.25> : tensor<8x16xf32>
    %wb = pmc.constant dense<0.5> : tensor<16x8xf32>
    %la = pmc.shard %wa {sharding = #pmc.sharding<[{}, {"tp"}]>} : tensor<8x16xf32> to tensor<8x4xf32>
    %lb = pmc.shard %wb {sharding = #pmc.sharding<[{"tp"}, {}]>} : tensor<16x8xf32> to tensor<4x8xf32>
    %h = pmc.matmul %x, %la : (tensor<4x8xf32>, tensor<8x4xf32>) -> tensor<4x4xf32>
    %p = pmc.matmul %h, %lb : (tensor<4x4xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
    %r = pmc.all_reduce %p {axes = ["tp"], reduction = "sum"} : tensor<4x8xf32>
    %f = pmc.reshape %r : tensor<4x8xf32> to tensor<32xf32>
    %y = pmc.reshape %f : tensor<32xf32> to tensor<2x16xf32>
    return %y, %x : tensor<2x16xf32>, tensor<4x8xf32>
  }
}

// -----

// A pipeline of two stages: one program per stage, run by the ranks whose
// pp coordinate is the stage; the transfer becomes a send in stage 0 and a
// recv in stage 1 under one tag. Stage 0 computes no output.

// CHECK-LABEL: func.func private @main(tensor<2x16xf32> {pmc.microbatched, pmc.name = "x"
// CHECK: pmcrt.program stage 0 ranks [0, 1] {
// CHECK-NEXT: %[[X:.*]] = pmcrt.input 0 : memref<2x16xf32>
// CHECK-NEXT: %[[H:.*]] = pmcrt.temp : memref<2x16xf32>
// CHECK-NEXT: pmcrt.kernel @kernel_0 ins(%[[X]] : memref<2x16xf32>) outs(%[[H]] : memref<2x16xf32>)
// CHECK-NEXT: pmcrt.send %[[H]] to_stage 1 tag 0 : memref<2x16xf32>
// CHECK-NEXT: pmcrt.outputs at []
// CHECK: pmcrt.program stage 1 ranks [2, 3] {
// CHECK-NEXT: %[[W:.*]] = pmcrt.weight 0 = dense<5.000000e-01> : tensor<16x16xf32> -> memref<16x16xf32>
// CHECK-NEXT: %[[R:.*]] = pmcrt.temp : memref<2x16xf32>
// CHECK-NEXT: pmcrt.recv %[[R]] from_stage 0 tag 0 : memref<2x16xf32>
// CHECK-NEXT: %[[Y:.*]] = pmcrt.temp : memref<2x16xf32>
// CHECK-NEXT: pmcrt.matmul %[[R]], %[[W]] -> %[[Y]]
// CHECK-NEXT: pmcrt.outputs %[[Y]] at [0] : memref<2x16xf32>
module attributes {pmc.mesh = #pmc.mesh<["pp"=2, "dp"=2]>,
                   pmc.pipeline = {stages = 2 : i64, microbatches = 2 : i64, schedule = "gpipe"}} {
  func.func @main(%x: tensor<2x16xf32> {pmc.name = "x", pmc.microbatched, pmc.sharding = #pmc.sharding<[{"dp"}, {}]>})
      -> (tensor<2x16xf32> {pmc.name = "y", pmc.microbatched, pmc.sharding = #pmc.sharding<[{"dp"}, {}]>}) {
    %w = pmc.constant {pmc.stage = 1 : i64} dense<0.5> : tensor<16x16xf32>
    %h = pmc.relu %x {pmc.stage = 0 : i64} : tensor<2x16xf32>
    %t = pmc.transfer %h {from_stage = 0 : i64, to_stage = 1 : i64, pmc.stage = 1 : i64} : tensor<2x16xf32>
    %y = pmc.matmul %t, %w {pmc.stage = 1 : i64} : (tensor<2x16xf32>, tensor<16x16xf32>) -> tensor<2x16xf32>
    return %y : tensor<2x16xf32>
  }
}

// -----

// A conv with its bias is one library command.

// CHECK: pmcrt.conv %{{.*}}, %{{.*}} bias %{{.*}} -> %{{.*}} {dilations = array<i64: 1, 1>, group = 1 : i64, pads = array<i64: 1, 1, 1, 1>, strides = array<i64: 1, 1>} : memref<1x3x8x8xf32>, memref<4x3x3x3xf32>, memref<4xf32> -> memref<1x4x8x8xf32>
func.func @main(%x: tensor<1x3x8x8xf32>) -> tensor<1x4x8x8xf32> {
  %k = pmc.constant dense<0.1> : tensor<4x3x3x3xf32>
  %b = pmc.constant dense<0.2> : tensor<4xf32>
  %y = pmc.conv %x, %k, %b {strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 1 : i64}
      : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>) -> tensor<1x4x8x8xf32>
  return %y : tensor<1x4x8x8xf32>
}
