//===- CudaRanks.cpp - place a Session's ranks on GPUs and run them --------===//

#include "pmc/Runtime/CUDA/CudaRanks.h"
#include "pmc/Runtime/CUDA/CudaExecutor.h"
#include "pmc/Runtime/CUDA/CudaLibraries.h"
#include "pmc/Runtime/CUDA/CudaProgram.h"
#include "pmc/Runtime/CUDA/HostStagedCollectives.h"
#include "pmc/Runtime/CUDA/NcclCommunicator.h"
#include "pmc/Runtime/Comm/Communicator.h"
#include "pmc/Runtime/Session.h"

#include <cstdlib>
#include <map>
#include <mutex>

namespace pmc::runtime::cuda {

namespace {
std::mutex factoryMutex;
DeviceCollectivesFactory &factorySlot() {
  static DeviceCollectivesFactory factory;
  return factory;
}

/// $LOCAL_RANK as torchrun sets it, or -1.
int localRankFromEnvironment() {
  const char *v = std::getenv("LOCAL_RANK");
  if (!v || !*v)
    return -1;
  char *end = nullptr;
  long r = std::strtol(v, &end, 10);
  if (*end || r < 0 || r > 1 << 20)
    throw RuntimeError("LOCAL_RANK is '" + std::string(v) + "', expected a non-negative integer");
  return static_cast<int>(r);
}
} // namespace

void setDeviceCollectivesFactory(DeviceCollectivesFactory factory) {
  std::lock_guard<std::mutex> lock(factoryMutex);
  factorySlot() = std::move(factory);
}

struct CudaRanks::Impl {
  /// By rank; null for ranks not run here. Destroyed in reverse order of
  /// members: executors last (collectives free pinned memory first).
  std::vector<std::unique_ptr<CudaProgram>> programs;
  std::vector<std::unique_ptr<CudaExecutor>> executors;
  std::vector<std::unique_ptr<DeviceCollectives>> collectives;
  /// Devices whose primary context was retained for NCCL (released after
  /// the collectives are destroyed).
  std::vector<CUdevice> retained;
};

CudaRanks::CudaRanks() : impl(std::make_unique<Impl>()) {}

CudaRanks::~CudaRanks() {
  for (size_t r = 0; r < impl->collectives.size(); ++r) {
    if (!impl->collectives[r])
      continue;
    try {
      if (impl->executors[r])
        impl->executors[r]->activate();
    } catch (const RuntimeError &) {
    }
    impl->collectives[r].reset();
  }
  impl->executors.clear();
  if (!impl->retained.empty()) {
    const DriverApi &cu = CudaLibraries::driver();
    for (CUdevice d : impl->retained)
      cu.primaryCtxRelease(d);
  }
}

std::unique_ptr<CudaRanks> CudaRanks::open(const Manifest &manifest,
                                           const bundle::BundleReader &reader,
                                           const SessionOptions &options,
                                           const std::vector<std::shared_ptr<Communicator>> &comms,
                                           const FaultInjection &faults) {
  std::unique_ptr<CudaRanks> ranks(new CudaRanks());
  Impl &impl = *ranks->impl;
  const int n = static_cast<int>(comms.size());
  const bool distributed = options.communicator != nullptr;
  if (distributed && options.virtualRanks)
    throw RuntimeError("virtual ranks run all ranks as threads of one process; they cannot be "
                       "combined with a communicator (mpirun)");
  // Validate every program before touching a GPU.
  impl.programs.resize(n);
  for (int r = 0; r < n; ++r)
    if (comms[r])
      impl.programs[r] = CudaProgram::load(manifest, reader, r);
  if (manifest.pipeline) {
    // NCCL matches a pair's messages in program order: check both ends of
    // every transfer, loading the programs run by other processes too.
    std::vector<std::unique_ptr<CudaProgram>> others(n);
    std::vector<const CudaProgram *> all(n);
    for (int r = 0; r < n; ++r) {
      if (!impl.programs[r])
        others[r] = CudaProgram::load(manifest, reader, r);
      all[r] = impl.programs[r] ? impl.programs[r].get() : others[r].get();
    }
    checkTransferOrder(manifest, all);
  }

  const DriverApi *cu = nullptr;
  try {
    cu = &CudaLibraries::driver();
  } catch (const CudaUnavailableError &e) {
    throw RuntimeError(std::string("this bundle targets CUDA; ") + e.what());
  }
  int count = 0;
  checkCu(*cu, cu->deviceGetCount(&count), "cuDeviceGetCount");
  if (count == 0)
    throw RuntimeError("this bundle targets CUDA; the CUDA driver sees no GPU");

  auto deviceOf = [&](int rank) {
    if (distributed) {
      if (options.device >= 0)
        return options.device;
      int local = localRankFromEnvironment();
      return local >= 0 ? local : rank % count;
    }
    int base = options.device >= 0 ? options.device : 0;
    if (options.virtualRanks || n == 1)
      return base;
    if (base + n > count)
      throw RuntimeError("the bundle runs on " + std::to_string(n) + " devices but this machine has " +
                         std::to_string(count) + " GPU(s)" +
                         (base ? " from device " + std::to_string(base) : std::string()) +
                         ": run it with --virtual-ranks (all ranks on one GPU) or with mpirun");
    return base + rank;
  };

  impl.executors.resize(n);
  impl.collectives.resize(n);
  for (int r = 0; r < n; ++r) {
    if (!comms[r])
      continue;
    const CudaProgram &program = *impl.programs[r];
    CudaExecutorOptions exeOptions;
    exeOptions.device = deviceOf(r);
    exeOptions.graphs = options.cudaGraphs;
    exeOptions.faults = faults;
    exeOptions.hostCommunicator = comms[r].get();
    bool capturable = false;
    if (program.collectiveCount() > 0) {
      DeviceCollectivesFactory factory;
      {
        std::lock_guard<std::mutex> lock(factoryMutex);
        factory = factorySlot();
      }
      if (distributed && factory) {
        impl.collectives[r] = factory(*comms[r], exeOptions.device);
        capturable = true;
      } else if (distributed) {
        // One process per GPU: NCCL, its id shared through this process's
        // host communicator or the TCP rendezvous (docs/design/nccl.md).
        // NCCL allocates on the current context: make the rank's device's
        // primary context current first (the executor retains it too).
        CUdevice device = 0;
        CUcontext context = nullptr;
        checkCu(*cu, cu->deviceGet(&device, exeOptions.device), "cuDeviceGet");
        checkCu(*cu, cu->primaryCtxRetain(&context, device), "cuDevicePrimaryCtxRetain");
        impl.retained.push_back(device);
        checkCu(*cu, cu->ctxSetCurrent(context), "cuCtxSetCurrent");
        NcclOptions nccl;
        nccl.bootstrap = parseNcclBootstrap(options.bootstrap).value_or(NcclBootstrap::Auto);
        nccl.hostCommunicator = options.communicator;
        nccl.timeoutSeconds = options.collectiveTimeout;
        impl.collectives[r] = createNcclCollectives(nccl);
        capturable = true;
      } else {
        impl.collectives[r] = std::make_unique<HostStagedCollectives>(*comms[r], *cu);
      }
      impl.collectives[r]->prepare(manifest.mesh);
    }
    impl.executors[r] = std::make_unique<CudaExecutor>(program, reader, exeOptions,
                                                       impl.collectives[r].get(), capturable);
  }
  return ranks;
}

std::vector<HostTensor> CudaRanks::run(int rank, const std::vector<const void *> &inputs,
                                       int64_t microbatch) {
  if (rank < 0 || rank >= static_cast<int>(impl->executors.size()) || !impl->executors[rank])
    throw RuntimeError("rank " + std::to_string(rank) + " is not run by this process");
  return impl->executors[rank]->run(inputs, microbatch);
}

bool CudaRanks::readsInput(int rank, size_t input) const {
  if (rank < 0 || rank >= static_cast<int>(impl->programs.size()) || !impl->programs[rank])
    throw RuntimeError("rank " + std::to_string(rank) + " is not run by this process");
  return impl->programs[rank]->readsInput(input);
}

std::string describeCudaProgram(const Manifest &manifest, const bundle::BundleReader &reader,
                                int rank) {
  std::unique_ptr<CudaProgram> p = CudaProgram::load(manifest, reader, rank);
  size_t scratch = 0;
  for (const BufferDesc &b : p->buffers())
    scratch += p->isScratch(b.id);
  std::map<std::string, int> ops;
  for (const CudaStep &s : p->steps())
    ++ops[s.op];
  std::string text = "rank " + std::to_string(rank) + ": " + std::to_string(p->buffers().size()) +
                     " buffers (" + std::to_string(scratch) + " scratch), " +
                     std::to_string(p->steps().size()) + " commands (";
  bool first = true;
  for (const auto &[op, n] : ops) {
    text += (first ? "" : ", ") + std::to_string(n) + " " + op;
    first = false;
  }
  text += "), device arena " + std::to_string(p->plan().arenaBytes) + " bytes\nptx:     ";
  if (p->ptx().empty())
    text += "none";
  for (size_t i = 0; i < p->ptx().size(); ++i)
    text += (i ? ", " : "") + p->ptx()[i].chip + " (" + p->ptx()[i].section + ")";
  return text + "\n";
}

/// The program of rank `rank`, which must be run here.
static const CudaProgram &loadedProgram(const std::vector<std::unique_ptr<CudaProgram>> &programs,
                                        int rank) {
  if (rank < 0 || rank >= static_cast<int>(programs.size()) || !programs[rank])
    throw RuntimeError("rank " + std::to_string(rank) + " is not run by this session");
  return *programs[rank];
}

size_t CudaRanks::arenaBytes(int rank) const {
  return loadedProgram(impl->programs, rank).plan().arenaBytes;
}

size_t CudaRanks::tempBytes(int rank) const {
  return tempBytesWithoutReuse(loadedProgram(impl->programs, rank).buffers());
}

std::string CudaRanks::describe() const {
  std::string text;
  for (size_t r = 0; r < impl->executors.size(); ++r) {
    const CudaExecutor *e = impl->executors[r].get();
    if (!e)
      continue;
    text += "rank " + std::to_string(r) + ": " + e->device() +
            (e->ptxChip().empty() ? "" : ", PTX " + e->ptxChip()) +
            ", CUDA graph: " + (e->graphDecision().capture ? "yes" : "no (" + e->graphDecision().reason + ")") +
            "\n";
  }
  return text;
}

} // namespace pmc::runtime::cuda
