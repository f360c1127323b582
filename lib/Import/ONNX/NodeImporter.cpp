//===- NodeImporter.cpp - operands, attributes and op building for one node ===//
#include "ImporterImpl.h"
#include "OpRegistry.h"

#include "mlir/IR/Matchers.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/DenseSet.h"

using namespace mlir;
using namespace ::pmc::onnx_import;

namespace {
/// Collects the first diagnostic raised while it lives (shape inference and
/// verifiers report through the context), so that it can be re-emitted with
/// the node's name in front.
struct DiagnosticCapture {
  std::string message;
  ScopedDiagnosticHandler handler;
  explicit DiagnosticCapture(MLIRContext *context)
      : handler(context, [this](Diagnostic &d) {
          if (message.empty())
            message = d.str();
          return success();
        }) {}
};
} // namespace

InFlightDiagnostic NodeImporter::error() {
  return emitError(loc) << "node '" << name << "' (" << node.op_type()
                        << ", opset " << opset << "): ";
}

LogicalResult NodeImporter::requireInputs(unsigned count) {
  for (unsigned i = 0; i < count; ++i)
    if (!input(i))
      return error() << "expects at least " << count << " inputs, input " << i
                     << " is missing";
  return success();
}

LogicalResult NodeImporter::requireVariadicInputs() {
  if (inputs.empty())
    return error() << "expects at least one input";
  for (unsigned i = 0; i < inputs.size(); ++i)
    if (!input(i))
      return error() << "input " << i << " has an empty name; every input of "
                     << node.op_type() << " is required";
  return success();
}

LogicalResult NodeImporter::checkOperands(ValueRange operands) {
  for (auto [i, operand] : llvm::enumerate(operands))
    if (!operand)
      return error() << "a required input is missing (operand " << i
                     << " of the op it imports to has an empty name)";
  return success();
}

const onnx::AttributeProto *NodeImporter::attr(StringRef attrName) const {
  understood.insert(attrName);
  for (const auto &a : node.attribute())
    if (a.name() == attrName)
      return &a;
  return nullptr;
}

int64_t NodeImporter::getInt(StringRef attrName, int64_t defaultValue) const {
  const auto *a = attr(attrName);
  return a ? a->i() : defaultValue;
}

float NodeImporter::getFloat(StringRef attrName, float defaultValue) const {
  const auto *a = attr(attrName);
  return a ? a->f() : defaultValue;
}

std::string NodeImporter::getString(StringRef attrName,
                                    StringRef defaultValue) const {
  const auto *a = attr(attrName);
  return a ? a->s() : defaultValue.str();
}

std::optional<SmallVector<int64_t>> NodeImporter::getInts(StringRef attrName) const {
  const auto *a = attr(attrName);
  if (!a)
    return std::nullopt;
  return SmallVector<int64_t>(a->ints().begin(), a->ints().end());
}

FailureOr<DenseElementsAttr> NodeImporter::constAttr(unsigned i, StringRef what) {
  Value v = input(i);
  if (!v)
    return error() << "operand " << i << " ('" << what << "') is missing";
  DenseElementsAttr value;
  if (matchPattern(v, m_Constant(&value)))
    return value;
  InFlightDiagnostic diag = error() << "operand " << i << " ('" << what
                                    << "') must be a compile-time constant";
  explainNotConstant(diag, v);
  return failure();
}

void NodeImporter::explainNotConstant(InFlightDiagnostic &diag, Value v) {
  // The graph inputs `v` is computed from: binding them makes it fold.
  SmallVector<std::string> names;
  SmallVector<Value> work{v};
  llvm::DenseSet<Value> seen;
  while (!work.empty()) {
    Value next = work.pop_back_val();
    if (!seen.insert(next).second)
      continue;
    if (auto arg = dyn_cast<BlockArgument>(next)) {
      if (arg.getArgNumber() < graphInputNames.size())
        names.push_back(graphInputNames[arg.getArgNumber()]);
      continue;
    }
    if (Operation *op = next.getDefiningOp())
      work.append(op->operand_begin(), op->operand_end());
  }
  llvm::sort(names);
  if (names.empty()) {
    diag << " (no graph input feeds it, but pmc cannot fold it)";
    return;
  }
  diag << "; bind the graph input" << (names.size() > 1 ? "s " : " ");
  llvm::interleaveComma(names, diag, [&](const std::string &n) { diag << "'" << n << "'"; });
  diag << " with --bind";
}

FailureOr<SmallVector<int64_t>> NodeImporter::constInts(unsigned i, StringRef what) {
  auto value = constAttr(i, what);
  if (failed(value))
    return failure();
  auto intType = dyn_cast<IntegerType>(value->getElementType());
  if (!intType)
    return error() << "operand " << i << " ('" << what << "') must hold integers";
  SmallVector<int64_t> result;
  for (const APInt &v : value->getValues<APInt>())
    result.push_back(intType.isUnsigned() ? (int64_t)v.getZExtValue()
                                          : v.getSExtValue());
  return result;
}

FailureOr<int64_t> NodeImporter::normalizeAxis(int64_t axis, int64_t rank,
                                               StringRef what) {
  if (axis < -rank || axis >= rank)
    return error() << what << " " << axis << " is out of range for rank " << rank;
  return axis < 0 ? axis + rank : axis;
}

