//===- NcclCommunicator.cpp - NCCL collectives, packing and the watchdog ---===//

#include "pmc/Runtime/CUDA/NcclCommunicator.h"
#include "NcclLibrary.h"
#include "NcclPacking.h"

#include "pmc/Runtime/Comm/Communicator.h"
#include "pmc/Runtime/Comm/Mesh.h"
#include "pmc/Runtime/Comm/TcpRendezvous.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <sstream>
#include <thread>

namespace pmc::runtime::cuda {

using namespace nccl;
using Clock = std::chrono::steady_clock;

namespace {

std::string secondsText(double s) {
  std::ostringstream os;
  os << s << " s";
  return os.str();
}

/// The NCCL type of an element for reductions; nullopt when NCCL has none.
std::optional<DataType> reductionType(DType t) {
  switch (t) {
  case DType::Bool: return Uint8;
  case DType::Int8: return Int8;
  case DType::UInt8: return Uint8;
  case DType::Int32: return Int32;
  case DType::UInt32: return Uint32;
  case DType::Int64: return Int64;
  case DType::UInt64: return Uint64;
  case DType::Float16: return Float16;
  case DType::BFloat16: return Bfloat16;
  case DType::Float32: return Float32;
  case DType::Float64: return Float64;
  case DType::Int16:
  case DType::UInt16: return std::nullopt;
  }
  return std::nullopt;
}

CuDevicePtr dptr(const void *p) { return reinterpret_cast<CuDevicePtr>(p); }

} // namespace

/// One enqueued NCCL call the watchdog times.
struct PendingCall {
  CuEvent start = nullptr, end = nullptr;
  std::string what; // "rank 1: all_reduce (command 3, axes [tp]) over ranks 0, 1"
  std::optional<Clock::time_point> started;
};

struct NcclCommunicator::Impl {
  const NcclApi *api = nullptr;
  const DriverApi *cu = nullptr;
  std::unique_ptr<Bootstrap> bootstrap;
  CuContext context = nullptr;
  double timeout = 60;
  int rank = 0, size = 1;
  Comm world = nullptr;
  /// Ordered world ranks of a group -> its communicator (`world` included).
  std::map<std::vector<int>, Comm> groups;
  std::vector<Comm> owned; // split communicators, destroyed before `world`

  mutable std::mutex mutex;
  std::optional<std::string> failure;
  bool aborted = false;
  std::deque<PendingCall> pending;
  std::vector<CuEvent> freeEvents;
  std::thread watchdog;
  std::condition_variable wake;
  bool stopping = false;

  std::string prefix() const { return "rank " + std::to_string(rank) + ": "; }

  std::string ncclText(Result r, Comm comm) const {
    std::string s = api->getErrorString(r);
    const char *last = comm ? api->getLastError(comm) : nullptr;
    if (last && *last)
      s += " (" + std::string(last) + ")";
    return s;
  }

  /// Aborts every communicator once; call with `mutex` held.
  void abortAllLocked() {
    if (aborted)
      return;
    aborted = true;
    for (Comm c : owned)
      api->commAbort(c);
    if (world)
      api->commAbort(world);
  }

  /// Records the first failure, aborts, returns the message to throw.
  std::string failWith(const std::string &message) {
    std::lock_guard<std::mutex> lock(mutex);
    if (!failure)
      failure = message;
    abortAllLocked();
    return *failure;
  }

  void throwIfFailed() const {
    std::lock_guard<std::mutex> lock(mutex);
    if (failure)
      throw CollectiveError(*failure);
  }

  void checkCu(CuResult rc, const std::string &what) {
    if (rc != kCudaSuccess)
      throw CollectiveError(failWith(prefix() + what + ": " + driverErrorText(rc)));
  }

