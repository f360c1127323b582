//===- TrainCheckpoint.cpp - the training checkpoint (.pmct) --------------===//
#include "TrainCheckpoint.h"

#include "pmc/Support/Npy.h"

#include <nlohmann/json.hpp>

#include <map>
#include <stdexcept>

using namespace pmc;
using namespace pmc::runtime;
using nlohmann::json;

namespace {
constexpr const char *kFormat = "pmc-training-checkpoint";
constexpr int64_t kVersion = 1;

/// The manifest's list for each kind of state ("parameter" -> "parameters").
const char *listOf(const std::string &state) {
  if (state == "parameter")
    return "parameters";
  if (state == "buffer")
    return "buffers";
  return "states";
}
} // namespace

void pmc::run::writeTrainCheckpoint(const std::string &path, Session &session, int64_t step) {
  json manifest = {{"format", kFormat},        {"version", kVersion},
                   {"step", step},             {"parameters", json::array()},
                   {"buffers", json::array()}, {"states", json::array()},
                   {"arrays", json::object()}, {"written_by", "pmc-run"}};
  if (session.manifest().train)
    manifest["optimizer"] = {{"name", session.manifest().train->optimizer},
                             {"lr", session.manifest().train->lr}};
  std::vector<std::pair<std::string, std::string>> members;
  bool writer = true; // rank 0, or every rank in this process
  for (const TensorSpec &spec : session.inputs()) {
    if (spec.state.empty())
      continue;
    std::optional<HostTensor> gathered = session.gatherState(spec.name);
    if (!gathered) { // a process other than rank 0's: it sent its shards
      writer = false;
      continue;
    }
    HostTensor &value = *gathered;
    std::string file = "arrays/" + std::to_string(members.size()) + ".npy";
    members.emplace_back(file, npy::serializeNpy(value));
    manifest[listOf(spec.state)].push_back(spec.name);
    manifest["arrays"][spec.name] = {
        {"file", file}, {"dtype", std::string(dtypeName(value.dtype))}, {"shape", value.shape}};
  }
  if (!writer)
    return;
  members.insert(members.begin(), {"manifest.json", manifest.dump(1)});
  npy::writeZip(path, members);
}

namespace {
int64_t readCheckpoint(const std::string &path, Session &session);
} // namespace

int64_t pmc::run::readTrainCheckpoint(const std::string &path, Session &session) {
  try {
    return readCheckpoint(path, session);
  } catch (const json::exception &e) {
    throw std::runtime_error(path + ": manifest.json is malformed: " + e.what());
  }
}

namespace {
int64_t readCheckpoint(const std::string &path, Session &session) {
  auto fail = [&](const std::string &what) {
    return std::runtime_error(path + ": " + what);
  };
  std::map<std::string, std::string> members;
  try {
    for (auto &[name, data] : npy::readZip(path))
      members[name] = std::move(data);
  } catch (const npy::NpyError &e) {
    throw std::runtime_error(std::string("not a readable pmc training checkpoint: ") +
                             e.what());
  }
  auto text = members.find("manifest.json");
  if (text == members.end())
    throw fail("not a pmc training checkpoint (no manifest.json)");
  json manifest = json::parse(text->second, nullptr, /*allow_exceptions=*/false);
  if (!manifest.is_object() || manifest.value("format", "") != kFormat)
    throw fail("not a pmc training checkpoint (manifest.json has no format \"" +
               std::string(kFormat) + "\")");
  if (!manifest.contains("version") || !manifest["version"].is_number_integer() ||
      manifest["version"].get<int64_t>() != kVersion)
    throw fail("checkpoint version " +
               (manifest.contains("version") ? manifest["version"].dump() : "(none)") +
               "; this pmc-run reads version " + std::to_string(kVersion));
  if (!manifest.contains("step") || !manifest["step"].is_number_integer() ||
      !manifest.contains("arrays") || !manifest["arrays"].is_object())
    throw fail("manifest.json lacks an integer 'step' or an 'arrays' object");
  const json &arrays = manifest["arrays"];
  for (const TensorSpec &spec : session.inputs()) {
    if (spec.state.empty())
      continue;
    if (!arrays.contains(spec.name))
      throw fail("it has no '" + spec.name + "', which the bundle's train step keeps (" +
                 spec.state + ")");
    const json &entry = arrays[spec.name];
    std::string where = "array '" + spec.name + "'";
    if (!entry.is_object() || !entry.contains("file") || !entry["file"].is_string())
      throw fail(where + ": its manifest entry has no file");
    auto data = members.find(entry["file"].get<std::string>());
    if (data == members.end())
      throw fail(where + " (" + entry["file"].get<std::string>() + ") is missing");
    HostTensor value;
    try {
      value = npy::parseNpy(data->second, path + "[" + data->first + "]");
    } catch (const npy::NpyError &e) {
      throw std::runtime_error(e.what());
    }
    if (entry.value("dtype", "") != dtypeName(value.dtype) ||
        entry.value("shape", std::vector<int64_t>{-1}) != value.shape)
      throw fail(where + " is " + std::string(dtypeName(value.dtype)) +
                 shapeToString(value.shape) + ", the manifest says " +
                 entry.value("dtype", std::string("?")) +
                 (entry.contains("shape") ? entry["shape"].dump() : "?"));
    try {
      session.setState(spec.name,
                       TensorRef{value.dtype, value.shape, value.data.data(), value.data.size()});
    } catch (const std::exception &e) {
      throw fail(e.what());
    }
  }
  return manifest["step"].get<int64_t>();
}
} // namespace
