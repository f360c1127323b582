//===- TrainingBatchNorm.cpp - BatchNormalization in a train step ---------===//
#include "TrainingBatchNorm.h"

#include "onnx/onnx_pb.h"

#include <set>

bool pmc::prepareBatchNormTraining(onnx::ModelProto &model,
                                   std::map<std::string, std::string> &updates,
                                   std::string &error) {
  onnx::GraphProto &graph = *model.mutable_graph();
  std::map<std::string, const onnx::TensorProto *> initializers;
  for (const onnx::TensorProto &t : graph.initializer())
    initializers[t.name()] = &t;
  std::set<std::string> taken;
  for (onnx::NodeProto &node : *graph.mutable_node()) {
    if (node.op_type() != "BatchNormalization" || node.input_size() < 5)
      continue;
    bool stateful = true;
    for (int i : {3, 4}) {
      auto it = initializers.find(node.input(i));
      stateful &= it != initializers.end() &&
                  (it->second->data_type() == onnx::TensorProto::FLOAT ||
                   it->second->data_type() == onnx::TensorProto::DOUBLE);
    }
    if (!stateful)
      continue; // statistics computed by the graph: normalized, never updated
    bool set = false;
    for (onnx::AttributeProto &a : *node.mutable_attribute())
      if (a.name() == "training_mode") {
        a.set_i(1);
        set = true;
      }
    if (!set) {
      onnx::AttributeProto *a = node.add_attribute();
      a->set_name("training_mode");
      a->set_type(onnx::AttributeProto::INT);
      a->set_i(1);
    }
    while (node.output_size() < 3)
      node.add_output("");
    for (int i : {3, 4}) {
      const std::string &stat = node.input(i);
      if (!taken.insert(stat).second) {
        error = "BatchNormalization '" + node.name() + "': its running statistics '" + stat +
                "' are those of another BatchNormalization too; training would update them "
                "twice";
        return false;
      }
      std::string &out = *node.mutable_output(i - 2);
      if (out.empty())
        out = stat + ".pmc_running_update";
      updates[out] = stat;
      const onnx::TensorProto &t = *initializers[stat];
      onnx::ValueInfoProto *info = graph.add_output();
      info->set_name(out);
      onnx::TypeProto::Tensor *tensor = info->mutable_type()->mutable_tensor_type();
      tensor->set_elem_type(t.data_type());
      for (int64_t d : t.dims())
        tensor->mutable_shape()->add_dim()->set_dim_value(d);
    }
  }
  return true;
}
