//===- CudaExecutor.cpp - streams, memory, modules, graphs of one rank -----===//
//
// The library steps are planned and enqueued by CudaMatmul.cpp (cuBLASLt)
// and CudaConv.cpp (cuDNN).
//
#include "pmc/Runtime/CUDA/CudaExecutor.h"
#include "CudaConv.h"
#include "CudaMatmul.h"
#include "pmc/Bundle/Bundle.h"
#include "pmc/Runtime/CUDA/CudaLibraries.h"
#include "pmc/Runtime/CUDA/CudaProgram.h"
#include "pmc/Runtime/CUDA/DeviceCollectives.h"
#include "pmc/Runtime/Comm/Communicator.h"
#include "pmc/Runtime/Pipeline.h"

#include <cstring>
#include <map>

namespace pmc::runtime::cuda {

struct CudaExecutor::State {
  const CudaProgram &program;
  const DriverApi &cu;
  DeviceCollectives *collectives;
  CUdevice device = 0;
  CUcontext context = nullptr;
  CUstream compute = nullptr, comm = nullptr;
  CUmodule module = nullptr;
  std::unique_ptr<CachingAllocator> allocator;
  /// Device address of every buffer (views share their root's).
  std::vector<uint64_t> address;
  uint64_t arena = 0;
  std::vector<uint64_t> owned;
  /// By step index: launch functions and parameters, library plans, events.
  std::vector<CUfunction> functions;
  std::vector<std::unique_ptr<KernelParams>> params;
  std::unique_ptr<CudaMatmuls> matmuls;
  std::unique_ptr<CudaConvs> convs;
  std::vector<CUevent> ready, done;
  std::vector<std::vector<int>> waits;
  CUgraph graph = nullptr;
  CUgraphExec graphExec = nullptr;
  int runs = 0;