  /// Waits while `comms` report ncclInProgress (nonblocking mode), bounded by
  /// the timeout; throws CollectiveError naming `what`.
  void settle(const std::vector<Comm> &comms, Result rc, const std::string &what) {
    if (rc != Success && rc != InProgress)
      throw CollectiveError(failWith(prefix() + what + " failed: " +
                                     ncclText(rc, comms.empty() ? nullptr : comms[0])));
    auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(timeout));
    auto pause = std::chrono::microseconds(10);
    for (Comm c : comms) {
      while (true) {
        Result state = Success;
        Result q = api->commGetAsyncError(c, &state);
        if (q != Success)
          state = q;
        if (state == Success)
          break;
        if (state != InProgress)
          throw CollectiveError(failWith(prefix() + what + " failed: " + ncclText(state, c)));
        if (Clock::now() > deadline)
          throw CollectiveError(failWith(prefix() + what + " did not complete within " +
                                         secondsText(timeout) +
                                         " (a rank did not arrive); NCCL communicators aborted"));
        {
          std::lock_guard<std::mutex> lock(mutex);
          if (failure)
            throw CollectiveError(*failure);
        }
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, std::chrono::microseconds(2000));
      }
    }
  }

  CuEvent takeEvent() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (!freeEvents.empty()) {
        CuEvent e = freeEvents.back();
        freeEvents.pop_back();
        return e;
      }
    }
    CuEvent e = nullptr;
    checkCu(cu->eventCreate(&e, kEventDisableTiming), "cuEventCreate");
    return e;
  }

  /// Records the start event of a call on `stream`.
  CuEvent begin(Stream stream) {
    CuEvent e = takeEvent();
    checkCu(cu->eventRecord(e, stream), "cuEventRecord");
    return e;
  }

  /// Records the end event and hands the call to the watchdog.
  void end(CuEvent start, Stream stream, std::string what) {
    CuEvent e = takeEvent();
    checkCu(cu->eventRecord(e, stream), "cuEventRecord");
    std::lock_guard<std::mutex> lock(mutex);
    pending.push_back({start, e, std::move(what), std::nullopt});
    wake.notify_one();
  }

  /// The watchdog: times pending calls and polls NCCL's asynchronous errors.
  void watch() {
    cu->ctxSetCurrent(context);
    std::unique_lock<std::mutex> lock(mutex);
    while (!stopping) {
      wake.wait_for(lock, std::chrono::milliseconds(pending.empty() ? 50 : 1));
      if (stopping || aborted)
        continue;
      auto now = Clock::now();
      // Calls on different streams complete in any order: check each.
      for (auto it = pending.begin(); it != pending.end();) {
        PendingCall &p = *it;
        if (!p.started && cu->eventQuery(p.start) == kCudaSuccess)
          p.started = now;
        if (p.started && cu->eventQuery(p.end) == kCudaSuccess) {
          freeEvents.push_back(p.start);
          freeEvents.push_back(p.end);
          it = pending.erase(it);
          continue;
        }
        if (p.started && std::chrono::duration<double>(now - *p.started).count() > timeout) {
          if (!failure)
            failure = p.what + " did not complete within " + secondsText(timeout) +
                      " (a rank did not arrive or failed); NCCL communicators aborted";
          abortAllLocked();
          break;
        }
        ++it;
      }
      if (aborted)
        continue;
      std::vector<Comm> all = owned;
      if (world)
        all.push_back(world);
      for (Comm c : all) {
        Result state = Success;
        if (api->commGetAsyncError(c, &state) != Success || state == Success ||
            state == InProgress)
          continue;
        if (!failure)
          failure = (pending.empty() ? prefix() + "NCCL" : pending.front().what) +
                    " failed: " + ncclText(state, c) + "; NCCL communicators aborted";
        abortAllLocked();
        break;
      }
    }
  }

  Comm groupComm(const CollectiveCall &call) {
    auto it = groups.find(call.group);
    if (it == groups.end())
      throw CollectiveError(prefix() + call.site.describe() + ": ranks [" +
                            rankList(call.group) +
                            "] are not a group of the mesh (prepare() builds those)");
    return it->second;
  }

  /// Strided device copy: `rows` rows of `width` bytes.
  void copy2D(const void *src, size_t srcPitch, void *dst, size_t dstPitch, size_t width,
              size_t rows, Stream stream, const std::string &what) {
    if (!width || !rows)
      return;
    if (rows == 1 || (srcPitch == width && dstPitch == width)) {
      checkCu(cu->memcpyDtoDAsync(dptr(dst), dptr(src), width * rows, stream),
              what + ": cuMemcpyDtoDAsync");
      return;
    }
    Memcpy2D c{};
    c.srcMemoryType = kMemoryTypeDevice;
    c.srcDevice = dptr(src);
    c.srcPitch = srcPitch;
    c.dstMemoryType = kMemoryTypeDevice;
    c.dstDevice = dptr(dst);
    c.dstPitch = dstPitch;
    c.WidthInBytes = width;
    c.Height = rows;
    checkCu(cu->memcpy2DAsync(&c, stream), what + ": cuMemcpy2DAsync (pitch " +
                                               std::to_string(std::max(srcPitch, dstPitch)) +
                                               " bytes)");
  }

  void *alloc(size_t bytes, Stream stream, const std::string &what) {
    CuDevicePtr p = 0;
    checkCu(cu->memAllocAsync(&p, bytes, stream),
            what + ": cuMemAllocAsync of " + std::to_string(bytes) + " bytes");
    return reinterpret_cast<void *>(p);
  }
  void release(void *p, Stream stream, const std::string &what) {
    if (p)
      checkCu(cu->memFreeAsync(dptr(p), stream), what + ": cuMemFreeAsync");
  }

  void run(const CollectiveCall &call, Stream stream);
};

