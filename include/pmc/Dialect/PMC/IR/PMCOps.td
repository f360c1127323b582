//===- PMCOps.td - pmc tensor operators --------------------------*- tablegen -*-===//
//
// Every operator has value semantics and static shapes. Result types are inferred
// (InferTypeOpInterface) wherever the attributes determine them, so the generic
// verifier rejects a wrong result shape with the reason spelled out.
//
#ifndef PMC_OPS_TD
#define PMC_OPS_TD

include "pmc/Dialect/PMC/IR/PMCBase.td"
include "pmc/Dialect/PMC/IR/PMCCollectiveOps.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/IR/BuiltinAttributeInterfaces.td"

//===----------------------------------------------------------------------===//
// Constants
//===----------------------------------------------------------------------===//

def PMC_ConstantOp : PMC_Op<"constant", [ConstantLike, Pure,
    AllTypesMatch<["value", "output"]>]> {
  let summary = "A constant tensor (weights are dense resources)";
  let description = [{
    ```mlir
    %c = pmc.constant dense<[1.0, 2.0]> : tensor<2xf32>
    %w = pmc.constant dense_resource<fc1.weight> : tensor<512x512xf32>
    ```
  }];
  let arguments = (ins ElementsAttr:$value);
  let results = (outs PMC_AnyTensor:$output);
  let assemblyFormat = "attr-dict $value";
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Elementwise unary operators
//===----------------------------------------------------------------------===//

class PMC_UnaryOp<string mnemonic, Type tensorType, string text,
                  list<Trait> traits = []>
    : PMC_Op<mnemonic, traits # [Pure, Elementwise, SameOperandsAndResultType]> {
  let summary = "elementwise " # text;
  let arguments = (ins tensorType:$input);
  let results = (outs tensorType:$output);
  let assemblyFormat = "$input attr-dict `:` type($output)";
}

// Abs and Neg fold on constants: exported shape arithmetic uses them.
def PMC_AbsOp : PMC_UnaryOp<"abs", PMC_NumericTensor, "absolute value"> {
  let hasFolder = 1;
}
def PMC_NegOp : PMC_UnaryOp<"neg", PMC_NumericTensor, "negation"> {
  let hasFolder = 1;
}
// Relu, Floor and Ceil fold too: exporters' shape arithmetic (Range and
// Resize expansions) computes element counts with them.
def PMC_ReluOp : PMC_UnaryOp<"relu", PMC_NumericTensor, "max(x, 0)"> {
  let hasFolder = 1;
}
def PMC_SqrtOp : PMC_UnaryOp<"sqrt", PMC_FloatTensor, "square root">;
def PMC_ExpOp : PMC_UnaryOp<"exp", PMC_FloatTensor, "exponential">;
def PMC_LogOp : PMC_UnaryOp<"log", PMC_FloatTensor, "natural logarithm">;
def PMC_TanhOp : PMC_UnaryOp<"tanh", PMC_FloatTensor, "hyperbolic tangent">;
def PMC_ErfOp : PMC_UnaryOp<"erf", PMC_FloatTensor, "error function">;
def PMC_SigmoidOp : PMC_UnaryOp<"sigmoid", PMC_FloatTensor, "1 / (1 + exp(-x))">;
def PMC_ReciprocalOp : PMC_UnaryOp<"reciprocal", PMC_FloatTensor, "1 / x">;
def PMC_FloorOp : PMC_UnaryOp<"floor", PMC_FloatTensor, "floor"> {
  let hasFolder = 1;
}
def PMC_CeilOp : PMC_UnaryOp<"ceil", PMC_FloatTensor, "ceiling"> {
  let hasFolder = 1;
}
def PMC_SinOp : PMC_UnaryOp<"sin", PMC_FloatTensor, "sine">;
def PMC_CosOp : PMC_UnaryOp<"cos", PMC_FloatTensor, "cosine">;
def PMC_NotOp : PMC_UnaryOp<"not", PMC_BoolTensor, "logical not"> {
  // Shape computations (Attention's GQA condition) negate constant tests.
  let hasFolder = 1;
}

