//===- CostModel.h - predicted time and memory of a sharded program -*- C++ -*-===//
//
// Scores a sharding of a function without partitioning it: per op, the local
// work its sharding rule leaves each device (a roofline per dtype), the
// collectives that reshard its operands and results (an alpha-beta model per
// link level, ring or tree, whichever is cheaper), and per device the memory
// of weights and of activations live at the peak. Formulas and constants:
// docs/design/cost-model.md.
//
//   DeviceSpec spec = cantFail(getBuiltinDeviceSpec("h100-sxm"));
//   FailureOr<CostEstimate> cost = estimateCost(func, mesh, spec);
//   // cost->stepTimeS, cost->commS, cost->memory.totalBytes(), cost->ops[i]
//
// A plan search scores candidates by passing its own sharding per value
// (ShardingMap) instead of rewriting the IR's annotations.
//
#ifndef PMC_PARALLEL_COSTMODEL_H
#define PMC_PARALLEL_COSTMODEL_H

#include "pmc/Dialect/PMC/IR/PMCAttrs.h"
#include "pmc/Parallel/DeviceSpec.h"
#include "pmc/Schedule/PipelineSchedule.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/DenseMap.h"

namespace mlir::pmc {

//===----------------------------------------------------------------------===//
// Topology: mesh axes onto link levels.
//===----------------------------------------------------------------------===//

/// Which link level of a spec serves each mesh axis. Ranks are row-major over
/// the axes, so the ranks along axis a are `stride(a)` apart, where stride is
/// the product of the sizes of the axes after a. Axis a is served by the first
/// (fastest) level whose groups hold `stride(a) * size(a)` devices: the
/// innermost axes get NVLink while they fit in a node, outer ones the network.
struct MeshTopology {
  /// Per mesh axis, in mesh order: an index into spec.levels.
  llvm::SmallVector<unsigned> axisLevel;

  static MeshTopology map(mlir::pmc::MeshAttr mesh, const DeviceSpec &spec);
  /// The level a collective over `axes` runs on: the slowest of theirs (the
  /// model charges the whole collective to its bottleneck link).
  unsigned levelOf(mlir::pmc::MeshAttr mesh, llvm::ArrayRef<llvm::StringRef> axes) const;
};

//===----------------------------------------------------------------------===//
// Collectives: alpha-beta per level.
//===----------------------------------------------------------------------===//

enum class Collective : uint8_t { AllReduce, AllGather, ReduceScatter, AllToAll };
enum class CollectiveAlgorithm : uint8_t { Ring, Tree };

struct CollectiveCost {
  double seconds = 0;
  CollectiveAlgorithm algorithm = CollectiveAlgorithm::Ring;
};

/// The time of one collective over `groupSize` devices on `level`, the
/// cheaper of ring and tree. `bytes` is the larger per-device buffer: the
/// tensor of all_reduce and all_to_all, the gathered result of all_gather,
/// the input of reduce_scatter. With n = bytes, p = groupSize,
/// B = level.bandwidth, a = level.latency, L = ceil(log2 p):
///   all_reduce      ring 2(p-1)/p n/B + 2(p-1)a    tree 2 n/B + 2 L a
///   all_gather      ring (p-1)/p n/B + (p-1)a      tree (p-1)/p n/B + L a
///   reduce_scatter  as all_gather
///   all_to_all      (p-1)/p n/B + (p-1)a (pairwise; no tree)
/// A group of one device costs nothing.
CollectiveCost collectiveCost(Collective kind, double bytes, int64_t groupSize,
                              const LinkLevel &level);

/// The communication of a resharding (or of several).
struct CommCost {
  double seconds = 0;
  /// Bytes each device sends (the bandwidth terms' n times their factor).
  double bytesSent = 0;
  unsigned collectives = 0;

