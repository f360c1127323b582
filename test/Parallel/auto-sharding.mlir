// RUN: pmc-opt %s -split-input-file --pmc-auto-sharding="devices=8" | FileCheck %s --check-prefix=DP
// RUN: pmc-opt %s -split-input-file --pmc-auto-sharding="devices=8 spec=%S/Inputs/tiny-memory.json" | FileCheck %s --check-prefix=TP
// RUN: pmc-opt %s -split-input-file --pmc-auto-sharding="devices=8 spec=%S/Inputs/tiny-memory.json" -o %t.1.mlir
// RUN: pmc-opt %s -split-input-file --pmc-auto-sharding="devices=8 spec=%S/Inputs/tiny-memory.json" -o %t.2.mlir
// RUN: diff %t.1.mlir %t.2.mlir
// RUN: pmc-opt %s -split-input-file --pmc-auto-sharding="devices=8 spec=%S/Inputs/tiny-memory.json" --pmc-sharding-propagation --pmc-partition | FileCheck %s --check-prefix=PART

// A two-layer MLP (32 MiB of f32 weights) with a batch of 4096 on 8 H100s:
// data parallel needs no communication and wins; every tensor parallel mix
// all-reduces activations. With 40 MB per device (tiny-memory.json) the
// replicated weights do not fit, and the planner splits them Megatron-style
// over tp: w1 by columns, w2 by rows.

// DP: module attributes {pmc.mesh = #pmc.mesh<["dp"=8]>
// DP-SAME: pmc.plan = "auto: data parallel (dp=8)"
// DP-SAME: tensor parallel (tp=8){{ +}}[[T:[0-9.]+]] ms  {{[0-9.]+}}x slower: communication
// DP-SAME: pmc.plan_source = "auto"
// DP: func.func @main(%arg0: tensor<4096x1024xf32> {pmc.sharding = #pmc.sharding<[{"dp"}, {}]>})
// DP: pmc.constant {pmc.shardings = [#pmc.sharding<[{}, {}]>]}
// DP: pmc.constant {pmc.shardings = [#pmc.sharding<[{}, {}]>]}

// TP: module attributes {pmc.mesh = #pmc.mesh<["dp"=4, "tp"=2]>
// TP-SAME: data parallel (dp=8){{ +}}{{[0-9.]+}} ms  needs 0.05 GiB per device, 0.04 GiB available
// TP-SAME: pmc.plan_source = "auto"
// TP: func.func @main(%arg0: tensor<4096x1024xf32> {pmc.sharding = #pmc.sharding<[{"dp"}, {}]>})
// TP: pmc.constant {pmc.shardings = [#pmc.sharding<[{}, {"tp"}]>]}
// TP: pmc.constant {pmc.shardings = [#pmc.sharding<[{"tp"}, {}]>]}

// PART: pmc.all_reduce
module {
  func.func @main(%x: tensor<4096x1024xf32>) -> tensor<4096x1024xf32> {
    %w1 = pmc.constant dense<1.0> : tensor<1024x4096xf32> loc("w1")
    %w2 = pmc.constant dense<1.0> : tensor<4096x1024xf32> loc("w2")
    %h = pmc.matmul %x, %w1 : (tensor<4096x1024xf32>, tensor<1024x4096xf32>) -> tensor<4096x4096xf32>
    %g = pmc.relu %h : tensor<4096x4096xf32>
    %y = pmc.matmul %g, %w2 : (tensor<4096x4096xf32>, tensor<4096x1024xf32>) -> tensor<4096x1024xf32>
    return %y : tensor<4096x1024xf32>
  }
}
