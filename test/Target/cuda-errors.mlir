// RUN: not env CUDA_HOME=%t.no-toolkit pmc-opt compile %s --target cuda -o %t.pmc 2>&1 | FileCheck %s --check-prefix=TOOLKIT
// RUN: not pmc-opt compile %s --target cuda --verify --devices 2 -o %t.pmc 2>&1 | FileCheck %s --check-prefix=VERIFY

// Without the CUDA toolkit's libdevice the math functions cannot be linked:
// the error says where it looked and how to point pmc at the toolkit.
// TOOLKIT: error: the cuda target needs the CUDA toolkit's libdevice, which is not at {{.*}}no-toolkit/nvvm/libdevice/libdevice.10.bc (set CUDA_HOME, or put the toolkit's bin/ on PATH)

// --verify runs the bundles, which a cuda bundle cannot do here.
// VERIFY: error: --verify runs the bundles; a cuda bundle cannot run on this machine (no CUDA runtime in pmc yet)

func.func @main(%x: tensor<2x4xf32> {pmc.name = "x"}) -> (tensor<2x4xf32> {pmc.name = "y"}) {
  %e = pmc.exp %x : tensor<2x4xf32>
  return %e : tensor<2x4xf32>
}