//===----------------------------------------------------------------------===//
// Collectives
//===----------------------------------------------------------------------===//

void NcclCommunicator::Impl::run(const CollectiveCall &call, Stream stream) {
  const int n = static_cast<int>(call.group.size());
  const std::string site = call.site.describe();
  const std::string what = prefix() + site + " over ranks " + rankList(call.group);
  const size_t esize = dtypeSize(call.dtype);
  const size_t inBytes = call.inBytes();
  auto bad = [&](const std::string &why) {
    return CollectiveError(prefix() + site + ": " + why);
  };
  if (call.position < 0 || call.position >= n || call.group[call.position] != rank)
    throw bad("position " + std::to_string(call.position) + " in ranks [" +
              rankList(call.group) + "] is not rank " + std::to_string(rank));
  auto checkDim = [&](int d) {
    if (d < 0 || d >= static_cast<int>(call.inShape.size()))
      throw bad("dim " + std::to_string(d) + " is out of range for a rank-" +
                std::to_string(call.inShape.size()) + " tensor");
  };

  if (n == 1) {
    // A group of one: the result is the input (all four kinds).
    if (call.out != call.in && inBytes)
      checkCu(cu->memcpyDtoDAsync(dptr(call.out), dptr(call.in), inBytes, stream),
              site + ": cuMemcpyDtoDAsync");
    return;
  }
  Comm comm = groupComm(call);
  if (inBytes == 0)
    return;

  switch (call.kind) {
  case CollectiveKind::AllReduce: {
    std::optional<DataType> type = reductionType(call.dtype);
    if (!type)
      throw bad("NCCL has no " + std::string(dtypeName(call.dtype)) + " reduction");
    // Booleans: the sum saturates, which is max on 0/1 bytes.
    RedOp op = call.reduction == Reduction::Max || call.dtype == DType::Bool ? OpMax : OpSum;
    CuEvent start = begin(stream);
    settle({comm}, api->allReduce(call.in, call.out, inBytes / esize, *type, op, comm, stream),
           site + ": ncclAllReduce");
    end(start, stream, what);
    return;
  }
  case CollectiveKind::AllGather:
    checkDim(call.dim);
    break;
  case CollectiveKind::ReduceScatter:
    checkDim(call.dim);
    if (!reductionType(call.dtype))
      throw bad("NCCL has no " + std::string(dtypeName(call.dtype)) + " reduction");
    if (call.inShape[call.dim] % n)
      throw bad("dim " + std::to_string(call.dim) + " (size " +
                std::to_string(call.inShape[call.dim]) + ") is not divisible by the group size " +
                std::to_string(n));
    break;
  case CollectiveKind::AllToAll:
    checkDim(call.splitDim);
    checkDim(call.concatDim);
    if (call.inShape[call.splitDim] % n)
      throw bad("split dim " + std::to_string(call.splitDim) + " (size " +
                std::to_string(call.inShape[call.splitDim]) +
                ") is not divisible by the group size " + std::to_string(n));
    break;
  }

  // Strided copies around NCCL's leading-dim primitives (NcclPacking.h).
  PackingPlan plan = planPacking(call, n);
  void *sendStage = plan.sendStageBytes ? alloc(plan.sendStageBytes, stream, site) : nullptr;
  void *recvStage = plan.recvStageBytes ? alloc(plan.recvStageBytes, stream, site) : nullptr;
  auto at = [&](PackBuffer b) -> char * {
    switch (b) {
    case PackBuffer::In: return static_cast<char *>(const_cast<void *>(call.in));
    case PackBuffer::Out: return static_cast<char *>(call.out);
    case PackBuffer::SendStage: return static_cast<char *>(sendStage);
    case PackBuffer::RecvStage: return static_cast<char *>(recvStage);
    }
    return nullptr;
  };
  auto copies = [&](const std::vector<StridedCopy> &list) {
    for (const StridedCopy &c : list)
      copy2D(at(c.src) + c.srcOffset, c.srcPitch, at(c.dst) + c.dstOffset, c.dstPitch, c.width,
             c.rows, stream, site);
  };
  copies(plan.before);
  char *src = at(plan.ncclSrc), *dst = at(plan.ncclDst);
  CuEvent start = begin(stream);
  if (call.kind == CollectiveKind::AllGather) {
    settle({comm}, api->allGather(src, dst, plan.block, Uint8, comm, stream),
           site + ": ncclAllGather");
  } else if (call.kind == CollectiveKind::ReduceScatter) {
    RedOp op = call.reduction == Reduction::Max || call.dtype == DType::Bool ? OpMax : OpSum;
    settle({comm},
           api->reduceScatter(src, dst, plan.block / esize, *reductionType(call.dtype), op, comm,
                              stream),
           site + ": ncclReduceScatter");
  } else {
    Result rc = api->groupStart();
    for (int j = 0; j < n && rc == Success; ++j) {
      rc = api->send(src + j * plan.block, plan.block, Uint8, j, comm, stream);
      if (rc == Success)
        rc = api->recv(dst + j * plan.block, plan.block, Uint8, j, comm, stream);
    }
    Result endRc = api->groupEnd();
    settle({comm}, rc != Success ? rc : endRc, site + ": ncclSend/ncclRecv group");
  }
  end(start, stream, what);
  copies(plan.after);
  release(sendStage, stream, site);
  release(recvStage, stream, site);
}

