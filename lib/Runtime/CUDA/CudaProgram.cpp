//===- CudaProgram.cpp - parse and validate a rank program for the GPU -----===//

#include "pmc/Runtime/CUDA/CudaProgram.h"
#include "../Json.h"
#include "../Commands/CommandOperands.h"
#include "../ProgramTable.h"
#include "pmc/Bundle/Bundle.h"
#include "pmc/Runtime/Comm/Mesh.h"
#include "pmc/Runtime/Pipeline.h"
#include "pmc/Runtime/TransferCommands.h"

#include <limits>
#include <map>

namespace pmc::runtime::cuda {

namespace {

std::array<unsigned, 3> getDims(const json::json &o, const char *key, const std::string &where,
                                int64_t limitX) {
  std::vector<int64_t> v = json::getIntList(o, key, where);
  if (v.size() != 3)
    throw RuntimeError(where + ": field '" + key + "' must have 3 entries, got " +
                       listToString(v));
  std::array<unsigned, 3> dims{};
  for (size_t i = 0; i < 3; ++i) {
    int64_t limit = i == 0 ? limitX : 65535;
    if (v[i] < 1 || v[i] > limit)
      throw RuntimeError(where + ": field '" + key + "' " + listToString(v) + ": entry " +
                         std::to_string(i) + " must be in [1, " + std::to_string(limit) + "]");
    dims[i] = static_cast<unsigned>(v[i]);
  }
  return dims;
}

} // namespace

std::vector<PtxModule> parsePtxModules(std::string_view manifestJson,
                                       const bundle::BundleReader &reader) {
  const std::string where = "manifest: field 'cuda'";
  json::json root = json::parse(manifestJson, "manifest");
  const json::json &cuda = json::field(root, "cuda", "manifest");
  std::string abi = json::getString(cuda, "kernel_abi", where);
  if (abi != "bare-pointer")
    throw RuntimeError(where + ": kernel_abi '" + abi +
                       "' is not supported by this runtime (supported: bare-pointer)");
  const json::json &list = json::field(cuda, "ptx", where);
  if (!list.is_array())
    throw RuntimeError(where + ": field 'ptx' must be a list");
  std::vector<PtxModule> modules;
  for (size_t i = 0; i < list.size(); ++i) {
    std::string at = where + ": ptx[" + std::to_string(i) + "]";
    PtxModule m{json::getString(list[i], "chip", at), json::getString(list[i], "section", at)};
    try {
      parseChip(m.chip);
    } catch (const RuntimeError &e) {
      throw RuntimeError(at + ": " + e.what());
    }
    if (!reader.hasSection(m.section))
      throw RuntimeError(at + ": section '" + m.section + "' does not exist in the bundle");
    modules.push_back(std::move(m));
  }
  return modules;
}

/// Parses and validates the commands of one rank program into CudaSteps.
/// Every command but `launch` (the cuda target's own) is first the host
/// runtime's Command, parsed and validated as the host program validates it
/// (one meaning of a matmul, conv, transfer or collective command); the
/// device's own limits (cuBLASLt, cuDNN) come after. The access rules are the
/// host program's (ProgramRules), launches of one kernel may rewrite its
/// outputs and share its scratch.
class CudaProgramLoader {
public:
  CudaProgramLoader(CudaProgram &p, const Manifest &manifest, int rank)
      : p(p), buffers(p.bufferTable), manifest(manifest),
        ctx{buffers, nullptr, manifest.mesh, rank,
            manifest.pipeline ? &*manifest.pipeline : nullptr},
        rules(buffers), scratchOwner(buffers.size(), -1) {}

