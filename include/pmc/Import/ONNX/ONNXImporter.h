//===- ONNXImporter.h - ONNX protobuf to the pmc dialect --------*- C++ -*-===//
#ifndef PMC_IMPORT_ONNX_ONNXIMPORTER_H
#define PMC_IMPORT_ONNX_ONNXIMPORTER_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "pmc/Import/ONNX/TrainingLoss.h"
#include "pmc/Support/HostTensor.h"

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace pmc {

struct ImportOptions {
  /// Static shapes for graph inputs with dynamic dimensions (`--input-shape`).
  std::map<std::string, std::vector<int64_t>> inputShapes;
  /// Graph inputs specialized to constant values (`--bind name=value.npy`):
  /// they leave the function's signature and become constants.
  std::map<std::string, HostTensor> boundInputs;
  /// Lengths of sequence graph inputs (`--sequence-length name=N`): input
  /// `name` becomes the N inputs `name[0]` ... `name[N-1]`, whose shapes come
  /// from the model or from --input-shape 'name[i]=...'.
  std::map<std::string, int64_t> sequenceLengths;
  /// Optional graph inputs given no value (`--absent name`).
  std::set<std::string> absentInputs;
  /// Float initializers imported as function arguments (after the graph
  /// inputs, marked `pmc.parameter`) instead of constants: the trainable
  /// parameters of a train step (pmc-train-step).
  std::set<std::string> parameters;
  /// Training (pmc-opt compile --train): the loss appended to the graph
  /// before import (TrainingLoss.h), which becomes its only output.
  std::optional<LossSpec> loss;
  /// Training: take as parameters every float initializer of more than one
  /// element that no BatchNormalization reads as running statistics, less
  /// these names (in addition to `parameters`).
  bool trainInitializers = false;
  std::set<std::string> frozen;
  /// Read each parameter's initializer into its kInitialValueAttrName (the
  /// bundle's initial state); planning reads none.
  bool parameterValues = true;
};

/// Imports the ONNX model file at `path` into a module holding one
/// `func.func @main` of pmc operators. Initializers become `pmc.constant`s
/// over dense resources (external data is read from the model's folder only).
/// Diagnostics go to the context's handler; returns null on failure.
mlir::OwningOpRef<mlir::ModuleOp> importONNXFile(mlir::MLIRContext &context,
                                                 const std::string &path,
                                                 const ImportOptions &options);

} // namespace pmc

#endif // PMC_IMPORT_ONNX_ONNXIMPORTER_H