//===----------------------------------------------------------------------===//
// NcclCommunicator
//===----------------------------------------------------------------------===//

NcclCommunicator::NcclCommunicator() : impl(std::make_unique<Impl>()) {}

NcclCommunicator::~NcclCommunicator() {
  Impl &m = *impl;
  {
    std::lock_guard<std::mutex> lock(m.mutex);
    m.stopping = true;
    m.wake.notify_all();
  }
  if (m.watchdog.joinable())
    m.watchdog.join();
  if (!m.api)
    return;
  bool clean;
  {
    std::lock_guard<std::mutex> lock(m.mutex);
    clean = !m.aborted;
  }
  if (clean) {
    // Finalize flushes pending work; bounded like every other wait.
    try {
      for (Comm c : m.owned)
        m.settle({c}, m.api->commFinalize(c), "ncclCommFinalize");
      if (m.world)
        m.settle({m.world}, m.api->commFinalize(m.world), "ncclCommFinalize");
    } catch (const std::exception &) {
      clean = false; // settle() aborted the communicators
    }
  }
  if (clean) {
    for (Comm c : m.owned)
      m.api->commDestroy(c);
    if (m.world)
      m.api->commDestroy(m.world);
  }
  std::lock_guard<std::mutex> lock(m.mutex);
  for (PendingCall &p : m.pending) {
    m.freeEvents.push_back(p.start);
    m.freeEvents.push_back(p.end);
  }
  for (CuEvent e : m.freeEvents)
    m.cu->eventDestroy(e);
}

