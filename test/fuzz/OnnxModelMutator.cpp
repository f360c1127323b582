//===- OnnxModelMutator.cpp - structure-aware mutations of an ONNX ModelProto ===//
#include "OnnxModelMutator.h"

#include "onnx/onnx_pb.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

extern "C" size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t maxSize);

namespace pmc::fuzz {
namespace {

using Rng = std::minstd_rand;

/// Operators the importer knows (lib/Import/ONNX), plus a few it does not.
const char *const kOpTypes[] = {
    "Abs", "Acos", "Acosh", "Add", "And", "ArgMax", "ArgMin", "Asin", "Asinh", "Atan",
    "Atanh", "AveragePool", "BatchNormalization", "BitShift", "BitwiseAnd", "BitwiseNot",
    "BitwiseOr", "BitwiseXor", "Cast", "CastLike", "Ceil", "Celu", "Clip", "Concat",
    "Constant", "ConstantOfShape", "Conv", "Cos", "Cosh", "CumSum", "DepthToSpace", "Div",
    "Dropout", "Elu", "Equal", "Erf", "Exp", "Expand", "EyeLike", "Flatten", "Floor",
    "Gather", "GatherElements", "Gelu", "Gemm", "GlobalAveragePool", "GlobalMaxPool",
    "Greater", "GreaterOrEqual", "GroupNormalization", "HardSigmoid", "HardSwish",
    "Hardmax", "Identity", "InstanceNormalization", "IsInf", "IsNaN", "LayerNormalization",
    "LeakyRelu", "Less", "LessOrEqual", "Log", "LogSoftmax", "LpNormalization", "MatMul",
    "Max", "MaxPool", "Mean", "MeanVarianceNormalization", "Min", "Mish", "Mod", "Mul",
    "Neg", "Not", "OneHot", "Or", "PRelu", "Pad", "Pow", "Range", "Reciprocal", "ReduceL1",
    "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean", "ReduceMin",
    "ReduceProd", "ReduceSum", "ReduceSumSquare", "Relu", "Reshape", "Round", "Selu",
    "Shape", "Shrink", "Sigmoid", "Sign", "Sin", "Sinh", "Size", "Slice", "Softmax",
    "Softplus", "Softsign", "SpaceToDepth", "Split", "Sqrt", "Squeeze", "Sub", "Sum", "Tan",
    "Tanh", "ThresholdedRelu", "Tile", "Transpose", "Trilu", "Unsqueeze", "Where", "Xor",
    "If", "Loop", "Scan", "TopK", "Resize", "NonZero", "Einsum", ""};

/// Attribute names the importer reads.
const char *const kAttrNames[] = {
    "allowzero", "alpha", "approximate", "auto_pad", "axes", "axis", "beta", "bias",
    "blocksize", "ceil_mode", "count_include_pad", "detect_negative", "detect_positive",
    "dilations", "direction", "end", "ends", "epsilon", "exclusive", "fmod", "gamma",
    "group", "is_test", "k", "keepdims", "kernel_shape", "lambd", "max", "min", "mode",
    "noop_with_empty_axes", "num_groups", "num_outputs", "p", "pads", "perm", "reverse",
    "select_last_index", "shape", "split", "start", "starts", "stash_type", "strides", "to",
    "training_mode", "transA", "transB", "upper", "value", "value_float", "value_floats",
    "value_int", "value_ints", "value_string", "dtype", "output_padding", ""};

const char *const kStrings[] = {"NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER", "constant",
                                "reflect", "edge", "wrap", "tanh", "none", "CRD", "DCR",
                                "LEFT", "RIGHT", "linear", "nearest", "", "x"};

int64_t interestingInt(Rng &rng) {
  static const int64_t values[] = {0, 1, -1, 2, -2, 3, 4, -3, 5, 7, 8, 16, 64, 255, 256,
                                   1024, 65535, 65536,
                                   std::numeric_limits<int32_t>::max(),
                                   std::numeric_limits<int32_t>::min(),
                                   int64_t(1) << 32,
                                   std::numeric_limits<int64_t>::max(),
                                   std::numeric_limits<int64_t>::min(),
                                   std::numeric_limits<int64_t>::max() / 2};
  if (rng() % 8 == 0)
    return static_cast<int64_t>(rng()) - 0x40000000;
  return values[rng() % (sizeof(values) / sizeof(values[0]))];
}

float interestingFloat(Rng &rng) {
  static const float values[] = {0.0f, -0.0f, 1.0f, -1.0f, 0.5f, 2.0f, 1e-5f, 1e30f, -1e30f,
                                 std::numeric_limits<float>::infinity(),
                                 -std::numeric_limits<float>::infinity(),
                                 std::numeric_limits<float>::quiet_NaN(),
                                 std::numeric_limits<float>::denorm_min()};
  return values[rng() % (sizeof(values) / sizeof(values[0]))];
}

template <typename T> T pick(Rng &rng, const T *values, size_t n) { return values[rng() % n]; }
#define PICK(rng, array) pick(rng, array, sizeof(array) / sizeof(array[0]))

/// Every value name of the graph: inputs, initializers, node outputs.
std::vector<std::string> valueNames(const onnx::GraphProto &g) {
  std::vector<std::string> names;
  for (const auto &in : g.input())
    names.push_back(in.name());
  for (const auto &t : g.initializer())
    names.push_back(t.name());
  for (const auto &n : g.node())
    for (const auto &o : n.output())
      names.push_back(o);
  return names;
}

std::string randomName(Rng &rng, const onnx::GraphProto &g) {
  std::vector<std::string> names = valueNames(g);
  switch (rng() % 4) {
  case 0:
    return "";
  case 1:
    return "fuzz_" + std::to_string(rng() % 16);
  default:
    return names.empty() ? std::string() : names[rng() % names.size()];
  }
}

/// Bytes of `s` mutated with libFuzzer's byte mutations (at most doubled).
void mutateBytes(std::string &s) {
  size_t size = s.size(), maxSize = std::max<size_t>(size * 2, 16);
  s.resize(maxSize);
  s.resize(LLVMFuzzerMutate(reinterpret_cast<uint8_t *>(s.data()), size, maxSize));
}

void mutateTensor(onnx::TensorProto &t, Rng &rng) {
  switch (rng() % 9) {
  case 0:
    t.set_data_type(static_cast<int32_t>(rng() % 27));
    break;
  case 1:
    if (t.dims_size() && rng() % 2)
      t.set_dims(rng() % t.dims_size(), interestingInt(rng) % 9);
    else if (t.dims_size() && rng() % 2)
      t.mutable_dims()->RemoveLast();
    else
      t.add_dims(rng() % 5);
    break;
  case 2:
    if (t.has_raw_data())
      mutateBytes(*t.mutable_raw_data());
    else
      t.set_raw_data(std::string(rng() % 33, '\x01'));
    break;
  case 3:
    if (t.has_raw_data()) {
      std::string &raw = *t.mutable_raw_data();
      raw.resize(rng() % (raw.size() + 8));
    } else if (t.float_data_size() && rng() % 2) {
      t.mutable_float_data()->RemoveLast();
    } else {
      t.add_int64_data(interestingInt(rng));
    }
    break;
  case 4:
    t.add_float_data(interestingFloat(rng));
    break;
  case 5:
    t.add_int32_data(static_cast<int32_t>(interestingInt(rng)));
    break;
  case 6: {
    // External data: a location (relative, escaping, absolute, itself), an
    // offset and a length.
    static const char *const locations[] = {"model.onnx", "absent.bin", "../x", "/etc/hostname",
                                            "", "sub/../model.onnx"};
    static const char *const keys[] = {"location", "offset", "length", "checksum", "bogus"};
    t.set_data_location(onnx::TensorProto::EXTERNAL);
    auto *e = t.add_external_data();
    e->set_key(PICK(rng, keys));
    if (e->key() == "location")
      e->set_value(PICK(rng, locations));
    else
      e->set_value(std::to_string(interestingInt(rng)));
    break;
  }
  case 7:
    t.set_data_location(rng() % 2 ? onnx::TensorProto::DEFAULT : onnx::TensorProto::EXTERNAL);
    break;
  default:
    t.add_string_data(std::string(rng() % 4, 'a'));
    break;
  }
}

void mutateAttribute(onnx::AttributeProto &a, Rng &rng) {
  switch (rng() % 8) {
  case 0:
    a.set_i(interestingInt(rng));
    if (rng() % 2)
      a.set_type(onnx::AttributeProto::INT);
    break;
  case 1:
    a.set_f(interestingFloat(rng));
    break;
  case 2:
    if (a.ints_size() && rng() % 3)
      a.set_ints(rng() % a.ints_size(), interestingInt(rng));
    else if (a.ints_size() && rng() % 2)
      a.mutable_ints()->RemoveLast();
    else
      a.add_ints(interestingInt(rng));
    break;
  case 3:
    a.set_s(PICK(rng, kStrings));
    break;
  case 4:
    a.set_type(static_cast<onnx::AttributeProto::AttributeType>(rng() % 15));
    break;
  case 5:
    a.set_name(PICK(rng, kAttrNames));
    break;
  case 6:
    mutateTensor(*a.mutable_t(), rng);
    break;
  default:
    a.add_floats(interestingFloat(rng));
    break;
  }
}

void mutateType(onnx::TypeProto &type, Rng &rng) {
  onnx::TypeProto_Tensor &tt = *type.mutable_tensor_type();
  switch (rng() % 6) {
  case 0:
    tt.set_elem_type(static_cast<int32_t>(rng() % 27));
    break;
  case 1: {
    if (!tt.has_shape() || tt.shape().dim_size() == 0) {
      tt.mutable_shape()->add_dim()->set_dim_value(rng() % 5);
      break;
    }
    auto *d = tt.mutable_shape()->mutable_dim(rng() % tt.shape().dim_size());
    if (rng() % 4 == 0)
      d->set_dim_param("N");
    else
      d->set_dim_value(rng() % 3 ? static_cast<int64_t>(rng() % 9) : interestingInt(rng));
    break;
  }
  case 2:
    if (tt.has_shape() && tt.shape().dim_size())
      tt.mutable_shape()->mutable_dim()->RemoveLast();
    break;
  case 3:
    tt.mutable_shape()->add_dim()->set_dim_value(rng() % 4);
    break;
  case 4:
    tt.clear_shape();
    break;
  default:
    if (rng() % 2)
      type.clear_tensor_type();
    else
      type.mutable_sequence_type()->mutable_elem_type()->mutable_tensor_type()->set_elem_type(1);
    break;
  }
}

void mutateNode(onnx::GraphProto &g, onnx::NodeProto &n, Rng &rng) {
  switch (rng() % 10) {
  case 0: // an input becomes empty, another name, or is added
  case 1:
    if (n.input_size() && rng() % 4)
      n.set_input(rng() % n.input_size(), rng() % 2 ? std::string() : randomName(rng, g));
    else
      n.add_input(randomName(rng, g));
    break;
  case 2:
    if (n.input_size())
      n.mutable_input()->RemoveLast();
    break;
  case 3:
    if (n.output_size() && rng() % 3)
      n.set_output(rng() % n.output_size(), randomName(rng, g));
    else if (n.output_size() && rng() % 2)
      n.mutable_output()->RemoveLast();
    else
      n.add_output(rng() % 2 ? std::string() : "fuzz_out_" + std::to_string(rng() % 8));
    break;
  case 4:
    n.set_op_type(PICK(rng, kOpTypes));
    break;
  case 5:
  case 6:
    if (n.attribute_size())
      mutateAttribute(*n.mutable_attribute(rng() % n.attribute_size()), rng);
    else
      n.add_attribute()->set_name(PICK(rng, kAttrNames));
    break;
  case 7: {
    onnx::AttributeProto *a = n.add_attribute();
    a->set_name(PICK(rng, kAttrNames));
    switch (rng() % 4) {
    case 0:
      a->set_type(onnx::AttributeProto::INT);
      a->set_i(interestingInt(rng));
      break;
    case 1:
      a->set_type(onnx::AttributeProto::INTS);
      for (unsigned k = rng() % 5; k; --k)
        a->add_ints(interestingInt(rng) % 5);
      break;
    case 2:
      a->set_type(onnx::AttributeProto::FLOAT);
      a->set_f(interestingFloat(rng));
      break;
    default:
      a->set_type(onnx::AttributeProto::STRING);
      a->set_s(PICK(rng, kStrings));
      break;
    }
    break;
  }
  case 8:
    if (n.attribute_size()) {
      n.mutable_attribute()->SwapElements(rng() % n.attribute_size(), n.attribute_size() - 1);
      n.mutable_attribute()->RemoveLast();
    }
    break;
  default:
    if (rng() % 2)
      n.set_domain(rng() % 2 ? "com.microsoft" : "ai.onnx");
    else
      n.set_name(rng() % 2 ? std::string() : n.name() + "_");
    break;
  }
}

void mutateModel(onnx::ModelProto &m, Rng &rng) {
  onnx::GraphProto &g = *m.mutable_graph();
  unsigned what = rng() % 16;
  if (what < 7 && g.node_size()) {
    mutateNode(g, *g.mutable_node(rng() % g.node_size()), rng);
    return;
  }
  switch (what) {
  case 7:
  case 8: { // a graph input or output type
    bool in = rng() % 2;
    auto *list = in ? g.mutable_input() : g.mutable_output();
    if (list->size())
      mutateType(*list->Mutable(rng() % list->size())->mutable_type(), rng);
    break;
  }
  case 9:
    if (g.initializer_size())
      mutateTensor(*g.mutable_initializer(rng() % g.initializer_size()), rng);
    break;
  case 10: { // the node list: delete, duplicate or swap
    if (!g.node_size())
      break;
    int i = rng() % g.node_size(), j = rng() % g.node_size();
    switch (rng() % 3) {
    case 0:
      g.mutable_node()->SwapElements(i, g.node_size() - 1);
      g.mutable_node()->RemoveLast();
      break;
    case 1:
      *g.add_node() = g.node(i);
      g.mutable_node()->SwapElements(j, g.node_size() - 1);
      break;
    default:
      g.mutable_node()->SwapElements(i, j);
      break;
    }
    break;
  }
  case 11: { // graph inputs/outputs: rename, drop, duplicate
    bool in = rng() % 2;
    auto *list = in ? g.mutable_input() : g.mutable_output();
    if (!list->size())
      break;
    int i = rng() % list->size();
    switch (rng() % 3) {
    case 0:
      list->Mutable(i)->set_name(randomName(rng, g));
      break;
    case 1:
      list->SwapElements(i, list->size() - 1);
      list->RemoveLast();
      break;
    default:
      *list->Add() = list->Get(i);
      break;
    }
    break;
  }
  case 12: { // opsets
    if (m.opset_import_size() && rng() % 4) {
      auto *o = m.mutable_opset_import(rng() % m.opset_import_size());
      if (rng() % 4)
        o->set_version(rng() % 26);
      else
        o->set_domain(rng() % 2 ? "" : "ai.onnx.ml");
    } else if (m.opset_import_size() && rng() % 2) {
      m.mutable_opset_import()->RemoveLast();
    } else {
      auto *o = m.add_opset_import();
      o->set_domain("");
      o->set_version(rng() % 26);
    }
    break;
  }
  case 13:
    m.set_ir_version(rng() % 3 ? static_cast<int64_t>(rng() % 12) : interestingInt(rng));
    break;
  case 14: { // a Constant node with a small tensor value
    onnx::NodeProto *n = g.add_node();
    n->set_op_type("Constant");
    n->add_output("fuzz_const_" + std::to_string(rng() % 8));
    onnx::AttributeProto *a = n->add_attribute();
    a->set_name(rng() % 4 ? "value" : PICK(rng, kAttrNames));
    a->set_type(onnx::AttributeProto::TENSOR);
    onnx::TensorProto *t = a->mutable_t();
    t->set_data_type(rng() % 2 ? onnx::TensorProto::INT64 : onnx::TensorProto::FLOAT);
    unsigned count = rng() % 4;
    if (rng() % 2)
      t->add_dims(count);
    for (unsigned k = 0; k < count; ++k) {
      if (t->data_type() == onnx::TensorProto::INT64)
        t->add_int64_data(interestingInt(rng) % 5);
      else
        t->add_float_data(interestingFloat(rng));
    }
    if (g.node_size() > 1)
      g.mutable_node()->SwapElements(rng() % g.node_size(), g.node_size() - 1);
    break;
  }
  default: // value_info entries: the importer may read them as declared types
    if (g.value_info_size())
      mutateType(*g.mutable_value_info(rng() % g.value_info_size())->mutable_type(), rng);
    else if (g.node_size() && g.node(0).output_size()) {
      auto *vi = g.add_value_info();
      vi->set_name(g.node(0).output(0));
      vi->mutable_type()->mutable_tensor_type()->set_elem_type(1);
    }
    break;
  }
}

/// Serializes `m` into `data` when it fits; returns the size or 0.
size_t serializeInto(const onnx::ModelProto &m, uint8_t *data, size_t maxSize) {
  std::string bytes;
  if (!m.SerializeToString(&bytes) || bytes.size() > maxSize || bytes.empty())
    return 0;
  std::memcpy(data, bytes.data(), bytes.size());
  return bytes.size();
}

} // namespace

size_t mutateOnnxModel(uint8_t *data, size_t size, size_t maxSize, unsigned seed) {
  Rng rng(seed);
  onnx::ModelProto model;
  // One in ten: plain byte mutations, so that the protobuf parser and odd
  // encodings are exercised too.
  if (rng() % 10 == 0 || !model.ParseFromArray(data, static_cast<int>(size)))
    return LLVMFuzzerMutate(data, size, maxSize);
  for (unsigned k = 1 + rng() % 3; k; --k)
    mutateModel(model, rng);
  size_t n = serializeInto(model, data, maxSize);
  return n ? n : LLVMFuzzerMutate(data, size, maxSize);
}

size_t crossOverOnnxModels(const uint8_t *data1, size_t size1, const uint8_t *data2,
                           size_t size2, uint8_t *out, size_t maxOutSize, unsigned seed) {
  Rng rng(seed);
  onnx::ModelProto a, b;
  if (!a.ParseFromArray(data1, static_cast<int>(size1)) ||
      !b.ParseFromArray(data2, static_cast<int>(size2)) || !b.graph().node_size())
    return 0;
  onnx::GraphProto &g = *a.mutable_graph();
  const onnx::NodeProto &node = b.graph().node(rng() % b.graph().node_size());
  std::set<std::string> known;
  for (const std::string &n : valueNames(g))
    known.insert(n);
  // What the node reads from b's initializers and inputs comes along.
  for (const std::string &in : node.input()) {
    if (in.empty() || known.count(in))
      continue;
    for (const auto &t : b.graph().initializer())
      if (t.name() == in && t.ByteSizeLong() < 4096) {
        *g.add_initializer() = t;
        known.insert(in);
      }
    for (const auto &v : b.graph().input())
      if (v.name() == in && !known.count(in)) {
        *g.add_input() = v;
        known.insert(in);
      }
  }
  *g.add_node() = node;
  if (node.output_size() && rng() % 2) {
    // Its first output becomes a graph output, so that it is not dead.
    for (const auto &v : b.graph().output())
      if (v.name() == node.output(0))
        *g.add_output() = v;
  }
  return serializeInto(a, out, maxOutSize);
}

} // namespace pmc::fuzz
