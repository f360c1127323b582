// REQUIRES: ptxas
// RUN: pmc-opt compile %s --target cuda -o %t.pmc
// RUN: %python %S/Inputs/cuda_launches.py %t.pmc | FileCheck %s
// RUN: %python %S/Inputs/bundle_section.py %t.pmc kernels.ptx.sm_90 %t.sm_90.ptx
// RUN: %python %S/Inputs/bundle_section.py %t.pmc kernels.ptx.sm_80 %t.sm_80.ptx
// RUN: %ptxas -arch=sm_90 %t.sm_90.ptx -o %t.sm_90.cubin
// RUN: %ptxas -arch=sm_80 %t.sm_80.ptx -o %t.sm_80.cubin
// RUN: FileCheck %s --check-prefixes=PTX,SM90 < %t.sm_90.ptx
// RUN: FileCheck %s --check-prefixes=PTX,SM80 < %t.sm_80.ptx

// Vectorized global memory access of an elementwise launch: x and the row
// bias are contiguous along the 256-wide inner dimension, so each thread
// handles 4 consecutive f32 with one 16-byte load per operand and one 16-byte
// store: 4*256/4 = 256 threads, one block (the scalar launch had 4 blocks).
// The [4, 1] column operand does not vary along the inner dimension: one
// scalar load per thread, splatted.

// CHECK: buffer 0 input float32 [4, 256]
// CHECK: buffer 1 input float32 [4, 1]
// CHECK: buffer 2 input float32 [256]
// CHECK: launch kernel_0_0 (kernel kernel_0) grid=[1, 1, 1] block=[256, 1, 1] shared=0 args=[0, 1, 2, 3] writes=[3]
// CHECK-NOT: launch

// SM90: .target sm_90
// SM80: .target sm_80
// PTX: .visible .entry kernel_0_0(
// PTX: .maxntid 256, 1, 1
// PTX-DAG: ld.global.v4.b32 {{.*}}[%rd
// PTX-DAG: ld.global.v4.b32 {{.*}}[%rd
// PTX-DAG: ld.global.b32 {{.*}}[%rd
// PTX-DAG: st.global.v4.b32 [%rd
// PTX-NOT: st.global.b32
// PTX-NOT: st.global.v2

func.func @main(%x: tensor<4x256xf32> {pmc.name = "x"}, %c: tensor<4x1xf32> {pmc.name = "c"},
                %b: tensor<256xf32> {pmc.name = "b"}) -> (tensor<4x256xf32> {pmc.name = "y"}) {
  %a = pmc.add %x, %c : (tensor<4x256xf32>, tensor<4x1xf32>) -> tensor<4x256xf32>
  %m = pmc.mul %a, %b : (tensor<4x256xf32>, tensor<256xf32>) -> tensor<4x256xf32>
  %e = pmc.exp %m : tensor<4x256xf32>
  return %e : tensor<4x256xf32>
}