std::unique_ptr<NcclCommunicator> NcclCommunicator::create(std::unique_ptr<Bootstrap> bootstrap,
                                                           double timeoutSeconds,
                                                           const std::string &bundleId) {
  std::unique_ptr<NcclCommunicator> c(new NcclCommunicator());
  Impl &m = *c->impl;
  m.rank = c->worldRank = bootstrap->rank();
  m.size = c->worldSize = bootstrap->size();
  m.timeout = timeoutSeconds > 0 ? timeoutSeconds : defaultCollectiveTimeout();
  const std::string prefix = m.prefix();
  // Load both libraries before talking to the other ranks, but exchange a
  // verdict first, so that a rank without NCCL fails every rank promptly.
  std::string localProblem;
  try {
    m.api = &ncclApi();
    m.cu = &driverApi();
    if (m.cu->ctxGetCurrent(&m.context) != kCudaSuccess || !m.context)
      localProblem = "no CUDA context is current on the thread creating the NCCL "
                     "communicator (the executor makes the device's context current first)";
  } catch (const RuntimeError &e) {
    localProblem = e.what();
  }
  UniqueId id{};
  if (localProblem.empty() && m.rank == 0) {
    Result rc = m.api->getUniqueId(&id);
    if (rc != Success)
      localProblem = std::string("ncclGetUniqueId failed: ") + m.api->getErrorString(rc);
  }
  // Blob: status byte, bundle id length + bytes, then (rank 0) the unique id.
  std::string blob(1, localProblem.empty() ? 'o' : 'x');
  if (!localProblem.empty()) {
    blob += localProblem;
  } else {
    uint32_t len = static_cast<uint32_t>(bundleId.size());
    blob.append(reinterpret_cast<const char *>(&len), sizeof(len));
    blob += bundleId;
    if (m.rank == 0)
      blob.append(id.internal, sizeof(id.internal));
  }
  std::vector<std::string> all = bootstrap->allGather(blob, "nccl unique id");
  for (int r = 0; r < m.size; ++r)
    if (all[r].empty() || all[r][0] != 'o')
      throw RuntimeError(prefix + "rank " + std::to_string(r) + " cannot use NCCL: " +
                         (all[r].size() > 1 ? all[r].substr(1) : "no reason given"));
  auto bundleOf = [&](int r) {
    uint32_t len = 0;
    std::memcpy(&len, all[r].data() + 1, sizeof(len));
    return all[r].substr(1 + sizeof(len), len);
  };
  for (int r = 1; r < m.size; ++r)
    if (bundleOf(r) != bundleOf(0))
      throw RuntimeError(prefix + "rank " + std::to_string(r) + " runs bundle '" + bundleOf(r) +
                         "' but rank 0 runs '" + bundleOf(0) + "'");
  const std::string &root = all[0];
  if (root.size() < 1 + sizeof(uint32_t) + bundleOf(0).size() + sizeof(id.internal))
    throw RuntimeError(prefix + "rank 0 sent a malformed NCCL unique id");
  std::memcpy(id.internal, root.data() + root.size() - sizeof(id.internal), sizeof(id.internal));

  Config config = makeConfig(/*blocking=*/false);
  Result rc = m.api->commInitRankConfig(&m.world, m.size, id, m.rank, &config);
  try {
    m.settle({m.world}, rc,
             "NCCL initialization of " + std::to_string(m.size) + " rank(s) (ncclCommInitRankConfig)");
  } catch (const CollectiveError &e) {
    throw RuntimeError(e.what());
  }
  std::vector<int> everyone(m.size);
  for (int r = 0; r < m.size; ++r)
    everyone[r] = r;
  m.groups[everyone] = m.world;
  m.bootstrap = std::move(bootstrap);
  m.watchdog = std::thread([&m] { m.watch(); });
  return c;
}

