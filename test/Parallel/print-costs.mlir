// RUN: pmc-opt %s -split-input-file --pmc-test-print-costs -verify-diagnostics

// Megatron MLP on tp=2 (h100-sxm): each matmul moves 4587520 B per GPU
// (1.369 us at 3.35 TB/s, + 5 us launch); the row-parallel matmul's partial
// result is all-reduced once where it is needed whole, at the return
// (131072 B over NVLink: 0.354 + 6 us).
module attributes {pmc.mesh = #pmc.mesh<["tp"=2]>} {
  // expected-remark @+1 {{step 24.250 us = compute 17.895 us + comm 6.354 us; per device: weights 8388608 B, peak activations 524288 B}}
  func.func @megatron(%x: tensor<64x1024xbf16>) -> tensor<64x1024xbf16> {
    %w1 = pmc.constant {pmc.shardings = [#pmc.sharding<[{}, {"tp"}]>]} dense<1.0> : tensor<1024x4096xbf16>
    %w2 = pmc.constant {pmc.shardings = [#pmc.sharding<[{"tp"}, {}]>]} dense<1.0> : tensor<4096x1024xbf16>
    // expected-remark @+1 {{compute 6.369 us (268435456 FLOP, 4587520 B), comm 0.000 us (0 collectives)}}
    %h = pmc.matmul %x, %w1 {pmc.shardings = [#pmc.sharding<[{}, {"tp"}]>]} : (tensor<64x1024xbf16>, tensor<1024x4096xbf16>) -> tensor<64x4096xbf16>
    // expected-remark @+1 {{compute 5.157 us (131072 FLOP, 524288 B), comm 0.000 us (0 collectives)}}
    %r = pmc.relu %h {pmc.shardings = [#pmc.sharding<[{}, {"tp"}]>]} : tensor<64x4096xbf16>
    // expected-remark @+1 {{compute 6.369 us (268435456 FLOP, 4587520 B), comm 0.000 us (0 collectives)}}
    %y = pmc.matmul %r, %w2 {pmc.shardings = [#pmc.sharding<[{}, {}], partial_sum = {"tp"}>]} : (tensor<64x4096xbf16>, tensor<4096x1024xbf16>) -> tensor<64x1024xbf16>
    // expected-remark @+1 {{compute 0.000 us (0 FLOP, 0 B), comm 6.354 us (1 collectives)}}
    return %y : tensor<64x1024xbf16>
  }
}

// -----

// A row-split value consumed column-split: one all_to_all of the local
// 512x1024 f32 block (2 MiB; 1/2 * 2097152 / 370e9 + 3 us = 5.834 us).
module attributes {pmc.mesh = #pmc.mesh<["tp"=2]>} {
  // expected-remark @+1 {{comm 5.834 us}}
  func.func @transpose_split(%x: tensor<1024x1024xf32> {pmc.sharding = #pmc.sharding<[{"tp"}, {}]>}) -> (tensor<1024x1024xf32> {pmc.sharding = #pmc.sharding<[{}, {"tp"}]>}) {
    // expected-remark @+1 {{comm 5.834 us (1 collectives)}}
    %r = pmc.relu %x {pmc.shardings = [#pmc.sharding<[{}, {"tp"}]>]} : tensor<1024x1024xf32>
    return %r : tensor<1024x1024xf32>
  }
}

// -----

// expected-error @+1 {{pmc-test-print-costs needs a 'pmc.mesh' attribute on the module}}
module {
  func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
    return %x : tensor<4xf32>
  }
}
