//===- PipelinePlanner.cpp - stage cuts by dynamic programming over layers ===//
#include "PlannerInternal.h"

#include "mlir/IR/Builders.h"
#include "llvm/Support/FormatVariadic.h"

#include <limits>

using namespace mlir;
using namespace mlir::pmc;
using namespace mlir::pmc::planner;

/// Layer counts above this are coalesced evenly (the search is O(K L^2)).
static constexpr size_t kMaxLayers = 256;

std::vector<PlanLayer>
planner::findLayers(func::FuncOp func,
                    ArrayRef<std::pair<PlannedWeight, Value>> weights) {
  Block &body = func.getBody().front();
  llvm::DenseMap<Operation *, unsigned> position;
  for (auto [i, op] : llvm::enumerate(body.getOperations()))
    position[&op] = i;
  unsigned terminator = body.getOperations().size() - 1;
  // Positions of the ops that compute (not constants, not the terminator).
  std::vector<unsigned> compute;
  for (Operation &op : body.without_terminator())
    if (!isa<ConstantOp>(op))
      compute.push_back(position[&op]);
  if (compute.empty())
    return {};
  // Boundary b lies after compute[b]. A value crosses it when it is defined
  // at or before compute[b] and used (not only returned) after it.
  std::vector<int> crossing(compute.size() + 1, 0);
  auto boundaryAfter = [&](unsigned pos) {
    return std::upper_bound(compute.begin(), compute.end(), pos) - compute.begin() - 1;
  };
  // Arguments count too (the residual input of a first layer), so that the
  // layers of a repeated block look alike.
  auto count = [&](Value value, long first) {
    unsigned last = 0;
    for (Operation *user : value.getUsers())
      if (position.count(user) && position[user] != terminator)
        last = std::max(last, position[user]);
    long end = last ? boundaryAfter(last - 1) : first - 1;
    for (long b = std::max(first, 0l); b <= end; ++b)
      ++crossing[b];
  };
  for (BlockArgument arg : body.getArguments())
    count(arg, 0);
  for (Operation &op : body.without_terminator())
    if (!isa<ConstantOp>(op))
      for (Value result : op.getResults())
        count(result, boundaryAfter(position[&op]));
  size_t boundaries = compute.size() - 1;
  int narrowest = std::numeric_limits<int>::max();
  for (size_t b = 0; b < boundaries; ++b)
    narrowest = std::min(narrowest, crossing[b]);
  // Segments between narrowest boundaries.
  std::vector<std::pair<unsigned, unsigned>> segments; // compute indices
  unsigned begin = 0;
  for (size_t b = 0; b < boundaries; ++b)
    if (crossing[b] == narrowest) {
      segments.emplace_back(begin, b);
      begin = b + 1;
    }
  segments.emplace_back(begin, compute.size() - 1);
  // Weights by the segment of their first user.
  std::vector<std::vector<unsigned>> segmentWeights(segments.size());
  std::vector<unsigned> firstUse;
  for (auto [w, entry] : llvm::enumerate(weights)) {
    unsigned first = terminator;
    for (Operation *user : entry.second.getUsers())
      if (position.count(user))
        first = std::min(first, position[user]);
    // The computing op at or after the first user.
    unsigned c = std::lower_bound(compute.begin(), compute.end(), first) - compute.begin();
    c = std::min<unsigned>(c, compute.size() - 1);
    for (auto [s, segment] : llvm::enumerate(segments))
      if (segment.first <= c && c <= segment.second)
        segmentWeights[s].push_back(w);
    firstUse.push_back(first);
  }
  // Within a segment, in the order of first use.
  for (auto &list : segmentWeights)
    llvm::stable_sort(list, [&](unsigned a, unsigned b) { return firstUse[a] < firstUse[b]; });
  // Merge segments without weights into the previous one (an activation
  // goes with its matmul), leading ones into the first with weights, so that
  // every layer has weights when the model has any.
  std::vector<std::pair<unsigned, unsigned>> merged;
  std::vector<std::vector<unsigned>> mergedWeights;
  bool anyWeights = !weights.empty();
  for (auto [s, segment] : llvm::enumerate(segments)) {
    bool empty = anyWeights && segmentWeights[s].empty();
    if (empty && !merged.empty()) {
      merged.back().second = segment.second;
      continue;
    }
    if (!merged.empty() && anyWeights && mergedWeights.back().empty()) {
      // Leading segments without weights: this one takes them.
      merged.back().second = segment.second;
      mergedWeights.back() = segmentWeights[s];
      continue;
    }
    merged.push_back(segment);
    mergedWeights.push_back(segmentWeights[s]);
  }
  // Coalesce evenly when there are too many.
  if (merged.size() > kMaxLayers) {
    std::vector<std::pair<unsigned, unsigned>> grouped;
    std::vector<std::vector<unsigned>> groupedWeights;
    for (size_t g = 0; g < kMaxLayers; ++g) {
      size_t from = g * merged.size() / kMaxLayers;
      size_t to = (g + 1) * merged.size() / kMaxLayers - 1;
      grouped.emplace_back(merged[from].first, merged[to].second);
      groupedWeights.emplace_back();
      for (size_t m = from; m <= to; ++m)
        llvm::append_range(groupedWeights.back(), mergedWeights[m]);
    }
    merged = std::move(grouped);
    mergedWeights = std::move(groupedWeights);
  }
  std::vector<PlanLayer> layers;
  for (auto [l, range] : llvm::enumerate(merged)) {
    PlanLayer layer;
    // Contiguous body ranges: from after the previous layer to the last
    // computing op (the last layer: to the op before the terminator).
    layer.firstOp = l == 0 ? 0 : layers.back().lastOp + 1;
    layer.lastOp = l + 1 == merged.size() ? terminator - 1 : compute[range.second];
    layer.weights = mergedWeights[l];
    layers.push_back(std::move(layer));
  }
  return layers;
}