void NcclCommunicator::prepare(const Mesh &mesh) {
  Impl &m = *impl;
  m.throwIfFailed();
  if (mesh.size() != m.size)
    throw RuntimeError(m.prefix() + "the bundle's mesh " + mesh.toString() + " has " +
                       std::to_string(mesh.size()) + " devices but NCCL has " +
                       std::to_string(m.size) + " ranks");
  // Every ordering of every subset of the axes (permutations of the chosen
  // axes give differently ordered groups); all ranks enumerate the same list.
  std::vector<std::vector<std::string>> orderings;
  size_t k = mesh.axes.size();
  for (uint32_t mask = 1; mask < (1u << k); ++mask) {
    std::vector<std::string> names;
    for (size_t i = 0; i < k; ++i)
      if (mask & (1u << i))
        names.push_back(mesh.axes[i].name);
    std::sort(names.begin(), names.end());
    do
      orderings.push_back(names);
    while (std::next_permutation(names.begin(), names.end()));
  }
  for (const std::vector<std::string> &axes : orderings) {
    std::vector<int> members = mesh.group(m.rank, axes);
    // Group shapes are the same for every rank (translation by the other
    // axes), so these skips are taken by all ranks alike.
    if (members.size() <= 1 || m.groups.count(members))
      continue;
    Comm comm = nullptr;
    Config config = makeConfig(/*blocking=*/false);
    int color = *std::min_element(members.begin(), members.end());
    int key = static_cast<int>(mesh.positionInGroup(m.rank, axes));
    std::string what = "ncclCommSplit for axes [";
    for (size_t i = 0; i < axes.size(); ++i)
      what += (i ? ", " : "") + axes[i];
    what += "]";
    Result rc = m.api->commSplit(m.world, color, key, &comm, &config);
    std::vector<Comm> involved = {m.world};
    if (comm)
      involved.push_back(comm);
    m.settle(involved, rc, what);
    std::lock_guard<std::mutex> lock(m.mutex);
    m.owned.push_back(comm);
    m.groups[members] = comm;
  }
}

void NcclCommunicator::collective(const CollectiveCall &call, void *stream) {
  impl->throwIfFailed();
  impl->run(call, static_cast<Stream>(stream));
}

void NcclCommunicator::send(const void *deviceData, size_t bytes, int dst, int tag,
                            void *stream) {
  Impl &m = *impl;
  m.throwIfFailed();
  if (dst < 0 || dst >= m.size || dst == m.rank)
    throw CollectiveError(m.prefix() + "send (tag " + std::to_string(tag) + ") to rank " +
                          std::to_string(dst) + ": not another rank of " +
                          std::to_string(m.size));
  if (!bytes)
    return;
  std::string what = m.prefix() + "send of " + std::to_string(bytes) + " bytes to rank " +
                     std::to_string(dst) + " (tag " + std::to_string(tag) + ")";
  Stream s = static_cast<Stream>(stream);
  CuEvent start = m.begin(s);
  m.settle({m.world}, m.api->send(deviceData, bytes, Uint8, dst, m.world, s), what);
  m.end(start, s, what);
}

void NcclCommunicator::recv(void *deviceData, size_t bytes, int src, int tag, void *stream) {
  Impl &m = *impl;
  m.throwIfFailed();
  if (src < 0 || src >= m.size || src == m.rank)
    throw CollectiveError(m.prefix() + "recv (tag " + std::to_string(tag) + ") from rank " +
                          std::to_string(src) + ": not another rank of " +
                          std::to_string(m.size));
  if (!bytes)
    return;
  std::string what = m.prefix() + "recv of " + std::to_string(bytes) + " bytes from rank " +
                     std::to_string(src) + " (tag " + std::to_string(tag) + ")";
  Stream s = static_cast<Stream>(stream);
  CuEvent start = m.begin(s);
  m.settle({m.world}, m.api->recv(deviceData, bytes, Uint8, src, m.world, s), what);
  m.end(start, s, what);
}

void NcclCommunicator::abort(const std::string &reason) { impl->failWith(reason); }

