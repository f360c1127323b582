//===- PMCBase.td - pmc dialect definition and type constraints -*- tablegen -*-===//
#ifndef PMC_BASE_TD
#define PMC_BASE_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"

def PMC_Dialect : Dialect {
  let name = "pmc";
  let cppNamespace = "::mlir::pmc";
  let summary = "Tensor operators of the pmc graph compiler";
  let description = [{
    The `pmc` dialect holds a model as pmc's importers produce it: value-semantics
    tensor operators with static shapes, close to ONNX but normalized. Attributes
    are explicit and canonical (negative axes resolved, `auto_pad` turned into
    explicit pads, optional inputs made explicit), so that every later pass reads
    one form only:

    ```mlir
    func.func @mlp(%x: tensor<8x16xf32>) -> tensor<8x4xf32> {
      %w = pmc.constant dense<0.5> : tensor<16x4xf32>
      %y = pmc.matmul %x, %w : (tensor<8x16xf32>, tensor<16x4xf32>) -> tensor<8x4xf32>
      %r = pmc.relu %y : tensor<8x4xf32>
      return %r : tensor<8x4xf32>
    }
    ```

    Element types follow ONNX: signless integers are signed, `ui8`..`ui64` are
    unsigned, `i1` is bool.
  }];
  let hasConstantMaterializer = 1;
  let useDefaultAttributePrinterParser = 1;
  let extraClassDeclaration = [{
    void registerAttributes();
  }];
  let dependentDialects = ["::mlir::func::FuncDialect"];
}

class PMC_Op<string mnemonic, list<Trait> traits = []>
    : Op<PMC_Dialect, mnemonic, traits>;

// ONNX integer types: signless integers stand for signed ones, `ui*` for unsigned.
def PMC_Integer : AnyTypeOf<[AnySignlessInteger, AnyUnsignedInteger]>;
def PMC_FloatTensor : RankedTensorOf<[AnyFloat]>;
def PMC_NumericTensor : RankedTensorOf<[AnyFloat, PMC_Integer]>;
def PMC_BoolTensor : RankedTensorOf<[I1]>;
def PMC_IndexTensor : RankedTensorOf<[I32, I64]>;
def PMC_AnyTensor : RankedTensorOf<[AnyType]>;

#endif // PMC_BASE_TD
