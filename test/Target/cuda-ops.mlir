// REQUIRES: ptxas
// RUN: pmc-opt compile %s --target cuda -o %t.pmc
// RUN: %python %S/Inputs/cuda_launches.py %t.pmc | FileCheck %s
// RUN: %python %S/Inputs/bundle_section.py %t.pmc kernels.ptx.sm_90 %t.sm_90.ptx
// RUN: %python %S/Inputs/bundle_section.py %t.pmc kernels.ptx.sm_80 %t.sm_80.ptx
// RUN: %ptxas -arch=sm_90 %t.sm_90.ptx -o %t.sm_90.cubin
// RUN: %ptxas -arch=sm_80 %t.sm_80.ptx -o %t.sm_80.cubin
// RUN: FileCheck %s --check-prefix=PTX < %t.sm_90.ptx

// Reductions, softmax, layer_norm, transpose, gather and pooling in one
// kernel: every loop nest becomes a launch, in order; bufferization
// temporaries become scratch buffers; every launch has a PTX entry.

func.func @main(%x: tensor<4x8xf32> {pmc.name = "x"}, %g: tensor<8xf32> {pmc.name = "g"},
                %t: tensor<100x16xf32> {pmc.name = "t"}, %i: tensor<2x5xi64> {pmc.name = "i"},
                %img: tensor<1x3x8x8xf32> {pmc.name = "img"})
    -> (tensor<f32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<8x4xf32>, tensor<2x5x16xf32>,
        tensor<1x3x4x4xf32>) {
  %sum = pmc.reduce_sum %x {axes = array<i64: 0, 1>} : (tensor<4x8xf32>) -> tensor<f32>
  %sm = pmc.softmax %x {axis = 1 : i64} : tensor<4x8xf32>
  %y, %mean, %inv = pmc.layer_norm %x, %g, %g {axis = 1 : i64, epsilon = 1.0e-05 : f32}
      : (tensor<4x8xf32>, tensor<8xf32>, tensor<8xf32>) -> (tensor<4x8xf32>, tensor<4x1xf32>, tensor<4x1xf32>)
  %tr = pmc.transpose %x {perm = array<i64: 1, 0>} : (tensor<4x8xf32>) -> tensor<8x4xf32>
  %ga = pmc.gather %t, %i {axis = 0 : i64} : (tensor<100x16xf32>, tensor<2x5xi64>) -> tensor<2x5x16xf32>
  %p = pmc.max_pool %img {kernel_shape = array<i64: 3, 3>, strides = array<i64: 2, 2>,
         pads = array<i64: 1, 1, 1, 1>, dilations = array<i64: 1, 1>}
       : (tensor<1x3x8x8xf32>) -> tensor<1x3x4x4xf32>
  return %sum, %sm, %y, %tr, %ga, %p : tensor<f32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<8x4xf32>, tensor<2x5x16xf32>, tensor<1x3x4x4xf32>
}

// The full reduction to a scalar: a 1-thread fill, then a 1-thread loop.
// CHECK: buffer 5 temp float32 []
// CHECK: buffer 11 scratch float32 [4]
// CHECK: buffer 15 scratch float32 [3, 3]
// CHECK: launch kernel_0_0 (kernel kernel_0) grid=[1, 1, 1] block=[1, 1, 1] shared=0 args=[5] writes=[5]
// CHECK-NEXT: launch kernel_0_1 (kernel kernel_0) grid=[1, 1, 1] block=[1, 1, 1] shared=0 args=[0, 5] writes=[5]
// Softmax: row max into scratch (the init fill one thread of 4 lanes, the
// reduction one thread per row), then the 4x8 elementwise part, 4 lanes a thread.
// CHECK-NEXT: launch kernel_0_2 {{.*}} block=[1, 1, 1] shared=0 args=[11] writes=[11]
// CHECK-NEXT: launch kernel_0_3 {{.*}} block=[4, 1, 1] shared=0 args=[0, 11] writes=[11]
// CHECK-NEXT: launch kernel_0_4 {{.*}} block=[8, 1, 1] shared=0 args=[0, 7, 11] writes=[7]
// CHECK-COUNT-9: launch kernel_0_{{[0-9]+}} (kernel kernel_0)
// Transpose (one thread per output element: not contiguous in x), gather (4
// contiguous elements of a row of t a thread), pooling (init 4 lanes a thread,
// then window max one thread per element).
// CHECK-NEXT: launch kernel_0_14 {{.*}} block=[32, 1, 1] shared=0 args=[0, 8] writes=[8]
// CHECK-NEXT: launch kernel_0_15 {{.*}} block=[40, 1, 1] shared=0 args=[2, 3, 9] writes=[9]
// CHECK-NEXT: launch kernel_0_16 {{.*}} block=[12, 1, 1] shared=0 args=[10] writes=[10]
// CHECK-NEXT: launch kernel_0_17 {{.*}} block=[48, 1, 1] shared=0 args=[4, 10] writes=[10]
// CHECK-NEXT: outputs [5, 6, 7, 8, 9, 10]

// PTX-COUNT-18: .visible .entry kernel_0_
// PTX-NOT: .entry
// PTX-NOT: __nv_
