//===- CudaProgram.cpp - parse and validate a rank program for the GPU -----===//

#include "pmc/Runtime/CUDA/CudaProgram.h"
#include "../Json.h"
#include "../ProgramTable.h"
#include "pmc/Bundle/Bundle.h"
#include "pmc/Runtime/Comm/Mesh.h"
#include "pmc/Runtime/Pipeline.h"

#include <limits>
#include <map>

namespace pmc::runtime::cuda {

namespace {

/// A Command that only reports what a step reads and writes (for the
/// liveness of BufferPlan); it never executes on the host.
class StepAccess : public Command {
public:
  explicit StepAccess(const CudaStep &step) : Command(step.index), step(step) {}
  std::string_view op() const override { return step.op; }
  std::vector<int> reads() const override { return step.reads; }
  std::vector<int> writes() const override { return step.writes; }
  void validate(const ValidateContext &) override {}
  void execute(const ExecContext &) const override {
    fail("runs only on a CUDA device");
  }

private:
  const CudaStep &step;
};

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

bool gemmDType(DType t) {
  return t == DType::Float32 || t == DType::Float64 || t == DType::Float16 ||
         t == DType::BFloat16;
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

/// Parses and validates the commands of one rank program into CudaSteps:
/// one method per command kind, the access rules (reads after writes,
/// temps written once) checked on every step.
class CudaProgramLoader {
public:
  CudaProgramLoader(CudaProgram &p, const Manifest &manifest, int rank)
      : p(p), buffers(p.bufferTable), manifest(manifest),
        rank(rank), ctx{buffers, nullptr, manifest.mesh, rank,
                        manifest.pipeline ? &*manifest.pipeline : nullptr},
        writer(buffers.size(), -1), scratchOwner(buffers.size(), -1) {}

  /// The step of command `o` at `index`, after its access checks.
  CudaStep parse(const json::json &o, int index) {
    CudaStep s;
    s.index = index;
    s.op = json::getString(o, "op", "command " + std::to_string(index));
    if (s.op == "launch")
      parseLaunch(s, o);
    else if (s.op == "matmul")
      parseMatmul(s, o);
    else if (s.op == "conv")
      parseConv(s, o);
    else if (s.op == "send" || s.op == "recv")
      parseTransfer(s, o);
    else if (s.op == "kernel")
      fail(s, "host kernels cannot run in a cuda bundle (expected 'launch' commands)");
    else
      parseHostCommand(s, o);
    checkAccesses(s);
    return s;
  }

  /// Command index of the last write of each buffer (-1: never written).
  const std::vector<int> &writers() const { return writer; }

  /// "buffer 3 (scratch float32[16])".
  std::string describe(int id) const {
    std::string d = buffers[id].describe();
    if (p.scratch[id])
      d.replace(d.find("(temp"), 5, "(scratch");
    return d;
  }

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
    std::vector<int> touched = l.args;
    for (int id : touched) {
      int root = buffers[id].root;
      if (!p.scratch[root])
        continue;
      if (scratchOwner[root] >= 0 && scratchOwner[root] != kernelRunStart)
        fail(s, "uses " + describe(root) + ", the scratch of the kernel launched by command " +
                    std::to_string(scratchOwner[root]) + " (scratch belongs to one kernel)");
      scratchOwner[root] = kernelRunStart;
    }
  }

  void parseMatmul(CudaStep &s, const json::json &o) {
    const std::string where = s.where();
    s.kind = CudaStepKind::Matmul;
    MatmulStep &m = s.matmul;
    m.a = json::getId(o, "a", where);
    m.b = json::getId(o, "b", where);
    m.c = json::getId(o, "c", where);
    checkId(s, m.a, "a");
    checkId(s, m.b, "b");
    checkId(s, m.c, "c");
    bool transA = json::getBoolOr(o, "trans_a", false, where);
    bool transB = json::getBoolOr(o, "trans_b", false, where);
    m.dtype = buffers[m.a].dtype;
    for (int id : {m.b, m.c})
      if (buffers[id].dtype != m.dtype)
        fail(s, describe(id) + " has a different dtype than 'a' " + describe(m.a));
    if (!gemmDType(m.dtype))
      fail(s, "dtype " + std::string(dtypeName(m.dtype)) +
                  " is not supported by cuBLASLt here (float32, float64, float16, bfloat16)");
    m.bias = json::getIdOr(o, "bias", -1, where);
    if (m.bias >= 0) {
      checkId(s, m.bias, "bias");
      if (buffers[m.bias].dtype != m.dtype)
        fail(s, "'bias' " + describe(m.bias) + " has a different dtype than 'a' " +
                    describe(m.a) + " (cuBLASLt's bias has the output's type)");
    }
    std::string activation =
        o.contains("activation") ? json::getString(o, "activation", where) : "none";
    try {
      m.plan = planLtMatmul(buffers[m.a].shape, buffers[m.b].shape, buffers[m.c].shape, transA,
                            transB);
      m.epilogue =
          planLtEpilogue(m.plan, activation, m.bias >= 0 ? &buffers[m.bias].shape : nullptr);
    } catch (const RuntimeError &e) {
      fail(s, e.what());
    }
    if (m.plan.k == 0 && m.epilogue.epilogue != LtEpilogue::Default)
      fail(s, "has an empty contraction (k = 0) and an epilogue: cuBLASLt does not run "
              "it, and the executor only clears 'c'");
    s.reads = {m.a, m.b};
    if (m.bias >= 0)
      s.reads.push_back(m.bias);
    s.writes = {m.c};
  }

  void parseConv(CudaStep &s, const json::json &o) {
    const std::string where = s.where();
    s.kind = CudaStepKind::Conv;
    ConvStep &c = s.conv;
    c.x = json::getId(o, "x", where);
    c.w = json::getId(o, "w", where);
    c.bias = json::getIdOr(o, "bias", -1, where);
    c.y = json::getId(o, "y", where);
    checkId(s, c.x, "x");
    checkId(s, c.w, "w");
    checkId(s, c.y, "y");
    if (c.bias >= 0)
      checkId(s, c.bias, "bias");
    c.dtype = buffers[c.x].dtype;
    if (!gemmDType(c.dtype))
      fail(s, "dtype " + std::string(dtypeName(c.dtype)) +
                  " is not supported by cuDNN here (float32, float64, float16, bfloat16)");
    // Shapes, window, group and bias as the CPU command checks them: one
    // validation of what a conv command means; cuDNN's own limits follow.
    parseCommand(o, s.index)->validate(ctx);
    const BufferDesc &X = buffers[c.x], &W = buffers[c.w], &Y = buffers[c.y];
    if (X.shape.size() > 5)
      fail(s, "operand 'x' " + describe(c.x) +
                  " must have rank 3 to 5 (N, C and 1 to 3 spatial dims)");
    size_t rankS = X.shape.size() - 2;
    c.strides = json::getIntList(o, "strides", where);
    c.pads = json::getIntList(o, "pads", where);
    c.dilations = json::getIntList(o, "dilations", where);
    c.group = json::getIntOr(o, "group", 1, where);
    if (c.strides.empty())
      c.strides.assign(rankS, 1);
    if (c.dilations.empty())
      c.dilations.assign(rankS, 1);
    if (c.pads.empty())
      c.pads.assign(2 * rankS, 0);
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
    s.reads = {c.x, c.w};
    if (c.bias >= 0)
      s.reads.push_back(c.bias);
    s.writes = {c.y};
  }

  void parseTransfer(CudaStep &s, const json::json &o) {
    const std::string where = s.where();
    // pipeline.md: the peer has this rank's coordinates but stage `t` on `pp`.
    bool send = s.op == "send";
    s.kind = send ? CudaStepKind::Send : CudaStepKind::Recv;
    int id = json::getId(o, send ? "in" : "out", where);
    checkId(s, id, send ? "in" : "out");
    int64_t stage = json::getInt(o, send ? "to_stage" : "from_stage", where);
    int64_t tag = json::getInt(o, "tag", where);
    const std::string axis = manifest.pipeline ? manifest.pipeline->axis : "pp";
    int pp = manifest.mesh.axisIndex(axis);
    if (pp < 0)
      fail(s, "the mesh " + manifest.mesh.toString() + " has no '" + axis + "' axis");
    std::vector<int64_t> coords = manifest.mesh.coordinates(rank);
    if (stage < 0 || stage >= manifest.mesh.axes[pp].size || stage == coords[pp])
      fail(s, std::string(send ? "field 'to_stage'" : "field 'from_stage'") + " is " +
                  std::to_string(stage) + "; expected another stage in [0, " +
                  std::to_string(manifest.mesh.axes[pp].size) + ")");
    if (tag < 0 || tag > std::numeric_limits<int>::max())
      fail(s, "field 'tag' is " + std::to_string(tag) + ", out of range");
    if (manifest.pipeline) {
      // Every (edge, microbatch) needs its own wire tag.
      const PipelineSpec &pipe = *manifest.pipeline;
      try {
        pipelineWireTag(tag, pipe.microbatches - 1, pipe.microbatches);
      } catch (const RuntimeError &e) {
        fail(s, std::string("field 'tag': ") + e.what());
      }
    }
    auto [user, fresh] = tagUser.emplace(tag, s.index);
    if (!fresh)
      fail(s, "tag " + std::to_string(tag) + " is already used by command " +
                  std::to_string(user->second) + " (a tag names one transfer edge)");
    s.otherStage = stage;
    coords[pp] = stage;
    int64_t peer = 0;
    for (size_t a = 0; a < coords.size(); ++a)
      peer = peer * manifest.mesh.axes[a].size + coords[a];
    s.peer = static_cast<int>(peer);
    s.tag = static_cast<int>(tag);
    s.bytes = buffers[id].bytes;
    if (send)
      s.reads = {id};
    else
      s.writes = {id};
  }

  /// copy, shard and the collectives: the host command validates them.
  void parseHostCommand(CudaStep &s, const json::json &o) {
    const std::string where = s.where();
    // copy, shard and the collectives: the host command validates them.
    std::unique_ptr<Command> host = parseCommand(o, s.index);
    host->validate(ctx);
    s.reads = host->reads();
    s.writes = host->writes();
    if (s.op == "copy") {
      s.kind = CudaStepKind::Copy;
      s.bytes = buffers[s.reads[0]].bytes;
    } else if (s.op == "shard") {
      s.kind = CudaStepKind::Shard;
      const BufferDesc &in = buffers[s.reads[0]], &out = buffers[s.writes[0]];
      Sharding sharding;
      for (const json::json &dim : json::field(o, "sharding", where))
        sharding.push_back(dim.get<std::vector<std::string>>());
      s.copies = planBlockCopy(in.shape, shardOffsets(in.shape, sharding, manifest.mesh, rank),
                               out.shape, dtypeSize(in.dtype));
    } else {
      s.kind = CudaStepKind::Collective;
      CollectiveCall &call = s.call;
      if (s.op == "all_reduce")
        call.kind = CollectiveKind::AllReduce;
      else if (s.op == "all_gather")
        call.kind = CollectiveKind::AllGather;
      else if (s.op == "reduce_scatter")
        call.kind = CollectiveKind::ReduceScatter;
      else if (s.op == "all_to_all")
        call.kind = CollectiveKind::AllToAll;
      else
        fail(s, "is not supported by the CUDA runtime");
      std::vector<std::string> axes =
          json::field(o, "axes", where).get<std::vector<std::string>>();
      const BufferDesc &in = buffers[s.reads[0]], &out = buffers[s.writes[0]];
      call.dtype = in.dtype;
      call.inShape = in.shape;
      call.outShape = out.shape;
      if (o.contains("reduction"))
        call.reduction =
            json::getString(o, "reduction", where) == "max" ? Reduction::Max : Reduction::Sum;
      call.dim = static_cast<int>(json::getIntOr(o, "dim", 0, where));
      call.splitDim = static_cast<int>(json::getIntOr(o, "split_dim", 0, where));
      call.concatDim = static_cast<int>(json::getIntOr(o, "concat_dim", 0, where));
      call.group = manifest.mesh.group(rank, axes);
      call.position = static_cast<int>(manifest.mesh.positionInGroup(rank, axes));
      call.site = CollectiveSite{s.op, s.index, axes};
    }
  }

  /// Reads after writes; writes only to temps, once (launches of one kernel
  /// may write a temp several times).
  void checkAccesses(const CudaStep &s) {
    // Reads after writes; writes only to temps, once (launches of one
    // kernel may write a temp several times).
    for (int id : s.reads) {
      int root = buffers[id].root;
      if (buffers[root].kind == BufferKind::Temp && writer[root] < 0 && !p.scratch[root])
        fail(s, "reads " + describe(id) + " before any command writes it");
    }
    for (int id : s.writes) {
      const BufferDesc &b = buffers[id];
      if (b.kind == BufferKind::View)
        fail(s, "writes through " + describe(id) + "; views are read-only");
      if (b.kind != BufferKind::Temp)
        fail(s, "writes " + describe(id) + "; only temps and scratch may be written");
      if (writer[id] >= 0) {
        bool sameKernel = s.kind == CudaStepKind::Launch && writer[id] >= kernelRunStart;
        if (!sameKernel)
          fail(s, "writes " + describe(id) + ", already written by command " +
                      std::to_string(writer[id]) +
                      " (a temp is written once, or by the launches of one kernel)");
      }
      if (s.kind != CudaStepKind::Launch)
        for (int r : s.reads)
          if (buffers[r].root == id)
            fail(s, "writes " + describe(id) + ", which it also reads");
      writer[id] = s.index;
    }
  }

  CudaProgram &p;
  std::vector<BufferDesc> &buffers;
  const Manifest &manifest;
  int rank;
  ValidateContext ctx;
  std::map<int64_t, int> tagUser; // transfer tag -> command
  std::vector<int> writer;
  /// The launches of one kernel: the first launch of the current run of
  /// consecutive launches of the same kernel.
  int kernelRunStart = -1;
  std::vector<int> scratchOwner;
};

/// Buffers of a cuda rank program; scratch buffers are temps placed by
/// liveness.
static BufferTable parseCudaBuffers(const json::json &root, const Manifest &manifest,
                                    const bundle::BundleReader &reader) {
  BufferTableOptions tableOptions;
  tableOptions.allowScratch = true;
  tableOptions.readKindFields = [&](BufferDesc &b, const json::json &o) {
    std::string where = "buffer " + std::to_string(b.id);
    switch (b.kind) {
    case BufferKind::Input: {
      int64_t in = json::getInt(o, "input", where);
      if (in < 0 || in >= static_cast<int64_t>(manifest.inputs.size()))
        throw RuntimeError(where + ": input " + std::to_string(in) + " is out of range");
      // Pipeline bundles: one microbatch's block (the step shape).
      checkInputBuffer(b, manifest.inputs[in], manifest, where);
      b.input = static_cast<int>(in);
      break;
    }
    case BufferKind::Weight:
      b.section = json::getString(o, "section", where);
      if (!reader.hasSection(b.section))
        throw RuntimeError(where + ": section '" + b.section +
                           "' does not exist in the bundle");
      if (reader.sectionSize(b.section) != b.bytes)
        throw RuntimeError(where + ": section '" + b.section + "' holds " +
                           std::to_string(reader.sectionSize(b.section)) +
                           " bytes, expected " + std::to_string(b.bytes));
      break;
    case BufferKind::View:
      b.of = json::getId(o, "of", where);
      break;
    case BufferKind::Temp:
      break;
    }
  };
  return parseBufferTable(root, tableOptions);
}

void CudaProgram::parse(const json::json &root, const Manifest &manifest,
                        const bundle::BundleReader &reader) {
  checkProgramRank(root, rankIndex);
  BufferTable table = parseCudaBuffers(root, manifest, reader);
  bufferTable = std::move(table.buffers);
  scratch = std::move(table.scratch);

  const json::json &cmds = json::field(root, "commands", "program");
  if (!cmds.is_array())
    throw RuntimeError("program: field 'commands' must be a list");
  CudaProgramLoader loader(*this, manifest, rankIndex);
  for (size_t i = 0; i < cmds.size(); ++i)
    stepList.push_back(loader.parse(cmds[i], static_cast<int>(i)));

  // Outputs.
  ProgramOutputOptions outputOptions;
  outputOptions.nameStageOfMissing = false;
  outputOptions.check = [&](const std::string &where, const BufferDesc &b) {
    if (scratch[b.root])
      throw RuntimeError(where + ": " + loader.describe(b.id) + " is a scratch buffer");
  };
  outputIds = parseProgramOutputs(root, manifest, rankIndex, bufferTable, loader.writers(),
                                  outputOptions);
  std::vector<int> computed; // the outputs this program computes
  for (int id : outputIds)
    if (id >= 0)
      computed.push_back(id);
  if (has(CudaStepKind::Launch) && ptxModules.empty())
    throw RuntimeError("program: it launches kernels but the manifest lists no PTX module");

  std::vector<std::unique_ptr<Command>> access;
  for (const CudaStep &s : stepList)
    access.push_back(std::make_unique<StepAccess>(s));
  arenaPlan =
      assignOffsets(computeLifetimes(bufferTable, access, computed), bufferTable.size());
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
