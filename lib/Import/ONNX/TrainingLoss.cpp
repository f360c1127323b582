//===- TrainingLoss.cpp - PyTorch's losses as ONNX nodes -------------------===//
//
// See TrainingLoss.h. With x the output, y the target, N the elements:
//
//   cross_entropy  SoftmaxCrossEntropyLoss(reshape(x, [-1, C]), reshape(y, [-1]))
//                  with label smoothing e: (1 - e) nll + e mean_c(-log p), over
//                  the labels that are not ignore_index
//   mse            reduce((x - y)^2)       l1   reduce(|x - y|)
//   bce_with_logits reduce(max(x, 0) - x y + log(1 + exp(-|x|)))
//
//===----------------------------------------------------------------------===//
#include "pmc/Import/ONNX/TrainingLoss.h"

#include "onnx/onnx_pb.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringRef.h"

#include <vector>

using namespace pmc;

bool pmc::parseLossSpec(const std::string &text, LossSpec &spec, std::string &error) {
  llvm::StringRef rest(text);
  auto [kind, args] = rest.split(':');
  spec = LossSpec();
  spec.kind = kind.trim().str();
  if (spec.kind != "cross_entropy" && spec.kind != "mse" && spec.kind != "l1" &&
      spec.kind != "bce_with_logits" && spec.kind != "output") {
    error = "--loss " + text +
            ": expected cross_entropy, mse, l1, bce_with_logits or output, then ':' and "
            "the output it reads (e.g. cross_entropy:logits,labels or output:loss)";
    return false;
  }
  llvm::SmallVector<llvm::StringRef> parts;
  args.split(parts, ',', -1, /*KeepEmpty=*/false);
  int positional = 0;
  for (llvm::StringRef part : parts) {
    part = part.trim();
    auto [key, value] = part.split('=');
    if (value.empty() && !part.contains('=')) {
      if (positional == 0)
        spec.output = part.str();
      else if (positional == 1 && spec.kind != "output")
        spec.target = part.str();
      else {
        error = "--loss " + text + ": unexpected '" + part.str() + "'";
        return false;
      }
      ++positional;
      continue;
    }
    bool crossEntropy = spec.kind == "cross_entropy";
    if (key == "reduction" && spec.kind != "output" && (value == "mean" || value == "sum")) {
      spec.reduction = value.str();
    } else if (key == "ignore_index" && crossEntropy &&
               !value.getAsInteger(10, spec.ignoreIndex)) {
    } else if (key == "label_smoothing" && crossEntropy && llvm::to_float(value,
                                                                        spec.labelSmoothing) &&
               spec.labelSmoothing >= 0 && spec.labelSmoothing <= 1) {
    } else {
      error = "--loss " + text + ": '" + part.str() + "' is not an option of " + spec.kind +
              (spec.kind == "output" ? " (it takes the output's name only)"
                                     : " (reduction=mean|sum" +
                                           std::string(crossEntropy
                                                           ? ", ignore_index=N, "
                                                             "label_smoothing=[0, 1]"
                                                           : "") +
                                           ")");
      return false;
    }
  }
  if (spec.output.empty()) {
    error = "--loss " + text + ": name the output it reads after '" + spec.kind + ":'";
    return false;
  }
  if (spec.target.empty() && spec.kind != "output")
    spec.target = spec.kind == "cross_entropy" ? "labels" : "target";
  return true;
}

std::string pmc::formatLossSpec(const LossSpec &spec) {
  std::string text = spec.kind + ":" + spec.output;
  if (spec.kind == "output")
    return text;
  text += "," + spec.target + ",reduction=" + spec.reduction;
  if (spec.kind == "cross_entropy")
    text += ",ignore_index=" + std::to_string(spec.ignoreIndex) +
            ",label_smoothing=" + std::to_string(spec.labelSmoothing);
  return text;
}

namespace {

/// Appends nodes and constants named under "pmc_loss/".
struct LossBuilder {
  onnx::GraphProto &graph;
  int counter = 0;

