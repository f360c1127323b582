// UNSUPPORTED: cuda-driver
// RUN: not pmc-opt compile %s --target cuda --verify --devices 2 -o %t.pmc 2>&1 | FileCheck %s

// --verify runs both bundles; without a CUDA driver that fails, naming why,
// and nothing is reported as compared.
// CHECK: error: --verify: running the bundles failed: {{.*}}this bundle targets CUDA; no CUDA driver was found (libcuda.so.1 could not be loaded)
// CHECK-NOT: differs

func.func @main(%x: tensor<2x4xf32> {pmc.name = "x"}) -> (tensor<2x4xf32> {pmc.name = "y"}) {
  %e = pmc.exp %x : tensor<2x4xf32>
  return %e : tensor<2x4xf32>
}