  /// The step of command `o` at `index`, after its checks.
  CudaStep parse(const json::json &o, int index) {
    CudaStep s;
    s.index = index;
    s.op = json::getString(o, "op", "command " + std::to_string(index));
    if (s.op == "launch") {
      parseLaunch(s, o);
      rules.checkAccesses(s.where(), index, s.reads, s.writes, kernelRunStart);
      return s;
    }
    if (s.op == "kernel")
      fail(s, "host kernels cannot run in a cuda bundle (expected 'launch' commands)");
    std::unique_ptr<Command> command = parseCommand(o, index);
    command->validate(ctx);
    s.reads = command->reads();
    s.writes = command->writes();
    rules.checkAccesses(s.where(), index, s.reads, s.writes);
    if (std::optional<MatmulOperands> matmul = matmulOperands(*command))
      planMatmul(s, *matmul);
    else if (std::optional<ConvOperands> conv = convOperands(*command))
      planConv(s, *conv);
    else if (auto *transfer = dynamic_cast<const TransferCommand *>(command.get()))
      planTransfer(s, *transfer);
    else if (std::optional<ShardOperands> shard = shardOperands(*command))
      planShard(s, *shard);
    else if (std::optional<CollectiveCall> call = collectiveCall(*command))
      planCollective(s, std::move(*call));
    else if (s.op == "copy")
      planCopy(s);
    else
      fail(s, "is not supported by the CUDA runtime");
    return s;
  }

  /// Command index of the last write of each buffer (-1: never written).
  const std::vector<int> &writers() const { return rules.writers(); }

private:
  [[noreturn]] static void fail(const CudaStep &s, const std::string &msg) {
    throw RuntimeError(s.where() + ": " + msg);
  }
  void checkId(const CudaStep &s, int id, const std::string &operand) const {
    if (id < 0 || id >= static_cast<int>(buffers.size()))
      fail(s, "operand '" + operand + "' refers to buffer " + std::to_string(id) +
                  ", which does not exist (the program has " + std::to_string(buffers.size()) +
                  " buffers)");
  }

  void parseLaunch(CudaStep &s, const json::json &o) {
    const std::string where = s.where();
    s.kind = CudaStepKind::Launch;
    LaunchStep &l = s.launch;
    l.kernel = json::getString(o, "kernel", where);
    l.function = json::getString(o, "function", where);
    l.grid = getDims(o, "grid", where, 2147483647);
    l.block = getDims(o, "block", where, 1024);
    if (static_cast<uint64_t>(l.block[0]) * l.block[1] * l.block[2] > 1024)
      fail(s, "field 'block' has more than 1024 threads");
    int64_t shared = json::getIntOr(o, "shared_bytes", 0, where);
    if (shared < 0 || shared > (int64_t(1) << 30))
      fail(s, "field 'shared_bytes' is " + std::to_string(shared) + ", out of range");
    l.sharedBytes = static_cast<unsigned>(shared);
    l.args = json::getIdList(o, "args", where);
    l.writes = json::getIdList(o, "writes", where);
    for (size_t a = 0; a < l.args.size(); ++a)
      checkId(s, l.args[a], "args[" + std::to_string(a) + "]");
    for (int w : l.writes) {
      bool listed = false;
      for (int a : l.args)
        listed = listed || a == w;
      if (!listed)
        fail(s, "field 'writes' lists buffer " + std::to_string(w) +
                    ", which is not one of its 'args'");
    }
    if (p.stepList.empty() || p.stepList.back().kind != CudaStepKind::Launch ||
        p.stepList.back().launch.kernel != l.kernel) {
      kernelRunStart = s.index;
    }
    for (int a : l.args) {
      bool written = false;
      for (int w : l.writes)
        written = written || w == a;
      if (!written)
        s.reads.push_back(a);
    }
    s.writes = l.writes;
    for (int id : l.args) {
      const BufferDesc &root = buffers[buffers[id].root];
      if (!root.scratch)
        continue;
      if (scratchOwner[root.id] >= 0 && scratchOwner[root.id] != kernelRunStart)
        fail(s, "uses " + root.describe() + ", the scratch of the kernel launched by command " +
                    std::to_string(scratchOwner[root.id]) + " (scratch belongs to one kernel)");
      scratchOwner[root.id] = kernelRunStart;
    }
  }

