//===- TrainingLoss.h - the loss a train step minimizes --------*- C++ -*-===//
//
// A forward ONNX model ends in its predictions; a train step needs a scalar
// loss. These are PyTorch's losses (torch.nn.CrossEntropyLoss, MSELoss,
// L1Loss, BCEWithLogitsLoss: the same semantics and defaults), appended to
// the ONNX graph before import as ONNX nodes, with their labels or target as
// a new graph input; or a model output that is its loss already. The loss
// becomes the graph's only output.
//
//   --loss cross_entropy:logits,labels,ignore_index=-100,label_smoothing=0.1
//   --loss mse:y,target,reduction=sum      --loss output:loss
//
#ifndef PMC_IMPORT_ONNX_TRAININGLOSS_H
#define PMC_IMPORT_ONNX_TRAININGLOSS_H

#include <cstdint>
#include <string>

namespace onnx {
class ModelProto;
} // namespace onnx

namespace pmc {

struct LossSpec {
  /// cross_entropy, mse, l1, bce_with_logits, or output (the model's own).
  std::string kind;
  /// The output it reads: the logits (cross_entropy) or predictions.
  std::string output;
  /// The input it adds: labels (int64, the logits' shape without the class
  /// dimension, the last) or target (the output's type and shape). Default:
  /// "labels" for cross_entropy, "target" otherwise.
  std::string target;
  /// "mean" or "sum".
  std::string reduction = "mean";
  int64_t ignoreIndex = -100;
  double labelSmoothing = 0.0;
};

/// Parses `KIND:OUTPUT[,TARGET][,key=value...]` (keys: reduction,
/// ignore_index, label_smoothing; the last two for cross_entropy only) or
/// `output:NAME`; false and `error` on a malformed one.
bool parseLossSpec(const std::string &text, LossSpec &spec, std::string &error);

/// The spec as parseLossSpec reads it back.
std::string formatLossSpec(const LossSpec &spec);

/// Appends the loss to `model`'s graph and makes it the only output; false
/// and `error` (naming the output, the shape at fault) when the model cannot
/// take it.
bool addTrainingLoss(onnx::ModelProto &model, const LossSpec &spec, std::string &error);

} // namespace pmc

#endif // PMC_IMPORT_ONNX_TRAININGLOSS_H
