//===- RankProgram.cpp - parse, validate, plan and run one rank's program --===//

#include "pmc/Runtime/RankProgram.h"
#include "Json.h"
#include "ProgramTable.h"
#include "Commands/CommandOperands.h"
#include "pmc/Bundle/Bundle.h"
#include "pmc/Runtime/CollectiveOverlap.h"
#include "pmc/Runtime/Comm/Communicator.h"
#include "pmc/Runtime/Error.h"
#include "pmc/Runtime/TransferCommands.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>

namespace pmc::runtime {

namespace {

size_t alignUp(size_t v) {
  return (v + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment;
}

void *alignedAlloc(size_t bytes) {
  if (!bytes)
    return nullptr;
  void *p = std::aligned_alloc(kArenaAlignment, alignUp(bytes));
  if (!p)
    throw RuntimeError("cannot allocate " + std::to_string(bytes) + " bytes");
  return p;
}

/// The reader's message without its leading "<path>: " (callers add context).
std::string withoutPath(const bundle::BundleError &e, const std::string &path) {
  std::string msg = e.what();
  if (msg.compare(0, path.size() + 2, path + ": ") == 0)
    msg.erase(0, path.size() + 2);
  return msg;
}

} // namespace

RankProgram::~RankProgram() {
  std::free(arena);
  std::free(scratch);
}

std::unique_ptr<RankProgram> RankProgram::load(const Manifest &manifest,
                                               const bundle::BundleReader &reader,
                                               int rank, const KernelLibrary *kernels) {
  const std::string &section = rankProgramSection(manifest, rank);
  std::unique_ptr<RankProgram> p(new RankProgram());
  p->rankIndex = rank;
  p->sectionName = section;
  std::string text;
  try {
    text = std::string(reader.section(p->sectionName));
  } catch (const bundle::BundleError &e) {
    throw RuntimeError(withoutPath(e, reader.path()));
  }
  try {
    json::json root = json::parse(text, "");
    checkProgramRank(root, rank);

    // Buffers, with their views resolved.
    p->bufferTable = parseBufferTable(root, manifest, reader, /*allowScratch=*/false).buffers;
    std::vector<BufferDesc> &buffers = p->bufferTable;

    // Weights (sections checked to exist with the buffer's size): their
    // bytes, mapped, with a good checksum.
    p->weightData.assign(buffers.size(), nullptr);
    for (const BufferDesc &b : buffers) {
      if (b.kind != BufferKind::Weight)
        continue;
      try {
        p->weightData[b.id] = reader.section(b.section).data();
      } catch (const bundle::BundleError &e) {
        throw RuntimeError(b.describe() + ": " + withoutPath(e, reader.path()));
      }
    }

    // Commands: parse, validate operands, then check the write-once rule.
    const json::json &cmds = json::field(root, "commands", "program");
    if (!cmds.is_array())
      throw RuntimeError("program: field 'commands' must be a list");
    ValidateContext ctx{buffers, kernels, manifest.mesh, rank,
                        manifest.pipeline ? &*manifest.pipeline : nullptr};
    ProgramRules rules(buffers);
    for (size_t i = 0; i < cmds.size(); ++i) {
      std::unique_ptr<Command> cmd = parseCommand(cmds[i], static_cast<int>(i));
      cmd->validate(ctx);
      rules.checkAccesses(cmd->where(), cmd->index, cmd->reads(), cmd->writes());
      if (auto *t = dynamic_cast<const TransferCommand *>(cmd.get()))
        rules.checkTransferTag(cmd->where(), cmd->index, t->tag());
      p->scratchSize = std::max(p->scratchSize, cmd->scratchBytes());
      p->commandList.push_back(std::move(cmd));
    }

    // Outputs: one per manifest output, matching its dtype and shape.
    p->outputIds = parseProgramOutputs(root, manifest, rank, buffers, rules.writers());
    std::vector<int> computed; // the outputs this program computes
    for (int id : p->outputIds)
      if (id >= 0)
        computed.push_back(id);
    p->readsInputs.assign(manifest.inputs.size(), false);
    for (const BufferDesc &b : buffers)
      if (b.kind == BufferKind::Input)
        p->readsInputs[b.input] = true;

    std::vector<BufferAccess> accesses = accessesOf(p->commandList);
    if (backgroundCollectivesEnabled()) {
      std::vector<bool> isCollective, isTransfer;
      for (const std::unique_ptr<Command> &cmd : p->commandList) {
        isCollective.push_back(collectiveCall(*cmd).has_value());
        isTransfer.push_back(dynamic_cast<const TransferCommand *>(cmd.get()) != nullptr);
      }
      OverlapPlan overlap = planCollectiveOverlap(buffers, accesses, isCollective, isTransfer);
      if (overlap.any()) {
        extendLifetimesForOverlap(overlap, accesses, computed);
        p->overlap = std::make_unique<OverlapPlan>(std::move(overlap));
        p->worker = std::make_unique<CollectiveWorker>();
      }
    }
    p->arenaPlan = assignOffsets(computeLifetimes(buffers, accesses, computed), buffers.size());
  } catch (const bundle::BundleError &e) {
    throw RuntimeError(section + ": " + withoutPath(e, reader.path()));
  } catch (const RuntimeError &e) {
    throw RuntimeError(section + ": " + e.what());
  }
  p->allocate();
  return p;
}

void RankProgram::allocate() {
  arena = alignedAlloc(arenaPlan.arenaBytes);
  scratch = alignedAlloc(scratchSize);
  size_t inputs = 0;
  for (const BufferDesc &b : bufferTable)
    if (b.kind == BufferKind::Input)
      inputs = std::max<size_t>(inputs, b.input + 1);
  staged.assign(inputs, AlignedBytes());
}

void RankProgram::copyOutput(size_t o, void *to, size_t bytes) const {
  if (lastRun.empty() || o >= outputIds.size() || outputIds[o] < 0)
    throw RuntimeError(sectionName + ": output " + std::to_string(o) +
                       " was not computed by the last run");
  const BufferDesc &b = bufferTable[outputIds[o]];
  if (bytes != b.bytes)
    throw RuntimeError(sectionName + ": output " + std::to_string(o) + " has " +
                       std::to_string(b.bytes) + " bytes, not " + std::to_string(bytes));
  if (bytes && to != lastRun[b.id])
    std::memmove(to, lastRun[b.id], bytes);
}

size_t RankProgram::stagedBytes() const {
  size_t bytes = 0;
  for (const AlignedBytes &s : staged)
    bytes += s.capacity();
  return bytes;
}

size_t RankProgram::inputBytes(const std::vector<bool> &skip) const {
  std::vector<bool> seen(staged.size(), false);
  size_t bytes = 0;
  for (const BufferDesc &b : bufferTable)
    if (b.kind == BufferKind::Input && !seen[b.input] &&
        !(static_cast<size_t>(b.input) < skip.size() && skip[b.input])) {
      seen[b.input] = true;
      bytes += b.bytes;
    }
  return bytes;
}

size_t RankProgram::weightBytes() const {
  size_t bytes = 0;
  for (const BufferDesc &b : bufferTable)
    if (b.kind == BufferKind::Weight)
      bytes += b.bytes;
  return bytes;
}

std::vector<void *> RankProgram::bind(const std::vector<const void *> &inputs) {
  std::vector<void *> ptrs(bufferTable.size(), nullptr);
  std::vector<void *> fed(staged.size(), nullptr);
  for (const BufferDesc &b : bufferTable) {
    switch (b.kind) {
    case BufferKind::Input: {
      void *&p = fed[b.input];
      if (!p) {
        const void *src = inputs.at(b.input);
        if (reinterpret_cast<uintptr_t>(src) % kArenaAlignment == 0) {
          p = const_cast<void *>(src);
        } else {
          // An unaligned feed is copied; the copy is kept for the next run.
          AlignedBytes &copy = staged[b.input];
          copy.resize(b.bytes);
          p = copy.data();
          if (b.bytes)
            std::memcpy(p, src, b.bytes);
        }
      }
      ptrs[b.id] = p;
      break;
    }
    case BufferKind::Weight:
      ptrs[b.id] = const_cast<void *>(weightData[b.id]);
      break;
    case BufferKind::Temp:
      if (arenaPlan.offsets[b.id] >= 0)
        ptrs[b.id] = static_cast<char *>(arena) + arenaPlan.offsets[b.id];
      break;
    case BufferKind::View:
      break;
    }
  }
  for (const BufferDesc &b : bufferTable)
    if (b.kind == BufferKind::View)
      ptrs[b.id] = ptrs[b.root];
  return ptrs;
}

void RankProgram::execute(const std::vector<void *> &ptrs, Communicator &comm,
                          int64_t microbatch) {
  ExecContext ctx{ptrs.data(), scratch, comm, microbatch};
  // Collectives started in the background (CollectiveOverlap.h): the command
  // each must finish before, and its ticket.
  struct Pending {
    int waitBefore;
    uint64_t ticket;
  };
  std::vector<Pending> pending;
  const bool background = overlap && comm.allowsBackgroundCollectives();
  auto finishBefore = [&](int index, bool all) {
    uint64_t ticket = 0;
    for (const Pending &p : pending)
      if (all || p.waitBefore <= index)
        ticket = std::max(ticket, p.ticket);
    if (!ticket)
      return;
    worker->wait(ticket); // in order: every earlier collective is done too
    pending.erase(std::remove_if(pending.begin(), pending.end(),
                                 [&](const Pending &p) { return p.ticket <= ticket; }),
                  pending.end());
  };
  try {
    for (const std::unique_ptr<Command> &cmd : commandList) {
      const int i = cmd->index;
      if (background)
        finishBefore(i, overlap->drainsBefore[i]);
      if (faults.any() && faults.atMicrobatch == microbatch) {
        if (faults.failRank == rankIndex && faults.failAtCommand == i)
          throw RuntimeError(sectionName + ": " + cmd->where() +
                             ": test hook: rank " + std::to_string(rankIndex) + " fails here" +
                             (microbatch ? " in microbatch " + std::to_string(microbatch) : "") +
                             " (PMC_TEST_FAIL_RANK)");
        if (faults.stallRank == rankIndex && faults.stallAtCommand == i) {
          finishBefore(i, /*all=*/true);
          comm.stall("test hook PMC_TEST_STALL_RANK, before " + cmd->where());
        }
      }
      if (background && overlap->waitBefore[i] >= 0) {
        const Command *command = cmd.get();
        uint64_t ticket = worker->submit([command, ctx] { command->execute(ctx); });
        pending.push_back({overlap->waitBefore[i], ticket});
      } else if (background && !pending.empty() && overlap->collective[i]) {
        // In order behind the pending ones: every rank enters its
        // collectives in program order.
        const Command *command = cmd.get();
        worker->wait(worker->submit([command, ctx] { command->execute(ctx); }));
      } else {
        cmd->execute(ctx);
      }
    }
    finishBefore(static_cast<int>(commandList.size()), /*all=*/true);
  } catch (const std::exception &e) {
    if (background && worker->pending()) {
      // The pending collectives end once the failure is known (they may be
      // waiting for ranks that now wait for this one); then the buffers go.
      comm.abort(e.what());
      try {
        worker->drain();
      } catch (...) {
      }
    }
    throw;
  }
}

std::vector<HostTensor> RankProgram::run(const std::vector<const void *> &inputs,
                                         Communicator &comm, int64_t microbatch,
                                         const std::vector<bool> &keep) {
  lastRun.clear();
  std::vector<void *> ptrs = bind(inputs);
  execute(ptrs, comm, microbatch);
  lastRun = ptrs;
  std::vector<HostTensor> results(outputIds.size());
  for (size_t o = 0; o < outputIds.size(); ++o) {
    if (outputIds[o] < 0)
      continue;
    const BufferDesc &b = bufferTable[outputIds[o]];
    if (o < keep.size() && keep[o])
      continue; // stays in the arena (or its input) for copyOutput
    HostTensor &t = results[o];
    t.dtype = b.dtype;
    t.shape = b.shape;
    t.data.resize(b.bytes);
    if (b.bytes)
      std::memcpy(t.data.data(), ptrs[b.id], b.bytes);
  }
  return results;
}

StackedOutputs::StackedOutputs(std::vector<bool> microbatchedOutputs,
                               const std::vector<schedule::Action> &steps,
                               const std::string &where)
    : microbatched(std::move(microbatchedOutputs)), allocated(microbatched.size(), false),
      results(microbatched.size()) {
  for (const schedule::Action &step : steps) {
    if (step.kind != schedule::ActionKind::Forward)
      throw RuntimeError(where + ": schedule step " + step.toString() +
                         " is a backward step; this bundle holds forward programs only");
    numMicrobatches = std::max(numMicrobatches, step.microbatch + 1);
  }
}

void StackedOutputs::place(size_t o, int64_t microbatch, DType dtype,
                           const std::vector<int64_t> &shape, const void *data) {
  HostTensor &t = results.at(o);
  const bool stacks = microbatched.at(o) && !shape.empty();
  if (!allocated.at(o)) {
    allocated[o] = true;
    t.dtype = dtype;
    t.shape = shape;
    if (stacks)
      t.shape[0] *= numMicrobatches;
    t.data.resize(t.numBytes());
  }
  size_t bytes = dtypeSize(dtype);
  for (int64_t d : shape)
    bytes *= static_cast<size_t>(d);
  if (microbatch < 0 || microbatch >= numMicrobatches)
    throw RuntimeError("output " + std::to_string(o) + ": microbatch " +
                       std::to_string(microbatch) + " is not in the schedule");
  size_t at = stacks ? static_cast<size_t>(microbatch) * bytes : 0;
  if (bytes)
    std::memcpy(t.data.data() + at, data, bytes);
}

} // namespace pmc::runtime