def PMC_GeluOp : PMC_Op<"gelu", [Pure, Elementwise, SameOperandsAndResultType]> {
  let summary = "elementwise GELU, exact (erf) or with the tanh approximation";
  let arguments = (ins PMC_FloatTensor:$input, UnitAttr:$tanh_approximation);
  let results = (outs PMC_FloatTensor:$output);
  let assemblyFormat = "$input attr-dict `:` type($output)";
}

def PMC_CastOp : PMC_Op<"cast", [Pure, Elementwise, SameOperandsAndResultShape]> {
  let summary = "elementwise conversion to the result's element type";
  let description = [{
    Follows ONNX Cast: float to integer truncates toward zero, to bool is `x != 0`.
    ```mlir
    %i = pmc.cast %x : tensor<4xf32> to tensor<4xi64>
    ```
  }];
  let arguments = (ins PMC_AnyTensor:$input);
  let results = (outs PMC_AnyTensor:$output);
  let assemblyFormat = "$input attr-dict `:` type($input) `to` type($output)";
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Elementwise operators with numpy broadcasting
//===----------------------------------------------------------------------===//

// `resultElementType` is a C++ expression over `lhsElementType`.
class PMC_BroadcastBinaryOp<string mnemonic, Type operandType, string text,
                            string resultElementType = "lhsElementType",
                            list<Trait> traits = [SameOperandsElementType]>
    : PMC_Op<mnemonic, traits # [Pure, InferTypeOpAdaptor]> {
  let summary = "elementwise " # text # " with numpy broadcasting";
  let description = [{
    Shapes broadcast as in numpy: dimensions align from the right, a dimension of 1
    stretches.
    ```mlir
    %z = pmc.}] # mnemonic # [{ %x, %y : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
    ```
  }];
  let arguments = (ins operandType:$lhs, operandType:$rhs);
  let results = (outs PMC_AnyTensor:$output);
  let assemblyFormat = [{
    $lhs `,` $rhs attr-dict `:` `(` type($lhs) `,` type($rhs) `)` `->` type($output)
  }];
  let hasFolder = 1;
  let extraClassDefinition = [{
    ::llvm::LogicalResult $cppClass::inferReturnTypes(::mlir::MLIRContext *context,
        std::optional<::mlir::Location> location, Adaptor adaptor,
        ::llvm::SmallVectorImpl<::mlir::Type> &inferredReturnTypes) {
      auto lhsType = ::llvm::cast<::mlir::RankedTensorType>(adaptor.getLhs().getType());
      ::mlir::Type lhsElementType = lhsType.getElementType();
      (void)lhsElementType;
      return ::mlir::pmc::inferBroadcastType(location,
          {adaptor.getLhs().getType(), adaptor.getRhs().getType()},
          }] # resultElementType # [{, inferredReturnTypes);
    }
  }];
}

class PMC_ArithOp<string mnemonic, Type operandType, string text>
    : PMC_BroadcastBinaryOp<mnemonic, operandType, text>;

def PMC_AddOp : PMC_ArithOp<"add", PMC_NumericTensor, "addition">;
def PMC_SubOp : PMC_ArithOp<"sub", PMC_NumericTensor, "subtraction">;
def PMC_MulOp : PMC_ArithOp<"mul", PMC_NumericTensor, "multiplication">;
def PMC_DivOp : PMC_ArithOp<"div", PMC_NumericTensor,
                            "division (integers truncate toward zero)">;
def PMC_MinOp : PMC_ArithOp<"min", PMC_NumericTensor, "minimum (NaN propagates)">;
def PMC_MaxOp : PMC_ArithOp<"max", PMC_NumericTensor, "maximum (NaN propagates)">;
// Pow keeps the base's element type; the exponent may have another (ONNX Pow).
def PMC_PowOp : PMC_BroadcastBinaryOp<"pow", PMC_NumericTensor, "power",
                                      "lhsElementType", []>;

