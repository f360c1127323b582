//===- Passes.td - passes over the pmc dialect ------------------*- tablegen -*-===//
#ifndef PMC_DIALECT_PMC_TRANSFORMS_PASSES_TD
#define PMC_DIALECT_PMC_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def PMCOutlineKernels : Pass<"pmc-outline-kernels", "ModuleOp"> {
  let summary = "Splits the program into kernels and the commands the runtime runs itself";
  let description = [{
    Walks the entry function in program order. Operators the runtime executes as
    library calls (`pmc.matmul` on float types, `pmc.conv`) and constants stay in
    the entry function; every maximal run of other operators between them is
    outlined into a private function `@kernel_N`, called with `func.call`. Splat
    constants are cloned into the kernel that uses them; other constants are
    passed as arguments (they are weights).

    Before:
    ```mlir
    func.func @main(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
      %w = pmc.constant dense_resource<w> : tensor<8x8xf32>
      %y = pmc.matmul %x, %w : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
      %r = pmc.relu %y : tensor<4x8xf32>
      %e = pmc.exp %r : tensor<4x8xf32>
      return %e : tensor<4x8xf32>
    }
    ```
    After:
    ```mlir
    func.func @main(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
      %w = pmc.constant dense_resource<w> : tensor<8x8xf32>
      %y = pmc.matmul %x, %w : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
      %e = call @kernel_0(%y) : (tensor<4x8xf32>) -> tensor<4x8xf32>
      return %e : tensor<4x8xf32>
    }
    func.func private @kernel_0(%a: tensor<4x8xf32>) -> tensor<4x8xf32> {
      %r = pmc.relu %a : tensor<4x8xf32>
      %e = pmc.exp %r : tensor<4x8xf32>
      return %e : tensor<4x8xf32>
    }
    ```
  }];
  let dependentDialects = ["::mlir::func::FuncDialect"];
}

#endif // PMC_DIALECT_PMC_TRANSFORMS_PASSES_TD