  CommCost &operator+=(const CommCost &other) {
    seconds += other.seconds;
    bytesSent += other.bytesSent;
    collectives += other.collectives;
    return *this;
  }
};

/// The cost of converting a tensor of `globalShape` and `elementType` from
/// `source` to `target`: the steps planReshard (Reshard.h) chooses, each
/// priced by collectiveCost on its local buffer sizes (local slices are free).
mlir::FailureOr<CommCost>
reshardCost(mlir::pmc::ShardingAttr source, mlir::pmc::ShardingAttr target,
            mlir::pmc::MeshAttr mesh, llvm::ArrayRef<int64_t> globalShape,
            mlir::Type elementType, const DeviceSpec &spec, const MeshTopology &topology,
            llvm::function_ref<mlir::InFlightDiagnostic()> emitError);

//===----------------------------------------------------------------------===//
// Compute: a roofline per op.
//===----------------------------------------------------------------------===//

/// The local work of one op on one device.
struct OpWork {
  double flops = 0;
  /// Bytes of the local operands and results (each read or written once).
  double bytes = 0;
  /// Matrix work (matmul, conv) runs at spec.peak(dtype); the rest at
  /// spec.vectorFlops.
  bool matrix = false;
  PeakDType dtype = PeakDType::F32;
  /// Views and constants: no kernel, no launch overhead.
  bool free = false;
};

struct CostOptions {
  /// f32 matrix work may use TF32 tensor cores (peak tf32 instead of f32).
  bool allowTF32 = false;
  /// Activations held at once per device: the pipeline schedule's in-flight
  /// microbatches (1 without pipelining).
  double activationMultiplier = 1;
  /// The gradient buckets of pmc-combine-all-reduces (CompileOptions::
  /// bucketBytes): all-reduces of partial values combined up to this size.
  int64_t bucketBytes = 0;
};

/// The work of `op` with the given local (per-device) operand and result
/// shapes. FLOPs: matmul 2mnk, conv 2 * out * (C/g * kernel), softmax 5 and
/// layer_norm 8 per element, transcendental unaries 4 (gelu 8), reductions
/// and pools 1 per input element, data movement 0, anything else 1 per result
/// element.
OpWork opWork(mlir::Operation *op, llvm::ArrayRef<llvm::SmallVector<int64_t>> operandShapes,
              llvm::ArrayRef<llvm::SmallVector<int64_t>> resultShapes,
              const CostOptions &options = {});

/// max(flops / peak, bytes / memoryBandwidth) + launchOverhead (0 when free).
double rooflineSeconds(const OpWork &work, const DeviceSpec &spec);

//===----------------------------------------------------------------------===//
// The whole function.
//===----------------------------------------------------------------------===//

/// A sharding per value, overriding the IR's annotations (`pmc.sharding` on
/// arguments and results, `pmc.shardings` on ops); values in neither are
/// replicated.
using ShardingMap = llvm::DenseMap<mlir::Value, mlir::pmc::ShardingAttr>;

struct OpCost {
  mlir::Operation *op = nullptr;
  OpWork work;
  double computeS = 0;
  /// Resharding of its operands before it and of its results after it.
  CommCost comm;
  /// Activation bytes live on a device while the op runs (the liveness walk
  /// of MemoryBreakdown: live values, resharded copies, its results).
  double liveBytes = 0;
  /// Local bytes of its results as annotated (a constant's: its weight
  /// shard; the pipeline planner sums those crossing a stage cut).
  double resultBytes = 0;
};

struct MemoryBreakdown {
  /// Local shards of the constants (weights) and of a train step's
  /// parameters, per device.
  double weightBytes = 0;
  /// A train step's optimizer state (kOptimizerStateAttrName arguments).
  double optimizerStateBytes = 0;
  /// The values live at the peak of a program-order liveness walk, per
  /// device, for one microbatch: the gradients among them (results of
  /// kGradientOfAttrName ops), a train step's state updates among them (its
  /// new parameter and optimizer state values, which the runtime writes
  /// beside the old ones and copies over them when the step ends), and the
  /// rest (arguments, op results, resharded copies).
  double gradientBytes = 0, stateUpdateBytes = 0, peakActivationBytes = 0;
  /// The op at whose execution the peak occurs (null: the arguments alone).
  mlir::Operation *peakOp = nullptr;
  double activationMultiplier = 1;

  double totalBytes() const {
    return weightBytes + optimizerStateBytes + gradientBytes + stateUpdateBytes +
           peakActivationBytes * activationMultiplier;
  }
};

struct CostEstimate {
  double computeS = 0;
  double commS = 0;
  /// computeS + commS: no overlap of communication with compute is assumed.
  double stepTimeS = 0;
  MemoryBreakdown memory;
  /// memory.totalBytes() for every rank (equal shardings give every rank the
  /// same blocks; pipeline stages will differ).
  std::vector<double> memoryPerDeviceBytes;
  /// Per op of the function body, in program order (the return included).
  std::vector<OpCost> ops;
};

/// Estimates `func` (global shapes, single block, shardings annotated or
/// given in `shardings`) on `mesh` of `spec` devices. Each op's operands are
/// resharded to what its sharding rule implies for its result shardings, as
/// pmc-partition does; ops without a rule compute replicated. Fails with a
/// diagnostic on the op when a sharding is invalid for its shape.
mlir::FailureOr<CostEstimate> estimateCost(mlir::func::FuncOp func,
                                           mlir::pmc::MeshAttr mesh,
                                           const DeviceSpec &spec,
                                           const CostOptions &options = {},
                                           const ShardingMap *shardings = nullptr);

//===----------------------------------------------------------------------===//
// Pipelines: stages, microbatches, schedules (docs/design/pipeline.md).
//===----------------------------------------------------------------------===//

/// Seconds to send `bytes` from one device to its peer in the next stage:
/// latency + bytes / bandwidth of `level` (0 bytes: nothing sent, 0 s).
double sendRecvSeconds(double bytes, const LinkLevel &level);

struct PipelineTime {
  /// (M + K - 1) x the slowest stage's microbatch step.
  double stepTimeS = 0;
  /// max over stages of stageSeconds[s] + sendSeconds[s].
  double stageStepS = 0;
  /// The stage whose microbatch step is the slowest (the first of equals).
  unsigned bottleneck = 0;
  /// (K - 1) / (M + K - 1): the share of the step a device idles.
  double bubbleFraction = 0;
};

/// The step time of a K-stage pipeline (K = stageSeconds.size()) over
/// `microbatches` microbatches: stage s spends stageSeconds[s] (its compute
/// and collectives) plus sendSeconds[s] (sending its activations to the next
/// stages) on each microbatch, and the schedule needs M + K - 1 such steps
/// of the slowest stage (inference; GPipe and 1F1B take the same time).
PipelineTime pipelineTime(llvm::ArrayRef<double> stageSeconds,
                          llvm::ArrayRef<double> sendSeconds, int64_t microbatches);

/// Prints a per-op table and the totals (for --pmc-test-print-costs and
/// debugging).
void printCostEstimate(const CostEstimate &estimate, llvm::raw_ostream &os);

} // namespace mlir::pmc

#endif // PMC_PARALLEL_COSTMODEL_H