def PMC_EqualOp : PMC_BroadcastBinaryOp<"equal", PMC_AnyTensor, "equality",
    "::mlir::IntegerType::get(context, 1)">;
def PMC_LessOp : PMC_BroadcastBinaryOp<"less", PMC_NumericTensor, "less-than",
    "::mlir::IntegerType::get(context, 1)">;
def PMC_LessEqualOp : PMC_BroadcastBinaryOp<"less_equal", PMC_NumericTensor,
    "less-or-equal", "::mlir::IntegerType::get(context, 1)">;
def PMC_GreaterOp : PMC_BroadcastBinaryOp<"greater", PMC_NumericTensor,
    "greater-than", "::mlir::IntegerType::get(context, 1)">;
def PMC_GreaterEqualOp : PMC_BroadcastBinaryOp<"greater_equal", PMC_NumericTensor,
    "greater-or-equal", "::mlir::IntegerType::get(context, 1)">;
def PMC_AndOp : PMC_BroadcastBinaryOp<"and", PMC_BoolTensor, "logical and">;
def PMC_OrOp : PMC_BroadcastBinaryOp<"or", PMC_BoolTensor, "logical or">;
def PMC_XorOp : PMC_BroadcastBinaryOp<"xor", PMC_BoolTensor, "logical xor">;

def PMC_WhereOp : PMC_Op<"where", [Pure, InferTypeOpAdaptor]> {
  let summary = "elementwise select with numpy broadcasting of all three operands";
  let description = [{
    ```mlir
    %r = pmc.where %c, %x, %y : (tensor<4xi1>, tensor<4xf32>, tensor<1xf32>) -> tensor<4xf32>
    ```
  }];
  let arguments = (ins PMC_BoolTensor:$condition, PMC_AnyTensor:$on_true,
                       PMC_AnyTensor:$on_false);
  let results = (outs PMC_AnyTensor:$output);
  let assemblyFormat = [{
    $condition `,` $on_true `,` $on_false attr-dict `:`
    `(` type($condition) `,` type($on_true) `,` type($on_false) `)` `->` type($output)
  }];
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Contractions (library calls: BLAS / oneDNN on CPU, cuBLASLt / cuDNN on CUDA)
//===----------------------------------------------------------------------===//

def PMC_MatMulOp : PMC_Op<"matmul", [Pure, InferTypeOpAdaptor, PMC_LibraryCallOpInterface]> {
  let summary = "batched matrix product with numpy batch broadcasting";
  let description = [{
    Both operands have rank >= 2; the last two dimensions multiply, the leading
    ones broadcast. `transpose_a`/`transpose_b` swap an operand's last two
    dimensions first (ONNX Gemm's transA/transB).
    ```mlir
    %y = pmc.matmul %a, %b : (tensor<2x8x16xf32>, tensor<16x4xf32>) -> tensor<2x8x4xf32>
    %z = pmc.matmul %a, %w {transpose_b} : (tensor<8x16xf32>, tensor<4x16xf32>) -> tensor<8x4xf32>
    ```
  }];
  let arguments = (ins PMC_NumericTensor:$lhs, PMC_NumericTensor:$rhs,
                       UnitAttr:$transpose_a, UnitAttr:$transpose_b);
  let results = (outs PMC_NumericTensor:$output);
  let assemblyFormat = [{
    $lhs `,` $rhs attr-dict `:` `(` type($lhs) `,` type($rhs) `)` `->` type($output)
  }];
}

def PMC_ConvOp : PMC_Op<"conv", [Pure, InferTypeOpAdaptor, PMC_LibraryCallOpInterface]> {
  let summary = "N-d grouped convolution, NC(spatial) layout, explicit pads";
  let description = [{
    `pads` holds the begin pads of every spatial dimension, then the end pads
    (ONNX order). The weight is `[M, C/group, k...]`, the bias `[M]`.
    ```mlir
    %y = pmc.conv %x, %w, %b {strides = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>,
           dilations = array<i64: 1, 1>, group = 1 : i64}
         : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>) -> tensor<1x4x8x8xf32>
    ```
  }];
  let arguments = (ins PMC_FloatTensor:$input, PMC_FloatTensor:$weight,
                       Optional<PMC_FloatTensor>:$bias,
                       DenseI64ArrayAttr:$strides, DenseI64ArrayAttr:$pads,
                       DenseI64ArrayAttr:$dilations, I64Attr:$group);
  let results = (outs PMC_FloatTensor:$output);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? attr-dict `:` functional-type(operands, results)
  }];
}

