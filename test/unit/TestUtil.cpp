//===- TestUtil.cpp - helpers shared by the runtime unit tests -------------===//

#include "TestUtil.h"

#include "pmc/Support/CPUFeatures.h"

#include <cstdlib>
#include <filesystem>

#ifndef PMC_TEST_C_COMPILER
#define PMC_TEST_C_COMPILER "cc"
#endif

namespace pmc::test {

TempDir::TempDir() {
  const char *base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/pmc-unit-XXXXXX";
  if (!::mkdtemp(tmpl.data()))
    throw std::runtime_error("mkdtemp failed");
  dir = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

std::string readBytes(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw std::runtime_error("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void writeBytes(const std::string &path, const std::string &bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out)
    throw std::runtime_error("cannot write " + path);
}

std::string compileKernelLibrary(const TempDir &dir, const std::string &source,
                                 const std::optional<std::string> &targetRecord) {
  static int counter = 0;
  std::string base = dir.file("kernels" + std::to_string(counter++));
  std::string record;
  if (targetRecord)
    record = "\nconst char " + std::string(kKernelTargetSymbol) + "[] = \"" + *targetRecord +
             "\";\n";
  writeBytes(base + ".c", source + record);
  std::string cmd = std::string(PMC_TEST_C_COMPILER) + " -shared -fPIC -O1 -o " + base +
                    ".so " + base + ".c";
  if (std::system(cmd.c_str()) != 0)
    throw std::runtime_error("kernel compilation failed: " + cmd);
  return readBytes(base + ".so");
}

json spec(const std::string &name, const std::string &dtype,
          const std::vector<int64_t> &shape) {
  return {{"name", name}, {"dtype", dtype}, {"shape", shape}};
}

json manifest(const json &inputs, const json &outputs, bool kernels) {
  // `{spec(...)}` with one element brace-initializes a copy, not a list.
  auto list = [](const json &j) { return j.is_array() ? j : json::array({j}); };
  json m = {{"format", "pmc-bundle"},
            {"format_version", 1},
            {"producer", "pmc unit tests"},
            {"target", "cpu"},
            {"devices", 1},
            {"mesh", {{"axes", json::array()}}},
            {"inputs", list(inputs)},
            {"outputs", list(outputs)},
            {"ranks", json::array({{{"rank", 0}, {"program", "rank0.program"}}})}};
  if (kernels)
    m["kernel_library"] = "kernels.cpu";
  return m;
}

std::string writeBundle(const TempDir &dir, const std::string &name, const json &manifest,
                        const json &program, const std::string &kernels,
                        const std::vector<std::pair<std::string, std::string>> &extra) {
  bundle::BundleWriter w;
  w.addSection("manifest", manifest.dump());
  w.addSection("rank0.program", program.dump());
  if (!kernels.empty())
    w.addSection("kernels.cpu", kernels);
  for (const auto &[n, bytes] : extra)
    w.addSection(n, bytes);
  std::string path = dir.file(name);
  w.write(path);
  return path;
}

HostTensor randomTensor(DType dtype, const std::vector<int64_t> &shape, unsigned seed) {
  HostTensor t;
  t.dtype = dtype;
  t.shape = shape;
  t.data.resize(t.numBytes());
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  for (int64_t i = 0; i < t.numElements(); ++i)
    setValue(t, i, dist(gen));
  return t;
}

double valueAt(const HostTensor &t, int64_t i) {
  if (t.dtype == DType::Float32) {
    float v;
    std::memcpy(&v, t.data.data() + 4 * i, 4);
    return v;
  }
  double v;
  std::memcpy(&v, t.data.data() + 8 * i, 8);
  return v;
}

void setValue(HostTensor &t, int64_t i, double v) {
  if (t.dtype == DType::Float32) {
    float f = static_cast<float>(v);
    std::memcpy(t.data.data() + 4 * i, &f, 4);
  } else {
    std::memcpy(t.data.data() + 8 * i, &v, 8);
  }
}

std::string bytesOf(const HostTensor &t) {
  return std::string(reinterpret_cast<const char *>(t.data.data()), t.data.size());
}

} // namespace pmc::test
