// pmc-random-plan draws a mesh, input shardings and per-op factor splits from
// the ops' own rules; the same seed gives the same plan, every drawn plan
// partitions, and a drawn op split is what the op can compute in.
// RUN: pmc-opt %s --pmc-random-plan="devices=4 seed=5 stages=1" > %t.a
// RUN: pmc-opt %s --pmc-random-plan="devices=4 seed=5 stages=1" | diff %t.a -
// RUN: FileCheck %s --input-file %t.a
// RUN: for s in 1 2 3 4 5 6 7 8 9 10 11 12; do pmc-opt %s --pmc-random-plan="devices=8 seed=$s" --pmc-sharding-propagation --pmc-partition > /dev/null || exit 1; done
// RUN: pmc-opt %s --pmc-random-plan="devices=4 seed=3 stages=2" | FileCheck %s --check-prefix=PIPE

// CHECK: module attributes {pmc.mesh = #pmc.mesh<[{{.*}}]>, pmc.plan = "random seed 5: mesh {{.*}}", pmc.plan_explain = "plan for 4 devices: random (seed 5){{.*}}coverage:{{.*}}", pmc.plan_source = "random"}
// CHECK: func.func @main
// CHECK: pmc.shardings = [#pmc.sharding

// PIPE: pmc.mesh = #pmc.mesh<["pp"=2, {{.*}}]>, pmc.pipeline = {microbatches = {{[1-4]}} : i64, schedule = "{{gpipe|1f1b}}", stages = 2 : i64}
// PIPE: pmc.stage = 0
// PIPE: pmc.stage = 1
module {
  func.func @main(%x: tensor<8x16xf32> {pmc.name = "x"}, %img: tensor<4x8x8x8xf32> {pmc.name = "img"}) -> (tensor<8x16xf32>, tensor<4x16x8x8xf32>) {
    %w1 = pmc.constant dense<0.5> : tensor<16x32xf32> loc("w1")
    %w2 = pmc.constant dense<0.25> : tensor<32x16xf32> loc("w2")
    %h = pmc.matmul %x, %w1 : (tensor<8x16xf32>, tensor<16x32xf32>) -> tensor<8x32xf32> loc("fc1")
    %r = pmc.relu %h : tensor<8x32xf32> loc("relu")
    %y = pmc.matmul %r, %w2 : (tensor<8x32xf32>, tensor<32x16xf32>) -> tensor<8x16xf32> loc("fc2")
    %k = pmc.constant dense<0.1> : tensor<16x2x3x3xf32> loc("k")
    %b = pmc.constant dense<0.1> : tensor<16xf32> loc("b")
    %c = pmc.conv %img, %k, %b {strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>, group = 4 : i64}
        : (tensor<4x8x8x8xf32>, tensor<16x2x3x3xf32>, tensor<16xf32>) -> tensor<4x16x8x8xf32> loc("conv")
    %s = pmc.softmax %c {axis = 1 : i64} : tensor<4x16x8x8xf32> loc("softmax")
    return %y, %s : tensor<8x16xf32>, tensor<4x16x8x8xf32>
  }
}
