// RUN: pmc-opt %s -split-input-file -verify-diagnostics

// pmc.transfer moves a value to another stage (a later one, or in a train
// step an earlier one: verifyStages checks the direction).

func.func @same_stage(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{to_stage 2 equals from_stage 2}}
  %0 = pmc.transfer %x {from_stage = 2 : i64, to_stage = 2 : i64} : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @negative(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{from_stage -1 is negative}}
  %0 = pmc.transfer %x {from_stage = -1 : i64, to_stage = 1 : i64} : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @negative_destination(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{to_stage -1 is negative}}
  %0 = pmc.transfer %x {from_stage = 1 : i64, to_stage = -1 : i64} : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// The op belongs to its destination stage.
func.func @wrong_stage(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{has pmc.stage 0, but a transfer belongs to its to_stage 1}}
  %0 = pmc.transfer %x {from_stage = 0 : i64, to_stage = 1 : i64, pmc.stage = 0 : i64} : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// Result type = operand type.
func.func @type_change(%x: tensor<4xf32>) -> tensor<8xf32> {
  // expected-error @+1 {{requires the same type for all operands and results}}
  %0 = "pmc.transfer"(%x) {from_stage = 0 : i64, to_stage = 1 : i64} : (tensor<4xf32>) -> tensor<8xf32>
  return %0 : tensor<8xf32>
}
