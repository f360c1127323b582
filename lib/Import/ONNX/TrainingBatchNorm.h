//===- TrainingBatchNorm.h - BatchNormalization in a train step -*- C++ -*-===//
//
// An exported model's BatchNormalization normalizes with its running
// statistics (training_mode = 0: inference). Trained, it normalizes with the
// batch's statistics and updates the running ones, as torch.nn.BatchNorm2d
// in train() mode does and ONNX defines for training_mode = 1:
//
//   running_mean' = running_mean * momentum + mean(X) * (1 - momentum)
//   running_var'  = running_var * momentum + var(X) * (1 - momentum)
//
// (var: the biased variance over every dim but the channel). The running
// statistics are then state of the train step (pmc.buffer arguments), and
// their new values results that update them (pmc.state_update).
//
#ifndef PMC_LIB_IMPORT_ONNX_TRAININGBATCHNORM_H
#define PMC_LIB_IMPORT_ONNX_TRAININGBATCHNORM_H

#include <map>
#include <string>

namespace onnx {
class ModelProto;
} // namespace onnx

namespace pmc {

/// Sets training_mode = 1 on every BatchNormalization of `model`'s graph
/// whose running statistics (inputs 3 and 4) are float initializers, names
/// its running-statistics outputs (1 and 2) if it leaves them unnamed, and
/// makes them graph outputs. Returns {output name: the initializer it
/// updates} in `updates`; false with `error` when an initializer is the
/// running statistics of two nodes (two updates of one state).
bool prepareBatchNormTraining(onnx::ModelProto &model,
                              std::map<std::string, std::string> &updates, std::string &error);

} // namespace pmc

#endif // PMC_LIB_IMPORT_ONNX_TRAININGBATCHNORM_H
