// RUN: pmc-opt %s --pmc-partition -o %t.mlir
// RUN: pmc-opt compile %t.mlir -o %t.pmc
// RUN: %python %S/Inputs/bundle_section.py %t.pmc manifest | FileCheck %s --check-prefix=MANIFEST
// RUN: %python %S/Inputs/bundle_section.py %t.pmc rank3.program | FileCheck %s --check-prefix=PROGRAM
// RUN: %python -c "import numpy as np, pmc; x = np.arange(32, dtype=np.float32).reshape(4, 8) / 8 - 2; y = pmc.load('%t.pmc').run_dict({'x': x})['y']; np.testing.assert_allclose(y, np.maximum(x @ np.full((8, 16), 0.25), 0) @ np.full((16, 8), -0.5), rtol=1e-5); print('VALUES OK')" | FileCheck %s --check-prefix=VALUES

// pmc-partition's output (2-D dp x tp Megatron MLP) through the emitter: the
// input keeps its dp sharding with the global shape, weights are sliced per
// rank (rank 3 = dp 1, tp 1), one all_reduce over tp.

// MANIFEST: "devices": 4,
// MANIFEST: "inputs": [
// MANIFEST: "name": "x",
// MANIFEST-NEXT: "shape": [
// MANIFEST-NEXT: 4,
// MANIFEST-NEXT: 8
// MANIFEST-NEXT: ],
// MANIFEST-NEXT: "sharding": [
// MANIFEST-NEXT: [
// MANIFEST-NEXT: "dp"
// MANIFEST-NEXT: ],
// MANIFEST-NEXT: []
// MANIFEST: "plan": {
// MANIFEST-NEXT: "source": "partitioned input"

// PROGRAM: "kind": "input",
// PROGRAM-NEXT: "shape": [
// PROGRAM-NEXT: 2,
// PROGRAM-NEXT: 8
// PROGRAM: "section": "w/0/r1",
// PROGRAM: "section": "w/1/r1",
// PROGRAM: "op": "all_reduce",
// PROGRAM-NOT: "op": "all_reduce"

// VALUES: VALUES OK

module attributes {pmc.mesh = #pmc.mesh<["dp"=2, "tp"=2]>} {
  func.func @main(%x: tensor<4x8xf32> {pmc.name = "x", pmc.sharding = #pmc.sharding<[{"dp"}, {}]>}) -> (tensor<4x8xf32> {pmc.name = "y", pmc.sharding = #pmc.sharding<[{"dp"}, {}]>}) {
    %w1 = pmc.constant {pmc.shardings = [#pmc.sharding<[{}, {"tp"}]>]} dense<0.25> : tensor<8x16xf32>
    %w2 = pmc.constant {pmc.shardings = [#pmc.sharding<[{"tp"}, {}]>]} dense<-0.5> : tensor<16x8xf32>
    %h = pmc.matmul %x, %w1 {pmc.shardings = [#pmc.sharding<[{"dp"}, {"tp"}]>]} : (tensor<4x8xf32>, tensor<8x16xf32>) -> tensor<4x16xf32>
    %r = pmc.relu %h {pmc.shardings = [#pmc.sharding<[{"dp"}, {"tp"}]>]} : tensor<4x16xf32>
    %y = pmc.matmul %r, %w2 {pmc.shardings = [#pmc.sharding<[{"dp"}, {}], partial_sum = {"tp"}>]} : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
    return %y : tensor<4x8xf32>
  }
}
