// RUN: pmc-opt %s -split-input-file -verify-diagnostics --pmc-partition

// expected-error @below {{pmc-partition needs a 'pmc.mesh' attribute on the module}}
module {
  func.func @no_mesh(%x: tensor<4xf32>) -> tensor<4xf32> {
    return %x : tensor<4xf32>
  }
}

// -----

module attributes {pmc.mesh = #pmc.mesh<["tp"=2]>} {
  // expected-error @below {{argument 0: sharding #pmc.sharding<[{}], partial_sum = {"tp"}> is partial; function arguments must not be}}
  func.func @partial_arg(%x: tensor<4xf32> {pmc.sharding = #pmc.sharding<[{}], partial_sum = {"tp"}>}) -> tensor<4xf32> {
    return %x : tensor<4xf32>
  }
}

// -----

module attributes {pmc.mesh = #pmc.mesh<["tp"=4]>} {
  // expected-error @below {{argument 0: dimension 0 of size 6 is not divisible by 4 (axes 'tp')}}
  func.func @indivisible(%x: tensor<6xf32> {pmc.sharding = #pmc.sharding<[{"tp"}]>}) -> tensor<6xf32> {
    return %x : tensor<6xf32>
  }
}

// -----

module attributes {pmc.mesh = #pmc.mesh<["tp"=2]>} {
  // expected-error @below {{result 0: sharding #pmc.sharding<[{}], partial_sum = {"tp"}> is partial; function results must not be}}
  func.func @partial_result(%x: tensor<4xf32>) -> (tensor<4xf32> {pmc.sharding = #pmc.sharding<[{}], partial_sum = {"tp"}>}) {
    return %x : tensor<4xf32>
  }
}

// -----

module attributes {pmc.mesh = #pmc.mesh<["tp"=2]>} {
  func.func @partial_int(%x: tensor<4xi32>) -> tensor<4xi32> {
    // expected-error @below {{'pmc.relu' op result 0: cannot make 'tensor<4xi32>' a pending sum over the mesh axes: only floating-point values can be split into equal shares}}
    %r = pmc.relu %x {pmc.shardings = [#pmc.sharding<[{}], partial_sum = {"tp"}>]} : tensor<4xi32>
    return %r : tensor<4xi32>
  }
}

// -----

module attributes {pmc.mesh = #pmc.mesh<["tp"=2]>} {
  func.func @partial_max_to_sum(%x: tensor<4x8xf32> {pmc.sharding = #pmc.sharding<[{}, {"tp"}]>}) -> tensor<4xf32> {
    // expected-error @below {{'pmc.reduce_max' op result 0: cannot reshard #pmc.sharding<[{}], partial_max = {"tp"}> to #pmc.sharding<[{}], partial_sum = {"tp"}>: the source and the target wait for different reductions}}
    %r = pmc.reduce_max %x {axes = array<i64: 1>, pmc.shardings = [#pmc.sharding<[{}], partial_sum = {"tp"}>]} : (tensor<4x8xf32>) -> tensor<4xf32>
    return %r : tensor<4xf32>
  }
}

// -----

module attributes {pmc.mesh = #pmc.mesh<["tp"=2]>} {
  func.func @partitioned(%x: tensor<4xf32>) -> tensor<4xf32> {
    // expected-error @below {{'pmc.all_reduce' op is already partitioned: the input of pmc-partition must be the global program}}
    %r = pmc.all_reduce %x {axes = ["tp"]} : tensor<4xf32>
    return %r : tensor<4xf32>
  }
}

// -----

module attributes {pmc.mesh = #pmc.mesh<["tp"=2]>} {
  func.func @bad_annotation(%x: tensor<4xf32>) -> tensor<4xf32> {
    // expected-error @below {{'pmc.relu' op result 0: sharding #pmc.sharding<[{"dp"}]> names axis 'dp', which the mesh #pmc.mesh<["tp"=2]> does not have}}
    %r = pmc.relu %x {pmc.shardings = [#pmc.sharding<[{"dp"}]>]} : tensor<4xf32>
    return %r : tensor<4xf32>
  }
}

// -----

module attributes {pmc.mesh = #pmc.mesh<["tp"=2]>} {
  func.func @constant_partial() -> tensor<4xf32> {
    // expected-error @below {{'pmc.constant' op a constant cannot be partial, got #pmc.sharding<[{}], partial_sum = {"tp"}>}}
    %c = pmc.constant {pmc.shardings = [#pmc.sharding<[{}], partial_sum = {"tp"}>]} dense<1.0> : tensor<4xf32>
    return %c : tensor<4xf32>
  }
}
