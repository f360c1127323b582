//===- ProgramTable.cpp - the buffer table and outputs of a rank program -===//

#include "ProgramTable.h"
#include "pmc/Bundle/Bundle.h"
#include "pmc/Runtime/Error.h"

#include <limits>

namespace pmc::runtime {

namespace {

BufferKind parseKind(const std::string &kind, bool allowScratch, const std::string &where) {
  if (kind == "input")
    return BufferKind::Input;
  if (kind == "weight")
    return BufferKind::Weight;
  if (kind == "temp" || (allowScratch && kind == "scratch"))
    return BufferKind::Temp;
  if (kind == "view")
    return BufferKind::View;
  throw RuntimeError(where + ": unknown kind '" + kind + "' (expected input, weight, temp" +
                     (allowScratch ? ", scratch" : "") + " or view)");
}

/// Resolves each view to its root, rejecting cycles, size mismatches and
/// views of scratch buffers.
void resolveViews(std::vector<BufferDesc> &buffers) {
  for (BufferDesc &b : buffers) {
    if (b.kind != BufferKind::View)
      continue;
    if (b.of < 0 || b.of >= static_cast<int>(buffers.size()) || b.of == b.id)
      throw RuntimeError(b.describe() + ": field 'of' refers to buffer " +
                         std::to_string(b.of) + ", which is not another buffer");
    if (buffers[b.of].bytes != b.bytes)
      throw RuntimeError(b.describe() + ": holds " + std::to_string(b.bytes) +
                         " bytes but its base " + buffers[b.of].describe() + " holds " +
                         std::to_string(buffers[b.of].bytes));
    int cur = b.of;
    for (size_t steps = 0; buffers[cur].kind == BufferKind::View; ++steps) {
      if (steps > buffers.size())
        throw RuntimeError(b.describe() + ": views form a cycle");
      cur = buffers[cur].of;
      if (cur < 0 || cur >= static_cast<int>(buffers.size()))
        throw RuntimeError(b.describe() + ": its chain of views refers to buffer " +
                           std::to_string(cur) + ", which does not exist");
    }
    b.root = cur;
    if (buffers[cur].scratch)
      throw RuntimeError(b.describe() + ": views of scratch buffers are not allowed");
  }
}

} // namespace

size_t denseByteSize(DType dtype, const std::vector<int64_t> &shape, const std::string &where) {
  size_t n = dtypeSize(dtype);
  for (int64_t d : shape) {
    if (d != 0 && n > std::numeric_limits<size_t>::max() / 2 / static_cast<size_t>(d))
      throw RuntimeError(where + ": shape " + shapeToString(shape) + " is too large");
    n *= static_cast<size_t>(d);
  }
  return n;
}

const std::string &rankProgramSection(const Manifest &manifest, int rank) {
  if (rank < 0 || rank >= static_cast<int>(manifest.rankPrograms.size()))
    throw RuntimeError("rank " + std::to_string(rank) + " is out of range: the bundle has " +
                       std::to_string(manifest.rankPrograms.size()) + " rank(s)");
  return manifest.rankPrograms[rank];
}

void checkProgramRank(const json::json &root, int rank) {
  int64_t declared = json::getInt(root, "rank", "program");
  if (declared != rank)
    throw RuntimeError("program: field 'rank' is " + std::to_string(declared) + ", expected " +
                       std::to_string(rank));
}

void checkInputBuffer(const BufferDesc &b, const TensorSpec &spec, const Manifest &manifest,
                      const std::string &where) {
  if (spec.dtype != b.dtype || manifest.stepShape(spec) != b.shape)
    throw RuntimeError(where + ": does not match manifest input '" + spec.toString() + "' (" +
                       (manifest.pipeline ? "step" : "local") + " shape " +
                       shapeToString(manifest.stepShape(spec)) + ")");
}

/// Reads the fields of `b`'s kind from its object `o` and checks them.
static void readKindFields(BufferDesc &b, const json::json &o, const Manifest &manifest,
                           const bundle::BundleReader &reader) {
  std::string where = b.describe();
  switch (b.kind) {
  case BufferKind::Input: {
    int64_t in = json::getInt(o, "input", where);
    if (in < 0 || in >= static_cast<int64_t>(manifest.inputs.size()))
      throw RuntimeError(where + ": input " + std::to_string(in) +
                         " is out of range (the manifest has " +
                         std::to_string(manifest.inputs.size()) + " inputs)");
    // Pipeline bundles: one microbatch's block (the step shape).
    checkInputBuffer(b, manifest.inputs[in], manifest, where);
    b.input = static_cast<int>(in);
    break;
  }
  case BufferKind::Weight: {
    b.section = json::getString(o, "section", where);
    if (!reader.hasSection(b.section))
      throw RuntimeError(where + ": section '" + b.section + "' does not exist in the bundle");
    uint64_t size = reader.sectionSize(b.section);
    if (size != b.bytes)
      throw RuntimeError(where + ": section '" + b.section + "' holds " +
                         std::to_string(size) + " bytes, expected " + std::to_string(b.bytes));
    break;
  }
  case BufferKind::View:
    b.of = json::getId(o, "of", where);
    break;
  case BufferKind::Temp:
    break;
  }
}

BufferTable parseBufferTable(const json::json &root, const Manifest &manifest,
                             const bundle::BundleReader &reader, bool allowScratch) {
  const json::json &list = json::field(root, "buffers", "program");
  if (!list.is_array())
    throw RuntimeError("program: field 'buffers' must be a list");
  BufferTable table;
  for (size_t i = 0; i < list.size(); ++i) {
    std::string where = "buffer " + std::to_string(i);
    const json::json &o = list[i];
    BufferDesc b;
    b.id = json::getId(o, "id", where);
    if (b.id != static_cast<int>(i))
      throw RuntimeError(where + ": field 'id' is " + std::to_string(b.id) +
                         " (buffer ids must be 0..n-1 in order)");
    b.dtype = json::getDType(o, "dtype", where);
    b.shape = json::getShape(o, "shape", where);
    std::string kind = json::getString(o, "kind", where);
    b.kind = parseKind(kind, allowScratch, where);
    b.bytes = denseByteSize(b.dtype, b.shape, where);
    b.root = b.id;
    b.scratch = kind == "scratch";
    readKindFields(b, o, manifest, reader);
    table.buffers.push_back(std::move(b));
  }
  resolveViews(table.buffers);
  return table;
}

void ProgramRules::checkAccesses(const std::string &where, int index,
                                 const std::vector<int> &reads, const std::vector<int> &writes,
                                 int kernelRunStart) {
  auto fail = [&](const std::string &message) {
    throw RuntimeError(where + ": " + message);
  };
  for (int id : reads) {
    const BufferDesc &b = buffers[id];
    const BufferDesc &base = buffers[b.root];
    if (base.kind == BufferKind::Temp && !base.scratch && writer[base.id] < 0)
      fail("reads " + b.describe() + " before any command writes " +
           (b.root == b.id ? "it" : base.describe()));
  }
  const bool launch = kernelRunStart >= 0;
  for (int id : writes) {
    const BufferDesc &b = buffers[id];
    if (b.kind == BufferKind::View)
      fail("writes through " + b.describe() + "; views are read-only");
    if (b.kind != BufferKind::Temp)
      fail("writes " + b.describe() + "; only temps may be written");
    if (writer[id] >= 0 && !(launch && writer[id] >= kernelRunStart))
      fail("writes " + b.describe() + ", already written by command " +
           std::to_string(writer[id]) +
           (launch ? " (a temp is written once, or by the launches of one kernel)"
                   : " (a temp is written exactly once)"));
    if (!launch)
      for (int r : reads)
        if (buffers[r].root == id)
          fail("writes " + b.describe() + ", which it also reads (through " +
               buffers[r].describe() + ")");
    writer[id] = index;
  }
}

void ProgramRules::checkTransferTag(const std::string &where, int index, int64_t tag) {
  auto [user, fresh] = tagUser.emplace(tag, index);
  if (!fresh)
    throw RuntimeError(where + ": tag " + std::to_string(tag) + " is already used by command " +
                       std::to_string(user->second) + " (a tag names one transfer edge)");
}

std::vector<int> parseProgramOutputs(const json::json &root, const Manifest &manifest, int rank,
                                     const std::vector<BufferDesc> &buffers,
                                     const std::vector<int> &writer) {
  std::vector<int64_t> outs = json::getIntList(root, "outputs", "program");
  if (outs.size() != manifest.outputs.size())
    throw RuntimeError("program: 'outputs' lists " + std::to_string(outs.size()) +
                       " buffers, the manifest declares " +
                       std::to_string(manifest.outputs.size()) + " outputs");
  const int64_t stage = manifest.stageOf(rank);
  std::vector<int> ids;
  for (size_t i = 0; i < outs.size(); ++i) {
    std::string where = "outputs[" + std::to_string(i) + "]";
    const TensorSpec &spec = manifest.outputs[i];
    // Pipeline bundles: -1 exactly for the outputs of other stages.
    if (manifest.pipeline && spec.stage != stage) {
      if (outs[i] != -1)
        throw RuntimeError(where + ": output '" + spec.name + "' is computed by stage " +
                           std::to_string(spec.stage) + ", not by this rank's stage " +
                           std::to_string(stage) + "; expected -1");
      ids.push_back(-1);
      continue;
    }
    if (outs[i] < 0 || outs[i] >= static_cast<int64_t>(buffers.size()))
      throw RuntimeError(where + ": buffer " + std::to_string(outs[i]) + " does not exist" +
                         (manifest.pipeline
                              ? " (output '" + spec.name + "' is computed by this rank's stage " +
                                    std::to_string(stage) + ")"
                              : std::string()));
    const BufferDesc &b = buffers[outs[i]];
    if (b.dtype != spec.dtype || b.shape != manifest.stepShape(spec))
      throw RuntimeError(where + ": " + b.describe() + " does not match manifest output '" +
                         spec.toString() + "' (" + (manifest.pipeline ? "step" : "local") +
                         " shape " + shapeToString(manifest.stepShape(spec)) + ")");
    if (buffers[b.root].scratch)
      throw RuntimeError(where + ": " + b.describe() + " is a scratch buffer");
    if (buffers[b.root].kind == BufferKind::Temp && writer[b.root] < 0)
      throw RuntimeError(where + ": " + b.describe() + " is never written");
    ids.push_back(b.id);
  }
  return ids;
}

} // namespace pmc::runtime
