// REQUIRES: ptxas
// RUN: pmc-opt compile %s --target cuda -o %t.pmc
// RUN: %python %S/Inputs/cuda_launches.py %t.pmc | FileCheck %s --check-prefix=SCALAR
// RUN: %python %S/Inputs/bundle_section.py %t.pmc kernels.ptx.sm_90 %t.sm_90.ptx
// RUN: %ptxas -arch=sm_90 %t.sm_90.ptx -o %t.sm_90.cubin
// RUN: FileCheck %s --check-prefix=SCALAR-PTX < %t.sm_90.ptx
// RUN: sed 's/301/302/g' %s > %t.302.mlir
// RUN: pmc-opt compile %t.302.mlir --target cuda -o %t.302.pmc
// RUN: %python %S/Inputs/cuda_launches.py %t.302.pmc | FileCheck %s --check-prefix=PAIR
// RUN: %python %S/Inputs/bundle_section.py %t.302.pmc kernels.ptx.sm_80 %t.302.sm_80.ptx
// RUN: %ptxas -arch=sm_80 %t.302.sm_80.ptx -o %t.302.sm_80.cubin
// RUN: FileCheck %s --check-prefix=PAIR-PTX < %t.302.sm_80.ptx

// Fallbacks of vectorized access. An inner dimension of 301 is odd: one
// scalar element per thread, 4*301 = 1204 threads in 5 guarded blocks. With
// 302 (even, not a multiple of 4) each thread takes 2 elements (8 bytes):
// 604 threads, 3 blocks. The transpose reads x along its outer dimension, so
// it is never vectorized.

// SCALAR: launch kernel_0_0 (kernel kernel_0) grid=[5, 1, 1] block=[256, 1, 1] shared=0 args=[0, 1, 2] writes=[2]
// SCALAR-NEXT: launch kernel_0_1 (kernel kernel_0) grid=[5, 1, 1] block=[256, 1, 1] shared=0 args=[0, 3] writes=[3]
// SCALAR-PTX-NOT: .v2.
// SCALAR-PTX-NOT: .v4.
// SCALAR-PTX: st.global.b32
// SCALAR-PTX-NOT: .v2.
// SCALAR-PTX-NOT: .v4.

// PAIR: launch kernel_0_0 (kernel kernel_0) grid=[3, 1, 1] block=[256, 1, 1] shared=0 args=[0, 1, 2] writes=[2]
// PAIR-NEXT: launch kernel_0_1 (kernel kernel_0) grid=[5, 1, 1] block=[256, 1, 1] shared=0 args=[0, 3] writes=[3]
// PAIR-PTX: .visible .entry kernel_0_0(
// PAIR-PTX-DAG: ld.global.v2.b32
// PAIR-PTX-DAG: st.global.v2.b32
// PAIR-PTX: .visible .entry kernel_0_1(
// PAIR-PTX-NOT: .v2.
// PAIR-PTX-NOT: .v4.
// PAIR-PTX: st.global.b32
// PAIR-PTX-NOT: .v2.
// PAIR-PTX-NOT: .v4.

func.func @main(%x: tensor<4x301xf32> {pmc.name = "x"}, %y: tensor<4x301xf32> {pmc.name = "y"})
    -> (tensor<4x301xf32> {pmc.name = "s"}, tensor<301x4xf32> {pmc.name = "t"}) {
  %s = pmc.add %x, %y : (tensor<4x301xf32>, tensor<4x301xf32>) -> tensor<4x301xf32>
  %t = pmc.transpose %x {perm = array<i64: 1, 0>} : (tensor<4x301xf32>) -> tensor<301x4xf32>
  return %s, %t : tensor<4x301xf32>, tensor<301x4xf32>
}
