// RUN: not env CUDA_HOME=%t.no-toolkit pmc-opt compile %s --target cuda -o %t.pmc 2>&1 | FileCheck %s --check-prefix=TOOLKIT

// Without the CUDA toolkit's libdevice the math functions cannot be linked:
// the error says where it looked and how to point pmc at the toolkit.
// TOOLKIT: error: the cuda target needs the CUDA toolkit's libdevice, which is not at {{.*}}no-toolkit/nvvm/libdevice/libdevice.10.bc (set CUDA_HOME, or put the toolkit's bin/ on PATH)

func.func @main(%x: tensor<2x4xf32> {pmc.name = "x"}) -> (tensor<2x4xf32> {pmc.name = "y"}) {
  %e = pmc.exp %x : tensor<2x4xf32>
  return %e : tensor<2x4xf32>
}
