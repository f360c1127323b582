//===- bundle_load_fuzzer.cpp - libFuzzer: bytes -> validated bundle -> tiny run ===//
//
// Each input is written to a temp file and opened the way `pmc-run` opens a
// bundle: runtime::Session::open (container, checksums, manifest, every rank
// program, weights, kernel library), then what `pmc-run --info` prints, and
// for a cuda bundle describeCudaProgram for every rank (validated without a
// GPU). A RuntimeError is a clean rejection; a crash, a sanitizer report or
// any other exception is a bug.
//
// A validated cpu bundle is then run on zero feeds when that is safe and
// cheap: inputs of at most 1 MiB, arenas of at most 64 MiB, at most 8 ranks,
// collectives timing out after 0.5 s, and every `kernel` command calling its
// symbol with exactly the dtypes and shapes it has in a seed bundle built by
// the same compiler (a kernel trusts the shapes it was compiled for, and the
// format does not record them). Kernel libraries are loaded only when their
// bytes equal one of the seed corpus (test/fuzz/corpus/bundle_load, or
// $PMC_FUZZ_BUNDLE_SEEDS), so no mutated ELF is ever dlopen'ed.
// PMC_FUZZ_VERBOSE=1 prints why each input is rejected. See test/fuzz/README.md.
//
#include "BundleMutator.h"
#include "FuzzTempDir.h"

#include "pmc/Bundle/Bundle.h"
#include "pmc/Runtime/CUDA/CudaRanks.h"
#include "pmc/Runtime/Command.h"
#include "pmc/Runtime/Comm/Communicator.h"
#include "pmc/Runtime/Manifest.h"
#include "pmc/Runtime/RankProgram.h"
#include "pmc/Runtime/Session.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

#ifndef PMC_FUZZ_BUNDLE_SEED_DIR
#define PMC_FUZZ_BUNDLE_SEED_DIR ""
#endif

namespace {

using namespace pmc;
using nlohmann::json;

std::string bundleDir, bundlePath;
bool verbose = false;

/// Kernel libraries of the seeds, and per library the signatures
/// "symbol(in dtype[shape], ...)->(out ...)" its kernel commands use.
std::vector<std::string> trustedLibraries;
std::set<std::pair<size_t, std::string>> trustedKernelCalls;

void removeBundleDir() {
  ::unlink(bundlePath.c_str());
  ::rmdir(bundleDir.c_str());
}

[[noreturn]] void bug(const std::string &what) {
  std::cerr << "==pmc-fuzz== BUG: " << what << std::endl;
  std::abort();
}

void writeFile(const std::string &path, const uint8_t *data, size_t size) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || ::write(fd, data, size) != static_cast<ssize_t>(size)) {
    std::perror(path.c_str());
    std::abort();
  }
  ::close(fd);
}

std::string typeOf(const runtime::BufferDesc &b) {
  return std::string(dtypeName(b.dtype)) + shapeToString(b.shape);
}

/// The signatures of the kernel commands of every rank program `session`
/// loaded; false when a program section cannot be read back as expected.
bool kernelCalls(const runtime::Session &session, const bundle::BundleReader &reader,
                 std::vector<std::string> &calls) {
  const runtime::Manifest &m = session.manifest();
  try {
    for (int r : session.localRanks()) {
      const runtime::RankProgram &p = session.program(r);
      json root = json::parse(reader.section(m.rankPrograms[r]), nullptr, false);
    if (root.is_discarded() || !root.contains("commands"))
      return false;
    const json &cmds = root["commands"];
    for (const auto &cmd : p.commands()) {
      if (cmd->op() != "kernel")
        continue;
      const json &c = cmds.at(cmd->index);
      std::string sig = c.at("symbol").get<std::string>() + "(";
      for (const json &id : c.at("inputs"))
        sig += typeOf(p.buffers().at(id.get<int>())) + ",";
      sig += ")->(";
      for (const json &id : c.at("outputs"))
        sig += typeOf(p.buffers().at(id.get<int>())) + ",";
      calls.push_back(sig + ")");
    }
    }
  } catch (const json::exception &) {
    return false;
  }
  return true;
}

