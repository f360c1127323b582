// REQUIRES: ptxas
// RUN: pmc-opt compile %s --target cuda -o %t.pmc
// RUN: %python %S/Inputs/bundle_section.py %t.pmc manifest | FileCheck %s --check-prefix=MANIFEST
// RUN: %python %S/Inputs/cuda_launches.py %t.pmc | FileCheck %s
// RUN: %python %S/Inputs/bundle_section.py %t.pmc kernels.ptx.sm_90 %t.sm_90.ptx
// RUN: %python %S/Inputs/bundle_section.py %t.pmc kernels.ptx.sm_80 %t.sm_80.ptx
// RUN: %ptxas -arch=sm_90 %t.sm_90.ptx -o %t.sm_90.cubin
// RUN: %ptxas -arch=sm_80 %t.sm_80.ptx -o %t.sm_80.cubin
// RUN: FileCheck %s --check-prefix=PTX < %t.sm_90.ptx
// RUN: not pmc-run %t.pmc 2>&1 | FileCheck %s --check-prefix=ERR

// exp + broadcast add + relu fused into one kernel: one launch over the
// 4x300 = 1200 elements, 4 a thread (cuda-vectorize.mlir): 2 blocks of 256
// threads (the last one guarded). The matmul stays a library command (exp
// first: a bias add right after it would fold into its cuBLASLt epilogue);
// the splat bias folds into the kernel.

// MANIFEST: "cuda": {
// MANIFEST-NEXT: "kernel_abi": "bare-pointer",
// MANIFEST-NEXT: "producer": "MLIR/LLVM {{.*}}NVPTX)",
// MANIFEST-NEXT: "ptx": [
// MANIFEST-NEXT: {
// MANIFEST-NEXT: "chip": "sm_80",
// MANIFEST-NEXT: "section": "kernels.ptx.sm_80"
// MANIFEST: "chip": "sm_90",
// MANIFEST-NEXT: "section": "kernels.ptx.sm_90"
// MANIFEST-NOT: kernel_library
// MANIFEST: "target": "cuda"

// CHECK: buffer 0 input float32 [4, 8]
// CHECK: buffer 3 temp float32 [4, 300]
// CHECK: matmul a=0 b=1 c=2
// CHECK-NEXT: launch kernel_0_0 (kernel kernel_0) grid=[2, 1, 1] block=[256, 1, 1] shared=0 args=[2, 3] writes=[3]
// CHECK-NOT: launch
// CHECK: outputs [3]

// PTX: .target sm_90
// PTX: .visible .entry kernel_0_0(
// PTX-NEXT: .param .u64 {{.*}}kernel_0_0_param_0,
// PTX-NEXT: .param .u64 {{.*}}kernel_0_0_param_1
// PTX-NEXT: )
// PTX: .maxntid 256, 1, 1

// ERR: this bundle targets CUDA; no CUDA driver was found (libcuda.so.1 could not be loaded)

func.func @main(%x: tensor<4x8xf32> {pmc.name = "x"}) -> (tensor<4x300xf32> {pmc.name = "y"}) {
  %w = pmc.constant dense<0.5> : tensor<8x300xf32>
  %b = pmc.constant dense<1.0> : tensor<300xf32>
  %h = pmc.matmul %x, %w : (tensor<4x8xf32>, tensor<8x300xf32>) -> tensor<4x300xf32>
  %e = pmc.exp %h : tensor<4x300xf32>
  %a = pmc.add %e, %b : (tensor<4x300xf32>, tensor<300xf32>) -> tensor<4x300xf32>
  %r = pmc.relu %a : tensor<4x300xf32>
  return %r : tensor<4x300xf32>
}
