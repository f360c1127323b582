//===- CollectiveBench.cpp - measure collectives, fit alpha and beta ------===//

#include "pmc/Runtime/Comm/CollectiveBench.h"

#include "../Json.h"
#include "pmc/Runtime/Comm/LocalCommunicator.h"
#include "pmc/Runtime/Comm/Mesh.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <mutex>
#include <thread>

namespace pmc::runtime {

const char *collectiveKindName(CollectiveKind kind) {
  switch (kind) {
  case CollectiveKind::AllReduce: return "all_reduce";
  case CollectiveKind::AllGather: return "all_gather";
  case CollectiveKind::ReduceScatter: return "reduce_scatter";
  case CollectiveKind::AllToAll: return "all_to_all";
  }
  return "collective";
}

double collectiveSteps(CollectiveKind kind, int ranks) {
  double p = ranks;
  return kind == CollectiveKind::AllReduce ? 2 * (p - 1) : p - 1;
}

double collectiveBusFactor(CollectiveKind kind, int ranks) {
  double p = ranks;
  return (kind == CollectiveKind::AllReduce ? 2 * (p - 1) : p - 1) / p;
}

AlphaBeta fitAlphaBeta(const std::vector<CollectiveSample> &samples) {
  // Weighted normal equations of t = s * alpha + x * c (c = 1 / bandwidth).
  double sss = 0, ssx = 0, sxx = 0, sst = 0, sxt = 0, sw = 0;
  const CollectiveSample *largest = nullptr;
  double largestX = 0;
  for (const CollectiveSample &sample : samples) {
    double t = sample.seconds;
    if (!(t > 0) || !std::isfinite(t) || sample.ranks < 2)
      continue;
    double s = collectiveSteps(sample.kind, sample.ranks);
    double x = collectiveBusFactor(sample.kind, sample.ranks) * sample.bytes;
    double w = 1 / (t * t);
    sss += w * s * s;
    ssx += w * s * x;
    sxx += w * x * x;
    sst += w * s * t;
    sxt += w * x * t;
    sw += w;
    if (x >= largestX) {
      largestX = x;
      largest = &sample;
    }
  }
  if (sw == 0 || sss == 0)
    throw RuntimeError("collective fit: no sample over 2 or more ranks with a positive time");
  AlphaBeta result;
  double det = sss * sxx - ssx * ssx;
  double alpha = 0, c = 0;
  if (det > 1e-12 * sss * sxx) {
    alpha = (sst * sxx - ssx * sxt) / det;
    c = (sss * sxt - ssx * sst) / det;
  }
  if (alpha < 0 || det <= 1e-12 * sss * sxx) {
    // No latency visible (or a single size): the fit through the origin.
    alpha = 0;
    c = sxx > 0 ? sxt / sxx : 0;
  }
  if (!(c > 0) && largestX > 0) {
    // Time does not grow with size: the largest message's rate, and the
    // latency that leaves for the rest.
    c = largest->seconds / largestX;
    alpha = std::max(0.0, (sst - c * ssx) / sss);
  }
  result.alpha = alpha;
  result.bandwidth = c > 0 ? 1 / c : 0;
  if (!(result.bandwidth > 0) || !std::isfinite(result.bandwidth) || !std::isfinite(alpha))
    throw RuntimeError("collective fit: the samples give no finite bandwidth (all messages "
                       "are empty?)");
  return result;
}

CollectiveBenchOptions CollectiveBenchOptions::quick() {
  CollectiveBenchOptions o;
  o.sizes = {4096, 65536, 1 << 20};
  o.repetitions = 5;
  return o;
}

namespace {
using Clock = std::chrono::steady_clock;

/// Times one collective of `elements` float32 (the cost model's n) over the
/// world group: the median over repetitions of the slowest rank's seconds.
double timeCollective(Communicator &comm, CollectiveKind kind, int64_t elements,
                      int repetitions, const std::vector<int> &group) {
  const int p = static_cast<int>(group.size());
  const int64_t part = elements / p;
  int64_t inElements = kind == CollectiveKind::AllGather ? part : elements;
  int64_t outElements = kind == CollectiveKind::ReduceScatter ? part : elements;
  std::vector<float> in(inElements, 1.0f), out(outElements);
  CollectiveSite site{collectiveKindName(kind), -1, {"world"}};
  CollectiveSite barrierSite{"all_reduce", -1, {"world"}};
  float one = 1, sum = 0;
  auto once = [&] {
    switch (kind) {
    case CollectiveKind::AllReduce:
      comm.allReduce(in.data(), out.data(), DType::Float32, {elements}, Reduction::Sum, group,
                     site);
      break;
    case CollectiveKind::AllGather:
      comm.allGather(in.data(), out.data(), DType::Float32, {inElements}, 0, group, site);
      break;
    case CollectiveKind::ReduceScatter:
      comm.reduceScatter(in.data(), out.data(), DType::Float32, {elements}, 0, Reduction::Sum,
                         group, site);
      break;
    case CollectiveKind::AllToAll:
      comm.allToAll(in.data(), out.data(), DType::Float32, {elements}, 0, 0, group, site);
      break;
    }
  };
  once(); // Warm-up: connections, page faults.
  std::vector<double> times(repetitions);
  for (double &t : times) {
    comm.allReduce(&one, &sum, DType::Float32, {1}, Reduction::Sum, group, barrierSite);
    auto t0 = Clock::now();
    once();
    t = std::chrono::duration<double>(Clock::now() - t0).count();
  }
  // Agree on the slowest rank's time of every repetition.
  std::vector<double> agreed(times.size());
  comm.allReduce(times.data(), agreed.data(), DType::Float64,
                 {static_cast<int64_t>(times.size())}, Reduction::Max, group, barrierSite);
  std::sort(agreed.begin(), agreed.end());
  size_t mid = agreed.size() / 2;
  return agreed.size() % 2 ? agreed[mid] : (agreed[mid - 1] + agreed[mid]) / 2;
}
} // namespace

CollectiveBenchResult runCollectiveBench(Communicator &comm,
                                         const CollectiveBenchOptions &options) {
  const int p = comm.size();
  if (p < 2)
    throw RuntimeError("collective bench: needs 2 or more ranks, the communicator has " +
                       std::to_string(p));
  if (options.sizes.empty() || options.repetitions < 1)
    throw RuntimeError("collective bench: needs at least one size and one repetition");
  for (double size : options.sizes)
    if (!(size > 0) || size > double(int64_t(1) << 40))
      throw RuntimeError("collective bench: message size " + std::to_string(size) +
                         " bytes is out of range");
  Mesh mesh;
  mesh.axes = {{"world", p}};
  comm.prepare(mesh);
  std::vector<int> group(p);
  for (int r = 0; r < p; ++r)
    group[r] = r;

  CollectiveBenchResult result;
  result.ranks = p;
  std::vector<CollectiveSample> all;
  for (CollectiveKind kind : kBenchCollectives) {
    CollectiveFit fit;
    fit.kind = kind;
    for (double size : options.sizes) {
      // Whole float32 elements, a multiple of p so every rank gets a part.
      int64_t elements = static_cast<int64_t>(std::ceil(size / 4));
      elements = (elements + p - 1) / p * p;
      double seconds = timeCollective(comm, kind, elements, options.repetitions, group);
      fit.samples.push_back({kind, p, 4.0 * elements, seconds});
    }
    fit.fit = fitAlphaBeta(fit.samples);
    all.insert(all.end(), fit.samples.begin(), fit.samples.end());
    result.collectives.push_back(std::move(fit));
  }
  result.level = fitAlphaBeta(all);
  return result;
}

CollectiveBenchResult runLocalCollectiveBench(int ranks, const CollectiveBenchOptions &options) {
  if (ranks < 2)
    throw RuntimeError("collective bench: needs 2 or more ranks, got " + std::to_string(ranks));
  auto world = std::make_shared<LocalWorld>(ranks);
  std::vector<CollectiveBenchResult> results(ranks);
  std::vector<std::exception_ptr> errors(ranks);
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r)
    threads.emplace_back([&, r] {
      LocalCommunicator comm(world, r);
      try {
        results[r] = runCollectiveBench(comm, options);
      } catch (const std::exception &e) {
        errors[r] = std::current_exception();
        comm.abort(e.what()); // Wakes the other ranks.
      }
    });
  for (std::thread &t : threads)
    t.join();
  for (std::exception_ptr &e : errors)
    if (e)
      std::rethrow_exception(e);
  return results[0];
}