  /// A matmul the host command validated: cuBLASLt's layouts and epilogue.
  void planMatmul(CudaStep &s, const MatmulOperands &operands) {
    s.kind = CudaStepKind::Matmul;
    MatmulStep &m = s.matmul;
    m.a = operands.a;
    m.b = operands.b;
    m.c = operands.c;
    m.bias = operands.bias;
    m.dtype = buffers[m.a].dtype;
    try {
      m.plan = planLtMatmul(buffers[m.a].shape, buffers[m.b].shape, buffers[m.c].shape,
                            operands.transA, operands.transB);
      m.epilogue = planLtEpilogue(m.plan, operands.activation,
                                  m.bias >= 0 ? &buffers[m.bias].shape : nullptr);
    } catch (const RuntimeError &e) {
      fail(s, e.what());
    }
    if (m.plan.k == 0 && m.epilogue.epilogue != LtEpilogue::Default)
      fail(s, "has an empty contraction (k = 0) and an epilogue: cuBLASLt does not run "
              "it, and the executor only clears 'c'");
  }

  /// A conv the host command validated (shapes, window, group, bias):
  /// cuDNN's own limits.
  void planConv(CudaStep &s, const ConvOperands &operands) {
    s.kind = CudaStepKind::Conv;
    ConvStep &c = s.conv;
    c.x = operands.x;
    c.w = operands.w;
    c.bias = operands.bias;
    c.y = operands.y;
    c.strides = operands.strides;
    c.pads = operands.pads;
    c.dilations = operands.dilations;
    c.group = operands.group;
    const BufferDesc &X = buffers[c.x], &W = buffers[c.w], &Y = buffers[c.y];
    c.dtype = X.dtype;
    if (X.shape.size() > 5)
      fail(s, "operand 'x' " + X.describe() +
                  " must have rank 3 to 5 (N, C and 1 to 3 spatial dims)");
    size_t rankS = X.shape.size() - 2;
    for (size_t d = 0; d < rankS; ++d) {
      if (c.strides[d] > 65535 || c.dilations[d] > 65535 || c.pads[d] > 65535)
        fail(s, "strides, dilations and pads must be at most 65535 for cuDNN: strides " +
                    listToString(c.strides) + ", dilations " + listToString(c.dilations) +
                    ", pads " + listToString(c.pads));
      if (c.pads[d] != c.pads[rankS + d])
        fail(s, "'pads' " + listToString(c.pads) + ": spatial dim " + std::to_string(d) +
                    " pads " + std::to_string(c.pads[d]) + " before and " +
                    std::to_string(c.pads[rankS + d]) +
                    " after; cuDNN supports only symmetric padding");
    }
    c.xShape = X.shape;
    c.wShape = W.shape;
    c.yShape = Y.shape;
  }

  /// A send or recv the host command validated (stage, tag, peer).
  void planTransfer(CudaStep &s, const TransferCommand &transfer) {
    s.kind = transfer.isSend() ? CudaStepKind::Send : CudaStepKind::Recv;
    rules.checkTransferTag(s.where(), s.index, transfer.tag());
    s.otherStage = transfer.otherStage();
    s.peer = transfer.peer();
    s.tag = static_cast<int>(transfer.tag());
    s.bytes = buffers[transfer.buffer()].bytes;
  }

  void planShard(CudaStep &s, const ShardOperands &shard) {
    s.kind = CudaStepKind::Shard;
    s.copies = planBlockCopy(shard.inShape, shard.offsets, shard.outShape, shard.elementSize);
  }

  void planCollective(CudaStep &s, CollectiveCall call) {
    s.kind = CudaStepKind::Collective;
    s.call = std::move(call);
  }

  void planCopy(CudaStep &s) {
    s.kind = CudaStepKind::Copy;
    s.bytes = buffers[s.reads[0]].bytes;
  }

