//===- Manifest.cpp - parsing and checking the bundle manifest --------------===//

#include "pmc/Runtime/Manifest.h"
#include "Json.h"

#include <algorithm>
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
    if (list[i].contains("state")) {
      spec.state = json::getString(list[i], "state", where);
      if (spec.state != "parameter" && spec.state != "buffer" &&
          spec.state != "optimizer_state")
        throw RuntimeError(where + ": field 'state' must be \"parameter\", \"buffer\" or "
                                   "\"optimizer_state\", got \"" + spec.state + "\"");
    }
    if (list[i].contains("initial")) {
      spec.initial = json::getString(list[i], "initial", where);
      if (spec.state != "parameter" && spec.state != "buffer")
        throw RuntimeError(where + ": field 'initial' needs \"state\": \"parameter\" or "
                                   "\"buffer\"");
    }
    specs.push_back(std::move(spec));
  }
  return specs;
}

/// The names of a `microbatched_*` list, each naming one of `specs`, which
/// are marked microbatched.
void markMicrobatched(const json::json &pipeline, const char *key,
                      std::vector<TensorSpec> &specs, const char *what) {
  const std::string where = std::string("manifest: pipeline: field '") + key + "'";
  if (!pipeline.contains(key) || pipeline[key].is_null())
    return;
  const json::json &list = pipeline[key];
  if (!list.is_array())
    throw RuntimeError(where + " must be a list of " + what + " names");
  for (const json::json &n : list) {
    if (!n.is_string())
      throw RuntimeError(where + " must be a list of " + what + " names, got " + n.dump());
    std::string name = n.get<std::string>();
    auto it = std::find_if(specs.begin(), specs.end(),
                           [&](const TensorSpec &t) { return t.name == name; });
    if (it == specs.end()) {
      std::string known;
      for (const TensorSpec &t : specs)
        known += (known.empty() ? "'" : ", '") + t.name + "'";
      throw RuntimeError(where + ": '" + name + "' is not a graph " + what + " (the " +
                         what + "s are " + (known.empty() ? "none" : known) + ")");
    }
    if (it->microbatched)
      throw RuntimeError(where + ": '" + name + "' is listed twice");
    it->microbatched = true;
  }
}