  std::string node(const std::string &op, std::vector<std::string> inputs,
                   std::vector<onnx::AttributeProto> attrs = {}) {
    std::string out = "pmc_loss/" + op + "_" + std::to_string(counter++);
    onnx::NodeProto *n = graph.add_node();
    n->set_op_type(op);
    n->set_name(out);
    for (const std::string &in : inputs)
      n->add_input(in);
    n->add_output(out);
    for (onnx::AttributeProto &a : attrs)
      *n->add_attribute() = std::move(a);
    return out;
  }
  static onnx::AttributeProto intAttr(const std::string &name, int64_t v) {
    onnx::AttributeProto a;
    a.set_name(name);
    a.set_type(onnx::AttributeProto::INT);
    a.set_i(v);
    return a;
  }
  static onnx::AttributeProto stringAttr(const std::string &name, const std::string &v) {
    onnx::AttributeProto a;
    a.set_name(name);
    a.set_type(onnx::AttributeProto::STRING);
    a.set_s(v);
    return a;
  }
  std::string ints(const std::string &name, std::vector<int64_t> values,
                   bool scalar = false) {
    onnx::TensorProto *t = graph.add_initializer();
    t->set_name("pmc_loss/" + name);
    t->set_data_type(onnx::TensorProto::INT64);
    if (!scalar)
      t->add_dims(static_cast<int64_t>(values.size()));
    for (int64_t v : values)
      t->add_int64_data(v);
    return t->name();
  }
  std::string floats(const std::string &name, float value, std::vector<int64_t> dims = {},
                     int32_t type = onnx::TensorProto::FLOAT) {
    onnx::TensorProto *t = graph.add_initializer();
    t->set_name("pmc_loss/" + name);
    t->set_data_type(type);
    int64_t count = 1;
    for (int64_t d : dims) {
      t->add_dims(d);
      count *= d;
    }
    for (int64_t i = 0; i < count; ++i) {
      if (type == onnx::TensorProto::DOUBLE)
        t->add_double_data(value);
      else
        t->add_float_data(value);
    }
    return t->name();
  }
  std::string reduce(const std::string &x, const std::string &reduction) {
    return node(reduction == "mean" ? "ReduceMean" : "ReduceSum", {x}, {intAttr("keepdims", 0)});
  }
};

const onnx::ValueInfoProto *findValueInfo(const onnx::GraphProto &graph,
                                          const std::string &name) {
  for (const auto *list : {&graph.output(), &graph.value_info(), &graph.input()})
    for (const onnx::ValueInfoProto &info : *list)
      if (info.name() == name)
        return &info;
  return nullptr;
}

} // namespace

