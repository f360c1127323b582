//===- ControlFlowImporters.cpp - If, Loop and Scan, resolved at compile time ===//
//
// pmc programs are straight-line dataflow (every plan, partition and kernel
// assumes it), so ONNX control flow is resolved while importing:
//
//  * If whose condition folds to a constant imports the taken branch inline.
//    With a condition known only at run time both branches are imported and
//    their outputs selected elementwise (pmc.where), which needs branches of
//    the same output types.
//  * Loop with a compile-time trip count (and a condition that folds to a
//    constant at every iteration) is unrolled; scan outputs are stacked.
//  * Scan is unrolled over its scan axis (its length is static).
//
// A subgraph sees the outer graph's values by name (SubgraphImporter).
//
//   %c = pmc.constant dense<true> : tensor<i1>
//   If(%c) then { Add(x, y) } else { Sub(x, y) }
//     ==>  %r = pmc.add %x, %y
//
//===----------------------------------------------------------------------===//
#include "ImporterImpl.h"
#include "OpRegistry.h"

#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace ::pmc::onnx_import;

namespace {
/// The most iterations a Loop or Scan is unrolled to: beyond that the program
/// (and compile time) grows without bound.
constexpr int64_t kMaxUnrolledIterations = 4096;
} // namespace

void NodeImporter::registerControlFlowImporters(OpImporterRegistry &r) {
  r.add("If", 1, [](NodeImporter &n) { return n.importIf(); });
  // Loop-carried values may be sequences or optionals (SequenceImporters.cpp).
  r.add("Loop", 1, [](NodeImporter &n) { return n.importLoop(); },
        OperandKinds::SequencesAndOptionals);
  r.add("Scan", 8, [](NodeImporter &n) { return n.importScan(); });
}

FailureOr<const onnx::GraphProto *> NodeImporter::graphAttr(StringRef attrName) {
  const onnx::AttributeProto *a = attr(attrName);
  if (!a || a->type() != onnx::AttributeProto::GRAPH || !a->has_g())
    return error() << "needs the graph attribute '" << attrName << "'";
  if (!subgraphs)
    return error() << "subgraphs cannot be imported here";
  return &a->g();
}

FailureOr<SmallVector<Value>>
NodeImporter::importSubgraph(const onnx::GraphProto &graph, ValueRange graphInputs,
                             StringRef what) {
  if (graph.input_size() != (int)graphInputs.size())
    return error() << what << " declares " << graph.input_size()
                   << " inputs, the operator passes " << graphInputs.size();
  for (auto [i, v] : llvm::enumerate(graphInputs)) {
    const onnx::ValueInfoProto &info = graph.input(i);
    switch (info.type().value_case()) {
    case onnx::TypeProto::VALUE_NOT_SET: // left to inference
    case onnx::TypeProto::kOptionalType:
      continue;
    case onnx::TypeProto::kSequenceType:
      if (!isSequence(v))
        return error() << what << " input '" << info.name()
                       << "' is declared a sequence, the operator passes "
                       << (isEmptyOptional(v) ? "an empty optional" : "a tensor");
      continue;
    case onnx::TypeProto::kTensorType:
      break;
    default:
      return error() << what << " input '" << info.name()
                     << "' is a map or sparse tensor, which pmc does not implement";
    }
    if (!isa<RankedTensorType>(v.getType()))
      return error() << what << " input '" << info.name()
                     << "' is declared a tensor, the operator passes "
                     << (isSequence(v) ? "a sequence" : "an empty optional");
    int32_t declared = info.type().tensor_type().elem_type();
    if (declared != 0 &&
        convertElementType(*b.getContext(), declared) != elementOf(v))
      return error() << what << " input '" << info.name() << "' is declared "
                     << onnxTypeName(declared) << ", the operator passes "
                     << elementOf(v);
  }
  for (const onnx::ValueInfoProto &out : graph.output())
    if (out.type().has_map_type() || out.type().has_sparse_tensor_type())
      return error() << what << " output '" << out.name()
                     << "' is a map or sparse tensor, which pmc does not implement";
  return subgraphs->importInline(graph, graphInputs, name + "/" + what.str());
}

FailureOr<bool> NodeImporter::constantCondition(Value cond, StringRef what) {
  DenseElementsAttr value;
  if (!matchPattern(cond, m_Constant(&value)))
    return failure();
  if (value.getNumElements() != 1 || !value.getElementType().isInteger(1))
    return error() << what << " must hold one bool, it is " << cond.getType();
  return *value.getValues<bool>().begin();
}