std::string collectiveBenchJson(const CollectiveBenchResult &result,
                                const std::string &communicator, const std::string &levelName) {
  json::json collectives = json::json::object();
  for (const CollectiveFit &fit : result.collectives) {
    json::json samples = json::json::array();
    for (const CollectiveSample &s : fit.samples)
      samples.push_back({{"bytes", s.bytes}, {"seconds", s.seconds}});
    collectives[collectiveKindName(fit.kind)] = {
        {"alpha_s", fit.fit.alpha},
        {"bandwidth_bytes_per_s", fit.fit.bandwidth},
        {"steps", collectiveSteps(fit.kind, result.ranks)},
        {"bus_factor", collectiveBusFactor(fit.kind, result.ranks)},
        {"samples", samples}};
  }
  json::json out = {{"communicator", communicator},
                    {"ranks", result.ranks},
                    {"level",
                     {{"name", levelName},
                      {"bandwidth_bytes_per_s", result.level.bandwidth},
                      {"latency_s", result.level.alpha}}},
                    {"collectives", collectives}};
  return out.dump(2) + "\n";
}

namespace {
double getNumber(const json::json &object, const char *key, const std::string &where,
                 bool positive) {
  const json::json &v = json::field(object, key, where);
  double d = v.is_number() ? v.get<double>() : -1;
  if (!v.is_number() || !std::isfinite(d) || d < 0 || (positive && d == 0))
    throw RuntimeError(where + ": field '" + key + "': expected a " +
                       (positive ? "positive" : "non-negative") + " number, got " + v.dump());
  return d;
}
} // namespace