void NcclCommunicator::synchronize(void *stream) {
  Impl &m = *impl;
  Stream s = static_cast<Stream>(stream);
  auto pause = std::chrono::microseconds(10);
  while (true) {
    m.throwIfFailed();
    CuResult rc = m.cu->streamQuery(s);
    if (rc == kCudaSuccess)
      break;
    if (rc != kCudaErrorNotReady)
      throw CollectiveError(
          m.failWith(m.prefix() + "stream synchronization: " + driverErrorText(rc)));
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(1000));
  }
  m.throwIfFailed();
}

std::optional<std::string> NcclCommunicator::failure() const {
  std::lock_guard<std::mutex> lock(impl->mutex);
  return impl->failure;
}

double NcclCommunicator::timeout() const { return impl->timeout; }

std::string NcclCommunicator::ncclVersion() const { return impl->api->versionText; }

//===----------------------------------------------------------------------===//
// Factory
//===----------------------------------------------------------------------===//

std::optional<NcclBootstrap> parseNcclBootstrap(const std::string &text) {
  if (text == "auto")
    return NcclBootstrap::Auto;
  if (text == "mpi")
    return NcclBootstrap::Mpi;
  if (text == "tcp")
    return NcclBootstrap::Tcp;
  return std::nullopt;
}

namespace {

/// A world of one process: nothing to exchange.
class SoloBootstrap : public Bootstrap {
public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::vector<std::string> allGather(const std::string &blob, const std::string &) override {
    return {blob};
  }
};

/// A bootstrap that keeps the host communicator it runs over alive.
class HoldingBootstrap : public Bootstrap {
public:
  explicit HoldingBootstrap(std::shared_ptr<Communicator> comm)
      : comm(std::move(comm)), inner(communicatorBootstrap(*this->comm)) {}
  int rank() const override { return inner->rank(); }
  int size() const override { return inner->size(); }
  std::vector<std::string> allGather(const std::string &blob, const std::string &what) override {
    return inner->allGather(blob, what);
  }

private:
  std::shared_ptr<Communicator> comm;
  std::unique_ptr<Bootstrap> inner;
};

} // namespace

std::unique_ptr<DeviceCollectives> createNcclCollectives(const NcclOptions &options) {
  std::unique_ptr<Bootstrap> boot;
  bool hostSpans = options.hostCommunicator && options.hostCommunicator->size() > 1;
  switch (options.bootstrap) {
  case NcclBootstrap::Mpi:
    if (!options.hostCommunicator)
      throw RuntimeError("--bootstrap mpi: no MPI communicator (run under mpirun, with a "
                         "pmc-run built with MPI)");
    boot = std::make_unique<HoldingBootstrap>(options.hostCommunicator);
    break;
  case NcclBootstrap::Tcp:
    // Under a TcpCommunicator the processes already met: reuse its links.
    if (hostSpans)
      boot = std::make_unique<HoldingBootstrap>(options.hostCommunicator);
    else
      boot = TcpRendezvous::connect(RendezvousConfig::fromEnvironment());
    break;
  case NcclBootstrap::Auto:
    if (hostSpans)
      boot = std::make_unique<HoldingBootstrap>(options.hostCommunicator);
    else if (RendezvousConfig::environmentPresent())
      boot = TcpRendezvous::connect(RendezvousConfig::fromEnvironment());
    else
      boot = std::make_unique<SoloBootstrap>();
    break;
  }
  auto nccl = NcclCommunicator::create(std::move(boot), options.timeoutSeconds, options.bundleId);
  return nccl;
}

int ncclLocalDevice() {
  for (const char *name : {"LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_RANK"}) {
    const char *v = std::getenv(name);
    if (!v || !*v)
      continue;
    char *end = nullptr;
    long d = std::strtol(v, &end, 10);
    if (*end || d < 0 || d > 1024)
      throw RuntimeError(std::string(name) + " must be a non-negative integer, got '" + v + "'");
    return static_cast<int>(d);
  }
  return 0;
}

} // namespace pmc::runtime::cuda
