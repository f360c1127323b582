//===- ImporterImpl.h - internals shared by the ONNX importer's files -*- C++ -*-===//
#ifndef PMC_LIB_IMPORT_ONNX_IMPORTERIMPL_H
#define PMC_LIB_IMPORT_ONNX_IMPORTERIMPL_H

#include "onnx/onnx_pb.h"
#include "pmc/Dialect/PMC/IR/PMCOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/ADT/StringSet.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/SmallVector.h"

#include <optional>
#include <string>

namespace pmc::onnx_import {

/// The newest opset of the default domain the importer reads.
constexpr int64_t kMaxOpset = 28;

/// The domain of the optimizer operators (Momentum, Adagrad, Adam); they are
/// registered as "ai.onnx.preview.training.<op type>" (TrainingImporters.cpp),
/// so that no default-domain operator of the same name can be taken for them.
constexpr const char *kTrainingDomain = "ai.onnx.preview.training";

/// The most elements a constant the importer builds itself may have (index
/// tensors of Hardmax, OneHot, EyeLike, Trilu, Range): a larger one is an error.
constexpr int64_t kMaxFoldedElements = int64_t(1) << 24;

/// The most elements a tensor of the model may have: shape arithmetic
/// (element counts, offsets) then cannot overflow int64.
constexpr int64_t kMaxTensorElements = int64_t(1) << 40;

/// Tensors with at most this many elements import as `DenseElementsAttr` (so
/// folders can read them); larger ones become dense resource blobs.
constexpr int64_t kMaxDenseElements = 1024;

/// The MLIR element type of an ONNX `TensorProto::DataType`, or null.
mlir::Type convertElementType(mlir::MLIRContext &context, int32_t onnxType);

/// "FLOAT", "STRING", ...: the ONNX name of a data type, for messages.
std::string onnxTypeName(int32_t onnxType);

/// Reads an initializer or a Constant's tensor into an elements attribute.
/// Large `raw_data` is moved out of `tensor` into a resource blob, external data
/// (resolved against `modelDir`, which it may not leave) is memory-mapped.
/// Errors are reported through `emitError` and name the tensor.
mlir::FailureOr<mlir::ElementsAttr>
readTensor(onnx::TensorProto &tensor, llvm::StringRef modelDir,
           mlir::MLIRContext &context,
           llvm::function_ref<mlir::InFlightDiagnostic()> emitError);

class OpImporterRegistry;

// --- Sequences and optionals ---------------------------------------------------
// pmc programs hold tensors only. An ONNX sequence has a length known at
// compile time here, so while importing it is the list of its element values:
// a `builtin.unrealized_conversion_cast` of the elements to a `tuple<...>`,
// with the element type in the attribute `pmc.sequence_element`. An optional
// is its value, or (empty) a cast of nothing to `none`. Sequence operators
// read the casts' operands; every cast is dead once the graph is imported and
// is erased with the other dead ops (SequenceImporters.cpp).

/// A sequence of `elements` (all of `elementType`).
mlir::Value buildSequence(mlir::OpBuilder &b, mlir::Location loc,
                          mlir::ValueRange elements, mlir::Type elementType);
/// An empty optional.
mlir::Value buildEmptyOptional(mlir::OpBuilder &b, mlir::Location loc);
bool isSequence(mlir::Value v);
bool isEmptyOptional(mlir::Value v);
/// The elements of a sequence value.
llvm::SmallVector<mlir::Value> sequenceElements(mlir::Value sequence);
/// The element type (a tensor's element type) of a sequence value.
mlir::Type sequenceElementType(mlir::Value sequence);

/// Imports a subgraph (an If branch, a Loop or Scan body) inline at the
/// builder's insertion point: its inputs are bound to `graphInputs`, names of
/// the enclosing graphs stay visible, and its outputs are returned. `prefix`
/// names the nodes' locations ("loop/body#3").
class SubgraphImporter {
public:
  virtual ~SubgraphImporter() = default;
  virtual mlir::FailureOr<llvm::SmallVector<mlir::Value>>
  importInline(const onnx::GraphProto &graph, mlir::ValueRange graphInputs,
               llvm::StringRef prefix) = 0;
  /// Training (ImportOptions::trainInitializers): the train step's counter,
  /// the f32 scalar argument `pmc.step` that seeds Dropout's masks; null
  /// when the model is imported for inference.
  virtual mlir::Value trainingStep() const { return {}; }
};

inline mlir::RankedTensorType tensorType(mlir::Value v) {
  return llvm::cast<mlir::RankedTensorType>(v.getType());
}
inline llvm::ArrayRef<int64_t> shapeOf(mlir::Value v) { return tensorType(v).getShape(); }
inline mlir::Type elementOf(mlir::Value v) { return tensorType(v).getElementType(); }
inline int64_t product(llvm::ArrayRef<int64_t> dims) {
  int64_t n = 1;
  for (int64_t d : dims)
    n *= d;
  return n;
}

/// Chains fallible steps: `TRY(v, expr)` declares `v` or returns failure.
#define TRY(var, expr)                                                         \
  auto var##OrFailure = (expr);                                                \
  if (failed(var##OrFailure))                                                  \
    return failure();                                                          \
  mlir::Value var = *var##OrFailure;

/// Imports one ONNX node: reads its inputs and attributes, builds pmc ops at the
/// builder's insertion point and records one value per ONNX output.
class NodeImporter {
public:
  NodeImporter(mlir::OpBuilder &builder, mlir::Location loc,
               const onnx::NodeProto &node, std::string name, int64_t opset,
               llvm::SmallVector<mlir::Value> inputs,
               llvm::SmallVector<std::string> graphInputNames,
               llvm::StringRef modelDir, SubgraphImporter *subgraphs = nullptr)
      : b(builder), loc(loc), node(node), name(std::move(name)), opset(opset),
        inputs(std::move(inputs)), graphInputNames(std::move(graphInputNames)),
        modelDir(modelDir), subgraphs(subgraphs), outputs(node.output_size()) {}

  /// Imports the node with the registry's importer for its op type and
  /// opset (OpRegistry.h); on failure a diagnostic has been emitted.
  mlir::LogicalResult run();
  /// Fails naming the first attribute of the node the importer did not ask
  /// for: pmc never ignores an attribute it does not implement.
  mlir::LogicalResult checkAttributesUnderstood();

  /// Registers the importers of every operator family (one function per
  /// family file); OpRegistry.cpp calls it once.
  static void registerImporters(OpImporterRegistry &r);

  /// One value per ONNX output (null for outputs the node leaves unnamed).
  llvm::ArrayRef<mlir::Value> getOutputs() const { return outputs; }

  /// "node 'name' (OpType, opset N): " followed by the caller's message.
  mlir::InFlightDiagnostic error();

private:
  // --- Operands and attributes ------------------------------------------------
  /// Input `i`, or null when absent (optional inputs may be given as "").
  mlir::Value input(unsigned i) const {
    return i < inputs.size() ? inputs[i] : mlir::Value();
  }
  /// Fails unless inputs [0, count) are all present.
  mlir::LogicalResult requireInputs(unsigned count);
  /// Fails unless the node has at least one input and none is empty: a
  /// variadic input list (Max, Min, Sum, Mean, Concat) has no optional entry.
  mlir::LogicalResult requireVariadicInputs();
  /// The attribute `attrName`, or null. Every attribute the importer asks for
  /// counts as understood; run() rejects a node with any other attribute.
  const onnx::AttributeProto *attr(llvm::StringRef attrName) const;
  /// Marks `attrName` as understood without reading it: an attribute that
  /// cannot change what pmc computes (say why at the call).
  void acceptAttribute(llvm::StringRef attrName) const { understood.insert(attrName); }
  int64_t getInt(llvm::StringRef attrName, int64_t defaultValue) const;
  float getFloat(llvm::StringRef attrName, float defaultValue) const;
  std::string getString(llvm::StringRef attrName, llvm::StringRef defaultValue) const;
  std::optional<llvm::SmallVector<int64_t>> getInts(llvm::StringRef attrName) const;

  /// The constant value of input `i` as integers (a shape operand), with an
  /// error naming the operand when it is not a compile-time constant.
  mlir::FailureOr<llvm::SmallVector<int64_t>> constInts(unsigned i,
                                                        llvm::StringRef what);
  /// Appends to `diag` which graph inputs `v` is computed from, so that the
  /// user can bind them (or that it is computed at run time).
  void explainNotConstant(mlir::InFlightDiagnostic &diag, mlir::Value v);
  /// The constant value of input `i`, or failure with the same error.
  mlir::FailureOr<mlir::DenseElementsAttr> constAttr(unsigned i,
                                                     llvm::StringRef what);
  /// Resolves a possibly negative axis against `rank`.
  /// The reduced axes of a Reduce* node (attribute or input 1, by opset),
  /// normalized, sorted and unique; all axes when none are given, except with
  /// noop_with_empty_axes, which gives none.
  mlir::FailureOr<llvm::SmallVector<int64_t>> reductionAxes(int64_t rank);
  mlir::FailureOr<int64_t> normalizeAxis(int64_t axis, int64_t rank,
                                         llvm::StringRef what);
  /// `axes` resolved against `rank` (errors name the axis), sorted, unique.
  mlir::FailureOr<llvm::SmallVector<int64_t>> normalizeAxes(llvm::SmallVector<int64_t> axes,
                                                            int64_t rank);

  // --- Building ----------------------------------------------------------------
  /// Builds an op whose result types are inferred; verifies and folds it.
  /// Returns its results (or what they folded to).
  template <typename OpTy>
  mlir::FailureOr<llvm::SmallVector<mlir::Value>>
  buildInferred(mlir::ValueRange operands,
                llvm::ArrayRef<mlir::NamedAttribute> attrs = {});
  template <typename OpTy>
  mlir::FailureOr<mlir::Value> inferred(mlir::ValueRange operands,
                                        llvm::ArrayRef<mlir::NamedAttribute> attrs = {}) {
    auto results = buildInferred<OpTy>(operands, attrs);
    if (mlir::failed(results))
      return mlir::failure();
    return (*results)[0];
  }
  /// Builds an op with the given result types; verifies and folds it.
  mlir::FailureOr<llvm::SmallVector<mlir::Value>>
  buildTyped(llvm::StringRef opName, mlir::TypeRange resultTypes,
             mlir::ValueRange operands,
             llvm::ArrayRef<mlir::NamedAttribute> attrs = {});
  template <typename OpTy>
  mlir::FailureOr<mlir::Value> typed(mlir::Type resultType, mlir::ValueRange operands,
                                     llvm::ArrayRef<mlir::NamedAttribute> attrs = {}) {
    auto results = buildTyped(OpTy::getOperationName(), resultType, operands, attrs);
    if (mlir::failed(results))
      return mlir::failure();
    return (*results)[0];
  }
  /// Fails with an error naming the node when an operand is null (an input
  /// the node left empty that the operator needs): never build with it.
  mlir::LogicalResult checkOperands(mlir::ValueRange operands);
  /// Verifies a freshly built op (errors get the node prefix) and folds it.
  mlir::FailureOr<llvm::SmallVector<mlir::Value>> finish(mlir::Operation *op);

  mlir::FailureOr<mlir::Value> reshape(mlir::Value v, llvm::ArrayRef<int64_t> shape);
  mlir::FailureOr<mlir::Value> unary(llvm::StringRef opName, mlir::Value v);
  mlir::Value constant(mlir::DenseElementsAttr value);
  mlir::Value scalar(mlir::Type elementType, double value);
  mlir::Value i64Tensor(llvm::ArrayRef<int64_t> values);

  mlir::LogicalResult setOutput(unsigned i, mlir::FailureOr<mlir::Value> v);

  // --- Operator families (one file each; each registers its operators) -------
  static void registerElementwiseImporters(OpImporterRegistry &r);
  static void registerShapeImporters(OpImporterRegistry &r);
  static void registerDataMovementImporters(OpImporterRegistry &r);
  static void registerMatMulImporters(OpImporterRegistry &r);
  static void registerNormalizationImporters(OpImporterRegistry &r);
  static void registerReductionImporters(OpImporterRegistry &r);
  static void registerConvImporters(OpImporterRegistry &r);
  static void registerAttentionImporters(OpImporterRegistry &r);
  static void registerRotaryEmbeddingImporters(OpImporterRegistry &r);
  static void registerResizeImporters(OpImporterRegistry &r);
  static void registerLossImporters(OpImporterRegistry &r);
  static void registerControlFlowImporters(OpImporterRegistry &r);
  static void registerSpectralImporters(OpImporterRegistry &r);
  static void registerTfIdfVectorizerImporters(OpImporterRegistry &r);
  static void registerAffineGridImporters(OpImporterRegistry &r);
  static void registerRecurrentImporters(OpImporterRegistry &r);
  static void registerQuantizationImporters(OpImporterRegistry &r);
  static void registerTopKImporters(OpImporterRegistry &r);
  static void registerScatterImporters(OpImporterRegistry &r);
  static void registerEinsumImporters(OpImporterRegistry &r);
  static void registerGridSampleImporters(OpImporterRegistry &r);
  static void registerTrainingImporters(OpImporterRegistry &r);
  static void registerDataDependentImporters(OpImporterRegistry &r);
  static void registerDeterminantImporters(OpImporterRegistry &r);
  static void registerSequenceImporters(OpImporterRegistry &r);

  // ElementwiseImporters.cpp
  mlir::LogicalResult importUnary(llvm::StringRef opName);
  mlir::LogicalResult importIdentity();
  mlir::LogicalResult importElementwise(llvm::StringRef opType);
  mlir::LogicalResult importVariadic(llvm::StringRef opName);
  mlir::LogicalResult importCast();
  mlir::LogicalResult importCastLike();
  mlir::LogicalResult importGelu();
  mlir::LogicalResult importClip();
  /// Activations and elementwise math built from pmc ops (exact
  /// decompositions) or the extension's unary ops.
  mlir::LogicalResult importActivation(llvm::StringRef opType);
  mlir::LogicalResult importIsInf();
  mlir::LogicalResult importSumMean(bool mean);
  mlir::LogicalResult importBinaryExtension(llvm::StringRef opType);
  // ShapeImporters.cpp
  mlir::LogicalResult importConstant();
  mlir::LogicalResult importConstantOfShape();
  mlir::LogicalResult importShape();
  mlir::LogicalResult importSize();
  mlir::LogicalResult importRange();
  mlir::LogicalResult importOneHot();
  mlir::LogicalResult importEyeLike();
  // DataMovementImporters.cpp
  mlir::LogicalResult importReshape();
  mlir::LogicalResult importTranspose();
  mlir::LogicalResult importFlatten();
  mlir::LogicalResult importSqueeze(bool unsqueeze);
  mlir::LogicalResult importConcat();
  mlir::LogicalResult importSplit();
  mlir::LogicalResult importSlice();
  mlir::LogicalResult importGather();
  mlir::LogicalResult importExpand();
  mlir::LogicalResult importTile();
  mlir::LogicalResult importPad();
  mlir::LogicalResult importTrilu();
  mlir::LogicalResult importDepthSpace(bool toSpace);
  mlir::LogicalResult importGatherElements();
  mlir::LogicalResult importGatherND();
  mlir::LogicalResult importDropout();
  mlir::LogicalResult importReverseSequence();
  // MatMulImporters.cpp
  mlir::LogicalResult importMatMul();
  mlir::LogicalResult importGemm();
  // NormalizationImporters.cpp
  mlir::LogicalResult importSoftmax(bool log);
  mlir::LogicalResult importHardmax();
  mlir::LogicalResult importLayerNorm();
  mlir::LogicalResult importBatchNorm();
  mlir::LogicalResult importInstanceNorm();
  mlir::LogicalResult importGroupNorm();
  mlir::LogicalResult importLpNorm();
  mlir::LogicalResult importMeanVarianceNorm();
  mlir::LogicalResult importRMSNorm();
  /// Normalizes layer_norm over dims [axis, rank) with unit scale (statistics
  /// in the input's type); the helper of the normalization importers.
  mlir::FailureOr<mlir::Value> normalize(mlir::Value x, int64_t axis, float epsilon);
  // ReductionImporters.cpp
  mlir::LogicalResult importReduce(llvm::StringRef opName);
  mlir::LogicalResult importReduceExtension(llvm::StringRef opType);
  mlir::LogicalResult importArgReduce(bool max);
  mlir::LogicalResult importCumSum();
  /// CumSum or, with `product`, CumProd (opset 26).
  mlir::LogicalResult importCumulative(bool product);
  // ConvImporters.cpp (ConvTranspose: ConvTransposeImporter.cpp, as a
  // pmc.conv of the zero-spread input)
  mlir::LogicalResult importConv();
  mlir::LogicalResult importConvTranspose();
  mlir::FailureOr<mlir::Value> convTransposeKernel(mlir::Value w, int64_t group,
                                                   llvm::ArrayRef<int64_t> kernel);
  mlir::FailureOr<mlir::Value> spreadInput(mlir::Value x, llvm::ArrayRef<int64_t> strides,
                                           mlir::Value zero);
  mlir::LogicalResult importPool(bool max, bool lp = false);
  mlir::LogicalResult importGlobalPool(bool max);
  mlir::LogicalResult importLRN();
  // AttentionImporter.cpp
  mlir::LogicalResult importAttention();
  /// [B, S, heads*D] -> [B, heads, S, D]; `what` names the input in errors.
  mlir::FailureOr<mlir::Value> splitHeads(mlir::Value x, int64_t heads, llvm::StringRef what);
  // LossImporters.cpp
  /// NegativeLogLikelihoodLoss or, with `softmax`, SoftmaxCrossEntropyLoss.
  mlir::LogicalResult importClassificationLoss(bool softmax);
  // ControlFlowImporters.cpp
  mlir::LogicalResult importIf();
  mlir::LogicalResult importLoop();
  mlir::LogicalResult importScan();
  /// The graph attribute `attrName` (an error when absent).
  mlir::FailureOr<const onnx::GraphProto *> graphAttr(llvm::StringRef attrName);
  /// Imports `graph` inline with its inputs bound to `graphInputs` (types
  /// checked against its declarations); `what` names it in errors.
  mlir::FailureOr<llvm::SmallVector<mlir::Value>>
  importSubgraph(const onnx::GraphProto &graph, mlir::ValueRange graphInputs,
                 llvm::StringRef what);
  /// The value of a one-element bool that folded to a constant; failure
  /// without a diagnostic when it is not constant.
  mlir::FailureOr<bool> constantCondition(mlir::Value cond, llvm::StringRef what);
  /// `values` stacked along a new dim `axis` (Unsqueeze + Concat).
  mlir::FailureOr<mlir::Value> stack(llvm::ArrayRef<mlir::Value> values, int64_t axis);
  /// Element `index` of dim `axis`, that dim removed.
  mlir::FailureOr<mlir::Value> takeIndex(mlir::Value v, int64_t axis, int64_t index);
  // AffineGridImporter.cpp
  mlir::LogicalResult importAffineGrid();
  // TfIdfVectorizerImporter.cpp
  mlir::LogicalResult importTfIdfVectorizer();
  // SpectralImporters.cpp
  mlir::LogicalResult importDFT();
  mlir::LogicalResult importSTFT();
  /// HannWindow, HammingWindow or BlackmanWindow of a constant size.
  mlir::LogicalResult importWindow(llvm::StringRef opType);
  mlir::LogicalResult importMelWeightMatrix();
  /// The DFT of (real, imag) along `axis` (imag may be null: a real signal)
  /// with transform length `n`; the imaginary result is null for the
  /// one-sided inverse, whose output is real.
  mlir::FailureOr<std::pair<mlir::Value, mlir::Value>>
  applyDft(mlir::Value real, mlir::Value imag, int64_t axis, int64_t n, bool inverse,
           bool onesided);
  /// [..., 1 or 2] into its real and imaginary parts (imag null for 1).
  mlir::FailureOr<std::pair<mlir::Value, mlir::Value>> splitComplex(mlir::Value x);
  /// The inverse of splitComplex.
  mlir::FailureOr<mlir::Value> joinComplex(mlir::Value real, mlir::Value imag);
  /// The element type named by the output_datatype attribute (default FLOAT).
  mlir::FailureOr<mlir::Type> outputDatatype();
  /// A constant of `elementType` holding `values` (computed in double).
  mlir::FailureOr<mlir::Value> floatConstant(llvm::ArrayRef<int64_t> shape,
                                             llvm::ArrayRef<double> values,
                                             mlir::Type elementType);
  /// As floatConstant, for integer types too (values truncated).
  mlir::FailureOr<mlir::Value> typedConstant(llvm::ArrayRef<int64_t> shape,
                                             llvm::ArrayRef<double> values,
                                             mlir::Type type);
  // RecurrentImporters.cpp
  /// RNN, GRU or LSTM (`opType`), unrolled over the static sequence length,
  /// sequence_lens applied as per-row masks.
  mlir::LogicalResult importRecurrent(llvm::StringRef opType);
  // QuantizationImporters.cpp
  mlir::LogicalResult importQuantizeLinear();
  mlir::LogicalResult importDequantizeLinear();
  mlir::LogicalResult importDynamicQuantizeLinear();
  mlir::LogicalResult importMatMulInteger();
  mlir::LogicalResult importConvInteger();
  mlir::LogicalResult importQLinearMatMul();
  mlir::LogicalResult importQLinearConv();
  /// `v` converted to element type `t` (itself when it has it; null stays null).
  mlir::FailureOr<mlir::Value> castElements(mlir::Value v, mlir::Type t);
  /// A scale or zero point made to broadcast against an input of `shape`:
  /// per tensor (one element), per axis (1-D along `axis`) or blocked
  /// (`blockSize` > 0: repeated along `axis`, the last block cut).
  mlir::FailureOr<mlir::Value> quantParam(mlir::Value p, llvm::ArrayRef<int64_t> shape,
                                          int64_t axis, int64_t blockSize,
                                          llvm::StringRef what);
  /// A zero point or scale of a matrix operand: per tensor, per row of `a`
  /// (`perRow`) or per column of `b`, reshaped to broadcast against it.
  mlir::FailureOr<mlir::Value> matmulParam(mlir::Value p, mlir::Value operand, bool perRow,
                                           llvm::StringRef what);
  mlir::FailureOr<mlir::Value> perTensor(mlir::Value p, llvm::StringRef what);
  /// A scalar, or [M] of a conv weight [M, ...] reshaped to rank `rank` along dim 0.
  mlir::FailureOr<mlir::Value> perOutputChannel(mlir::Value p, mlir::Value w, int64_t rank,
                                                llvm::StringRef what);
  mlir::LogicalResult checkScales(llvm::ArrayRef<mlir::Value> scales);
  /// f64(v) - f64(zp) (zp may be null): exact for integer operands.
  mlir::FailureOr<mlir::Value> centered(mlir::Value v, mlir::Value zp);
  /// Integer-valued float q: clamp(q + zp) to `out`'s range, NaN to its minimum, cast.
  mlir::FailureOr<mlir::Value> saturate(mlir::Value q, mlir::Value zp, mlir::Type out);
  /// Exact float64 integers to int32 (through int64, wrapping as int32 sums).
  mlir::FailureOr<mlir::Value> exactToInt32(mlir::Value acc);
  /// (inScale * weightScale) / outScale in float32.
  mlir::FailureOr<mlir::Value> requantScale(mlir::Value inScale, mlir::Value weightScale,
                                            mlir::Value outScale);
  /// saturate(round(f32(int32 acc) * f32(multiplier)) + zp).
  mlir::FailureOr<mlir::Value> requantize(mlir::Value acc, mlir::Value multiplier,
                                          mlir::Value zp, mlir::Type out);
  /// The float64 matmul / conv of centered integers (numpy vectors; the
  /// node's conv attributes).
  mlir::FailureOr<mlir::Value> integerMatMul(mlir::Value a, mlir::Value b);
  mlir::FailureOr<mlir::Value> integerConv(mlir::Value x, mlir::Value w, mlir::Value bias);
  // TopKImporter.cpp
  mlir::LogicalResult importTopK();
  /// A 0-d constant: the lowest (or highest) value of `elementType` (-inf and
  /// +inf for floats, the integer range's ends otherwise).
  mlir::Value extremeScalar(mlir::Type elementType, bool lowest);
  // ScatterImporters.cpp
  mlir::LogicalResult importScatterElements();
  mlir::LogicalResult importScatterND();
  /// The `reduction` attribute of a scatter (none before opset 16), checked
  /// against what the opset allows.
  mlir::FailureOr<std::string> scatterReduction(mlir::Type elementType);
  /// `data` combined (add, mul, max, min) with the reduction over dim `axis`
  /// of where(mask, updates, identity).
  mlir::FailureOr<mlir::Value> scatterCombine(llvm::StringRef reduction, mlir::Value data,
                                              mlir::Value mask, mlir::Value updates,
                                              int64_t axis);
  /// i64 indices, negative ones plus `sizes` (broadcast against them).
  mlir::FailureOr<mlir::Value> wrapIndices(mlir::Value indices, mlir::Value sizes);
  // EinsumImporter.cpp
  mlir::LogicalResult importEinsum();
  // DataDependentImporters.cpp
  mlir::LogicalResult importCompress();
  mlir::LogicalResult importNonZero();
  mlir::LogicalResult importMaxUnpool();
  // DeterminantImporter.cpp
  mlir::LogicalResult importDet();
  // SequenceImporters.cpp
  mlir::LogicalResult importSequenceConstruct();
  mlir::LogicalResult importSequenceEmpty();
  mlir::LogicalResult importSequenceInsert();
  mlir::LogicalResult importSequenceAt();
  mlir::LogicalResult importSequenceErase();
  mlir::LogicalResult importSequenceLength();
  mlir::LogicalResult importSplitToSequence();
  mlir::LogicalResult importConcatFromSequence();
  mlir::LogicalResult importSequenceMap();
  mlir::LogicalResult importOptional();
  mlir::LogicalResult importOptionalHasElement();
  mlir::LogicalResult importOptionalGetElement();
  /// The elements of input `i`, or an error naming it when it is not a
  /// sequence.
  mlir::FailureOr<llvm::SmallVector<mlir::Value>> sequenceInput(unsigned i);
  /// The constant position operand `i` of a sequence of `length` elements,
  /// resolved (negative counts from the end) against [0, length] when
  /// `forInsert`, [0, length) otherwise; `fallback` when the input is absent.
  mlir::FailureOr<int64_t> sequencePosition(unsigned i, int64_t length, bool forInsert,
                                            int64_t fallback);
  /// Dims [start, start + size) of `v` along `axis`.
  mlir::FailureOr<mlir::Value> sliceAxis(mlir::Value v, int64_t axis, int64_t start,
                                         int64_t size);
  // GridSampleImporter.cpp
  mlir::LogicalResult importGridSample();
  // TrainingImporters.cpp
  /// Momentum, Adagrad or Adam (`opType`) of ai.onnx.preview.training.
  mlir::LogicalResult importOptimizer(llvm::StringRef opType);
  // RotaryEmbeddingImporter.cpp
  mlir::LogicalResult importRotaryEmbedding();
  // ResizeImporter.cpp
  /// Resize (opsets 10-19) or, with `upsample`, Upsample (7, 9): per-axis
  /// resampling matrices applied as gathers or matmuls.
  mlir::LogicalResult importResize(bool upsample);
  /// An i64 tensor 0..n-1 laid along dim `axis` of a rank-`rank` shape (other
  /// dims 1), for comparisons against indices.
  /// Fails, naming the size, above kMaxFoldedElements.
  mlir::FailureOr<mlir::Value> iota(int64_t n, int64_t axis, int64_t rank);

  /// Explicit [begin..., end...] pads of a window op from pads/auto_pad.
  mlir::FailureOr<llvm::SmallVector<int64_t>>
  windowPads(llvm::ArrayRef<int64_t> spatialIn, llvm::ArrayRef<int64_t> kernel,
             llvm::ArrayRef<int64_t> strides, llvm::ArrayRef<int64_t> dilations);

  mlir::OpBuilder &b;
  mlir::Location loc;
  const onnx::NodeProto &node;
  /// The attributes the importer asked for (attr(), acceptAttribute()).
  mutable llvm::StringSet<> understood;
  std::string name;
  int64_t opset;
  llvm::SmallVector<mlir::Value> inputs;
  /// Graph input names that feed the func arguments, by argument number.
  llvm::SmallVector<std::string> graphInputNames;
  llvm::StringRef modelDir;
  /// Imports If branches and Loop/Scan bodies (null: no subgraphs here).
  SubgraphImporter *subgraphs;
  llvm::SmallVector<mlir::Value> outputs;
};

/// Collects the first diagnostic raised while it lives (shape inference
/// reports through the context), to re-emit it with the node's name in front.
struct FirstDiagnostic {
  std::string message;
  mlir::ScopedDiagnosticHandler handler;
  explicit FirstDiagnostic(mlir::MLIRContext *context)
      : handler(context, [this](mlir::Diagnostic &d) {
          if (message.empty())
            message = d.str();
          return mlir::success();
        }) {}
};

template <typename OpTy>
mlir::FailureOr<llvm::SmallVector<mlir::Value>>
NodeImporter::buildInferred(mlir::ValueRange operands,
                            llvm::ArrayRef<mlir::NamedAttribute> attrs) {
  mlir::MLIRContext *context = b.getContext();
  if (mlir::failed(checkOperands(operands)))
    return mlir::failure();
  mlir::OperationState state(loc, OpTy::getOperationName());
  state.addOperands(operands);
  mlir::DictionaryAttr dict = mlir::DictionaryAttr::get(context, attrs);
  llvm::SmallVector<mlir::Type> types;
  std::string why;
  {
    FirstDiagnostic capture(context);
    mlir::LogicalResult ok = mlir::success();
    if constexpr (!std::is_same_v<typename OpTy::Properties, mlir::EmptyProperties>) {
      auto &props = state.getOrAddProperties<typename OpTy::Properties>();
      ok = OpTy::setPropertiesFromAttr(props, dict,
                                       [&] { return mlir::emitError(loc); });
    }
    if (mlir::succeeded(ok))
      ok = OpTy::inferReturnTypes(context, loc, state.operands, dict,
                                  state.getRawProperties(), state.regions, types);
    if (mlir::failed(ok))
      why = capture.message.empty() ? "invalid operands" : capture.message;
  }
  if (!why.empty())
    return error() << why;
  state.addTypes(types);
  return finish(b.create(state));
}

} // namespace pmc::onnx_import

#endif // PMC_LIB_IMPORT_ONNX_IMPORTERIMPL_H