LogicalResult NodeImporter::importIf() {
  if (failed(requireInputs(1)))
    return failure();
  auto thenGraph = graphAttr("then_branch");
  auto elseGraph = graphAttr("else_branch");
  if (failed(thenGraph) || failed(elseGraph))
    return failure();
  Value cond = input(0);
  if (product(shapeOf(cond)) != 1 || !elementOf(cond).isInteger(1))
    return error() << "the condition must hold one bool, it is " << cond.getType();
  auto known = constantCondition(cond, "the condition");
  if (succeeded(known)) {
    auto taken = importSubgraph(*known ? **thenGraph : **elseGraph, {},
                                *known ? "then_branch" : "else_branch");
    if (failed(taken))
      return failure();
    if (taken->size() != outputs.size())
      return error() << "the taken branch has " << taken->size()
                     << " outputs, the node " << outputs.size();
    for (auto [i, v] : llvm::enumerate(*taken))
      outputs[i] = v;
    return success();
  }
  // A run-time condition: compute both branches and select.
  auto onTrue = importSubgraph(**thenGraph, {}, "then_branch");
  if (failed(onTrue))
    return failure();
  auto onFalse = importSubgraph(**elseGraph, {}, "else_branch");
  if (failed(onFalse))
    return failure();
  if (onTrue->size() != outputs.size() || onFalse->size() != outputs.size())
    return error() << "the branches have " << onTrue->size() << " and "
                   << onFalse->size() << " outputs, the node " << outputs.size();
  TRY(scalarCond, reshape(cond, {}));
  for (unsigned i = 0; i < outputs.size(); ++i) {
    Value t = (*onTrue)[i], f = (*onFalse)[i];
    if (!isa<RankedTensorType>(t.getType()) || !isa<RankedTensorType>(f.getType())) {
      InFlightDiagnostic diag = error() << "output " << i << " is a sequence or optional: "
                                           "the condition must be a compile-time constant";
      explainNotConstant(diag, cond);
      return failure();
    }
    if (t.getType() != f.getType())
      return error() << "output " << i << " is " << t.getType()
                     << " in then_branch and " << f.getType()
                     << " in else_branch; a condition known only at run time "
                        "needs branches of the same type (bind the inputs it is "
                        "computed from with --bind)";
    if (failed(setOutput(i, inferred<mlir::pmc::WhereOp>({scalarCond, t, f}))))
      return failure();
  }
  return success();
}

FailureOr<Value> NodeImporter::stack(ArrayRef<Value> values, int64_t axis) {
  SmallVector<Value> expanded;
  for (auto [i, v] : llvm::enumerate(values)) {
    SmallVector<int64_t> shape(shapeOf(v));
    // The axis was checked against the first value's rank; the others must
    // have it too (a sequence may hold tensors of several ranks).
    if (axis < 0 || axis > static_cast<int64_t>(shape.size()))
      return error() << "cannot stack value " << i << " of rank " << shape.size()
                     << " at axis " << axis << " (the values have different ranks)";
    shape.insert(shape.begin() + axis, 1);
    TRY(e, reshape(v, shape));
    expanded.push_back(e);
  }
  if (expanded.size() == 1)
    return expanded.front();
  return inferred<mlir::pmc::ConcatOp>(expanded,
                                       {b.getNamedAttr("axis", b.getI64IntegerAttr(axis))});
}

FailureOr<Value> NodeImporter::takeIndex(Value v, int64_t axis, int64_t index) {
  ArrayRef<int64_t> shape = shapeOf(v);
  SmallVector<int64_t> starts(shape.size(), 0), steps(shape.size(), 1);
  SmallVector<int64_t> sliced(shape), squeezed;
  starts[axis] = index;
  sliced[axis] = 1;
  for (auto [d, n] : llvm::enumerate(shape))
    if ((int64_t)d != axis)
      squeezed.push_back(n);
  TRY(slice, typed<mlir::pmc::SliceOp>(
                 RankedTensorType::get(sliced, elementOf(v)), v,
                 {b.getNamedAttr("starts", b.getDenseI64ArrayAttr(starts)),
                  b.getNamedAttr("steps", b.getDenseI64ArrayAttr(steps))}));
  return reshape(slice, squeezed);
}

