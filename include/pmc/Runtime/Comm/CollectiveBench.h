//===- CollectiveBench.h - measure collectives, fit alpha and beta -*- C++ -*-===//
//
// Times all_reduce, all_gather, reduce_scatter and all_to_all over the world
// group of any Communicator at a few sizes and fits the alpha-beta model of
// docs/design/cost-model.md to each: a collective of n bytes over p ranks takes
//
//   t = steps(p) * alpha + busFactor(p) * n / B
//
// (ring: all_reduce 2(p-1) steps and 2(p-1)/p; the others p-1 and (p-1)/p),
// so `B` is the bus bandwidth (NCCL's busbw) and `alpha` the latency per step,
// the two numbers of a DeviceSpec link level. Every rank calls
// runCollectiveBench collectively; all get the same result.
//
//   CollectiveBenchResult r = runCollectiveBench(comm, CollectiveBenchOptions::quick());
//   std::string json = collectiveBenchJson(r, "mpi", "mpi");   // rank 0 writes it
//   LinksFile links = parseLinksJson(json, "links.json");      // pmc-opt reads it
//
#ifndef PMC_RUNTIME_COLLECTIVEBENCH_H
#define PMC_RUNTIME_COLLECTIVEBENCH_H

#include "pmc/Runtime/Comm/Communicator.h"

#include <cstdint>
#include <string>
#include <vector>

namespace pmc::runtime {

/// The four collectives the bench measures, in this order.
inline constexpr CollectiveKind kBenchCollectives[] = {
    CollectiveKind::AllReduce, CollectiveKind::AllGather, CollectiveKind::ReduceScatter,
    CollectiveKind::AllToAll};
/// "all_reduce", "all_gather", "reduce_scatter", "all_to_all".
const char *collectiveKindName(CollectiveKind kind);
/// Latency steps of the ring (pairwise for all_to_all) algorithm over `ranks`:
/// 2(p-1) for all_reduce, p-1 otherwise.
double collectiveSteps(CollectiveKind kind, int ranks);
/// The fraction of n that crosses each rank's link: 2(p-1)/p for all_reduce,
/// (p-1)/p otherwise.
double collectiveBusFactor(CollectiveKind kind, int ranks);

/// One timed size: `bytes` is the cost model's n (all_reduce, all_to_all: the
/// tensor; all_gather: the gathered result; reduce_scatter: the input).
struct CollectiveSample {
  CollectiveKind kind = CollectiveKind::AllReduce;
  int ranks = 2;
  double bytes = 0;
  /// The median over repetitions of the slowest rank's time.
  double seconds = 0;
};

/// alpha (seconds per step) and bus bandwidth (bytes/s) of a fit.
struct AlphaBeta {
  double alpha = 0;
  double bandwidth = 0;
};

/// Least-squares fit of t = steps * alpha + busFactor * bytes / bandwidth to
/// `samples` (of any kinds and rank counts), each weighted by 1/t^2 so that
/// small and large messages count alike (relative error). alpha is clamped
/// at 0 (the fit is redone through the origin); when the samples show no
/// growth with size the bandwidth is the largest message's busFactor * n / t.
/// Throws RuntimeError when there is nothing to fit (no samples with
/// positive times, or a single rank).
AlphaBeta fitAlphaBeta(const std::vector<CollectiveSample> &samples);

struct CollectiveBenchOptions {
  /// Message sizes n in bytes (rounded up to whole float32 elements that
  /// divide evenly among the ranks).
  std::vector<double> sizes = {4096, 65536, 1 << 20, 8 << 20};
  /// Timed repetitions per size (after one warm-up).
  int repetitions = 10;
  /// A few seconds at most: three sizes up to 1 MiB, five repetitions.
  static CollectiveBenchOptions quick();
};

struct CollectiveFit {
  CollectiveKind kind = CollectiveKind::AllReduce;
  AlphaBeta fit;
  std::vector<CollectiveSample> samples;
};

struct CollectiveBenchResult {
  int ranks = 0;
  /// One per kBenchCollectives entry.
  std::vector<CollectiveFit> collectives;
  /// The joint fit over every sample: the link level.
  AlphaBeta level;
};

/// Runs the bench over all ranks of `comm` (every rank must call it with the
/// same options). Each repetition starts after a 1-element all_reduce that
/// aligns the ranks; the ranks agree on the times with a max all_reduce, so
/// every rank returns the same result. Calls comm.prepare() with a one-axis
/// mesh ("world") first. Throws RuntimeError for a single rank or bad options,
/// CollectiveError when a collective fails.
CollectiveBenchResult runCollectiveBench(Communicator &comm,
                                         const CollectiveBenchOptions &options);
/// runCollectiveBench over `ranks` threads of one process (LocalCommunicator).
CollectiveBenchResult runLocalCollectiveBench(int ranks, const CollectiveBenchOptions &options);

/// The links file pmc-run --calibrate-collectives writes:
///   {"communicator": "mpi", "ranks": 2,
///    "level": {"name": "mpi", "bandwidth_bytes_per_s": 3.1e9, "latency_s": 2e-6},
///    "collectives": {"all_reduce": {"alpha_s": .., "bandwidth_bytes_per_s": ..,
///                                   "steps": 2, "bus_factor": 1,
///                                   "samples": [{"bytes": 4096, "seconds": ..}]}, ..}}
std::string collectiveBenchJson(const CollectiveBenchResult &result,
                                 const std::string &communicator, const std::string &levelName);

/// What pmc-opt calibrate reads back from a links file.
struct LinksFile {
  std::string communicator;
  int ranks = 0;
  std::string levelName;
  double bandwidth = 0, latency = 0;
  /// The "devices" of the level when the file gives one (the group size it
  /// serves; 0 = every device), else -1.
  int64_t devices = -1;
};
/// Parses a links file; throws RuntimeError("<where>: field 'level.latency_s':
/// expected a non-negative number") naming the field.
LinksFile parseLinksJson(const std::string &text, const std::string &where);

} // namespace pmc::runtime

#endif // PMC_RUNTIME_COLLECTIVEBENCH_H
