//===- Manifest.h - the bundle manifest, parsed and checked -----*- C++ -*-===//
#ifndef PMC_RUNTIME_MANIFEST_H
#define PMC_RUNTIME_MANIFEST_H

#include "pmc/Runtime/Comm/Mesh.h"
#include "pmc/Schedule/PipelineSchedule.h"
#include "pmc/Support/HostTensor.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pmc::runtime {

/// A graph input or output as the manifest declares it.
struct TensorSpec {
  std::string name;
  DType dtype = DType::Float32;
  /// The full (global) shape.
  std::vector<int64_t> shape;
  /// How the ranks' local tensors tile it (empty: replicated).
  Sharding sharding;
  /// Pipeline bundles: whether dimension 0 is split into the microbatches
  /// (listed in `microbatched_inputs`/`microbatched_outputs`).
  bool microbatched = false;
  /// Pipeline bundles, outputs only: the stage that computes it (-1 otherwise).
  int64_t stage = -1;
  /// Inputs of a train step: "parameter", "buffer" or "optimizer_state" for the state
  /// a Session keeps across runs (Session::setState), else empty.
  std::string state;
  /// A parameter's value before the first step: the bundle section holding
  /// its full row-major bytes, loaded when the session opens (else empty).
  std::string initial;
  /// Outputs: the index of the state input this output replaces after each
  /// run (same dtype, shape and sharding), else -1.
  int64_t updates = -1;

  /// The shape of one rank's local shard.
  std::vector<int64_t> localShape(const Mesh &mesh) const;
  /// Dense byte size of the tensor.
  size_t numBytes() const;
  /// "x: float32[1x4]", for messages and `pmc-run --info`.
  std::string toString() const;
};

/// The manifest's `pipeline` object (docs/design/pipeline.md, "Bundle"):
///
///   "pipeline": {"stages": 2, "axis": "pp", "microbatches": 4, "schedule": "1f1b",
///                "microbatched_inputs": ["x"], "microbatched_outputs": ["y"]}
///
/// `axis` (default "pp") is the first mesh axis and has `stages` ranks.
struct PipelineSpec {
  int64_t stages = 1;
  std::string axis = "pp";
  int64_t microbatches = 1;
  schedule::ScheduleKind schedule = schedule::ScheduleKind::OneFOneB;
};

/// The `manifest` section (docs/design/bundle.md), validated.
struct Manifest {
  std::string producer;
  std::string target;
  int64_t devices = 1;
  /// The mesh object, as compact JSON text.
  std::string meshJson;
  /// The mesh, parsed (its size equals `devices`).
  Mesh mesh;
  /// The section holding the host kernel library; empty when there is none.
  std::string kernelLibrary;
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
  /// For rank r, the name of its program section (ranks[r]).
  std::vector<std::string> rankPrograms;
  /// The pipeline, when the bundle has one.
  std::optional<PipelineSpec> pipeline;
  /// A train step's `train` object: {"optimizer": "adamw", "lr": 3e-4}, the
  /// learning rate a runner feeds as pmc.lr by default (pmc-run --train).
  struct Train {
    std::string optimizer;
    double lr = 0;
  };
  std::optional<Train> train;

  /// The pipeline stage of `rank` (its coordinate on the pipeline axis); 0
  /// without a pipeline.
  int64_t stageOf(int rank) const;
  /// The global shape of one microbatch of `spec` (dimension 0 divided by
  /// the microbatches when it is microbatched; else its shape).
  std::vector<int64_t> microbatchShape(const TensorSpec &spec) const;
  /// The shape of one rank's buffer for `spec` in one step: the local shard
  /// of microbatchShape() (the local shape when there is no pipeline).
  std::vector<int64_t> stepShape(const TensorSpec &spec) const;

  /// Parses and checks the JSON text of the manifest. Throws RuntimeError
  /// whose message starts with "manifest: ".
  static Manifest parse(std::string_view json);
};

} // namespace pmc::runtime

#endif // PMC_RUNTIME_MANIFEST_H
