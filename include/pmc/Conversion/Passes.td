//===- Passes.td - conversions out of the pmc dialect -----------*- tablegen -*-===//
#ifndef PMC_CONVERSION_PASSES_TD
#define PMC_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertPMCToLinalg : Pass<"pmc-convert-to-linalg", "ModuleOp"> {
  let summary = "Lowers pmc operators inside kernels to linalg/tensor/arith/math";
  let description = [{
    Elementwise operators with broadcasting become `linalg.generic` ops whose
    indexing maps encode the broadcast; reductions become `linalg.generic` with
    reduction iterators; data movement becomes `tensor`/`linalg` ops.
    ```mlir
    %z = pmc.add %x, %y : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
    ```
    becomes
    ```mlir
    %e = tensor.empty() : tensor<2x3xf32>
    %z = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>,
           affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>],
           iterator_types = ["parallel", "parallel"]}
         ins(%x, %y : tensor<2x3xf32>, tensor<3xf32>) outs(%e : tensor<2x3xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %s = arith.addf %a, %b : f32
      linalg.yield %s : f32
    } -> tensor<2x3xf32>
    ```
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect", "::mlir::arith::ArithDialect",
    "::mlir::math::MathDialect", "::mlir::func::FuncDialect"];
}

#endif // PMC_CONVERSION_PASSES_TD