std::vector<int> planner::opLayers(func::FuncOp func, ArrayRef<PlanLayer> layers) {
  Block &body = func.getBody().front();
  std::vector<int> result(body.getOperations().size(), -1);
  for (auto [l, layer] : llvm::enumerate(layers))
    for (unsigned i = layer.firstOp; i <= layer.lastOp && i < result.size(); ++i)
      result[i] = static_cast<int>(l);
  llvm::DenseMap<Operation *, unsigned> position;
  for (auto [i, op] : llvm::enumerate(body.getOperations()))
    position[&op] = i;
  // A constant takes the smallest layer of its users.
  for (auto [i, op] : llvm::enumerate(body.getOperations())) {
    if (!isa<ConstantOp>(op))
      continue;
    int layer = -1;
    for (Operation *user : op.getUsers())
      if (position.count(user) && result[position[user]] >= 0)
        layer = layer < 0 ? result[position[user]] : std::min(layer, result[position[user]]);
    if (layer >= 0)
      result[i] = layer;
  }
  if (!result.empty())
    result.back() = -1;
  return result;
}

std::vector<PlanLayer> mlir::pmc::collectPlanLayers(ModuleOp module) {
  func::FuncOp func = plannedFunction(module);
  if (!func)
    return {};
  return findLayers(func, findWeights(func));
}

namespace {

/// Per-layer sums of one profile, and the bytes a stage sends.
struct LayerCosts {
  std::vector<double> seconds, computeS, weightBytes, liveBytes;
  std::vector<unsigned> collectives;
  /// send[i][j]: bytes per device a stage of layers i..j sends to later
  /// stages per microbatch (values it defines that layers after j use).
  std::vector<std::vector<double>> send;

