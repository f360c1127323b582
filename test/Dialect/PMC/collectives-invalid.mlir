// RUN: pmc-opt %s -split-input-file -verify-diagnostics

// A collective outside a module with a mesh has no groups.
func.func @no_mesh(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{needs an enclosing module with a 'pmc.mesh' attribute}}
  %r = pmc.all_reduce %x {axes = ["tp"]} : tensor<4xf32>
  return %r : tensor<4xf32>
}

// -----

module attributes {pmc.mesh = #pmc.mesh<["tp"=4]>} {
  func.func @unknown_axis(%x: tensor<4xf32>) -> tensor<4xf32> {
    // expected-error @+1 {{names axis 'dp', which the mesh #pmc.mesh<["tp"=4]> does not have}}
    %r = pmc.all_reduce %x {axes = ["dp"]} : tensor<4xf32>
    return %r : tensor<4xf32>
  }
}

// -----

module attributes {pmc.mesh = #pmc.mesh<["tp"=4]>} {
  func.func @gather_size(%x: tensor<4x2xf32>) -> tensor<4x6xf32> {
    // expected-error @+1 {{result dim 1 must be 8 (group size 4), got 6}}
    %g = pmc.all_gather %x {axes = ["tp"], dim = 1} : tensor<4x2xf32> to tensor<4x6xf32>
    return %g : tensor<4x6xf32>
  }
}

// -----

module attributes {pmc.mesh = #pmc.mesh<["tp"=4]>} {
  func.func @scatter_indivisible(%x: tensor<6x2xf32>) -> tensor<1x2xf32> {
    // expected-error @+1 {{dim 0 of size 6 is not divisible by the group size 4}}
    %s = pmc.reduce_scatter %x {axes = ["tp"], dim = 0} : tensor<6x2xf32> to tensor<1x2xf32>
    return %s : tensor<1x2xf32>
  }
}

// -----

module attributes {pmc.mesh = #pmc.mesh<["tp"=2]>} {
  func.func @bad_reduction(%x: tensor<4xf32>) -> tensor<4xf32> {
    // expected-error @+1 {{reduction must be "sum" or "max", got "mean"}}
    %r = pmc.all_reduce %x {axes = ["tp"], reduction = "mean"} : tensor<4xf32>
    return %r : tensor<4xf32>
  }
}

// -----

// expected-error @+1 {{mesh axis 'tp' appears twice}}
module attributes {pmc.mesh = #pmc.mesh<["tp"=2, "tp"=2]>} {
}

// -----

module attributes {pmc.mesh = #pmc.mesh<["tp"=4]>} {
  func.func @shard_indivisible(%w: tensor<6xf32>) -> tensor<1xf32> {
    // expected-error @+1 {{dimension 0 of size 6 is not divisible by 4 (axes 'tp')}}
    %l = pmc.shard %w {sharding = #pmc.sharding<[{"tp"}]>} : tensor<6xf32> to tensor<1xf32>
    return %l : tensor<1xf32>
  }
}
