// RUN: not pmc-opt compile %s --devices 4 --mesh dp=2,tp=3 -o %t.pmc 2>&1 | FileCheck %s --check-prefix=PRODUCT
// RUN: not pmc-opt compile %s --devices 4 --mesh dp=2,tp=2 --shard x=pp -o %t.pmc 2>&1 | FileCheck %s --check-prefix=AXIS
// RUN: not pmc-opt compile %s --devices 4 --shard x=dp -o %t.pmc 2>&1 | FileCheck %s --check-prefix=NOMESH
// RUN: not pmc-opt compile %s --devices 4 --mesh dp=2,tp=2 --shard w_fcc=,tp -o %t.pmc 2>&1 | FileCheck %s --check-prefix=NAME
// RUN: not pmc-opt compile %s --devices 4 --mesh dp=2,tp=2 --shard w_fc=,tp,dp -o %t.pmc 2>&1 | FileCheck %s --check-prefix=RANK
// RUN: not pmc-opt compile %s --devices 8 --mesh tp=8 --shard w_fc=,tp -o %t.pmc 2>&1 | FileCheck %s --check-prefix=DIVIDE
// RUN: not pmc-opt compile %s --devices 4 --mesh dp=2,dp=2 -o %t.pmc 2>&1 | FileCheck %s --check-prefix=TWICE
// RUN: not pmc-opt compile %s --devices 4 --mesh dp -o %t.pmc 2>&1 | FileCheck %s --check-prefix=SYNTAX
// RUN: not pmc-opt compile %s --devices 4 --mesh dp=4 --shard x -o %t.pmc 2>&1 | FileCheck %s --check-prefix=SHARD
// RUN: not pmc-opt compile %s --devices 2 -o %t.pmc 2>&1 | FileCheck %s --check-prefix=PARTITIONED

// PRODUCT: error: --mesh dp=2,tp=3 has 6 devices, but --devices is 4
// AXIS: error: --shard x: dimension 0 names axis 'pp', which the mesh does not have (axes: dp, tp)
// NOMESH: error: --shard needs --mesh (the axes the shardings name), e.g. --mesh dp=4
// NAME: error: --shard w_fcc: no graph input or weight has this name; inputs: x; weights: w_fc
// RANK: error: loc("w_fc"): --shard w_fc: 3 dimensions given, but 'w_fc' is 'tensor<4x12xf32>'
// DIVIDE: error: loc("w_fc"): --shard w_fc ('tensor<4x12xf32>'): dimension 1 of size 12 is not divisible by 8 (axes 'tp')
// TWICE: error: --mesh 'dp=2,dp=2': axis 'dp' appears twice
// SYNTAX: error: --mesh 'dp': 'dp' is not AXIS=SIZE
// SHARD: error: --shard expects NAME=DIMS (e.g. --shard w_fc=,tp), got 'x'
// PARTITIONED: error: the module is partitioned for #pmc.mesh<["tp"=4]> (4 devices), but --devices is 2

module attributes {pmc.mesh = #pmc.mesh<["tp"=4]>} {
  func.func @main(%x: tensor<8x4xf32> {pmc.name = "x"}) -> tensor<8x12xf32> {
    %w = pmc.constant dense<1.5> : tensor<4x12xf32> loc("w_fc")
    %y = pmc.matmul %x, %w : (tensor<8x4xf32>, tensor<4x12xf32>) -> tensor<8x12xf32>
    return %y : tensor<8x12xf32>
  }
}
