//===- Session.cpp - open a bundle, check feeds, run a rank ----------------===//

#include "pmc/Runtime/Session.h"
#include "pmc/Bundle/Bundle.h"
#include "pmc/Runtime/KernelLibrary.h"
#include "pmc/Runtime/RankProgram.h"

namespace pmc::runtime {

Session::Session() = default;
Session::~Session() = default;

std::unique_ptr<Session> Session::open(const std::string &path, int rank) {
  std::unique_ptr<Session> s(new Session());
  s->filePath = path;
  s->rankIndex = rank;
  try {
    s->reader = bundle::BundleReader::open(path);
    s->info = Manifest::parse(s->reader->section("manifest"));
    if (s->info.target != "cpu")
      throw RuntimeError("manifest: target '" + s->info.target +
                         "' is not supported by this runtime (supported: cpu)");
    if (rank < 0 || rank >= static_cast<int>(s->info.rankPrograms.size()))
      throw RuntimeError("rank " + std::to_string(rank) +
                         " is out of range: the bundle has " +
                         std::to_string(s->info.rankPrograms.size()) + " rank(s)");
    if (!s->info.kernelLibrary.empty())
      s->kernels = KernelLibrary::load(s->reader->section(s->info.kernelLibrary),
                                       s->info.kernelLibrary);
    s->rankProgram = RankProgram::load(s->info, *s->reader, rank, s->kernels.get());
  } catch (const bundle::BundleError &e) {
    throw RuntimeError(e.what()); // already names the file
  } catch (const RuntimeError &e) {
    throw RuntimeError(path + ": " + e.what());
  }
  return s;
}

size_t Session::arenaBytes() const { return rankProgram->arenaBytes(); }

size_t Session::tempBytes() const {
  size_t total = 0;
  for (const BufferDesc &b : rankProgram->buffers())
    if (b.kind == BufferKind::Temp)
      total += (b.bytes + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment;
  return total;
}

NamedOutputs Session::run(const std::map<std::string, HostTensor> &feeds) {
  std::map<std::string, TensorRef> refs;
  for (const auto &[name, t] : feeds)
    refs[name] = TensorRef{t.dtype, t.shape, t.data.data(), t.data.size()};
  return run(refs);
}

NamedOutputs Session::run(const std::map<std::string, TensorRef> &feeds) {
  for (const auto &[name, ref] : feeds) {
    bool known = false;
    for (const TensorSpec &spec : info.inputs)
      known = known || spec.name == name;
    if (!known) {
      std::string expected;
      for (const TensorSpec &spec : info.inputs)
        expected += (expected.empty() ? "" : ", ") + spec.toString();
      throw FeedError("unknown input '" + name + "' (the model's inputs are: " +
                      (expected.empty() ? "none" : expected) + ")");
    }
  }
  std::vector<const void *> data;
  for (const TensorSpec &spec : info.inputs) {
    auto it = feeds.find(spec.name);
    std::string expected = std::string(dtypeName(spec.dtype)) + shapeToString(spec.shape);
    if (it == feeds.end())
      throw FeedError("missing input '" + spec.name + "' (expected " + expected + ")");
    const TensorRef &ref = it->second;
    // bfloat16 has no numpy dtype: its inputs may come as uint16 bit patterns.
    bool bf16Bits = spec.dtype == DType::BFloat16 && ref.dtype == DType::UInt16;
    if (ref.dtype != spec.dtype && !bf16Bits)
      throw FeedError("input '" + spec.name + "': expected dtype " +
                      std::string(dtypeName(spec.dtype)) + ", got " +
                      std::string(dtypeName(ref.dtype)) + " (expected " + expected + ")");
    if (ref.shape != spec.shape)
      throw FeedError("input '" + spec.name + "': expected shape " +
                      shapeToString(spec.shape) + ", got " + shapeToString(ref.shape) +
                      " (expected " + expected + ")");
    if (ref.bytes != spec.numBytes() || (!ref.data && ref.bytes))
      throw FeedError("input '" + spec.name + "': holds " + std::to_string(ref.bytes) +
                      " bytes, expected " + std::to_string(spec.numBytes()) + " for " +
                      expected);
    data.push_back(ref.data);
  }
  std::vector<HostTensor> results;
  {
    std::lock_guard<std::mutex> lock(runMutex);
    results = rankProgram->run(data);
  }
  NamedOutputs named;
  for (size_t i = 0; i < results.size(); ++i)
    named.emplace_back(info.outputs[i].name, std::move(results[i]));
  return named;
}

} // namespace pmc::runtime
