// REQUIRES: ptxas
// RUN: pmc-opt compile %s --target cuda --dtype bf16 -o %t.pmc
// RUN: %python %S/Inputs/cuda_launches.py %t.pmc | FileCheck %s
// RUN: %python %S/Inputs/bundle_section.py %t.pmc kernels.ptx.sm_90 %t.sm_90.ptx
// RUN: %python %S/Inputs/bundle_section.py %t.pmc kernels.ptx.sm_80 %t.sm_80.ptx
// RUN: %ptxas -arch=sm_90 %t.sm_90.ptx -o %t.sm_90.cubin
// RUN: %ptxas -arch=sm_80 %t.sm_80.ptx -o %t.sm_80.cubin
// RUN: FileCheck %s --check-prefix=PTX < %t.sm_90.ptx
// RUN: FileCheck %s --check-prefix=PTX < %t.sm_80.ptx

// bfloat16 compute: the exp + bias add + relu between the matmuls (exp
// first, so that the bias does not fold into the first matmul's cuBLASLt
// epilogue) reads and writes bf16 only, 8 elements (16 bytes, `v4.b32`) a thread: 4*64/8 = 32 threads.
// The launches that convert between float32 and bf16 take the width of
// float32 (4 a thread): 16 bytes of f32, 8 bytes (`v2.b32`) of bf16, or
// `v4.b16` when 4 bf16 are read.

// CHECK: buffer 5 temp bfloat16 [4, 64]
// CHECK: launch kernel_0_0 (kernel kernel_0) grid=[1, 1, 1] block=[8, 1, 1] shared=0 args=[0, 1] writes=[1]
// CHECK: launch kernel_1_0 (kernel kernel_1) grid=[1, 1, 1] block=[32, 1, 1] shared=0 args=[5, 3, 6] writes=[6]
// CHECK: launch kernel_2_0 (kernel kernel_2) grid=[1, 1, 1] block=[16, 1, 1] shared=0 args=[7, 8] writes=[8]

// PTX: .visible .entry kernel_0_0(
// PTX-DAG: ld.global.v4.b32
// PTX-DAG: st.global.v2.b32
// PTX: .visible .entry kernel_1_0(
// PTX-DAG: ld.global.v4.b32
// PTX-DAG: ld.global.v4.b32
// PTX-DAG: st.global.v4.b32
// PTX: .visible .entry kernel_2_0(
// PTX-DAG: ld.global.v4.b16
// PTX-DAG: st.global.v4.b32

func.func @main(%x: tensor<4x8xf32> {pmc.name = "x"}) -> (tensor<4x16xf32> {pmc.name = "y"}) {
  %w1 = pmc.constant dense<0.5> : tensor<8x64xf32>
  %b1 = pmc.constant dense<[[1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0]]> : tensor<1x64xf32>
  %w2 = pmc.constant dense<0.25> : tensor<64x16xf32>
  %h = pmc.matmul %x, %w1 : (tensor<4x8xf32>, tensor<8x64xf32>) -> tensor<4x64xf32>
  %e = pmc.exp %h : tensor<4x64xf32>
  %a = pmc.add %e, %b1 : (tensor<4x64xf32>, tensor<1x64xf32>) -> tensor<4x64xf32>
  %r = pmc.relu %a : tensor<4x64xf32>
  %y = pmc.matmul %r, %w2 : (tensor<4x64xf32>, tensor<64x16xf32>) -> tensor<4x16xf32>
  return %y : tensor<4x16xf32>
}