/// Parses the `pipeline` object into `m.pipeline` and checks it against the
/// mesh and the specs.
void parsePipeline(const json::json &root, Manifest &m) {
  const json::json &o = root["pipeline"];
  const std::string where = "manifest: pipeline";
  if (!o.is_object())
    throw RuntimeError(where + " must be an object, got " + o.dump());
  PipelineSpec p;
  p.stages = json::getInt(o, "stages", where);
  if (p.stages < 1)
    throw RuntimeError(where + ": field 'stages' must be at least 1, got " +
                       std::to_string(p.stages));
  if (o.contains("axis"))
    p.axis = json::getString(o, "axis", where);
  p.microbatches = json::getInt(o, "microbatches", where);
  if (p.microbatches < 1)
    throw RuntimeError(where + ": field 'microbatches' must be at least 1, got " +
                       std::to_string(p.microbatches));
  std::string kind = json::getString(o, "schedule", where);
  std::optional<schedule::ScheduleKind> parsed = schedule::parseScheduleKind(kind);
  // Interleaved schedules have several stages per rank, which the bundle
  // format does not describe yet.
  if (!parsed || *parsed == schedule::ScheduleKind::Interleaved)
    throw RuntimeError(where + ": field 'schedule': schedule '" + kind +
                       "' is unknown (expected gpipe, 1f1b or zb-h1)");
  p.schedule = *parsed;
  int axis = m.mesh.axisIndex(p.axis);
  if (axis < 0 && p.stages > 1)
    throw RuntimeError(where + ": " + std::to_string(p.stages) +
                       " stages need the mesh axis '" + p.axis + "', but the mesh is " +
                       m.mesh.toString());
  if (axis > 0)
    throw RuntimeError(where + ": the pipeline axis '" + p.axis +
                       "' must be the first axis of the mesh " + m.mesh.toString());
  if (axis == 0 && m.mesh.axes[0].size != p.stages)
    throw RuntimeError(where + ": field 'stages' is " + std::to_string(p.stages) +
                       " but the mesh axis '" + p.axis + "' has size " +
                       std::to_string(m.mesh.axes[0].size));
  m.pipeline = p; // microbatchShape() below reads it
  markMicrobatched(o, "microbatched_inputs", m.inputs, "input");
  markMicrobatched(o, "microbatched_outputs", m.outputs, "output");
  for (const auto *list : {&m.inputs, &m.outputs}) {
    const char *kind = list == &m.inputs ? "input" : "output";
    for (const TensorSpec &spec : *list) {
      std::string w = std::string("manifest: ") + kind + " '" + spec.name + "'";
      for (const auto &dim : spec.sharding)
        if (std::find(dim.begin(), dim.end(), p.axis) != dim.end())
          throw RuntimeError(w + ": sharding " + shardingToString(spec.sharding) +
                             " names the pipeline axis '" + p.axis + "'");
      if (!spec.microbatched)
        continue;
      if (spec.shape.empty() || spec.shape[0] % p.microbatches)
        throw RuntimeError(w + " is microbatched but its dimension 0 (shape " +
                           shapeToString(spec.shape) + ") is not divisible by " +
                           std::to_string(p.microbatches) + " microbatches");
      checkSharding(spec.sharding, m.microbatchShape(spec), m.mesh,
                    w + " (one microbatch, " + shapeToString(m.microbatchShape(spec)) + ")");
    }
  }
  const json::json &outs = root["outputs"];
  for (size_t i = 0; i < m.outputs.size(); ++i) {
    std::string w = "manifest: outputs[" + std::to_string(i) + "] '" + m.outputs[i].name + "'";
    int64_t stage = json::getInt(outs[i], "stage", w);
    if (stage < 0 || stage >= p.stages)
      throw RuntimeError(w + ": field 'stage' is " + std::to_string(stage) +
                         ", out of range [0, " + std::to_string(p.stages) + ")");
    m.outputs[i].stage = stage;
  }
}
/// The outputs' `updates` fields: each names a state input of the same
/// dtype, shape and sharding, updated by no other output.
void parseStateUpdates(const json::json &root, Manifest &m) {
  const json::json &outs = root["outputs"];
  std::set<int64_t> updated;
  for (size_t o = 0; o < m.outputs.size(); ++o) {
    if (!outs[o].contains("updates"))
      continue;
    TensorSpec &out = m.outputs[o];
    std::string w = "manifest: outputs[" + std::to_string(o) + "] '" + out.name + "'";
    std::string name = json::getString(outs[o], "updates", w);
    auto it = std::find_if(m.inputs.begin(), m.inputs.end(),
                           [&](const TensorSpec &in) { return in.name == name; });
    if (it == m.inputs.end() || it->state.empty())
      throw RuntimeError(w + ": field 'updates' names '" + name + "', which is no state input");
    if (it->dtype != out.dtype || it->shape != out.shape || it->sharding != out.sharding)
      throw RuntimeError(w + " updates '" + name + "' but is " + out.toString() +
                         ", the input " + it->toString());
    out.updates = it - m.inputs.begin();
    if (!updated.insert(out.updates).second)
      throw RuntimeError(w + ": '" + name + "' is updated by two outputs");
  }
}
} // namespace

int64_t Manifest::stageOf(int rank) const {
  if (!pipeline || mesh.axisIndex(pipeline->axis) != 0)
    return 0;
  return mesh.coordinates(rank)[0];
}

std::vector<int64_t> Manifest::microbatchShape(const TensorSpec &spec) const {
  std::vector<int64_t> shape = spec.shape;
  if (pipeline && spec.microbatched && !shape.empty())
    shape[0] /= pipeline->microbatches;
  return shape;
}

std::vector<int64_t> Manifest::stepShape(const TensorSpec &spec) const {
  return runtime::localShape(microbatchShape(spec), spec.sharding, mesh);
}

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
  parseStateUpdates(root, m);
  if (root.contains("train") && !root["train"].is_null()) {
    const json::json &t = root["train"];
    std::string w = "manifest: train";
    Manifest::Train train;
    train.optimizer = json::getString(t, "optimizer", w);
    if (!t.contains("lr") || !t["lr"].is_number() || !(t["lr"].get<double>() > 0))
      throw RuntimeError(w + ": field 'lr' must be a positive number");
    train.lr = t["lr"].get<double>();
    m.train = train;
  }
  if (root.contains("pipeline") && !root["pipeline"].is_null()) {
    parsePipeline(root, m);
  } else {
    for (size_t i = 0; i < m.outputs.size(); ++i)
      if (root["outputs"][i].contains("stage"))
        throw RuntimeError("manifest: outputs[" + std::to_string(i) + "] '" +
                           m.outputs[i].name +
                           "': field 'stage' needs a 'pipeline' in the manifest");
  }

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