LogicalResult NodeImporter::importLoop() {
  auto body = graphAttr("body");
  if (failed(body))
    return failure();
  if (inputs.size() < 2)
    return error() << "expects the inputs M and cond (either may be empty)";
  for (unsigned i = 0; i < 2; ++i)
    if (input(i) && !isa<RankedTensorType>(input(i).getType()))
      return error() << "input " << i << " (" << (i ? "cond" : "M") << ") must be a tensor";
  std::optional<int64_t> tripCount;
  if (Value m = input(0)) {
    DenseElementsAttr value;
    if (!matchPattern(m, m_Constant(&value)) || value.getNumElements() != 1 ||
        !isa<IntegerType>(value.getElementType())) {
      InFlightDiagnostic diag = error() << "the trip count M must be a compile-time "
                                           "constant (pmc unrolls loops)";
      explainNotConstant(diag, m);
      return failure();
    }
    tripCount = (*value.getValues<APInt>().begin()).getSExtValue();
  }
  Value cond = input(1);
  if (!tripCount && !cond)
    return error() << "has neither a trip count nor a condition: it never ends";
  unsigned carried = inputs.size() - 2;
  for (unsigned i = 0; i < carried; ++i)
    if (!input(2 + i))
      return error() << "loop-carried input " << 2 + i << " is missing";
  int64_t bodyOutputs = (*body)->output_size();
  if (bodyOutputs < 1 + (int64_t)carried)
    return error() << "the body has " << bodyOutputs << " outputs; it needs the "
                   << "condition and the " << carried << " loop-carried values";
  unsigned scans = bodyOutputs - 1 - carried;
  if (outputs.size() > carried + scans)
    return error() << "has " << outputs.size() << " outputs, the body gives "
                   << carried + scans;
  // The iteration number and condition as the body declares them (rank 0 or 1).
  auto declaredShape = [&](int i) {
    SmallVector<int64_t> shape;
    if (i < (*body)->input_size() && (*body)->input(i).type().tensor_type().has_shape())
      for (const auto &d : (*body)->input(i).type().tensor_type().shape().dim())
        shape.push_back(d.has_dim_value() ? d.dim_value() : 1);
    return shape;
  };
  SmallVector<int64_t> iterShape = declaredShape(0), condShape = declaredShape(1);
  if (product(iterShape) != 1 || product(condShape) != 1)
    return error() << "the body's iteration number and condition must hold one element";

  SmallVector<Value> state;
  for (unsigned i = 0; i < carried; ++i)
    state.push_back(input(2 + i));
  SmallVector<SmallVector<Value>> scanValues(scans);
  for (int64_t iteration = 0;; ++iteration) {
    if (tripCount && iteration >= *tripCount)
      break;
    if (cond) {
      if (product(shapeOf(cond)) != 1 || !elementOf(cond).isInteger(1))
        return error() << "the condition must hold one bool, it is " << cond.getType();
      auto known = constantCondition(cond, "the condition");
      if (failed(known)) {
        InFlightDiagnostic diag = error() << "the condition at iteration " << iteration
                                          << " must be a compile-time constant (pmc "
                                             "unrolls loops)";
        explainNotConstant(diag, cond);
        return failure();
      }
      if (!*known)
        break;
    }
    if (iteration >= kMaxUnrolledIterations)
      return error() << "runs more than " << kMaxUnrolledIterations
                     << " iterations, more than pmc unrolls";
    SmallVector<Value> bodyInputs;
    bodyInputs.push_back(constant(DenseElementsAttr::get(
        RankedTensorType::get(iterShape, b.getI64Type()), iteration)));
    Value condIn = cond ? cond
                        : constant(DenseElementsAttr::get(
                              RankedTensorType::get(condShape, b.getI1Type()), true));
    if (shapeOf(condIn) != ArrayRef<int64_t>(condShape)) {
      TRY(reshaped, reshape(condIn, condShape));
      condIn = reshaped;
    }
    bodyInputs.push_back(condIn);
    bodyInputs.append(state);
    auto results = importSubgraph(**body, bodyInputs,
                                  ("body#" + std::to_string(iteration)));
    if (failed(results))
      return failure();
    cond = (*results)[0];
    if (!isa<RankedTensorType>(cond.getType()))
      return error() << "the body's condition output must be a tensor";
    for (unsigned i = 0; i < carried; ++i)
      state[i] = (*results)[1 + i];
    for (unsigned k = 0; k < scans; ++k) {
      Value v = (*results)[1 + carried + k];
      if (!isa<RankedTensorType>(v.getType()))
        return error() << "scan output " << k << " must be a tensor";
      scanValues[k].push_back(v);
    }
  }
  for (unsigned i = 0; i < carried && i < outputs.size(); ++i)
    outputs[i] = state[i];
  for (unsigned k = 0; k < scans && carried + k < outputs.size(); ++k) {
    if (scanValues[k].empty())
      return error() << "runs zero times, so the shape of scan output " << k
                     << " is unknown";
    if (failed(setOutput(carried + k, stack(scanValues[k], 0))))
      return failure();
  }
  return success();
}

