//===- CudaProgram.h - a rank program of a cuda bundle, validated -*- C++ -*-===//
//
// The `rank<R>.program` of a `target: cuda` bundle (docs/design/bundle.md,
// "Target cuda"): the buffer table with `scratch` buffers, the commands as
// device steps (launch, matmul, conv, copy, shard, the collectives), the
// arena plan by liveness (scratch placed like temps) and the PTX modules of
// the manifest. Everything is checked on load, before a GPU is touched, so a
// bad bundle fails the same way with and without a GPU.
//
#ifndef PMC_RUNTIME_CUDA_CUDAPROGRAM_H
#define PMC_RUNTIME_CUDA_CUDAPROGRAM_H

#include "pmc/Runtime/Buffer.h"
#include "pmc/Runtime/BufferPlan.h"
#include "pmc/Runtime/CUDA/CudaPlanning.h"
#include "pmc/Runtime/Command.h"
#include "pmc/Runtime/Comm/Communicator.h"
#include "pmc/Runtime/Manifest.h"

#include <array>
#include <memory>
#include <string>
#include <vector>

namespace pmc::bundle {
class BundleReader;
}

namespace pmc::runtime::cuda {

enum class CudaStepKind { Launch, Matmul, Conv, Copy, Shard, Collective, Send, Recv };

/// {"op": "launch", ...}: one cuLaunchKernel.
struct LaunchStep {
  std::string kernel, function;
  std::array<unsigned, 3> grid{1, 1, 1}, block{1, 1, 1};
  unsigned sharedBytes = 0;
  std::vector<int> args, writes;
};

/// {"op": "matmul", ...} on cuBLASLt.
struct MatmulStep {
  int a = 0, b = 0, c = 0, bias = -1;
  DType dtype = DType::Float32;
  LtMatmulPlan plan;
  LtEpiloguePlan epilogue;
};

/// {"op": "conv", ...} on cuDNN (NCHW, symmetric pads).
struct ConvStep {
  int x = 0, w = 0, bias = -1, y = 0;
  DType dtype = DType::Float32;
  std::vector<int64_t> xShape, wShape, yShape;
  std::vector<int64_t> strides, pads, dilations;
  int64_t group = 1;
};

/// One command as the executor runs it.
struct CudaStep {
  CudaStepKind kind = CudaStepKind::Launch;
  int index = 0;
  std::string op;
  std::vector<int> reads, writes;
  LaunchStep launch;
  MatmulStep matmul;
  ConvStep conv;
  /// Copy: `bytes` from reads[0] to writes[0].
  size_t bytes = 0;
  /// Shard: the copies from reads[0] into writes[0].
  std::vector<Copy2D> copies;
  /// Collective: everything but the data pointers.
  CollectiveCall call;
  /// Send / recv (pipeline.md): the peer rank (same coordinates on every
  /// axis but the pipeline axis, in the other stage), the edge tag and the
  /// stage on the other end; `bytes` is the message size. In microbatch m
  /// the message carries wire tag pipelineWireTag(tag, m, M) (Pipeline.h).
  int peer = -1;
  int tag = 0;
  int64_t otherStage = 0;

  /// Whether the step runs on the communication stream.
  bool communicates() const {
    return kind == CudaStepKind::Collective || kind == CudaStepKind::Send || kind == CudaStepKind::Recv;
  }

  /// "command 3 (matmul)".
  std::string where() const { return "command " + std::to_string(index) + " (" + op + ")"; }
};

/// One PTX module of the manifest's "cuda" object.
struct PtxModule {
  std::string chip, section;
};

class CudaProgram {
public:
  /// Parses and validates rank `rank`'s program of a cuda bundle. Throws
  /// RuntimeError("<section>: <what is wrong>").
  static std::unique_ptr<CudaProgram> load(const Manifest &manifest,
                                           const bundle::BundleReader &reader, int rank);

  int rank() const { return rankIndex; }
  const std::string &section() const { return sectionName; }
  const std::vector<BufferDesc> &buffers() const { return bufferTable; }
  /// True for `scratch` buffers (temps with BufferDesc::scratch).
  bool isScratch(int id) const { return bufferTable[id].scratch; }
  const std::vector<CudaStep> &steps() const { return stepList; }
  /// Buffer of each manifest output; -1 for the outputs of other pipeline
  /// stages.
  const std::vector<int> &outputs() const { return outputIds; }
  /// Whether the program has a buffer for manifest input `input` (a stage
  /// of a pipeline reads only some inputs).
  bool readsInput(size_t input) const;
  /// The send and recv steps, in program order.
  std::vector<const CudaStep *> transfers() const;
  const ArenaPlan &plan() const { return arenaPlan; }
  /// Pipeline bundles: the microbatches M (send/recv wire tags); 0 otherwise.
  int64_t pipelineMicrobatches() const { return microbatchCount; }
  const std::vector<PtxModule> &ptx() const { return ptxModules; }
  /// The device memory each step touches (arena ranges share space -1).
  std::vector<CommandAccess> accesses() const;
  /// Collectives, sends and receives (the steps on the communication stream).
  size_t collectiveCount() const;
  bool has(CudaStepKind kind) const;

private:
  friend class CudaProgramLoader;
  /// Parses the program JSON `root` into this (load() adds the section name
  /// to the errors).
  void parse(const nlohmann::json &root, const Manifest &manifest,
             const bundle::BundleReader &reader);

  int rankIndex = 0;
  std::string sectionName;
  std::vector<BufferDesc> bufferTable;
  std::vector<CudaStep> stepList;
  std::vector<int> outputIds;
  ArenaPlan arenaPlan;
  std::vector<PtxModule> ptxModules;
  int64_t microbatchCount = 0;
};

/// Checks, across the loaded `programs` (by rank, null for ranks not
/// loaded), that every send has its recv on the peer with the same tag and
/// size and that, between every ordered pair of ranks, the sends of one and
/// the receives of the other come in the same order: NCCL has no tags and
/// matches a pair's messages in program order. Throws RuntimeError naming
/// both programs.
void checkTransferOrder(const Manifest &manifest,
                        const std::vector<const CudaProgram *> &programs);

/// The PTX modules listed by a cuda manifest (`manifestJson` is the text of
/// the `manifest` section); checks "kernel_abi" is "bare-pointer" and every
/// section exists. Throws RuntimeError("manifest: cuda: ...").
std::vector<PtxModule> parsePtxModules(std::string_view manifestJson,
                                       const bundle::BundleReader &reader);

} // namespace pmc::runtime::cuda

#endif // PMC_RUNTIME_CUDA_CUDAPROGRAM_H