/// The index of `bytes` among the trusted kernel libraries, or -1.
long trustedLibrary(std::string_view bytes) {
  for (size_t i = 0; i < trustedLibraries.size(); ++i)
    if (trustedLibraries[i] == bytes)
      return static_cast<long>(i);
  return -1;
}

/// Reads the seed bundles: their kernel libraries and kernel calls.
void loadSeeds(const std::string &dir) {
  DIR *d = ::opendir(dir.c_str());
  if (!d) {
    std::cerr << "bundle_load_fuzzer: no seed folder '" << dir
              << "': no kernel library will be loaded\n";
    return;
  }
  std::vector<std::string> files;
  while (dirent *e = ::readdir(d))
    if (e->d_name[0] != '.')
      files.push_back(dir + "/" + e->d_name);
  ::closedir(d);
  for (const std::string &file : files) {
    try {
      auto reader = bundle::BundleReader::open(file);
      runtime::Manifest m = runtime::Manifest::parse(reader->section("manifest"));
      if (m.target != "cpu" || m.kernelLibrary.empty())
        continue;
      std::string lib(reader->section(m.kernelLibrary));
      long index = trustedLibrary(lib);
      if (index < 0) {
        trustedLibraries.push_back(lib);
        index = static_cast<long>(trustedLibraries.size()) - 1;
      }
      auto session = runtime::Session::open(file);
      std::vector<std::string> calls;
      if (kernelCalls(*session, *reader, calls))
        for (const std::string &c : calls)
          trustedKernelCalls.insert({static_cast<size_t>(index), c});
    } catch (const std::exception &e) {
      if (verbose)
        std::cerr << "seed " << file << ": " << e.what() << "\n";
    }
  }
  if (verbose)
    std::cerr << "bundle_load_fuzzer: " << trustedLibraries.size() << " kernel libraries, "
              << trustedKernelCalls.size() << " kernel calls from " << dir << "\n";
}

/// What `pmc-run --info` prints, into a string (and thrown away).
void describe(const runtime::Session &s) {
  std::ostringstream os;
  const runtime::Manifest &m = s.manifest();
  os << m.producer << m.target << m.devices << m.meshJson;
  for (const runtime::TensorSpec &t : m.inputs)
    os << t.toString();
  for (const runtime::TensorSpec &t : m.outputs)
    os << t.toString();
  for (int r : s.localRanks()) {
    const runtime::RankProgram &p = s.program(r);
    os << p.buffers().size() << p.commands().size() << p.arenaBytes();
    for (const auto &cmd : p.commands())
      os << cmd->where();
  }
  os << s.arenaBytes() << s.tempBytes();
}

/// Runs the validated cpu bundle on zero feeds when it is safe and cheap.
void maybeRun(runtime::Session &session, const bundle::BundleReader &reader) {
  const runtime::Manifest &m = session.manifest();
  if (m.target != "cpu" || m.devices > 8)
    return;
  size_t feedBytes = 0;
  for (const runtime::TensorSpec &t : m.inputs)
    feedBytes += t.numBytes();
  if (feedBytes > (1u << 20))
    return;
  for (int r : session.localRanks())
    if (session.program(r).arenaBytes() > (64u << 20))
      return;
  std::vector<std::string> calls;
  if (!kernelCalls(session, reader, calls))
    return;
  if (!calls.empty()) {
    long lib = m.kernelLibrary.empty() ? -1 : trustedLibrary(reader.section(m.kernelLibrary));
    if (lib < 0)
      return;
    for (const std::string &c : calls)
      if (!trustedKernelCalls.count({static_cast<size_t>(lib), c})) {
        if (verbose)
          std::cerr << "not run: kernel call " << c << " is not in a seed\n";
        return;
      }
  }
  std::map<std::string, HostTensor> feeds;
  for (const runtime::TensorSpec &t : m.inputs) {
    HostTensor h;
    h.dtype = t.dtype;
    h.shape = t.shape;
    h.data.assign(t.numBytes(), 0);
    feeds[t.name] = std::move(h);
  }
  runtime::NamedOutputs outputs = session.run(feeds);
  if (outputs.size() != m.outputs.size())
    bug("run() returned " + std::to_string(outputs.size()) + " outputs, the manifest has " +
        std::to_string(m.outputs.size()));
  for (size_t i = 0; i < outputs.size(); ++i)
    if (outputs[i].second.shape != m.outputs[i].shape ||
        outputs[i].second.data.size() != m.outputs[i].numBytes())
      bug("output '" + outputs[i].first + "' has shape " + shapeToString(outputs[i].second.shape) +
          " and " + std::to_string(outputs[i].second.data.size()) + " bytes; the manifest says " +
          m.outputs[i].toString());
}

