// RUN: pmc-opt %s --split-input-file --pmc-lower-to-runtime-program --verify-diagnostics

// What the runtime cannot execute is an error naming the op.

func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'pmc.tanh' op cannot be executed by the runtime: @main may only hold constants, kernel calls, float matmul/conv, reshapes, collectives and shards (run pmc-outline-kernels first)}}
  %0 = pmc.tanh %x : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// expected-error @+1 {{'func.func' op produces 'tensor<4xi4>', which the bundle cannot hold (no numpy dtype)}}
func.func @main(%x: tensor<4xi4>) -> tensor<4xi4> {
  return %x : tensor<4xi4>
}

// -----

module attributes {pmc.mesh = #pmc.mesh<["pp"=2]>,
                   pmc.pipeline = {stages = 2 : i64, microbatches = 1 : i64, schedule = "gpipe"}} {
  func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
    // expected-error @+1 {{'pmc.reshape' op has pmc.stage 5, but the pipeline has 2 stage(s)}}
    %t = pmc.reshape %x {pmc.stage = 5 : i64} : tensor<4xf32> to tensor<4xf32>
    return %t : tensor<4xf32>
  }
}

// -----

// expected-error @+1 {{pmc.pipeline has 2 stages, but the mesh #pmc.mesh<["dp"=2]> needs them as its first axis pp}}
module attributes {pmc.mesh = #pmc.mesh<["dp"=2]>,
                   pmc.pipeline = {stages = 2 : i64, microbatches = 1 : i64, schedule = "gpipe"}} {
  func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
    return %x : tensor<4xf32>
  }
}