bool pmc::addTrainingLoss(onnx::ModelProto &model, const LossSpec &spec, std::string &error) {
  onnx::GraphProto &graph = *model.mutable_graph();
  bool isOutput = false;
  std::vector<std::string> outputs;
  for (const onnx::ValueInfoProto &out : graph.output()) {
    isOutput |= out.name() == spec.output;
    outputs.push_back(out.name());
  }
  if (!isOutput) {
    error = "loss: '" + spec.output + "' is not an output of the model (outputs: " +
            llvm::join(outputs, ", ") + ")";
    return false;
  }
  const onnx::ValueInfoProto *info = findValueInfo(graph, spec.output);
  onnx::TypeProto::Tensor tensor = info->type().tensor_type();
  int32_t elemType = tensor.elem_type();
  if (elemType != onnx::TensorProto::FLOAT && elemType != onnx::TensorProto::DOUBLE &&
      elemType != onnx::TensorProto::FLOAT16 && elemType != onnx::TensorProto::BFLOAT16) {
    error = "loss: output '" + spec.output + "' is not a float tensor";
    return false;
  }
  LossBuilder b{graph};
  std::string result;
  if (spec.kind == "output") {
    result = spec.output;
  } else if (spec.kind == "cross_entropy") {
    const auto &dims = tensor.shape().dim();
    if (dims.size() < 2 || !dims[dims.size() - 1].has_dim_value()) {
      error = "loss: logits '" + spec.output +
              "' needs rank >= 2 and a static class dimension (the last)";
      return false;
    }
    int64_t classes = dims[dims.size() - 1].dim_value();
    onnx::ValueInfoProto *labels = graph.add_input();
    labels->set_name(spec.target);
    auto *labelType = labels->mutable_type()->mutable_tensor_type();
    labelType->set_elem_type(onnx::TensorProto::INT64);
    for (int i = 0; i + 1 < dims.size(); ++i)
      *labelType->mutable_shape()->add_dim() = dims[i];
    std::string flat = b.node("Reshape", {spec.output, b.ints("class_shape", {-1, classes})});
    std::string targets = b.node("Reshape", {spec.target, b.ints("label_shape", {-1})});
    if (spec.labelSmoothing == 0.0) {
      result = b.node("SoftmaxCrossEntropyLoss", {flat, targets},
                      {LossBuilder::stringAttr("reduction", spec.reduction),
                       LossBuilder::intAttr("ignore_index", spec.ignoreIndex)});
    } else {
      // (1 - e) nll + e mean_c(-log p), over the labels not ignored; the mean
      // over the classes as a product with 1/C (no axes operand, which
      // changed form at opset 18).
      float eps = static_cast<float>(spec.labelSmoothing);
      std::string logp = b.node("LogSoftmax", {flat}, {LossBuilder::intAttr("axis", 1)});
      std::string nll = b.node("NegativeLogLikelihoodLoss", {logp, targets},
                               {LossBuilder::stringAttr("reduction", "none"),
                                LossBuilder::intAttr("ignore_index", spec.ignoreIndex)});
      std::string mean = b.node(
          "MatMul", {logp, b.floats("class_mean", 1.0f / classes, {classes, 1}, elemType)});
      std::string smooth =
          b.node("Neg", {b.node("Reshape", {mean, b.ints("flat", {-1})})});
      std::string ignored =
          b.node("Equal", {targets, b.ints("ignore", {spec.ignoreIndex}, /*scalar=*/true)});
      std::string kept = b.node("Cast", {b.node("Not", {ignored})},
                                {LossBuilder::intAttr("to", elemType)});
      std::string mixed =
          b.node("Add", {b.node("Mul", {nll, b.floats("keep", 1 - eps, {}, elemType)}),
                         b.node("Mul", {smooth, b.floats("eps", eps, {}, elemType)})});
      std::string total =
          b.node("ReduceSum", {b.node("Mul", {mixed, kept})}, {LossBuilder::intAttr("keepdims", 0)});
      result = spec.reduction == "sum"
                   ? total
                   : b.node("Div", {total, b.node("ReduceSum", {kept},
                                                  {LossBuilder::intAttr("keepdims", 0)})});
    }
  } else {
    onnx::ValueInfoProto *target = graph.add_input();
    target->set_name(spec.target);
    *target->mutable_type()->mutable_tensor_type() = tensor;
    const std::string &x = spec.output, &y = spec.target;
    std::string per;
    if (spec.kind == "mse") {
      std::string diff = b.node("Sub", {x, y});
      per = b.node("Mul", {diff, diff});
    } else if (spec.kind == "l1") {
      per = b.node("Abs", {b.node("Sub", {x, y})});
    } else { // max(x, 0) - x y + log(1 + exp(-|x|))
      per = b.node("Add", {b.node("Sub", {b.node("Relu", {x}), b.node("Mul", {x, y})}),
                           b.node("Softplus", {b.node("Neg", {b.node("Abs", {x})})})});
    }
    result = b.reduce(per, spec.reduction);
  }
  graph.clear_output();
  onnx::ValueInfoProto *out = graph.add_output();
  out->set_name(result);
  out->mutable_type()->mutable_tensor_type()->set_elem_type(elemType);
  out->mutable_type()->mutable_tensor_type()->mutable_shape();
  return true;
}
