//===- DropoutImporter.cpp - Dropout: the identity, or trained a random mask ---===//
//
// Imported for inference, Dropout is the identity (training_mode false, the
// ONNX default). Imported for training (ImportOptions::trainInitializers), it
// drops as torch.nn.Dropout does in train() mode, whatever training_mode the
// export wrote:
//
//   keep = pmc.random_uniform(pmc.step) {key} >= ratio
//   y    = where(keep, x * 1/(1 - ratio), 0),   mask = keep
//
// The key is a hash of the node's name and output, plus its seed: a
// different stream per node (and per unrolled loop iteration), the same
// stream in every compile of the model. The counter is the step, so each
// step draws a new mask, and recomputing a step replays it.
//
#include "ImporterImpl.h"

#include "mlir/IR/Matchers.h"
#include "llvm/Support/xxhash.h"

using namespace mlir;
using namespace mlir::pmc;
using namespace ::pmc::onnx_import;

namespace {
/// The mask output's element type: bool from opset 10, the data's before.
Type maskElement(int64_t opset, Value data, OpBuilder &b) {
  return opset >= 10 ? b.getI1Type() : elementOf(data);
}
} // namespace

LogicalResult NodeImporter::importDropout() {
  if (failed(requireInputs(1)))
    return failure();
  Value x = input(0);
  if (!isa<FloatType>(elementOf(x)))
    return error() << "input 'data' must be a float tensor, got " << x.getType();
  Value step = subgraphs ? subgraphs->trainingStep() : Value();
  if (!step) {
    if (getInt("is_test", 1) == 0 && opset < 7)
      return error() << "training mode (is_test = 0) is unsupported for inference";
    // The mask's seed and (before opset 12) its ratio only matter in training
    // mode, which inference refuses: inference Dropout is the identity.
    acceptAttribute("seed");
    acceptAttribute("ratio");
    if (Value training = input(2)) {
      DenseElementsAttr mode;
      if (!matchPattern(training, m_Constant(&mode)))
        return error() << "operand 2 ('training_mode') must be a compile-time "
                          "constant (only inference is supported)";
      if (!mode.getElementType().isInteger(1) || mode.getNumElements() != 1)
        return error() << "operand 2 ('training_mode') must be a bool scalar, got "
                       << mode.getType();
      if (mode.getSplatValue<bool>()) {
        // Training with a ratio of exactly 0 drops nothing: the identity with an
        // all-true mask, as in inference. Any other ratio draws random masks,
        // which only a train step (pmc.compile_training) seeds.
        DenseElementsAttr ratio;
        bool zeroRatio = input(1) && matchPattern(input(1), m_Constant(&ratio)) &&
                         ratio.getNumElements() == 1 &&
                         isa<FloatType>(ratio.getElementType()) &&
                         (*ratio.getValues<APFloat>().begin()).isZero();
        if (!zeroRatio)
          return error() << "training_mode = true is unsupported unless the ratio is a "
                            "constant 0 (random masks are drawn in train steps only: "
                            "pmc.compile_training)";
      }
    }
    if (failed(setOutput(0, x)))
      return failure();
    if (node.output_size() > 1 && !node.output(1).empty()) {
      auto maskType = RankedTensorType::get(shapeOf(x), maskElement(opset, x, b));
      Attribute one = isa<FloatType>(maskType.getElementType())
                          ? Attribute(b.getFloatAttr(maskType.getElementType(), 1.0))
                          : Attribute(b.getBoolAttr(true));
      return setOutput(1, constant(DenseElementsAttr::get(maskType, one)));
    }
    return success();
  }

  // Training. The ratio: an attribute before opset 12, then input 1.
  double ratio = 0.5;
  if (opset < 12) {
    ratio = getFloat("ratio", 0.5f);
  } else if (Value r = input(1)) {
    DenseElementsAttr value;
    if (!matchPattern(r, m_Constant(&value)) || value.getNumElements() != 1 ||
        !isa<FloatType>(value.getElementType()))
      return error() << "input 'ratio' must be a constant float scalar to train (got "
                     << r.getType() << ", not a constant)";
    ratio = (*value.getValues<APFloat>().begin()).convertToDouble();
  }
  if (!(ratio >= 0.0 && ratio <= 1.0))
    return error() << "ratio " << ratio << " is outside [0, 1]";
  acceptAttribute("is_test"); // every Dropout of a train step trains
  int64_t seed = getInt("seed", 0);
  std::string stream = name + '\0' + (node.output_size() ? node.output(0) : std::string());
  uint64_t key = llvm::xxh3_64bits(llvm::StringRef(stream)) +
                 (uint64_t)seed * 0x9E3779B97F4A7C15ull;

  Type t = elementOf(x);
  auto uniformType = RankedTensorType::get(shapeOf(x), b.getF32Type());
  auto uniform = RandomUniformOp::create(b, loc, uniformType, step,
                                         b.getI64IntegerAttr((int64_t)key));
  if (failed(finish(uniform)))
    return failure();
  TRY(keep, inferred<GreaterEqualOp>({uniform.getResult(), scalar(b.getF32Type(), ratio)}));
  // ratio 1 drops everything: a zero scale keeps the gradient finite.
  double scale = ratio < 1.0 ? 1.0 / (1.0 - ratio) : 0.0;
  TRY(scaled, inferred<MulOp>({x, scalar(t, scale)}));
  if (failed(setOutput(0, inferred<WhereOp>({keep, scaled, scalar(t, 0.0)}))))
    return failure();
  if (node.output_size() > 1 && !node.output(1).empty()) {
    Type maskType = maskElement(opset, x, b);
    if (maskType == b.getI1Type())
      return setOutput(1, keep);
    return setOutput(1, typed<CastOp>(RankedTensorType::get(shapeOf(x), maskType), {keep}));
  }
  return success();
}
