// RUN: pmc-opt %s -split-input-file -verify-diagnostics --pmc-sharding-propagation

// The user's annotations are checked before propagating; every error names
// the value and the problem.

module attributes {pmc.mesh = #pmc.mesh<["dp"=2, "tp"=2]>} {
  // expected-error @+1 {{argument 0 'x' of @unknown_axis: sharding #pmc.sharding<[{"pp"}, {}]> names axis 'pp', which the mesh #pmc.mesh<["dp"=2, "tp"=2]> does not have}}
  func.func @unknown_axis(%x: tensor<8x4xf32> {pmc.name = "x", pmc.sharding = #pmc.sharding<[{"pp"}, {}]>}) -> tensor<8x4xf32> {
    return %x : tensor<8x4xf32>
  }
}

// -----

module attributes {pmc.mesh = #pmc.mesh<["dp"=2, "tp"=4]>} {
  // expected-error @+1 {{argument 1 of @indivisible: dimension 1 of size 6 is not divisible by 4 (axes 'tp')}}
  func.func @indivisible(%x: tensor<8x4xf32>, %w: tensor<4x6xf32> {pmc.sharding = #pmc.sharding<[{}, {"tp"}]>}) -> tensor<8x6xf32> {
    %y = pmc.matmul %x, %w : (tensor<8x4xf32>, tensor<4x6xf32>) -> tensor<8x6xf32>
    return %y : tensor<8x6xf32>
  }
}

// -----

module attributes {pmc.mesh = #pmc.mesh<["dp"=2, "tp"=2]>} {
  func.func @axis_twice(%x: tensor<8x4xf32>) -> tensor<8x4xf32> {
    // expected-error @+1 {{'pmc.relu' op result 0: sharding #pmc.sharding<[{"tp"}, {"tp"}]> uses axis 'tp' more than once}}
    %y = pmc.relu %x {pmc.shardings = [#pmc.sharding<[{"tp"}, {"tp"}]>]} : tensor<8x4xf32>
    return %y : tensor<8x4xf32>
  }
}

// -----

module attributes {pmc.mesh = #pmc.mesh<["dp"=2, "tp"=2]>} {
  func.func @partial_axis_twice(%x: tensor<8x4xf32>) -> tensor<8x4xf32> {
    // expected-error @+1 {{'pmc.relu' op result 0: sharding #pmc.sharding<[{"tp"}, {}], partial_sum = {"tp"}> uses axis 'tp' more than once}}
    %y = pmc.relu %x {pmc.shardings = [#pmc.sharding<[{"tp"}, {}], partial_sum = {"tp"}>]} : tensor<8x4xf32>
    return %y : tensor<8x4xf32>
  }
}

// -----

module attributes {pmc.mesh = #pmc.mesh<["dp"=2, "tp"=2]>} {
  // expected-error @+1 {{argument 0 of @partial_input: sharding #pmc.sharding<[{}], partial_sum = {"tp"}> is partial; function inputs and outputs never are}}
  func.func @partial_input(%x: tensor<8xf32> {pmc.sharding = #pmc.sharding<[{}], partial_sum = {"tp"}>}) -> tensor<8xf32> {
    return %x : tensor<8xf32>
  }
}

// -----

module attributes {pmc.mesh = #pmc.mesh<["dp"=2, "tp"=2]>} {
  // expected-error @+1 {{argument 0 of @wrong_rank: sharding #pmc.sharding<[{"dp"}]> has 1 dimensions, the tensor has rank 2}}
  func.func @wrong_rank(%x: tensor<8x4xf32> {pmc.sharding = #pmc.sharding<[{"dp"}]>}) -> tensor<8x4xf32> {
    return %x : tensor<8x4xf32>
  }
}

// -----

module attributes {pmc.mesh = #pmc.mesh<["dp"=2, "tp"=2]>} {
  func.func @count(%x: tensor<8x4xf32>, %s: tensor<4xf32>) -> tensor<8x4xf32> {
    // expected-error @+1 {{'pmc.layer_norm' op pmc.shardings must be an array of one #pmc.sharding per result (3), got [#pmc.sharding<[{"dp"}, {}]>]}}
    %y:3 = pmc.layer_norm %x, %s {axis = 1 : i64, epsilon = 1.0e-05 : f32, pmc.shardings = [#pmc.sharding<[{"dp"}, {}]>]}
        : (tensor<8x4xf32>, tensor<4xf32>) -> (tensor<8x4xf32>, tensor<8x1xf32>, tensor<8x1xf32>)
    return %y#0 : tensor<8x4xf32>
  }
}

// -----

module attributes {pmc.mesh = #pmc.mesh<["dp"=2, "tp"=2]>} {
  // expected-error @+1 {{argument 0 of @not_a_sharding: pmc.sharding must be a #pmc.sharding, got "dp"}}
  func.func @not_a_sharding(%x: tensor<8xf32> {pmc.sharding = "dp"}) -> tensor<8xf32> {
    return %x : tensor<8xf32>
  }
}

// -----

// expected-error @+1 {{pmc-sharding-propagation needs the module attribute pmc.mesh = #pmc.mesh<[...]>}}
module {
  func.func @no_mesh(%x: tensor<8xf32> {pmc.sharding = #pmc.sharding<[{"dp"}]>}) -> tensor<8xf32> {
    return %x : tensor<8xf32>
  }
}