  LayerCosts(const OpProfile &profile, func::FuncOp func, ArrayRef<int> layerOf,
             size_t numLayers)
      : seconds(numLayers, 0), computeS(numLayers, 0), weightBytes(numLayers, 0),
        liveBytes(numLayers, 0), collectives(numLayers, 0),
        send(numLayers, std::vector<double>(numLayers, 0)) {
    Block &body = func.getBody().front();
    llvm::DenseMap<Operation *, unsigned> position;
    for (auto [i, op] : llvm::enumerate(body.getOperations()))
      position[&op] = i;
    // crossing[j][d]: bytes of values defined in layer d used after layer j.
    std::vector<std::vector<double>> crossing(numLayers, std::vector<double>(numLayers, 0));
    for (auto [i, op] : llvm::enumerate(body.getOperations())) {
      int l = layerOf[i];
      if (l < 0)
        continue;
      seconds[l] += profile.opSeconds[i];
      computeS[l] += profile.opComputeS[i];
      collectives[l] += profile.opCollectives[i];
      if (isa<ConstantOp>(op)) {
        weightBytes[l] += profile.opResultBytes[i];
        continue;
      }
      liveBytes[l] = std::max(liveBytes[l], profile.opLiveBytes[i]);
      int last = l;
      for (Operation *user : op.getUsers())
        if (position.count(user))
          last = std::max(last, layerOf[position[user]]);
      for (int j = l; j < last; ++j)
        crossing[j][l] += profile.opResultBytes[i];
    }
    for (size_t j = 0; j < numLayers; ++j) {
      double suffix = 0;
      for (size_t i = j + 1; i-- > 0;) {
        suffix += crossing[j][i];
        send[i][j] = suffix;
      }
    }
  }
};

/// A candidate from the cuts (K - 1 ascending layer indices: stage s ends
/// after cuts[s]).
PlanCandidate buildCandidate(const LayerCosts &costs, const Plan &plan,
                             const PlannerOptions &options, const LinkLevel &ppLevel,
                             int64_t pp, int64_t dp, int64_t tp, int64_t microbatches,
                             ::pmc::schedule::ScheduleKind schedule, ArrayRef<int> choices,
                             ArrayRef<unsigned> cuts, const OpProfile &profile) {
  size_t numLayers = costs.seconds.size();
  double inFlight = ::pmc::schedule::inFlightMicrobatches(schedule, pp, microbatches);
  PlanCandidate candidate;
  candidate.name = llvm::formatv("{0} ({1} microbatches, {2})", meshName(pp, dp, tp),
                                 microbatches, ::pmc::schedule::scheduleKindName(schedule));
  candidate.pp = pp;
  candidate.dp = dp;
  candidate.tp = tp;
  candidate.microbatches = microbatches;
  candidate.schedule = std::string(::pmc::schedule::scheduleKindName(schedule));
  candidate.choices.assign(choices.begin(), choices.end());
  std::vector<double> stageSeconds, sendSeconds;
  unsigned first = 0;
  for (int64_t s = 0; s < pp; ++s) {
    unsigned last = s + 1 < pp ? cuts[s] : numLayers - 1;
    StagePlan stage;
    stage.firstLayer = first;
    stage.lastLayer = last;
    double peak = 0;
    for (unsigned l = first; l <= last; ++l) {
      stage.computeS += costs.computeS[l];
      stage.commS += costs.seconds[l] - costs.computeS[l];
      stage.collectives += costs.collectives[l];
      stage.weightBytes += costs.weightBytes[l];
      peak = std::max(peak, costs.liveBytes[l]);
    }
    stage.sendBytes = last + 1 < numLayers ? costs.send[first][last] : 0;
    stage.sendS = sendRecvSeconds(stage.sendBytes, ppLevel);
    stage.stepTimeS = stage.computeS + stage.commS + stage.sendS;
    stage.activationBytes = peak * inFlight * options.cost.activationMultiplier;
    stage.memoryBytes = stage.weightBytes + stage.activationBytes;
    stageSeconds.push_back(stage.computeS + stage.commS);
    sendSeconds.push_back(stage.sendS);
    candidate.stages.push_back(stage);
    first = last + 1;
  }
  PipelineTime time = pipelineTime(stageSeconds, sendSeconds, microbatches);
  const StagePlan &slowest = candidate.stages[time.bottleneck];
  double steps = static_cast<double>(microbatches + pp - 1);
  candidate.stepTimeS = time.stepTimeS;
  candidate.computeS = steps * slowest.computeS;
  candidate.commS = time.stepTimeS - candidate.computeS;
  candidate.bubbleFraction = time.bubbleFraction;
  candidate.collectives = profile.collectives * microbatches;
  candidate.commBytes = profile.commBytes * microbatches;
  int64_t subMesh = dp * tp;
  double need = 0;
  unsigned worst = 0;
  for (auto [s, stage] : llvm::enumerate(candidate.stages)) {
    for (int64_t r = 0; r < subMesh; ++r)
      candidate.memoryPerDeviceBytes.push_back(stage.memoryBytes);
    candidate.weightBytes = std::max(candidate.weightBytes, stage.weightBytes);
    candidate.activationBytes = std::max(candidate.activationBytes, stage.activationBytes);
    if (stage.memoryBytes > need) {
      need = stage.memoryBytes;
      worst = s;
    }
  }
  candidate.fits = need <= options.spec.memoryBytes;
  if (!candidate.fits)
    candidate.reason = "needs " + gib(need) + " per device (stage " + std::to_string(worst) +
                       "), " + gib(options.spec.memoryBytes) + " available";
  (void)plan;
  return candidate;
}

/// The cuts of `numLayers` layers into `stages` minimizing the largest
/// `value(i, j)` of a stage of layers i..j over the stages allowed by
/// `allowed(i, j)`; empty when no cut is allowed. Ties keep the earliest cut.
template <typename Value, typename Allowed>
std::vector<unsigned> cutLayers(size_t numLayers, int64_t stages, Value value,
                                Allowed allowed) {
  constexpr double inf = std::numeric_limits<double>::infinity();
  size_t k = static_cast<size_t>(stages);
  // best[s][j]: the smallest max over s+1 stages covering layers 0..j.
  std::vector<std::vector<double>> best(k, std::vector<double>(numLayers, inf));
  std::vector<std::vector<unsigned>> from(k, std::vector<unsigned>(numLayers, 0));
  for (size_t j = 0; j < numLayers; ++j)
    if (allowed(0, j))
      best[0][j] = value(0, j);
  for (size_t s = 1; s < k; ++s)
    for (size_t j = s; j < numLayers; ++j)
      for (size_t i = s; i <= j; ++i) {
        if (best[s - 1][i - 1] == inf || !allowed(i, j))
          continue;
        double v = std::max(best[s - 1][i - 1], value(i, j));
        if (v < best[s][j]) {
          best[s][j] = v;
          from[s][j] = i;
        }
      }
  if (best[k - 1][numLayers - 1] == inf)
    return {};
  std::vector<unsigned> cuts(k - 1);
  size_t j = numLayers - 1;
  for (size_t s = k - 1; s > 0; --s) {
    unsigned i = from[s][j];
    cuts[s - 1] = i - 1;
    j = i - 1;
  }
  return cuts;
}

/// The best cuts for one (K, dp, tp, M, schedule): the fastest whose stages
/// fit, else the one needing the least memory per device.
PlanCandidate searchCuts(const LayerCosts &costs, const Plan &plan,
                         const PlannerOptions &options, const LinkLevel &ppLevel,
                         int64_t pp, int64_t dp, int64_t tp, int64_t microbatches,
                         ::pmc::schedule::ScheduleKind schedule, ArrayRef<int> choices,
                         const OpProfile &profile) {
  size_t n = costs.seconds.size();
  double inFlight = ::pmc::schedule::inFlightMicrobatches(schedule, pp, microbatches) *
                    options.cost.activationMultiplier;
  std::vector<double> prefixSeconds(n + 1, 0), prefixWeights(n + 1, 0);
  for (size_t l = 0; l < n; ++l) {
    prefixSeconds[l + 1] = prefixSeconds[l] + costs.seconds[l];
    prefixWeights[l + 1] = prefixWeights[l] + costs.weightBytes[l];
  }
  // Range maxima of the live activations.
  std::vector<std::vector<double>> peak(n, std::vector<double>(n, 0));
  for (size_t i = 0; i < n; ++i) {
    double m = 0;
    for (size_t j = i; j < n; ++j) {
      m = std::max(m, costs.liveBytes[j]);
      peak[i][j] = m;
    }
  }
  auto seconds = [&](size_t i, size_t j) {
    double send = j + 1 < n ? sendRecvSeconds(costs.send[i][j], ppLevel) : 0;
    return prefixSeconds[j + 1] - prefixSeconds[i] + send;
  };
  auto memory = [&](size_t i, size_t j) {
    return prefixWeights[j + 1] - prefixWeights[i] + peak[i][j] * inFlight;
  };
  if (options.exhaustive) {
    // Every cut (tests: the dynamic programming must find their optimum).
    std::vector<unsigned> cuts(pp - 1);
    for (int64_t s = 0; s + 1 < pp; ++s)
      cuts[s] = s;
    std::optional<PlanCandidate> best;
    while (true) {
      PlanCandidate candidate = buildCandidate(costs, plan, options, ppLevel, pp, dp, tp,
                                               microbatches, schedule, choices, cuts, profile);
      if (!best || better(candidate, *best))
        best = std::move(candidate);
      // Next combination of pp - 1 cuts out of the n - 1 boundaries.
      int64_t s = pp - 2;
      while (s >= 0 && cuts[s] == n - 1 - (pp - 1 - s))
        --s;
      if (s < 0)
        break;
      ++cuts[s];
      for (int64_t t = s + 1; t + 1 < pp; ++t)
        cuts[t] = cuts[t - 1] + 1;
    }
    return std::move(*best);
  }
  std::vector<unsigned> cuts =
      cutLayers(n, pp, seconds,
                [&](size_t i, size_t j) { return memory(i, j) <= options.spec.memoryBytes; });
  if (cuts.empty())
    cuts = cutLayers(n, pp, memory, [](size_t, size_t) { return true; });
  return buildCandidate(costs, plan, options, ppLevel, pp, dp, tp, microbatches, schedule,
                        choices, cuts, profile);
}

const LinkLevel &ppLevel(MLIRContext *context, const DeviceSpec &spec, int64_t pp,
                         int64_t dp, int64_t tp) {
  MeshAttr mesh = makeMesh(context, pp, 1, dp, tp);
  MeshTopology topology = MeshTopology::map(mesh, spec);
  return spec.levels[topology.axisLevel.front()];
}

/// Microbatch counts for a dp split: divisors of the per-dp batch up to the
/// limit (only 1 without a batch).
std::vector<int64_t> microbatchCounts(int64_t batch, int64_t dp, int64_t limit) {
  int64_t perDp = batch > 0 && dp > 1 && batch % dp == 0 ? batch / dp : batch;
  std::vector<int64_t> counts;
  for (int64_t m = 1; m <= std::min(perDp, limit); ++m)
    if (perDp % m == 0)
      counts.push_back(m);
  if (counts.empty())
    counts.push_back(1);
  return counts;
}

} // namespace