  CudaProgram &p;
  std::vector<BufferDesc> &buffers;
  const Manifest &manifest;
  ValidateContext ctx;
  ProgramRules rules;
  /// The launches of one kernel: the first launch of the current run of
  /// consecutive launches of the same kernel.
  int kernelRunStart = -1;
  std::vector<int> scratchOwner;
};

void CudaProgram::parse(const json::json &root, const Manifest &manifest,
                        const bundle::BundleReader &reader) {
  checkProgramRank(root, rankIndex);
  // Scratch buffers are temps placed by liveness.
  bufferTable = parseBufferTable(root, manifest, reader, /*allowScratch=*/true).buffers;

  const json::json &cmds = json::field(root, "commands", "program");
  if (!cmds.is_array())
    throw RuntimeError("program: field 'commands' must be a list");
  CudaProgramLoader loader(*this, manifest, rankIndex);
  for (size_t i = 0; i < cmds.size(); ++i)
    stepList.push_back(loader.parse(cmds[i], static_cast<int>(i)));

  // Outputs.
  outputIds = parseProgramOutputs(root, manifest, rankIndex, bufferTable, loader.writers());
  std::vector<int> computed; // the outputs this program computes
  for (int id : outputIds)
    if (id >= 0)
      computed.push_back(id);
  if (has(CudaStepKind::Launch) && ptxModules.empty())
    throw RuntimeError("program: it launches kernels but the manifest lists no PTX module");

  std::vector<BufferAccess> accesses;
  for (const CudaStep &s : stepList)
    accesses.push_back({s.reads, s.writes});
  arenaPlan =
      assignOffsets(computeLifetimes(bufferTable, accesses, computed), bufferTable.size());
}

std::unique_ptr<CudaProgram> CudaProgram::load(const Manifest &manifest,
                                               const bundle::BundleReader &reader, int rank) {
  const std::string &section = rankProgramSection(manifest, rank);
  std::unique_ptr<CudaProgram> p(new CudaProgram());
  p->rankIndex = rank;
  p->sectionName = section;
  p->microbatchCount = manifest.pipeline ? manifest.pipeline->microbatches : 0;
  try {
    p->ptxModules = parsePtxModules(reader.section("manifest"), reader);
  } catch (const bundle::BundleError &e) {
    throw RuntimeError(std::string("manifest: ") + e.what());
  }
  try {
    p->parse(json::parse(reader.section(p->sectionName), ""), manifest, reader);
  } catch (const bundle::BundleError &e) {
    throw RuntimeError(p->sectionName + ": " + e.what());
  } catch (const RuntimeError &e) {
    throw RuntimeError(p->sectionName + ": " + e.what());
  } catch (const nlohmann::json::exception &e) {
    throw RuntimeError(p->sectionName + ": " + e.what());
  }
  return p;
}

std::vector<CommandAccess> CudaProgram::accesses() const {
  auto range = [&](int id) {
    const BufferDesc &b = bufferTable[id];
    const BufferDesc &root = bufferTable[b.root];
    if (root.kind == BufferKind::Temp) {
      size_t begin = static_cast<size_t>(std::max<int64_t>(0, arenaPlan.offsets[root.id]));
      return ByteRange{-1, begin, begin + b.bytes};
    }
    return ByteRange{root.id, 0, b.bytes};
  };
  std::vector<CommandAccess> result;
  for (const CudaStep &s : stepList) {
    CommandAccess a;
    a.collective = s.communicates();
    for (int id : s.reads)
      a.reads.push_back(range(id));
    for (int id : s.writes)
      a.writes.push_back(range(id));
    result.push_back(std::move(a));
  }
  return result;
}

size_t CudaProgram::collectiveCount() const {
  size_t n = 0;
  for (const CudaStep &s : stepList)
    n += s.communicates();
  return n;
}

bool CudaProgram::readsInput(size_t input) const {
  for (const BufferDesc &b : bufferTable)
    if (b.kind == BufferKind::Input && b.input == static_cast<int>(input))
      return true;
  return false;
}

std::vector<const CudaStep *> CudaProgram::transfers() const {
  std::vector<const CudaStep *> list;
  for (const CudaStep &s : stepList)
    if (s.kind == CudaStepKind::Send || s.kind == CudaStepKind::Recv)
      list.push_back(&s);
  return list;
}

void checkTransferOrder(const Manifest &manifest,
                        const std::vector<const CudaProgram *> &programs) {
  // (from, to) -> the tags of the sends of `from` to `to`, and of the
  // receives of `to` from `from`, each in program order.
  std::map<std::pair<int, int>, std::vector<const CudaStep *>> sent, received;
  for (const CudaProgram *p : programs) {
    if (!p)
      continue;
    for (const CudaStep *s : p->transfers()) {
      if (s->peer < 0 || s->peer >= static_cast<int>(programs.size()))
        throw RuntimeError(p->section() + ": " + s->where() + ": peer rank " +
                           std::to_string(s->peer) + " does not exist");
      if (s->kind == CudaStepKind::Send)
        sent[{p->rank(), s->peer}].push_back(s);
      else
        received[{s->peer, p->rank()}].push_back(s);
    }
  }
  auto name = [&](int rank) { return manifest.rankPrograms[rank]; };
  auto tags = [](const std::vector<const CudaStep *> &steps) {
    std::string text;
    for (const CudaStep *s : steps)
      text += (text.empty() ? "" : ", ") + std::to_string(s->tag);
    return "[" + text + "]";
  };
  auto check = [&](const std::pair<int, int> &pair,
                   const std::vector<const CudaStep *> &mine, bool isSend) {
    auto [from, to] = pair;
    int other = isSend ? to : from;
    if (!programs[other])
      return; // not loaded here: its own process checks its side
    const auto &all = isSend ? received : sent;
    auto it = all.find(pair);
    static const std::vector<const CudaStep *> none;
    const std::vector<const CudaStep *> &theirs = it == all.end() ? none : it->second;
    int me = isSend ? from : to;
    for (size_t i = 0; i < mine.size(); ++i) {
      const CudaStep &s = *mine[i];
      std::string here = name(me) + ": " + s.where() + " (tag " + std::to_string(s.tag) + ")";
      const CudaStep *match = nullptr;
      for (const CudaStep *t : theirs)
        if (t->tag == s.tag)
          match = t;
      if (!match)
        throw RuntimeError(here + ": " + name(other) + " (stage " +
                           std::to_string(s.otherStage) + ") has no " +
                           (isSend ? "recv" : "send") + " with tag " + std::to_string(s.tag) +
                           (isSend ? " from" : " to") + " stage " +
                           std::to_string(manifest.stageOf(me)));
      if (match->bytes != s.bytes)
        throw RuntimeError(here + ": " + (isSend ? "sends " : "receives ") +
                           std::to_string(s.bytes) + " bytes but " + name(other) + ": " +
                           match->where() + (isSend ? " receives " : " sends ") +
                           std::to_string(match->bytes));
      if (i >= theirs.size() || theirs[i]->tag != s.tag)
        throw RuntimeError(here + ": the sends of " + name(from) + " to rank " +
                           std::to_string(to) + " come in tag order " +
                           tags(isSend ? mine : theirs) + " but the receives of " + name(to) +
                           " in " + tags(isSend ? theirs : mine) +
                           "; NCCL matches the messages of a pair in program order");
    }
  };
  for (const auto &[pair, steps] : sent)
    check(pair, steps, true);
  for (const auto &[pair, steps] : received)
    check(pair, steps, false);
}

bool CudaProgram::has(CudaStepKind kind) const {
  for (const CudaStep &s : stepList)
    if (s.kind == kind)
      return true;
  return false;
}

} // namespace pmc::runtime::cuda