  State(const CudaProgram &program, const DriverApi &cu, DeviceCollectives *collectives)
      : program(program), cu(cu), collectives(collectives) {}
  void check(CUresult r, const std::string &what) const { checkCu(cu, r, what); }
  void release();
};

void CudaExecutor::State::release() {
  if (!context)
    return;
  cu.ctxSetCurrent(context);
  if (compute)
    cu.streamSynchronize(compute);
  if (comm)
    cu.streamSynchronize(comm);
  if (graphExec)
    cu.graphExecDestroy(graphExec);
  if (graph)
    cu.graphDestroy(graph);
  matmuls.reset();
  convs.reset();
  for (std::vector<CUevent> *events : {&ready, &done})
    for (CUevent e : *events)
      if (e)
        cu.eventDestroy(e);
  allocator.reset();
  if (module)
    cu.moduleUnload(module);
  if (compute)
    cu.streamDestroy(compute);
  if (comm)
    cu.streamDestroy(comm);
  cu.primaryCtxRelease(device);
  context = nullptr;
}

void CudaExecutor::openDevice(int device, int &major, int &minor, std::string &deviceName) {
  State &s = *state;
  const DriverApi &cu = s.cu;
  int count = 0;
  s.check(cu.deviceGetCount(&count), "cuDeviceGetCount");
  if (count == 0)
    throw RuntimeError("the CUDA driver sees no GPU");
  if (device < 0 || device >= count)
    throw RuntimeError("CUDA device " + std::to_string(device) +
                       " does not exist (this machine has " + std::to_string(count) +
                       " CUDA device(s))");
  s.check(cu.deviceGet(&s.device, device), "cuDeviceGet");
  char name[256] = {0};
  s.check(cu.deviceGetName(name, sizeof(name) - 1, s.device), "cuDeviceGetName");
  major = 0;
  minor = 0;
  s.check(cu.deviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, s.device),
          "cuDeviceGetAttribute");
  s.check(cu.deviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, s.device),
          "cuDeviceGetAttribute");
  deviceText = std::string(name) + " (device " + std::to_string(device) +
               ", compute capability " + std::to_string(major) + "." + std::to_string(minor) +
               ")";
  s.check(cu.primaryCtxRetain(&s.context, s.device), "cuDevicePrimaryCtxRetain");
  s.check(cu.ctxSetCurrent(s.context), "cuCtxSetCurrent");
  s.check(cu.streamCreate(&s.compute, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
  s.check(cu.streamCreate(&s.comm, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
  deviceName = name;
}

void CudaExecutor::placeBuffers(const CudaProgram &program, const bundle::BundleReader &reader) {
  State &s = *state;
  const DriverApi &cu = s.cu;
  // Memory: arena, weights (uploaded once), one buffer per input.
  const DriverApi *api = &cu;
  s.allocator = std::make_unique<CachingAllocator>(
      [api](size_t bytes) -> uint64_t {
        CUdeviceptr p = 0;
        CUresult r = api->memAlloc(&p, bytes);
        if (r == CUDA_ERROR_OUT_OF_MEMORY)
          return 0;
        checkCu(*api, r, "cuMemAlloc of " + std::to_string(bytes) + " bytes");
        return p;
      },
      [api](uint64_t p) { api->memFree(static_cast<CUdeviceptr>(p)); });
  const std::vector<BufferDesc> &buffers = program.buffers();
  s.address.assign(buffers.size(), 0);
  s.arena = s.allocator->allocate(program.plan().arenaBytes);
  std::map<int, uint64_t> inputAddress;
  for (const BufferDesc &b : buffers) {
    switch (b.kind) {
    case BufferKind::Temp:
      if (program.plan().offsets[b.id] >= 0)
        s.address[b.id] = s.arena + static_cast<uint64_t>(program.plan().offsets[b.id]);
      break;
    case BufferKind::Weight: {
      s.address[b.id] = s.allocator->allocate(b.bytes);
      std::string_view bytes = reader.section(b.section);
      if (b.bytes)
        s.check(cu.memcpyHtoDAsync(s.address[b.id], bytes.data(), b.bytes, s.compute),
                b.describe() + ": uploading section '" + b.section + "'");
      break;
    }
    case BufferKind::Input: {
      auto it = inputAddress.find(b.input);
      if (it == inputAddress.end())
        it = inputAddress.emplace(b.input, s.allocator->allocate(b.bytes)).first;
      s.address[b.id] = it->second;
      break;
    }
    case BufferKind::View:
      break;
    }
  }
  for (const BufferDesc &b : buffers)
    if (b.kind == BufferKind::View)
      s.address[b.id] = s.address[b.root];
}

void CudaExecutor::loadKernels(const CudaProgram &program, const bundle::BundleReader &reader,
                               int major, int minor, const std::string &name) {
  State &s = *state;
  const DriverApi &cu = s.cu;
  const std::vector<CudaStep> &steps = program.steps();
  if (!program.has(CudaStepKind::Launch))
    return;
  std::vector<std::string> chips;
  for (const PtxModule &m : program.ptx())
    chips.push_back(m.chip);
  const PtxModule &m = program.ptx()[selectPtxChip(chips, major, minor, name)];
  chip = m.chip;
  std::string ptx(reader.section(m.section)); // NUL-terminated copy
  std::vector<char> log(16384, 0);
  CUjit_option opts[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
  void *values[] = {log.data(), reinterpret_cast<void *>(static_cast<uintptr_t>(log.size() - 1))};
  CUresult r = cu.moduleLoadDataEx(&s.module, ptx.c_str(), 2, opts, values);
  if (r != CUDA_SUCCESS) {
    std::string jitLog(log.data());
    try {
      s.check(r, "loading PTX section '" + m.section + "' (cuModuleLoadDataEx)");
    } catch (const RuntimeError &e) {
      throw RuntimeError(std::string(e.what()) +
                         (jitLog.empty() ? "" : "; JIT log: " + jitLog));
    }
  }
  std::map<std::string, CUfunction> byName;
  for (const CudaStep &st : steps) {
    if (st.kind != CudaStepKind::Launch)
      continue;
    auto it = byName.find(st.launch.function);
    if (it == byName.end()) {
      CUfunction f = nullptr;
      CUresult fr = cu.moduleGetFunction(&f, s.module, st.launch.function.c_str());
      if (fr == CUDA_ERROR_NOT_FOUND)
        throw RuntimeError(st.where() + ": function '" + st.launch.function +
                           "' is not an entry of PTX section '" + m.section + "'");
      s.check(fr, st.where() + ": cuModuleGetFunction('" + st.launch.function + "')");
      it = byName.emplace(st.launch.function, f).first;
    }
    s.functions[st.index] = it->second;
    // Dynamic shared memory above the default 48 KiB must be opted into.
    if (st.launch.sharedBytes > 48u * 1024)
      s.check(cu.funcSetAttribute(it->second, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                  static_cast<int>(st.launch.sharedBytes)),
              st.where() + ": cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES, " +
                  std::to_string(st.launch.sharedBytes) + ")");
    s.params[st.index] = std::make_unique<KernelParams>(st.launch.args, s.address);
  }
}

CudaExecutor::CudaExecutor(const CudaProgram &program, const bundle::BundleReader &reader,
                           const CudaExecutorOptions &options, DeviceCollectives *collectives,
                           bool collectivesCapturable) {
  const DriverApi &cu = CudaLibraries::driver();
  state = std::make_unique<State>(program, cu, collectives);
  State &s = *state;
  const std::string &section = program.section();
  try {
    int major = 0, minor = 0;
    std::string name;
    openDevice(options.device, major, minor, name);

    placeBuffers(program, reader);
    const std::vector<CudaStep> &steps = program.steps();
    s.functions.assign(steps.size(), nullptr);
    s.params.resize(steps.size());
    s.ready.assign(steps.size(), nullptr);
    s.done.assign(steps.size(), nullptr);

    // The PTX module of the newest chip the device runs.
    loadKernels(program, reader, major, minor, name);

    // Library plans (cuBLASLt, cuDNN).
    if (program.has(CudaStepKind::Matmul))
      s.matmuls = std::make_unique<CudaMatmuls>(program, cu, *s.allocator);
    if (program.has(CudaStepKind::Conv))
      s.convs = std::make_unique<CudaConvs>(program, *s.allocator, s.compute);

    // Events of the collectives and the waits of the compute stream.
    for (const CudaStep &st : steps) {
      if (!st.communicates())
        continue;
      if (!collectives)
        throw RuntimeError(st.where() + ": the program has collectives but no device "
                                        "collectives were set up");
      s.check(cu.eventCreate(&s.ready[st.index], CU_EVENT_DISABLE_TIMING), "cuEventCreate");
      s.check(cu.eventCreate(&s.done[st.index], CU_EVENT_DISABLE_TIMING), "cuEventCreate");
    }
    s.waits = planCollectiveWaits(program.accesses());
    graph = decideGraphCapture(options.graphs, steps.size(), program.collectiveCount(),
                               collectivesCapturable);
    faults = options.faults;
    hostCommunicator = options.hostCommunicator;
    if (graph.capture && (faults.failRank == program.rank() || faults.stallRank == program.rank()))
      graph = {false, "test hooks (PMC_TEST_FAIL_RANK / PMC_TEST_STALL_RANK) target this rank"};
    s.check(cu.streamSynchronize(s.compute), "uploading the weights (cuStreamSynchronize)");
  } catch (const CudaUnavailableError &) {
    s.release();
    throw;
  } catch (const RuntimeError &e) {
    s.release();
    throw RuntimeError(section + ": " + e.what());
  } catch (const bundle::BundleError &e) {
    s.release();
    throw RuntimeError(section + ": " + e.what());
  }
}

CudaExecutor::~CudaExecutor() {
  if (state)
    state->release();
}

AllocatorStats CudaExecutor::allocatorStats() const { return state->allocator->stats(); }

void CudaExecutor::activate() {
  state->check(state->cu.ctxSetCurrent(state->context), "cuCtxSetCurrent");
}

void CudaExecutor::applyFaults(const CudaStep &st, int64_t microbatch) {
  const int rank = state->program.rank();
  if (!faults.any() || faults.atMicrobatch != microbatch)
    return;
  if (faults.failRank == rank && faults.failAtCommand == st.index)
    throw RuntimeError(st.where() + ": test hook: rank " + std::to_string(rank) + " fails here" +
                       (microbatch ? " in microbatch " + std::to_string(microbatch) : "") +
                       " (PMC_TEST_FAIL_RANK)");
  if (faults.stallRank == rank && faults.stallAtCommand == st.index) {
    std::string why = "test hook PMC_TEST_STALL_RANK, before " + st.where();
    if (!hostCommunicator)
      throw RuntimeError(st.where() + ": " + why + " (no host communicator to stall on)");
    hostCommunicator->stall(why);
  }
}

void CudaExecutor::enqueueProgram(int64_t microbatch) {
  State &s = *state;
  const DriverApi &cu = s.cu;
  const std::vector<CudaStep> &steps = s.program.steps();
  const int64_t microbatches = s.program.pipelineMicrobatches();
  for (const CudaStep &st : steps) {
    try {
      applyFaults(st, microbatch);
      for (int c : s.waits[st.index])
        s.check(cu.streamWaitEvent(s.compute, s.done[c], 0), "cuStreamWaitEvent");
      switch (st.kind) {
      case CudaStepKind::Launch: {
        const LaunchStep &l = st.launch;
        s.check(cu.launchKernel(s.functions[st.index], l.grid[0], l.grid[1], l.grid[2], l.block[0],
                                l.block[1], l.block[2], l.sharedBytes, s.compute,
                                s.params[st.index]->params(), nullptr),
                "cuLaunchKernel('" + l.function + "')");
        break;
      }
      case CudaStepKind::Matmul:
        s.matmuls->enqueue(st, s.address, s.compute);
        break;
      case CudaStepKind::Conv:
        s.convs->enqueue(st, s.address);
        break;
      case CudaStepKind::Copy:
        if (st.bytes)
          s.check(cu.memcpyDtoDAsync(s.address[st.writes[0]], s.address[st.reads[0]], st.bytes,
                                     s.compute),
                  "cuMemcpyDtoDAsync");
        break;
      case CudaStepKind::Shard: {
        uint64_t src = s.address[st.reads[0]], dst = s.address[st.writes[0]];
        for (const Copy2D &c : st.copies) {
          if (c.height == 1) {
            s.check(cu.memcpyDtoDAsync(dst + c.dstOffset, src + c.srcOffset, c.widthBytes,
                                       s.compute),
                    "cuMemcpyDtoDAsync");
            continue;
          }
          CUDA_MEMCPY2D d;
          std::memset(&d, 0, sizeof(d));
          d.srcMemoryType = CU_MEMORYTYPE_DEVICE;
          d.srcDevice = src + c.srcOffset;
          d.srcPitch = c.srcPitch;
          d.dstMemoryType = CU_MEMORYTYPE_DEVICE;
          d.dstDevice = dst + c.dstOffset;
          d.dstPitch = c.dstPitch;
          d.WidthInBytes = c.widthBytes;
          d.Height = c.height;
          s.check(cu.memcpy2DAsync(&d, s.compute), "cuMemcpy2DAsync");
        }
        break;
      }
      case CudaStepKind::Collective:
      case CudaStepKind::Send:
      case CudaStepKind::Recv: {
        // The communication stream starts after the compute work so far.
        s.check(cu.eventRecord(s.ready[st.index], s.compute), "cuEventRecord");
        s.check(cu.streamWaitEvent(s.comm, s.ready[st.index], 0), "cuStreamWaitEvent");
        // Pipelines: one wire tag per (edge, microbatch) for host-staged
        // transfers; NCCL ignores tags (program order matches a pair's
        // messages, checkTransferOrder) and names them in errors only.
        int tag = microbatches > 0 ? pipelineWireTag(st.tag, microbatch, microbatches) : st.tag;
        if (st.kind == CudaStepKind::Send) {
          s.collectives->send(reinterpret_cast<const void *>(s.address[st.reads[0]]), st.bytes,
                              st.peer, tag, s.comm);
        } else if (st.kind == CudaStepKind::Recv) {
          s.collectives->recv(reinterpret_cast<void *>(s.address[st.writes[0]]), st.bytes,
                              st.peer, tag, s.comm);
        } else {
          CollectiveCall call = st.call;
          call.in = reinterpret_cast<const void *>(s.address[st.reads[0]]);
          call.out = reinterpret_cast<void *>(s.address[st.writes[0]]);
          s.collectives->collective(call, s.comm);
        }
        s.check(cu.eventRecord(s.done[st.index], s.comm), "cuEventRecord");
        break;
      }
      }
    } catch (const CollectiveError &) {
      throw;
    } catch (const RuntimeError &e) {
      throw RuntimeError(st.where() + ": " + e.what());
    }
  }
  for (int c : s.waits.back())
    s.check(cu.streamWaitEvent(s.compute, s.done[c], 0), "cuStreamWaitEvent (end of program)");
}

std::vector<HostTensor> CudaExecutor::run(const std::vector<const void *> &inputs,
                                          int64_t microbatch) {
  State &s = *state;
  const DriverApi &cu = s.cu;
  const CudaProgram &program = s.program;
  const std::vector<BufferDesc> &buffers = program.buffers();
  try {
    s.check(cu.ctxSetCurrent(s.context), "cuCtxSetCurrent");
    std::vector<bool> copied(inputs.size(), false);
    for (const BufferDesc &b : buffers) {
      if (b.kind != BufferKind::Input || copied.at(b.input) || !b.bytes)
        continue;
      copied[b.input] = true;
      if (!inputs[b.input])
        throw RuntimeError("input " + std::to_string(b.input) + " was not fed");
      s.check(cu.memcpyHtoDAsync(s.address[b.id], inputs.at(b.input), b.bytes, s.compute),
              "copying input " + std::to_string(b.input) + " to the device");
    }
    lastRunReplayed = false;
    if (!s.graphExec && graph.capture && s.runs >= 1) {
      // Capture on the second run: the first loaded and tuned everything.
      s.check(cu.streamBeginCapture(s.compute, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL),
              "cuStreamBeginCapture");
      std::string failure;
      try {
        enqueueProgram(microbatch);
      } catch (const CollectiveError &) {
        CUgraph partial = nullptr;
        cu.streamEndCapture(s.compute, &partial);
        if (partial)
          cu.graphDestroy(partial);
        throw;
      } catch (const RuntimeError &e) {
        failure = e.what();
      }
      CUresult ended = cu.streamEndCapture(s.compute, &s.graph);
      if (failure.empty() && ended == CUDA_SUCCESS &&
          cu.graphInstantiate(&s.graphExec, s.graph, 0) != CUDA_SUCCESS) {
        s.graphExec = nullptr;
        failure = "cuGraphInstantiate failed";
      }
      if (failure.empty() && ended != CUDA_SUCCESS)
        failure = "cuStreamEndCapture failed";
      if (!failure.empty()) {
        // Not capturable after all: run the commands one by one from now on.
        if (s.graph)
          cu.graphDestroy(s.graph);
        s.graph = nullptr;
        s.graphExec = nullptr;
        graph = {false, "capture failed (" + failure + "); commands run one by one"};
      }
    }
    if (s.graphExec) {
      s.check(cu.graphLaunch(s.graphExec, s.compute), "cuGraphLaunch");
      lastRunReplayed = true;
    } else {
      enqueueProgram(microbatch);
    }
    std::vector<HostTensor> results;
    for (int id : program.outputs()) {
      HostTensor t;
      if (id < 0) {
        results.push_back(std::move(t)); // another pipeline stage computes it
        continue;
      }
      const BufferDesc &b = buffers[id];
      t.dtype = b.dtype;
      t.shape = b.shape;
      t.data.resize(b.bytes);
      if (b.bytes)
        s.check(cu.memcpyDtoHAsync(t.data.data(), s.address[id], b.bytes, s.compute),
                "copying " + b.describe() + " to the host");
      results.push_back(std::move(t));
    }
    // The compute stream joined every collective; a collectives object
    // waits watching its own failures (NCCL: a dead peer cannot hang it).
    if (s.collectives)
      s.collectives->synchronize(s.compute);
    else
      s.check(cu.streamSynchronize(s.compute), "running the program (cuStreamSynchronize)");
    ++s.runs;
    return results;
  } catch (const CollectiveError &) {
    throw;
  } catch (const RuntimeError &e) {
    throw RuntimeError(program.section() + ": " + e.what());
  }
}

} // namespace pmc::runtime::cuda