LogicalResult planner::searchPipelines(ModuleOp module, const PlannerOptions &options,
                                       Scorer &scorer, const Plan &plan,
                                       const std::map<int64_t, std::vector<int>> &choices,
                                       std::vector<PlanCandidate> &alternatives,
                                       std::vector<std::string> &methods) {
  func::FuncOp func = plannedFunction(module);
  size_t numLayers = plan.layers.size();
  if (numLayers < 2 || options.spec.levels.empty())
    return success();
  std::vector<int> layerOf = opLayers(func, plan.layers);
  int64_t batch = batchSize(func);
  unsigned cutSearches = 0;
  std::vector<int64_t> stageCounts;
  for (int64_t pp = 2; pp <= options.devices && pp <= (int64_t)numLayers; ++pp) {
    if (options.devices % pp != 0)
      continue;
    stageCounts.push_back(pp);
    int64_t subMesh = options.devices / pp;
    for (int64_t dp = subMesh; dp >= 1; --dp) {
      if (subMesh % dp != 0)
        continue;
      int64_t tp = subMesh / dp;
      auto found = choices.find(tp);
      if (found == choices.end())
        continue;
      const LinkLevel &level = ppLevel(module.getContext(), options.spec, pp, dp, tp);
      std::optional<PlanCandidate> best;
      for (int64_t m : microbatchCounts(batch, dp, options.maxMicrobatches)) {
        FailureOr<const OpProfile *> profile = scorer.profile(m, dp, tp, found->second);
        if (failed(profile))
          return failure();
        LayerCosts costs(**profile, func, layerOf, numLayers);
        for (::pmc::schedule::ScheduleKind schedule :
             {::pmc::schedule::ScheduleKind::OneFOneB, ::pmc::schedule::ScheduleKind::GPipe}) {
          ++cutSearches;
          PlanCandidate candidate = searchCuts(costs, plan, options, level, pp, dp, tp, m,
                                               schedule, found->second, **profile);
          if (!best || better(candidate, *best))
            best = std::move(candidate);
        }
      }
      alternatives.push_back(std::move(*best));
    }
  }
  if (!stageCounts.empty()) {
    std::string counts;
    llvm::raw_string_ostream os(counts);
    llvm::interleave(stageCounts, os, ",");
    methods.push_back(llvm::formatv("pipelines: {0} layers, stages {1}, {2} cut searches "
                                    "(dynamic programming)",
                                    numLayers, counts, cutSearches)
                          .str());
  }
  return success();
}

