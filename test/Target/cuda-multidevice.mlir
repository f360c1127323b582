// REQUIRES: ptxas
// RUN: pmc-opt compile %s --target cuda --devices 4 -o %t.pmc
// RUN: %python %S/Inputs/cuda_launches.py %t.pmc 3 | FileCheck %s
// RUN: %python %S/Inputs/bundle_section.py %t.pmc manifest | FileCheck %s --check-prefix=MANIFEST
// RUN: %python %S/Inputs/bundle_section.py %t.pmc kernels.ptx.sm_90 %t.sm_90.ptx
// RUN: %ptxas -arch=sm_90 %t.sm_90.ptx -o %t.sm_90.cubin

// Data parallel over 4 devices: each rank runs the launches on its quarter
// (2 of 8 rows); the matmul stays a library command.

// MANIFEST: "devices": 4
// MANIFEST: "target": "cuda"

// CHECK: buffer 0 input float32 [2, 16]
// CHECK: matmul a=0 b=1 c=2
// The row-max init fills 2 lanes in one thread; the 2x16 elementwise part
// runs 4 lanes a thread.
// CHECK-NEXT: launch kernel_0_0 (kernel kernel_0) grid=[1, 1, 1] block=[1, 1, 1] shared=0 args=[{{.*}}] writes=[{{.*}}]
// CHECK: launch kernel_0_{{[0-9]+}} (kernel kernel_0) grid=[1, 1, 1] block=[8, 1, 1]

func.func @main(%x: tensor<8x16xf32> {pmc.name = "x"}) -> (tensor<8x16xf32> {pmc.name = "y"}) {
  %w = pmc.constant dense<0.25> : tensor<16x16xf32>
  %h = pmc.matmul %x, %w : (tensor<8x16xf32>, tensor<16x16xf32>) -> tensor<8x16xf32>
  %s = pmc.softmax %h {axis = 1 : i64} : tensor<8x16xf32>
  return %s : tensor<8x16xf32>
}