LogicalResult NodeImporter::importScan() {
  auto body = graphAttr("body");
  if (failed(body))
    return failure();
  const int64_t numScanInputs = getInt("num_scan_inputs", -1);
  // Scan-8 has a batch axis 0 on every input and output and a leading
  // optional sequence_lens; from opset 9 there is no batch and the axes and
  // directions are attributes per input and output.
  const bool batched = opset < 9;
  const unsigned first = batched ? 1 : 0;
  if (numScanInputs < 1 || first + numScanInputs > inputs.size())
    return error() << "num_scan_inputs must be between 1 and the number of inputs";
  const unsigned states = inputs.size() - first - numScanInputs;
  for (unsigned i = first; i < inputs.size(); ++i)
    if (!input(i))
      return error() << "input " << i << " is missing";
  const int64_t bodyOutputs = (*body)->output_size();
  if (bodyOutputs < (int64_t)states)
    return error() << "the body has " << bodyOutputs << " outputs, fewer than the "
                   << states << " state variables";
  const unsigned scanOutputs = bodyOutputs - states;

  auto perInput = [&](StringRef attrName, unsigned count)
      -> FailureOr<SmallVector<int64_t>> {
    auto values = getInts(attrName);
    if (!values)
      return SmallVector<int64_t>(count, 0);
    if (values->size() != count)
      return error() << attrName << " has " << values->size() << " entries, expected "
                     << count;
    return *values;
  };
  auto inputDirections = perInput(batched ? "directions" : "scan_input_directions",
                                  numScanInputs);
  if (failed(inputDirections))
    return failure();
  SmallVector<int64_t> inputAxes(numScanInputs, batched ? 1 : 0);
  SmallVector<int64_t> outputAxes(scanOutputs, 0), outputDirections(scanOutputs, 0);
  if (!batched) {
    auto axes = perInput("scan_input_axes", numScanInputs);
    auto outAxes = perInput("scan_output_axes", scanOutputs);
    auto outDirections = perInput("scan_output_directions", scanOutputs);
    if (failed(axes) || failed(outAxes) || failed(outDirections))
      return failure();
    inputAxes = *axes;
    outputAxes = *outAxes;
    outputDirections = *outDirections;
  }
  for (int64_t d : llvm::concat<int64_t>(*inputDirections, outputDirections))
    if (d != 0 && d != 1)
      return error() << "a scan direction must be 0 or 1, it is " << d;

  // The sequence length, and a check that every scan input agrees.
  int64_t length = -1;
  for (int64_t j = 0; j < numScanInputs; ++j) {
    Value x = input(first + states + j);
    int64_t rank = shapeOf(x).size();
    auto axis = normalizeAxis(inputAxes[j], rank, "scan_input_axes entry");
    if (failed(axis))
      return failure();
    if (batched && rank < 2)
      return error() << "scan input " << j << " needs a batch and a sequence axis";
    inputAxes[j] = *axis;
    int64_t n = shapeOf(x)[*axis];
    if (length >= 0 && n != length)
      return error() << "scan inputs have sequence lengths " << length << " and " << n;
    length = n;
  }
  if (length > kMaxUnrolledIterations)
    return error() << "scans " << length << " steps, more than pmc unrolls ("
                   << kMaxUnrolledIterations << ")";
  if (batched && input(0)) {
    auto lengths = constInts(0, "sequence_lens");
    if (failed(lengths))
      return failure();
    for (int64_t n : *lengths)
      if (n != length)
        return error() << "sequence_lens holds " << n << ", not the full length "
                       << length << "; pmc scans whole sequences only";
  }

  // Runs the scan over one batch element (or the whole input from opset 9):
  // `scanned` are the scan inputs without the batch axis.
  auto runScan = [&](SmallVector<Value> state, ArrayRef<Value> scanned,
                     StringRef what, SmallVector<Value> &finalState,
                     SmallVector<Value> &stacked) -> LogicalResult {
    SmallVector<SmallVector<Value>> steps(scanOutputs);
    for (int64_t t = 0; t < length; ++t) {
      SmallVector<Value> bodyInputs(state);
      for (int64_t j = 0; j < numScanInputs; ++j) {
        int64_t index = (*inputDirections)[j] ? length - 1 - t : t;
        int64_t axis = inputAxes[j] - (batched ? 1 : 0);
        auto slice = takeIndex(scanned[j], axis, index);
        if (failed(slice))
          return failure();
        bodyInputs.push_back(*slice);
      }
      auto results = importSubgraph(**body, bodyInputs,
                                    (what + "#" + std::to_string(t)).str());
      if (failed(results))
        return failure();
      for (auto [i, r] : llvm::enumerate(*results))
        if (!isa<RankedTensorType>(r.getType()))
          return error() << "body output " << i << " must be a tensor (Scan carries and "
                            "stacks tensors only)";
      for (unsigned i = 0; i < states; ++i)
        state[i] = (*results)[i];
      for (unsigned k = 0; k < scanOutputs; ++k)
        steps[k].push_back((*results)[states + k]);
    }
    finalState = state;
    for (unsigned k = 0; k < scanOutputs; ++k) {
      if (steps[k].empty())
        return error() << "scans zero steps, so the shape of scan output " << k
                       << " is unknown";
      if (outputDirections[k])
        std::reverse(steps[k].begin(), steps[k].end());
      int64_t rank = shapeOf(steps[k].front()).size() + 1;
      auto axis = normalizeAxis(outputAxes[k], rank, "scan_output_axes entry");
      if (failed(axis))
        return failure();
      auto joined = stack(steps[k], *axis);
      if (failed(joined))
        return failure();
      stacked.push_back(*joined);
    }
    return success();
  };

  SmallVector<Value> initial, scanned;
  for (unsigned i = 0; i < states; ++i)
    initial.push_back(input(first + i));
  for (int64_t j = 0; j < numScanInputs; ++j)
    scanned.push_back(input(first + states + j));

  SmallVector<Value> finalState, stacked;
  if (!batched) {
    if (failed(runScan(initial, scanned, "body", finalState, stacked)))
      return failure();
  } else {
    int64_t batch = -1;
    for (Value v : llvm::concat<Value>(initial, scanned)) {
      if (shapeOf(v).empty())
        return error() << "every input of Scan-8 has a batch axis 0";
      if (batch >= 0 && shapeOf(v)[0] != batch)
        return error() << "inputs have batch sizes " << batch << " and " << shapeOf(v)[0];
      batch = shapeOf(v)[0];
    }
    SmallVector<SmallVector<Value>> statePerBatch(states), scanPerBatch(scanOutputs);
    for (int64_t n = 0; n < batch; ++n) {
      SmallVector<Value> state, slices, outState, outScan;
      for (Value v : initial) {
        TRY(s, takeIndex(v, 0, n));
        state.push_back(s);
      }
      for (Value v : scanned) {
        TRY(s, takeIndex(v, 0, n));
        slices.push_back(s);
      }
      if (failed(runScan(state, slices, ("body[" + std::to_string(n) + "]"),
                         outState, outScan)))
        return failure();
      for (unsigned i = 0; i < states; ++i)
        statePerBatch[i].push_back(outState[i]);
      for (unsigned k = 0; k < scanOutputs; ++k)
        scanPerBatch[k].push_back(outScan[k]);
    }
    if (batch == 0)
      return error() << "has batch size 0";
    for (auto &values : statePerBatch) {
      TRY(v, stack(values, 0));
      finalState.push_back(v);
    }
    for (auto &values : scanPerBatch) {
      TRY(v, stack(values, 0));
      stacked.push_back(v);
    }
  }
  if (outputs.size() > states + scanOutputs)
    return error() << "has " << outputs.size() << " outputs, the body gives "
                   << states + scanOutputs;
  for (unsigned i = 0; i < outputs.size(); ++i)
    outputs[i] = i < states ? finalState[i] : stacked[i - states];
  return success();
}