/// Opens, describes and maybe runs the bundle at bundlePath; returns -1 when
/// the input is not to be tried (an untrusted kernel library).
int tryBundle() {
  // A kernel library is dlopen'ed only when it is a seed's.
  try {
    auto reader = bundle::BundleReader::open(bundlePath);
    runtime::Manifest m = runtime::Manifest::parse(reader->section("manifest"));
    if (!m.kernelLibrary.empty() && reader->hasSection(m.kernelLibrary)) {
      std::string_view lib = reader->section(m.kernelLibrary);
      if (lib.substr(0, 4) == "\x7f" "ELF" && trustedLibrary(lib) < 0) {
        if (verbose)
          std::cerr << "skipped: the kernel library is not a seed's\n";
        return -1;
      }
    }
    if (m.target == "cuda")
      for (int r = 0; r < static_cast<int>(m.devices); ++r)
        (void)runtime::cuda::describeCudaProgram(m, *reader, r);
  } catch (const bundle::BundleError &e) {
    if (verbose)
      std::cerr << "rejected: " << e.what() << "\n";
    return 0;
  } catch (const runtime::RuntimeError &e) {
    if (verbose)
      std::cerr << "rejected: " << e.what() << "\n";
    return 0;
  }
  runtime::SessionOptions options;
  options.collectiveTimeout = 0.5;
  std::unique_ptr<runtime::Session> session;
  try {
    session = runtime::Session::open(bundlePath, options);
  } catch (const runtime::RuntimeError &e) {
    // Session::open turns BundleError into RuntimeError.
    if (verbose)
      std::cerr << "rejected: " << e.what() << "\n";
    return 0;
  }
  if (session->manifest().target != "cpu")
    return 0;
  describe(*session);
  auto reader = bundle::BundleReader::open(bundlePath);
  try {
    maybeRun(*session, *reader);
  } catch (const runtime::RuntimeError &e) {
    if (verbose)
      std::cerr << "run failed: " << e.what() << "\n";
  }
  return 0;
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  verbose = std::getenv("PMC_FUZZ_VERBOSE") != nullptr;
  bundleDir = pmc::fuzz::makeFuzzTempDir("pmc-fuzz-bundle");
  bundlePath = bundleDir + "/model.pmc";
  std::atexit(removeBundleDir);
  const char *seeds = std::getenv("PMC_FUZZ_BUNDLE_SEEDS");
  loadSeeds(seeds && *seeds ? seeds : PMC_FUZZ_BUNDLE_SEED_DIR);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  writeFile(bundlePath, data, size);
  try {
    return tryBundle();
  } catch (const runtime::RuntimeError &e) {
    bug(std::string("RuntimeError escaped where none is expected: ") + e.what());
  } catch (const std::exception &e) {
    // The runtime reports bad bundles as RuntimeError naming the part at
    // fault; anything else (std::out_of_range, a JSON type error, ...) is a
    // check that is missing.
    bug(std::string("not a RuntimeError: ") + typeid(e).name() + ": " + e.what());
  }
}

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t maxSize,
                                          unsigned int seed) {
  return pmc::fuzz::mutateBundle(data, size, maxSize, seed);
}
