//===- PMCGradientInterface.td - gradients of pmc ops ---------*- tablegen -*-===//
#ifndef PMC_GRADIENT_INTERFACE_TD
#define PMC_GRADIENT_INTERFACE_TD

include "mlir/IR/OpBase.td"

def PMC_GradientOpInterface : OpInterface<"GradientOpInterface"> {
  let cppNamespace = "::mlir::pmc";
  let description = [{
    An op's reverse-mode derivative, declared once beside its sharding rule and
    its cost (external models in lib/Dialect/PMC/IR/Gradients.cpp); the
    autodiff pass (--pmc-autodiff) builds the backward program from these
    alone. Given the gradient of the loss with respect to each result (null
    where none flows), the op builds the gradient with respect to each operand
    at the builder's insertion point (null for operands no gradient flows to:
    integer, bool, index and shape operands).

    ```c++
    // z = pmc.mul %x, %y:  dz/dx = g * y, dz/dy = g * x (summed over broadcast axes)
    SmallVector<Value> operandGrads;
    cast<GradientOpInterface>(mul).buildGradients(builder, {g}, operandGrads);
    ```
  }];
  let methods = [
    InterfaceMethod<[{Builds the operands' gradients from the results'; fails
                      (after an error on the op) for a case the rule does not
                      cover.}],
                    "::llvm::LogicalResult", "buildGradients",
                    (ins "::mlir::OpBuilder &":$builder,
                         "::llvm::ArrayRef<::mlir::Value>":$resultGradients,
                         "::llvm::SmallVectorImpl<::mlir::Value> &":$operandGradients)>,
  ];
}

#endif // PMC_GRADIENT_INTERFACE_TD
