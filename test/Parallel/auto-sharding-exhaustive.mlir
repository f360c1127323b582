// The automatic search (coordinate descent over layer classes: 6 weights,
// 3^6 combinations per mesh, more than it enumerates) must find the plan
// that enumerating every per-weight combination through the same scoring
// finds (search=exhaustive), with and without the memory limit.
// RUN: pmc-opt %s --pmc-auto-sharding="devices=8 spec=%S/Inputs/tiny-memory-24mb.json" | grep -o 'pmc.mesh = #pmc.mesh<[^>]*>\|pmc.shardings = .*\]>\]\|x slower\|auto: [a-z0-9 =()]*\|search: [^;]*' > %t.auto
// RUN: pmc-opt %s --pmc-auto-sharding="devices=8 spec=%S/Inputs/tiny-memory-24mb.json search=exhaustive" | grep -o 'pmc.mesh = #pmc.mesh<[^>]*>\|pmc.shardings = .*\]>\]\|x slower\|auto: [a-z0-9 =()]*' > %t.exact
// RUN: grep -v search: %t.auto | diff - %t.exact
// RUN: FileCheck %s --input-file %t.auto
// RUN: pmc-opt %s --pmc-auto-sharding="devices=4 spec=h100-sxm" | grep -o 'pmc.mesh = #pmc.mesh<[^>]*>\|pmc.shardings = .*\]>\]' > %t.auto4
// RUN: pmc-opt %s --pmc-auto-sharding="devices=4 spec=h100-sxm search=exhaustive" | grep -o 'pmc.mesh = #pmc.mesh<[^>]*>\|pmc.shardings = .*\]>\]' | diff %t.auto4 -
// CHECK: pmc.mesh = #pmc.mesh<["dp"=4, "tp"=2]>
// CHECK: search: data parallel (dp=8): single
// CHECK: pmc.shardings = [#pmc.sharding<[{}, {"tp"}]>]
// CHECK: pmc.shardings = [#pmc.sharding<[{"tp"}, {}]>]

// RUN: not pmc-opt %s --pmc-auto-sharding="devices=8 spec=nosuch" 2>&1 | FileCheck %s --check-prefix=BADSPEC
// BADSPEC: error: pmc-auto-sharding: device spec 'nosuch':
module {
  func.func @main(%x: tensor<2048x1024xf32>) -> tensor<2048x1024xf32> {
    %w1 = pmc.constant dense<1.0> : tensor<1024x1024xf32> loc("w1")
    %w2 = pmc.constant dense<1.0> : tensor<1024x1024xf32> loc("w2")
    %w3 = pmc.constant dense<1.0> : tensor<1024x2048xf32> loc("w3")
    %w4 = pmc.constant dense<1.0> : tensor<2048x1024xf32> loc("w4")
    %w5 = pmc.constant dense<1.0> : tensor<1024x1024xf32> loc("w5")
    %w6 = pmc.constant dense<1.0> : tensor<1024x1024xf32> loc("w6")
    %a = pmc.matmul %x, %w1 : (tensor<2048x1024xf32>, tensor<1024x1024xf32>) -> tensor<2048x1024xf32>
    %b = pmc.relu %a : tensor<2048x1024xf32>
    %c = pmc.matmul %b, %w2 : (tensor<2048x1024xf32>, tensor<1024x1024xf32>) -> tensor<2048x1024xf32>
    %d = pmc.matmul %c, %w3 : (tensor<2048x1024xf32>, tensor<1024x2048xf32>) -> tensor<2048x2048xf32>
    %e = pmc.relu %d : tensor<2048x2048xf32>
    %f = pmc.matmul %e, %w4 : (tensor<2048x2048xf32>, tensor<2048x1024xf32>) -> tensor<2048x1024xf32>
    %g = pmc.matmul %f, %w5 : (tensor<2048x1024xf32>, tensor<1024x1024xf32>) -> tensor<2048x1024xf32>
    %h = pmc.relu %g : tensor<2048x1024xf32>
    %y = pmc.matmul %h, %w6 : (tensor<2048x1024xf32>, tensor<1024x1024xf32>) -> tensor<2048x1024xf32>
    return %y : tensor<2048x1024xf32>
  }
}