LinksFile parseLinksJson(const std::string &text, const std::string &where) {
  json::json root = json::parse(text, where);
  if (!root.is_object())
    throw RuntimeError(where + ": expected a JSON object with 'communicator', 'ranks' and "
                               "'level'");
  LinksFile links;
  links.communicator = json::getString(root, "communicator", where);
  int64_t ranks = json::getInt(root, "ranks", where);
  if (ranks < 2 || ranks > (1 << 24))
    throw RuntimeError(where + ": field 'ranks': expected 2 or more ranks, got " +
                       std::to_string(ranks));
  links.ranks = static_cast<int>(ranks);
  const json::json &level = json::field(root, "level", where);
  std::string levelWhere = where + ": 'level'";
  if (!level.is_object())
    throw RuntimeError(levelWhere + ": expected an object");
  links.levelName = json::getString(level, "name", levelWhere);
  if (links.levelName.empty())
    throw RuntimeError(levelWhere + ": field 'name': expected a non-empty name");
  links.bandwidth = getNumber(level, "bandwidth_bytes_per_s", levelWhere, true);
  links.latency = getNumber(level, "latency_s", levelWhere, false);
  links.devices = json::getIntOr(level, "devices", -1, levelWhere);
  if (level.contains("devices") && links.devices < 0)
    throw RuntimeError(levelWhere + ": field 'devices': expected a non-negative integer");
  return links;
}

} // namespace pmc::runtime