FailureOr<SmallVector<Value>> NodeImporter::finish(Operation *op) {
  std::string why;
  {
    DiagnosticCapture capture(b.getContext());
    if (failed(mlir::verify(op)))
      why = capture.message.empty() ? "invalid operation" : capture.message;
  }
  if (!why.empty()) {
    op->erase();
    error() << why;
    return failure();
  }
  SmallVector<Value> folded;
  if (succeeded(b.tryFold(op, folded)) && !folded.empty()) {
    op->erase();
    return folded;
  }
  return SmallVector<Value>(op->getResults());
}

FailureOr<SmallVector<Value>>
NodeImporter::buildTyped(StringRef opName, TypeRange resultTypes,
                         ValueRange operands, ArrayRef<NamedAttribute> attrs) {
  if (failed(checkOperands(operands)))
    return failure();
  OperationState state(loc, opName);
  state.addOperands(operands);
  state.addTypes(resultTypes);
  state.addAttributes(attrs);
  return finish(b.create(state));
}

FailureOr<Value> NodeImporter::reshape(Value v, ArrayRef<int64_t> shape) {
  auto type = cast<RankedTensorType>(v.getType());
  if (type.getShape() == shape)
    return v;
  return typed<mlir::pmc::ReshapeOp>(RankedTensorType::get(shape, type.getElementType()),
                                     v);
}

FailureOr<Value> NodeImporter::unary(StringRef opName, Value v) {
  auto results = buildTyped(opName, v.getType(), v);
  if (failed(results))
    return failure();
  return (*results)[0];
}

Value NodeImporter::constant(DenseElementsAttr value) {
  return mlir::pmc::ConstantOp::create(b, loc, value);
}

Value NodeImporter::scalar(Type elementType, double value) {
  auto type = RankedTensorType::get({}, elementType);
  Attribute element;
  if (auto floatType = dyn_cast<FloatType>(elementType))
    element = FloatAttr::get(floatType, value);
  else
    element = IntegerAttr::get(elementType, (int64_t)value);
  return constant(DenseElementsAttr::get(type, element));
}

Value NodeImporter::i64Tensor(ArrayRef<int64_t> values) {
  auto type = RankedTensorType::get({(int64_t)values.size()}, b.getI64Type());
  return constant(DenseElementsAttr::get(type, values));
}

LogicalResult NodeImporter::setOutput(unsigned i, FailureOr<Value> v) {
  if (failed(v))
    return failure();
  if (i < outputs.size())
    outputs[i] = *v;
  return success();
}

FailureOr<Value> NodeImporter::iota(int64_t n, int64_t axis, int64_t rank) {
  if (n > kMaxFoldedElements)
    return error() << "an index tensor of " << n << " elements (dim " << axis
                   << "), more than 2^24, is too large to fold";
  SmallVector<int64_t> shape(rank, 1);
  shape[axis] = n;
  SmallVector<int64_t> values(n);
  std::iota(values.begin(), values.end(), 0);
  auto type = RankedTensorType::get(shape, b.getI64Type());
  return constant(DenseElementsAttr::get(type, ArrayRef<int64_t>(values)));
}

LogicalResult NodeImporter::run() {
  std::string key = node.op_type();
  // Operators of another domain are registered as "<domain>.<op type>"
  // (only kTrainingDomain gets here: GraphImporter::importNodes).
  if (!node.domain().empty() && node.domain() != "ai.onnx")
    key = node.domain() + "." + key;
  StringRef op = key;
  int64_t firstSince = 0;
  if (const OpImporter *importer = opImporters().lookup(op, opset, firstSince)) {
    if (importer->operands == OperandKinds::Tensors)
      for (auto [i, v] : llvm::enumerate(inputs))
        if (v && !isa<RankedTensorType>(v.getType()))
          return error() << "input " << i << " ('" << node.input(i) << "') is "
                         << (isSequence(v) ? "a sequence" : "an empty optional")
                         << "; " << node.op_type() << " takes tensors";
    return failure(failed(importer->fn(*this)) || failed(checkAttributesUnderstood()));
  }
  if (firstSince > 0)
    return emitError(loc) << "node '" << name << "' : ONNX operator '" << op
                          << "' exists from opset " << firstSince
                          << " on, but the model uses opset " << opset;
  return emitError(loc) << "node '" << name << "' : unsupported ONNX operator '" << op
                        << "' (domain '" << node.domain() << "', opset " << opset << ")";
}

LogicalResult NodeImporter::checkAttributesUnderstood() {
  for (const onnx::AttributeProto &a : node.attribute())
    if (!understood.contains(a.name()))
      return error() << "has attribute '" << a.name()
                     << "', which pmc does not implement for " << node.op_type();
  return success();
}

void NodeImporter::registerImporters(OpImporterRegistry &r) {
  registerElementwiseImporters(r);
  registerShapeImporters(r);
  registerDataMovementImporters(r);
  registerMatMulImporters(r);
  registerNormalizationImporters(r);
  registerReductionImporters(r);
  registerConvImporters(r);
  registerAttentionImporters(r);
  registerRotaryEmbeddingImporters(r);
  registerResizeImporters(r);
  registerLossImporters(r);
  registerControlFlowImporters(r);
  registerSpectralImporters(r);
  registerTfIdfVectorizerImporters(r);
  registerAffineGridImporters(r);
  registerRecurrentImporters(r);
  registerQuantizationImporters(r);
  registerTopKImporters(r);
  registerScatterImporters(r);
  registerEinsumImporters(r);
  registerGridSampleImporters(r);
  registerTrainingImporters(r);
  registerDataDependentImporters(r);
  registerDeterminantImporters(r);
  registerSequenceImporters(r);
}
