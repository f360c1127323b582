//===- Session.h - open a bundle and run it on host memory ------*- C++ -*-===//
//
// The runtime's entry point, used by pmc-run and the Python module:
//
//   auto session = pmc::runtime::Session::open("model.pmc");
//   std::map<std::string, pmc::HostTensor> feeds = {{"x", x}};
//   for (auto &[name, tensor] : session->run(feeds)) ...
//
#ifndef PMC_RUNTIME_SESSION_H
#define PMC_RUNTIME_SESSION_H

#include "pmc/Runtime/Error.h"
#include "pmc/Runtime/Manifest.h"
#include "pmc/Support/HostTensor.h"

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace pmc::bundle {
class BundleReader;
}

namespace pmc::runtime {

class KernelLibrary;
class RankProgram;

/// A borrowed dense row-major tensor (a feed that need not be copied).
struct TensorRef {
  DType dtype = DType::Float32;
  std::vector<int64_t> shape;
  const void *data = nullptr;
  /// Bytes at `data`; checked against dtype and shape.
  size_t bytes = 0;
};

/// Named outputs in manifest order.
using NamedOutputs = std::vector<std::pair<std::string, HostTensor>>;

/// An opened, fully validated bundle, ready to run rank `rank`'s program.
/// run() may be called from several threads; calls are serialized.
class Session {
public:
  /// Opens `path`: validates the container, the manifest, the rank program,
  /// the weights it references, and loads the kernel library (every kernel
  /// symbol resolved). Throws RuntimeError naming the file and the part at fault.
  static std::unique_ptr<Session> open(const std::string &path, int rank = 0);
  ~Session();

  const Manifest &manifest() const { return info; }
  const std::vector<TensorSpec> &inputs() const { return info.inputs; }
  const std::vector<TensorSpec> &outputs() const { return info.outputs; }
  int rank() const { return rankIndex; }
  /// Bytes of the temp arena of this rank (after liveness reuse).
  size_t arenaBytes() const;
  /// Bytes of all temps if none shared memory (for comparison with arenaBytes).
  size_t tempBytes() const;
  /// The program being run.
  const RankProgram &program() const { return *rankProgram; }

  /// Runs with `feeds` keyed by graph-input name; every input must be fed with
  /// its exact dtype and shape. Throws FeedError for bad feeds.
  NamedOutputs run(const std::map<std::string, HostTensor> &feeds);
  /// The same with borrowed feeds (no copy of the input bytes).
  NamedOutputs run(const std::map<std::string, TensorRef> &feeds);

private:
  Session();
  std::string filePath;
  int rankIndex = 0;
  Manifest info;
  std::unique_ptr<bundle::BundleReader> reader;
  std::unique_ptr<KernelLibrary> kernels;
  std::unique_ptr<RankProgram> rankProgram;
  std::mutex runMutex;
};

} // namespace pmc::runtime

#endif // PMC_RUNTIME_SESSION_H
