// The CUDA kernel pipeline on IR: what the bundle's launch commands list is
// in the IR (scratch parameters, gpu.launch_func with pmc.writes).
// RUN: pmc-opt %s --pmc-cuda-kernels | FileCheck %s
// RUN: pmc-opt %s --pmc-cuda-kernels="vector-bytes=0 block-size=128" | FileCheck %s --check-prefix=SCALAR
// RUN: pmc-opt %s --pmc-prepare-kernels="target=cuda" --pmc-bufferize-kernels --pmc-allocs-to-scratch | FileCheck %s --check-prefix=SCRATCH
// RUN: not pmc-opt %s --pmc-cuda-kernels="block-size=2048" 2>&1 | FileCheck %s --check-prefix=BLOCK
// RUN: not pmc-opt %s --pmc-cuda-kernels="vector-bytes=12" 2>&1 | FileCheck %s --check-prefix=WIDTH

// The softmax statistics (one value per row) are a temporary: a trailing
// scratch parameter the runtime places in the arena.
// SCRATCH: func.func @kernel_0(%{{.*}}: memref<4x256xf32>, %{{.*}}: memref<4x256xf32>, %{{.*}}: memref<4xf32>) attributes {pmc.kernel_params = 2 : i64, pmc.scratch_params = 1 : i64}
// SCRATCH-NOT: memref.alloc

// The exp is elementwise: 1024 iterations, 4 floats per thread (16-byte
// accesses), 256 threads; it writes parameter 1. The row reductions run one
// thread per row.
// CHECK-LABEL: func.func @kernel_0
// CHECK: gpu.launch_func @pmc_kernels::@kernel_0_0 blocks in ({{.*}}) threads in (%[[T:.*]], {{.*}}) args(%arg0 : memref<4x256xf32>, %arg1 : memref<4x256xf32>) {pmc.writes = array<i64: 1>}
// CHECK: gpu.launch_func @pmc_kernels::@kernel_0_1 {{.*}} args(%arg2 : memref<4xf32>) {pmc.writes = array<i64: 2>}
// CHECK: gpu.module @pmc_kernels
// CHECK: gpu.func @kernel_0_0(%{{.*}}: memref<4x256xf32>, %{{.*}}: memref<4x256xf32>) kernel attributes {known_block_size = array<i32: 256, 1, 1>}
// CHECK: vector.load %{{.*}} {alignment = 16 : i64} : memref<4x256xf32>, vector<4xf32>
// SCALAR: gpu.func @kernel_0_0({{.*}}) kernel attributes {known_block_size = array<i32: 128, 1, 1>}
// SCALAR-NOT: vector.load
// BLOCK: error: cuda block size 2048 is out of range (1-1024)
// WIDTH: error: cuda vector access width 12 bytes is not 0, 4, 8 or 16
module {
  func.func @main(%x: tensor<4x256xf32>) -> tensor<4x256xf32> {
    %0 = call @kernel_0(%x) : (tensor<4x256xf32>) -> tensor<4x256xf32>
    return %0 : tensor<4x256xf32>
  }
  func.func private @kernel_0(%x: tensor<4x256xf32>) -> tensor<4x256xf32> {
    %0 = pmc.exp %x : tensor<4x256xf32>
    %1 = pmc.softmax %0 {axis = 1 : i64} : tensor<4x256xf32>
    return %1 : tensor<4x256xf32>
  }
}
