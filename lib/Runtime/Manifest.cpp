//===- Manifest.cpp - parsing and checking the bundle manifest --------------===//

#include "pmc/Runtime/Manifest.h"
#include "Json.h"

#include <set>

namespace pmc::runtime {

size_t TensorSpec::numBytes() const {
  size_t n = dtypeSize(dtype);
  for (int64_t d : shape)
    n *= static_cast<size_t>(d);
  return n;
}

std::string TensorSpec::toString() const {
  std::string s = name + ": " + std::string(dtypeName(dtype)) + shapeToString(shape);
  bool sharded = false;
  for (const auto &dim : sharding)
    sharded = sharded || !dim.empty();
  return sharded ? s + " sharded " + shardingToString(sharding) : s;
}

std::vector<int64_t> TensorSpec::localShape(const Mesh &mesh) const {
  return runtime::localShape(shape, sharding, mesh);
}

namespace {
std::vector<TensorSpec> parseSpecs(const json::json &root, const char *key) {
  const json::json &list = json::field(root, key, "manifest");
  if (!list.is_array())
    throw RuntimeError(std::string("manifest: field '") + key + "' must be a list");
  std::vector<TensorSpec> specs;
  std::set<std::string> names;
  for (size_t i = 0; i < list.size(); ++i) {
    std::string where = std::string("manifest: ") + key + "[" + std::to_string(i) + "]";
    TensorSpec spec;
    spec.name = json::getString(list[i], "name", where);
    if (spec.name.empty())
      throw RuntimeError(where + ": empty name");
    where += " '" + spec.name + "'";
    spec.dtype = json::getDType(list[i], "dtype", where);
    spec.shape = json::getShape(list[i], "shape", where);
    if (list[i].contains("sharding") && !list[i]["sharding"].is_null()) {
      const json::json &sh = list[i]["sharding"];
      auto bad = [&] {
        return RuntimeError(where + ": field 'sharding' must be a list (one per dimension) "
                                    "of lists of mesh axis names, got " +
                            sh.dump());
      };
      if (!sh.is_array())
        throw bad();
      for (const json::json &dim : sh) {
        if (!dim.is_array())
          throw bad();
        std::vector<std::string> axes;
        for (const json::json &a : dim) {
          if (!a.is_string())
            throw bad();
          axes.push_back(a.get<std::string>());
        }
        spec.sharding.push_back(std::move(axes));
      }
    }
    if (!names.insert(spec.name).second)
      throw RuntimeError(std::string("manifest: duplicate ") + key + " name '" +
                         spec.name + "'");
    specs.push_back(std::move(spec));
  }
  return specs;
}
} // namespace

Manifest Manifest::parse(std::string_view text) {
  json::json root = json::parse(text, "manifest");
  const std::string where = "manifest";
  Manifest m;
  std::string format = json::getString(root, "format", where);
  if (format != "pmc-bundle")
    throw RuntimeError("manifest: field 'format' is '" + format +
                       "', expected 'pmc-bundle'");
  int64_t version = json::getInt(root, "format_version", where);
  if (version != 1)
    throw RuntimeError("manifest: unsupported format_version " +
                       std::to_string(version) + " (this runtime reads 1)");
  m.producer = json::getString(root, "producer", where);
  m.target = json::getString(root, "target", where);
  m.devices = json::getInt(root, "devices", where);
  if (m.devices < 1)
    throw RuntimeError("manifest: 'devices' must be at least 1, got " +
                       std::to_string(m.devices));
  m.meshJson = root.contains("mesh") ? root["mesh"].dump() : "{}";
  m.mesh = Mesh::parse(m.meshJson, m.devices);
  if (root.contains("kernel_library") && !root["kernel_library"].is_null())
    m.kernelLibrary = json::getString(root, "kernel_library", where);
  m.inputs = parseSpecs(root, "inputs");
  m.outputs = parseSpecs(root, "outputs");
  for (const auto *list : {&m.inputs, &m.outputs})
    for (const TensorSpec &spec : *list)
      checkSharding(spec.sharding, spec.shape, m.mesh,
                    std::string("manifest: ") + (list == &m.inputs ? "input" : "output") +
                        " '" + spec.name + "'");

  const json::json &ranks = json::field(root, "ranks", where);
  if (!ranks.is_array())
    throw RuntimeError("manifest: field 'ranks' must be a list");
  if (static_cast<int64_t>(ranks.size()) != m.devices)
    throw RuntimeError("manifest: 'ranks' lists " + std::to_string(ranks.size()) +
                       " programs for " + std::to_string(m.devices) + " devices");
  m.rankPrograms.resize(ranks.size());
  for (size_t i = 0; i < ranks.size(); ++i) {
    std::string w = "manifest: ranks[" + std::to_string(i) + "]";
    int64_t r = json::getInt(ranks[i], "rank", w);
    if (r < 0 || r >= m.devices)
      throw RuntimeError(w + ": rank " + std::to_string(r) + " is out of range [0, " +
                         std::to_string(m.devices) + ")");
    if (!m.rankPrograms[r].empty())
      throw RuntimeError(w + ": rank " + std::to_string(r) + " is listed twice");
    m.rankPrograms[r] = json::getString(ranks[i], "program", w);
  }
  return m;
}

} // namespace pmc::runtime
