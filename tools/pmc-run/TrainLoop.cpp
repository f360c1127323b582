//===- TrainLoop.cpp - pmc-run --train: steps of a train-step bundle ------===//
#include "TrainLoop.h"
#include "TrainCheckpoint.h"


#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>

using namespace pmc;
using namespace pmc::runtime;

namespace {

HostTensor scalar(DType dtype, double value) {
  HostTensor t;
  t.dtype = dtype;
  t.data.resize(dtypeSize(dtype));
  if (dtype == DType::Float32) {
    float v = static_cast<float>(value);
    std::memcpy(t.data.data(), &v, sizeof v);
  } else {
    int64_t v = static_cast<int64_t>(value);
    std::memcpy(t.data.data(), &v, sizeof v);
  }
  return t;
}

/// A batch input's feed: the same tensor every step, or K stacked batches.
struct BatchFeed {
  const HostTensor *tensor = nullptr;
  int64_t batches = 0; // 0: the tensor itself every step
  size_t batchBytes = 0;
};

double firstValue(const HostTensor &t) {
  if (t.dtype == DType::Float32 && t.data.size() >= 4) {
    float v;
    std::memcpy(&v, t.data.data(), 4);
    return v;
  }
  if (t.dtype == DType::Float64 && t.data.size() >= 8) {
    double v;
    std::memcpy(&v, t.data.data(), 8);
    return v;
  }
  return 0;
}

} // namespace

NamedOutputs pmc::run::runTrainSteps(Session &session,
                                     const std::map<std::string, HostTensor> &feeds,
                                     const TrainLoopOptions &o, bool leader) {
  std::vector<std::string> state = session.stateNames();
  if (state.empty())
    throw std::runtime_error("--train needs a train step's bundle (pmc-opt compile --train); "
                             "this one has no state inputs");
  double lr = o.lr > 0 ? o.lr : session.manifest().train ? session.manifest().train->lr : 0;
  if (!(lr > 0))
    throw std::runtime_error("--train: the bundle records no learning rate; pass --lr");
  int64_t step = o.resume.empty() ? 0 : readTrainCheckpoint(o.resume, session);

  // The batch inputs: every input but the state and the step's scalars.
  std::map<std::string, BatchFeed> batches;
  int64_t samples = 1;
  bool first = true;
  for (const TensorSpec &spec : session.inputs()) {
    if (!spec.state.empty() || spec.name == "pmc.lr" || spec.name == "pmc.step")
      continue;
    auto it = feeds.find(spec.name);
    if (it == feeds.end())
      throw std::runtime_error("--train: no feed for input '" + spec.name + "' (" +
                               spec.toString() + ", or K of them stacked on a new first "
                               "dimension)");
    const HostTensor &t = it->second;
    BatchFeed feed{&t, 0, spec.numBytes()};
    if (t.shape != spec.shape) {
      bool stacked = t.shape.size() == spec.shape.size() + 1 && t.shape[0] > 0 &&
                     std::equal(spec.shape.begin(), spec.shape.end(), t.shape.begin() + 1);
      if (!stacked)
        throw std::runtime_error("--train: input '" + spec.name + "' is " +
                                 shapeToString(t.shape) + ", expected " +
                                 shapeToString(spec.shape) + " or [K x " +
                                 shapeToString(spec.shape) + "] (K batches)");
      feed.batches = t.shape[0];
    }
    if (first && !spec.shape.empty())
      samples = spec.shape[0];
    first = false;
    batches[spec.name] = feed;
  }
  for (const auto &[name, t] : feeds)
    if (!batches.count(name))
      throw std::runtime_error("--train: '" + name + "' is no batch input of the train step "
                               "(the runner feeds pmc.lr and pmc.step; the state stays on "
                               "the ranks)");

  NamedOutputs outputs;
  // The batches go round from where the resumed run stopped; a step that
  // loss scaling skipped (inf or NaN gradients) consumes its batch but not
  // its step number (the optimizer's t), as under torch.amp.GradScaler.
  int64_t batch = step;
  for (int64_t n = 0; n < o.steps; ++n, ++batch) {
    ++step;
    std::map<std::string, TensorRef> stepFeeds;
    for (const auto &[name, feed] : batches) {
      const HostTensor &t = *feed.tensor;
      const uint8_t *data = t.data.data();
      std::vector<int64_t> shape = t.shape;
      if (feed.batches) {
        data += static_cast<size_t>(batch % feed.batches) * feed.batchBytes;
        shape.erase(shape.begin());
      }
      stepFeeds[name] = TensorRef{t.dtype, shape, data, feed.batchBytes};
    }
    HostTensor lrT = scalar(DType::Float32, lr), stepT = scalar(DType::Float32, step);
    stepFeeds["pmc.lr"] = TensorRef{lrT.dtype, {}, lrT.data.data(), lrT.data.size()};
    stepFeeds["pmc.step"] = TensorRef{stepT.dtype, {}, stepT.data.data(), stepT.data.size()};
    auto start = std::chrono::steady_clock::now();
    outputs = session.run(stepFeeds);
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    bool skipped = false;
    for (const auto &[name, value] : outputs)
      if (name == "pmc.found_inf")
        skipped = firstValue(value) != 0;
    if (leader && !outputs.empty()) {
      std::printf("step %lld  loss %.6f  %.1f samples/s%s\n", static_cast<long long>(step),
                  firstValue(outputs.front().second), samples / std::max(seconds, 1e-9),
                  skipped ? "  skipped: inf or NaN gradients, loss scale backed off" : "");
      std::fflush(stdout);
    }
    if (skipped)
      --step;
  }
  if (!o.save.empty()) // every process: the shards are gathered on the leader
    writeTrainCheckpoint(o.save, session, step);
  return outputs;
}
