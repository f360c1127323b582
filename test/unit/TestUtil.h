//===- TestUtil.h - temp dirs, bundle building, kernels for unit tests -----===//
#ifndef PMC_TEST_UNIT_TESTUTIL_H
#define PMC_TEST_UNIT_TESTUTIL_H

#include "pmc/Bundle/Bundle.h"
#include "pmc/Support/HostTensor.h"

#include <nlohmann/json.hpp>

#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace pmc::test {

using nlohmann::json;

/// A fresh directory under $TMPDIR (or /tmp), removed at exit of the test.
class TempDir {
public:
  TempDir();
  ~TempDir();
  std::string file(const std::string &name) const { return dir + "/" + name; }
  const std::string &path() const { return dir; }

private:
  std::string dir;
};

std::string readBytes(const std::string &path);
void writeBytes(const std::string &path, const std::string &bytes);

/// The CPU record (pmc/Support/CPUFeatures.h) of a kernel library built by
/// the C compiler for its baseline, which needs no ISA extension.
inline const std::string kBaselineTargetRecord = "cpu=x86-64;features=";

/// Compiles C `source` into a shared library with `cc -shared -fPIC` and
/// returns its bytes. The library defines `pmc_kernel_target` as
/// `targetRecord` (the runtime requires it), or not at all for nullopt.
std::string compileKernelLibrary(
    const TempDir &dir, const std::string &source,
    const std::optional<std::string> &targetRecord = kBaselineTargetRecord);

/// A manifest for a single-rank CPU bundle.
json manifest(const json &inputs, const json &outputs, bool kernels = true);
/// {"name": n, "dtype": d, "shape": s}.
json spec(const std::string &name, const std::string &dtype, const std::vector<int64_t> &shape);

/// Writes a bundle with `manifest`, "rank0.program" = `program`, an optional
/// kernel library and `extra` sections; returns the path.
std::string writeBundle(const TempDir &dir, const std::string &name, const json &manifest,
                        const json &program, const std::string &kernels = "",
                        const std::vector<std::pair<std::string, std::string>> &extra = {});

/// A float32/float64 tensor of `shape` with values in [-1, 1).
HostTensor randomTensor(DType dtype, const std::vector<int64_t> &shape, unsigned seed);
/// Element i of a float32/float64 tensor.
double valueAt(const HostTensor &t, int64_t i);
void setValue(HostTensor &t, int64_t i, double v);
/// The raw bytes of a tensor as a std::string (weight sections).
std::string bytesOf(const HostTensor &t);

} // namespace pmc::test

#endif // PMC_TEST_UNIT_TESTUTIL_H
