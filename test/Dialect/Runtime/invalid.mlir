// RUN: pmc-opt %s --split-input-file --verify-diagnostics

pmcrt.program stage 0 ranks [0] {
  %x = pmcrt.input 0 : memref<4x8xf32>
  // expected-error @+1 {{views 'memref<4x8xf32>' as 'memref<30xf32>' (other size or dtype)}}
  %v = pmcrt.view %x : memref<4x8xf32> to memref<30xf32>
  pmcrt.outputs at []
}

// -----

pmcrt.program stage 0 ranks [0] {
  %x = pmcrt.input 0 : memref<4x8xf32>
  %v = pmcrt.view %x : memref<4x8xf32> to memref<32xf32>
  // expected-error @+1 {{views a view: name the root buffer instead}}
  %w = pmcrt.view %v : memref<32xf32> to memref<8x4xf32>
  pmcrt.outputs at []
}

// -----

pmcrt.program stage 0 ranks [0] {
  // expected-error @+1 {{buffer 'memref<8x3xf32>' is not a block of 'tensor<8x16xf32>'}}
  %w = pmcrt.weight 0 = dense<0.5> : tensor<8x16xf32> {sharding = #pmc.sharding<[{}, {"tp"}]>} -> memref<8x3xf32>
  pmcrt.outputs at []
}

// -----

pmcrt.program stage 0 ranks [0] {
  // expected-error @+1 {{holds 'tensor<8x16xf32>' in a buffer 'memref<8x8xf32>'}}
  %w = pmcrt.weight 0 = dense<0.5> : tensor<8x16xf32> -> memref<8x8xf32>
  pmcrt.outputs at []
}

// -----

pmcrt.program stage 0 ranks [0] {
  %a = pmcrt.input 0 : memref<4x8xf32>
  %b = pmcrt.input 1 : memref<8x8xf32>
  %c = pmcrt.temp : memref<4x8xf32>
  // expected-error @+1 {{has activation 'tanh' (none, relu, gelu or gelu_tanh)}}
  pmcrt.matmul %a, %b -> %c {activation = "tanh"} : memref<4x8xf32>, memref<8x8xf32> -> memref<4x8xf32>
  pmcrt.outputs at []
}

// -----

pmcrt.program stage 0 ranks [0] {
  %a = pmcrt.input 0 : memref<4x8xf32>
  // expected-error @+1 {{lists output 0 twice or as a negative position}}
  pmcrt.outputs %a, %a at [0, 0] : memref<4x8xf32>, memref<4x8xf32>
}

// -----

// A program ends with its outputs.
"pmcrt.program"() <{stage = 0 : i64, ranks = array<i64: 0>}> ({
  // expected-error @+1 {{block with no terminator}}
  %a = pmcrt.input 0 : memref<4x8xf32>
}) : () -> ()