//===----------------------------------------------------------------------===//
// Pooling and reductions
//===----------------------------------------------------------------------===//

class PMC_PoolOp<string mnemonic, string text, dag extraArgs = (ins)>
    : PMC_Op<mnemonic, [Pure, InferTypeOpAdaptor]> {
  let summary = text # " pooling over the spatial dimensions (NC(spatial) layout)";
  let description = [{
    `pads` is begin pads then end pads. With `ceil_mode` the output size rounds up;
    windows that start in the end padding are dropped as ONNX specifies.
    ```mlir
    %y = pmc.}] # mnemonic # [{ %x {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>,
           pads = array<i64: 0, 0, 0, 0>, dilations = array<i64: 1, 1>}
         : (tensor<1x3x8x8xf32>) -> tensor<1x3x4x4xf32>
    ```
  }];
  let arguments = !con((ins PMC_NumericTensor:$input,
                       DenseI64ArrayAttr:$kernel_shape, DenseI64ArrayAttr:$strides,
                       DenseI64ArrayAttr:$pads, DenseI64ArrayAttr:$dilations,
                       UnitAttr:$ceil_mode), extraArgs);
  let results = (outs PMC_NumericTensor:$output);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def PMC_MaxPoolOp : PMC_PoolOp<"max_pool", "max">;
def PMC_AvgPoolOp : PMC_PoolOp<"avg_pool", "average", (ins UnitAttr:$count_include_pad)>;

class PMC_ReduceOp<string mnemonic, string text>
    : PMC_Op<mnemonic, [Pure, InferTypeOpAdaptor, PMC_KeepsF32]> {
  let summary = "reduction (" # text # ") over the listed axes";
  let description = [{
    `axes` are non-negative, sorted and unique; an empty list reduces nothing.
    ```mlir
    %s = pmc.}] # mnemonic # [{ %x {axes = array<i64: 1>, keepdims} : (tensor<2x3xf32>) -> tensor<2x1xf32>
    ```
  }];
  let arguments = (ins PMC_NumericTensor:$input, DenseI64ArrayAttr:$axes,
                       UnitAttr:$keepdims);
  let results = (outs PMC_NumericTensor:$output);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def PMC_ReduceSumOp : PMC_ReduceOp<"reduce_sum", "sum">;
def PMC_ReduceMeanOp : PMC_ReduceOp<"reduce_mean", "mean">;
def PMC_ReduceMaxOp : PMC_ReduceOp<"reduce_max", "maximum">;
def PMC_ReduceMinOp : PMC_ReduceOp<"reduce_min", "minimum">;
def PMC_ReduceProdOp : PMC_ReduceOp<"reduce_prod", "product">;

//===----------------------------------------------------------------------===//
// Normalizations
//===----------------------------------------------------------------------===//

class PMC_SoftmaxLikeOp<string mnemonic, string text>
    : PMC_Op<mnemonic, [Pure, SameOperandsAndResultType, PMC_KeepsF32]> {
  let summary = text # " along one axis";
  let arguments = (ins PMC_FloatTensor:$input, I64Attr:$axis);
  let results = (outs PMC_FloatTensor:$output);
  let assemblyFormat = "$input attr-dict `:` type($output)";
  let hasVerifier = 1;
  let extraClassDefinition = [{
    ::llvm::LogicalResult $cppClass::verify() {
      return ::mlir::pmc::verifyAxisInRange(getOperation(), getAxis(),
                                            getInput().getType().getRank());
    }
  }];
}

def PMC_SoftmaxOp : PMC_SoftmaxLikeOp<"softmax", "softmax">;
def PMC_LogSoftmaxOp : PMC_SoftmaxLikeOp<"log_softmax", "log of softmax">;

def PMC_LayerNormOp : PMC_Op<"layer_norm", [Pure, PMC_KeepsF32]> {
  let summary = "layer normalization over the dimensions from `axis` on";
  let description = [{
    Results: the normalized tensor, then the mean and the inverse standard
    deviation (shape of the input with the normalized dimensions set to 1, element
    type of the statistics as ONNX's `stash_type`).
    ```mlir
    %y, %mean, %inv = pmc.layer_norm %x, %g, %b {axis = 1 : i64, epsilon = 1.0e-05 : f32}
        : (tensor<4x8xf32>, tensor<8xf32>, tensor<8xf32>) -> (tensor<4x8xf32>, tensor<4x1xf32>, tensor<4x1xf32>)
    ```
  }];
  let arguments = (ins PMC_FloatTensor:$input, PMC_FloatTensor:$scale,
                       Optional<PMC_FloatTensor>:$bias, I64Attr:$axis, F32Attr:$epsilon);
  let results = (outs PMC_FloatTensor:$output, PMC_FloatTensor:$mean,
                      PMC_FloatTensor:$inv_std_dev);
  let assemblyFormat = "$input `,` $scale (`,` $bias^)? attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------===//

def PMC_TransposeOp : PMC_Op<"transpose", [Pure, InferTypeOpAdaptor]> {
  let summary = "permutes dimensions: output dim i is input dim perm[i]";
  let arguments = (ins PMC_AnyTensor:$input, DenseI64ArrayAttr:$perm);
  let results = (outs PMC_AnyTensor:$output);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasFolder = 1;
}

def PMC_ReshapeOp : PMC_Op<"reshape", [Pure]> {
  let summary = "same elements in row-major order, another static shape";
  let description = [{
    ONNX Reshape, Flatten, Squeeze and Unsqueeze all import as this op.
    ```mlir
    %y = pmc.reshape %x : tensor<2x3xf32> to tensor<6xf32>
    ```
  }];
  let arguments = (ins PMC_AnyTensor:$input);
  let results = (outs PMC_AnyTensor:$output);
  let assemblyFormat = "$input attr-dict `:` type($input) `to` type($output)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def PMC_BroadcastOp : PMC_Op<"broadcast", [Pure]> {
  let summary = "numpy-broadcasts the input to the result shape (ONNX Expand)";
  let arguments = (ins PMC_AnyTensor:$input);
  let results = (outs PMC_AnyTensor:$output);
  let assemblyFormat = "$input attr-dict `:` type($input) `to` type($output)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def PMC_ConcatOp : PMC_Op<"concat", [Pure, InferTypeOpAdaptor]> {
  let summary = "concatenation along one axis";
  let arguments = (ins Variadic<PMC_AnyTensor>:$inputs, I64Attr:$axis);
  let results = (outs PMC_AnyTensor:$output);
  let assemblyFormat = "$inputs attr-dict `:` functional-type(operands, results)";
  let hasFolder = 1;
}

def PMC_SliceOp : PMC_Op<"slice", [Pure]> {
  let summary = "strided slice: element i of dim d is input[starts[d] + i * steps[d]]";
  let description = [{
    Every dimension has a start in range and a non-zero step (negative steps walk
    backwards); the result shape gives the element counts.
    ```mlir
    %y = pmc.slice %x {starts = array<i64: 0, 3>, steps = array<i64: 1, -1>}
        : tensor<4x4xf32> to tensor<4x2xf32>
    ```
  }];
  let arguments = (ins PMC_AnyTensor:$input, DenseI64ArrayAttr:$starts,
                       DenseI64ArrayAttr:$steps);
  let results = (outs PMC_AnyTensor:$output);
  let assemblyFormat = "$input attr-dict `:` type($input) `to` type($output)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

def PMC_GatherOp : PMC_Op<"gather", [Pure, InferTypeOpAdaptor]> {
  let summary = "ONNX Gather: picks slices of `data` along `axis` by `indices`";
  let description = [{
    The result shape is `data[:axis] + indices + data[axis+1:]`. Negative indices
    count from the end.
    ```mlir
    %e = pmc.gather %table, %ids {axis = 0 : i64}
        : (tensor<100x16xf32>, tensor<2x5xi64>) -> tensor<2x5x16xf32>
    ```
  }];
  let arguments = (ins PMC_AnyTensor:$data, PMC_IndexTensor:$indices, I64Attr:$axis);
  let results = (outs PMC_AnyTensor:$output);
  let assemblyFormat = [{
    $data `,` $indices attr-dict `:` `(` type($data) `,` type($indices) `)` `->` type($output)
  }];
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Operator set extension: more elementwise math, integer bit operations,
// index-producing reductions, padding, scans and element gathers.
// (Kept together at the end so that the core section above stays untouched.)
//===----------------------------------------------------------------------===//

def PMC_IntegerTensor : RankedTensorOf<[PMC_Integer]>;

def PMC_TanOp : PMC_UnaryOp<"tan", PMC_FloatTensor, "tangent">;
def PMC_AsinOp : PMC_UnaryOp<"asin", PMC_FloatTensor, "arcsine">;
def PMC_AcosOp : PMC_UnaryOp<"acos", PMC_FloatTensor, "arccosine">;
def PMC_AtanOp : PMC_UnaryOp<"atan", PMC_FloatTensor, "arctangent">;
def PMC_SinhOp : PMC_UnaryOp<"sinh", PMC_FloatTensor, "hyperbolic sine">;
def PMC_CoshOp : PMC_UnaryOp<"cosh", PMC_FloatTensor, "hyperbolic cosine">;
def PMC_AsinhOp : PMC_UnaryOp<"asinh", PMC_FloatTensor, "inverse hyperbolic sine">;
def PMC_AcoshOp : PMC_UnaryOp<"acosh", PMC_FloatTensor, "inverse hyperbolic cosine">;
def PMC_AtanhOp : PMC_UnaryOp<"atanh", PMC_FloatTensor, "inverse hyperbolic tangent">;
def PMC_RoundOp : PMC_UnaryOp<"round", PMC_FloatTensor,
                              "rounding to the nearest integer, halves to even">;
def PMC_SoftplusOp : PMC_UnaryOp<"softplus", PMC_FloatTensor,
    "log(1 + exp(x)), computed as max(x, 0) + log1p(exp(-|x|)) so that it neither "
    "overflows for large x nor loses small results">;
def PMC_SignOp : PMC_UnaryOp<"sign", PMC_NumericTensor,
                             "sign: -1, 0 or 1 (NaN stays NaN)">;
def PMC_BitwiseNotOp : PMC_UnaryOp<"bitwise_not", PMC_IntegerTensor,
                                   "bitwise complement">;

def PMC_BitwiseAndOp : PMC_BroadcastBinaryOp<"bitwise_and", PMC_IntegerTensor,
                                             "bitwise and"> {
  let hasFolder = 0;
}
def PMC_BitwiseOrOp : PMC_BroadcastBinaryOp<"bitwise_or", PMC_IntegerTensor,
                                            "bitwise or"> {
  let hasFolder = 0;
}
def PMC_BitwiseXorOp : PMC_BroadcastBinaryOp<"bitwise_xor", PMC_IntegerTensor,
                                             "bitwise xor"> {
  let hasFolder = 0;
}

def PMC_BitShiftOp : PMC_Op<"bit_shift", [Pure, SameOperandsElementType,
                                          InferTypeOpAdaptor]> {
  let summary = "elementwise bit shift of integers, with broadcasting";
  let description = [{
    Shifts `lhs` left (with `left`) or right by `rhs` bits (ONNX BitShift); a
    right shift of a signed type is arithmetic. Shifting by the bit width or
    more, or by a negative amount, gives what the sign fill alone gives: -1
    for a right shift of a negative signed value, else 0.
    ```mlir
    %z = pmc.bit_shift %x, %y {left} : (tensor<3xui8>, tensor<3xui8>) -> tensor<3xui8>
    ```
  }];
  let arguments = (ins PMC_IntegerTensor:$lhs, PMC_IntegerTensor:$rhs, UnitAttr:$left);
  let results = (outs PMC_IntegerTensor:$output);
  let assemblyFormat = [{
    $lhs `,` $rhs attr-dict `:` `(` type($lhs) `,` type($rhs) `)` `->` type($output)
  }];
}

def PMC_ModOp : PMC_Op<"mod", [Pure, SameOperandsElementType, InferTypeOpAdaptor]> {
  let summary = "elementwise remainder with broadcasting (ONNX Mod)";
  let description = [{
    Without `fmod` the result takes the divisor's sign (Python `%`); with `fmod`
    it takes the dividend's sign (C `fmod`). An integer remainder by zero is 0.
    ```mlir
    %r = pmc.mod %x, %y {fmod} : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    ```
  }];
  let arguments = (ins PMC_NumericTensor:$lhs, PMC_NumericTensor:$rhs, UnitAttr:$fmod);
  let results = (outs PMC_NumericTensor:$output);
  let assemblyFormat = [{
    $lhs `,` $rhs attr-dict `:` `(` type($lhs) `,` type($rhs) `)` `->` type($output)
  }];
  let hasFolder = 1;
}

class PMC_ArgReduceOp<string mnemonic, string text>
    : PMC_Op<mnemonic, [Pure, InferTypeOpAdaptor]> {
  let summary = "index (i64) of the " # text # " along one axis";
  let description = [{
    Ties resolve to the first index, or the last with `select_last_index`.
    ```mlir
    %i = pmc.}] # mnemonic # [{ %x {axis = 1 : i64, keepdims} : (tensor<2x3xf32>) -> tensor<2x1xi64>
    ```
  }];
  let arguments = (ins PMC_NumericTensor:$input, I64Attr:$axis, UnitAttr:$keepdims,
                       UnitAttr:$select_last_index);
  let results = (outs RankedTensorOf<[I64]>:$output);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def PMC_ArgMaxOp : PMC_ArgReduceOp<"arg_max", "largest element">;
def PMC_ArgMinOp : PMC_ArgReduceOp<"arg_min", "smallest element">;

def PMC_PadOp : PMC_Op<"pad", [Pure, InferTypeOpAdaptor]> {
  let summary = "pads (or, with negative pads, crops) every dimension";
  let description = [{
    `pads` holds the begin pads of every dimension, then the end pads. `mode` is
    `constant` (the 0-d `value` operand, 0 when absent), `reflect` (mirror
    without repeating the edge), `edge` (repeat the edge) or `wrap` (periodic).
    ```mlir
    %y = pmc.pad %x, %v {pads = array<i64: 0, 1, 0, 2>, mode = "constant"}
        : (tensor<2x3xf32>, tensor<f32>) -> tensor<2x6xf32>
    ```
  }];
  let arguments = (ins PMC_AnyTensor:$input, Optional<PMC_AnyTensor>:$value,
                       DenseI64ArrayAttr:$pads, StrAttr:$mode);
  let results = (outs PMC_AnyTensor:$output);
  let assemblyFormat = [{
    $input (`,` $value^)? attr-dict `:` functional-type(operands, results)
  }];
  let extraClassDeclaration = [{
    /// The input position that position `j` (the output position less the
    /// begin pad) of a dim of `size` reads in `mode` reflect, edge or wrap:
    /// the map the kernels compute (PMCToLinalg/Indexing.cpp) and the
    /// gradient sums back through.
    static int64_t sourceIndex(::llvm::StringRef mode, int64_t j, int64_t size);
  }];
}

class PMC_CumulativeOp<string mnemonic, string text, string identity>
    : PMC_Op<mnemonic, [Pure, SameOperandsAndResultType, PMC_KeepsF32]> {
  let summary = "cumulative " # text # " along one axis";
  let description = [{
    With `exclusive` element i combines the elements before i only (the first
    is }] # identity # [{); with `reverse` it runs from the end. The elements
    combine in order along the axis.
    ```mlir
    %y = pmc.}] # mnemonic # [{ %x {axis = 0 : i64, reverse} : tensor<5xf32>
    ```
  }];
  let arguments = (ins PMC_NumericTensor:$input, I64Attr:$axis, UnitAttr:$exclusive,
                       UnitAttr:$reverse);
  let results = (outs PMC_NumericTensor:$output);
  let assemblyFormat = "$input attr-dict `:` type($output)";
  let hasVerifier = 1;
  let extraClassDefinition = [{
    ::llvm::LogicalResult $cppClass::verify() {
      return ::mlir::pmc::verifyAxisInRange(getOperation(), getAxis(),
                                            getInput().getType().getRank());
    }
  }];
}

def PMC_CumSumOp : PMC_CumulativeOp<"cumsum", "sum", "0">;
def PMC_CumProdOp : PMC_CumulativeOp<"cumprod", "product", "1">;

def PMC_GatherElementsOp : PMC_Op<"gather_elements", [Pure, InferTypeOpAdaptor]> {
  let summary = "ONNX GatherElements: out[i] = data[i with i[axis] = indices[i]]";
  let description = [{
    `indices` has the rank of `data`; the result has the shape of `indices`.
    Negative indices count from the end.
    ```mlir
    %y = pmc.gather_elements %d, %i {axis = 1 : i64}
        : (tensor<2x2xf32>, tensor<2x2xi64>) -> tensor<2x2xf32>
    ```
  }];
  let arguments = (ins PMC_AnyTensor:$data, PMC_IndexTensor:$indices, I64Attr:$axis);
  let results = (outs PMC_AnyTensor:$output);
  let assemblyFormat = [{
    $data `,` $indices attr-dict `:` `(` type($data) `,` type($indices) `)` `->` type($output)
  }];
}

def PMC_TransferOp : PMC_Op<"transfer", [SameOperandsAndResultType]> {
  let summary = "moves a value from one pipeline stage to another";
  let description = [{
    Inserted by `--pmc-split-stages` for every value computed by stage
    `from_stage` and used by stage `to_stage` (one per value and destination
    stage; docs/design/pipeline.md): a later stage, or in a train step also an
    earlier one (the backward flows back). The op carries `pmc.stage = to_stage`. In
    the bundle it becomes a `send` command in the programs of `from_stage` and a
    `recv` command in those of `to_stage`, with the same tag. The type is the
    microbatch-local (per-rank) type on both sides.
    ```mlir
    %y = pmc.transfer %x {from_stage = 0 : i64, to_stage = 1 : i64, pmc.stage = 1 : i64}
        : tensor<4x64xf32>
    ```
  }];
  let arguments = (ins PMC_AnyTensor:$input, I64Attr:$from_stage, I64Attr:$to_stage);
  let results = (outs PMC_AnyTensor:$output);
  let assemblyFormat = "$input attr-dict `:` type($output)";
  let hasVerifier = 1;
}

def PMC_RandomUniformOp : PMC_Op<"random_uniform", [Pure, PMC_KeepsF32]> {
  let summary = "counter-based uniform random numbers in [0, 1)";
  let description = [{
    Element `i` (row-major linear index over the whole result) is drawn by
    Philox-4x32-10 (Salmon et al., SC'11) keyed by `key`, at the counter
    (i, `offset`): the first 32-bit word `w` of the draw gives
    (w >> 8) * 2^-24. The value is a function of (key, offset, i) alone, so
    a recomputation replays it, every plan draws what one device draws, and a
    new `offset` (the train step: Dropout in training) draws new numbers.
    `offset` is a scalar (a float is truncated to an unsigned integer).
    ```mlir
    %u = pmc.random_uniform %step {key = 42 : i64} : (tensor<f32>) -> tensor<4x8xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[AnyFloat, AnySignlessInteger]>:$offset, I64Attr:$key);
  let results = (outs RankedTensorOf<[F32]>:$output);
  let assemblyFormat = "$offset attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

#endif // PMC_OPS_TD