FailureOr<PlanCandidate>
mlir::pmc::scorePipelinePlan(ModuleOp module, const PlannerOptions &options, int64_t pp,
                             int64_t dp, int64_t tp, int64_t microbatches,
                             ::pmc::schedule::ScheduleKind schedule, ArrayRef<int> choices,
                             ArrayRef<unsigned> cuts) {
  func::FuncOp func = plannedFunction(module);
  if (!func)
    return module.emitError("pmc-auto-sharding: the module has no function to plan");
  Plan plan;
  plan.layers = findLayers(func, findWeights(func));
  if ((int64_t)cuts.size() + 1 != pp || plan.layers.empty() ||
      (!cuts.empty() && cuts.back() + 1 >= plan.layers.size()) ||
      !llvm::is_sorted(cuts) || options.spec.levels.empty())
    return module.emitError() << "pmc-auto-sharding: " << cuts.size() << " cuts do not cut "
                              << plan.layers.size() << " layers into " << pp << " stages";
  unsigned evaluations = 0;
  Scorer scorer(module, options, evaluations);
  FailureOr<const OpProfile *> profile = scorer.profile(microbatches, dp, tp, choices);
  if (failed(profile))
    return failure();
  std::vector<int> layerOf = opLayers(func, plan.layers);
  LayerCosts costs(**profile, func, layerOf, plan.layers.size());
  return buildCandidate(costs, plan, options,
                        ppLevel(module.getContext(), options.spec, pp, dp, tp), pp, dp, tp,
                        microbatches, schedule, choices, cuts, **profile);
}
