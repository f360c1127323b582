//===- MPICommunicator.cpp - polled MPI collectives with failure flags -----===//

#include "pmc/Runtime/Comm/MPICommunicator.h"
#include "pmc/Runtime/Comm/Mesh.h"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <thread>

namespace pmc::runtime {

using Clock = std::chrono::steady_clock;

namespace {

/// One rank's status as every process sees it in its own window.
struct StatusSlot {
  int64_t sequence;    // collectives entered so far
  int64_t failed;      // nonzero once the rank published `message`
  char message[1008];  // NUL-terminated
};
static_assert(sizeof(StatusSlot) == 1024);

std::string seconds(double s) {
  std::ostringstream os;
  os << s << " s";
  return os.str();
}

int checkedCount(size_t bytes, const std::string &where) {
  if (bytes > static_cast<size_t>(INT_MAX))
    throw RuntimeError(where + ": " + std::to_string(bytes) +
                       " bytes exceed what one MPI message carries (2^31 - 1)");
  return static_cast<int>(bytes);
}

void check(int rc, const char *what) {
  if (rc != MPI_SUCCESS) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, text, &len);
    throw RuntimeError(std::string(what) + " failed: " + std::string(text, len));
  }
}

} // namespace

struct MPICommunicator::Impl {
  bool ownsMpi = false;
  MPI_Win window = MPI_WIN_NULL;
  StatusSlot *slots = nullptr; // this process's window: one slot per rank
  int64_t sequence = 0;
  bool published = false; // this rank has published a failure
  /// Sorted member list -> communicator whose ranks follow that order.
  std::map<std::vector<int>, MPI_Comm> groups;
  int rank = 0, size = 1;

  void put(const void *data, size_t bytes, size_t offsetInSlot) {
    for (int r = 0; r < size; ++r)
      MPI_Put(data, static_cast<int>(bytes), MPI_BYTE, r,
              static_cast<MPI_Aint>(rank * sizeof(StatusSlot) + offsetInSlot),
              static_cast<int>(bytes), MPI_BYTE, window);
    MPI_Win_flush_all(window);
  }

  void publishSequence() { put(&sequence, sizeof(sequence), offsetof(StatusSlot, sequence)); }

  /// Publishes `message` as this rank's failure (once).
  void publishFailure(const std::string &message) {
    if (published)
      return;
    published = true;
    char text[sizeof(StatusSlot::message)] = {};
    std::strncpy(text, message.c_str(), sizeof(text) - 1);
    put(text, sizeof(text), offsetof(StatusSlot, message));
    int64_t one = 1;
    put(&one, sizeof(one), offsetof(StatusSlot, failed));
  }

  /// The first failure published by any rank (lowest rank first).
  std::optional<std::string> readFailure() const {
    MPI_Win_sync(window);
    for (int r = 0; r < size; ++r) {
      const volatile StatusSlot &s = slots[r];
      if (s.failed) {
        char text[sizeof(StatusSlot::message)];
        for (size_t i = 0; i < sizeof(text); ++i)
          text[i] = s.message[i];
        text[sizeof(text) - 1] = 0;
        return std::string(text);
      }
    }
    return std::nullopt;
  }

  int64_t sequenceOf(int r) const {
    MPI_Win_sync(window);
    return static_cast<const volatile StatusSlot &>(slots[r]).sequence;
  }

  /// Polls `requests` to completion; throws CollectiveError when a failure
  /// flag shows up or `deadline` passes (`onTimeout` builds the message).
  template <typename TimeoutMessage>
  void wait(std::vector<MPI_Request> &requests, const std::string &where,
            Clock::time_point deadline, TimeoutMessage onTimeout) {
    auto pause = std::chrono::microseconds(20);
    while (true) {
      int done = 0;
      check(MPI_Testall(static_cast<int>(requests.size()), requests.data(), &done,
                        MPI_STATUSES_IGNORE),
            "MPI_Testall");
      if (done)
        return;
      if (std::optional<std::string> f = readFailure())
        throw CollectiveError(where + ": " + *f);
      if (Clock::now() > deadline) {
        std::string msg = onTimeout();
        publishFailure(msg);
        throw CollectiveError(msg);
      }
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::microseconds(1000));
    }
  }
};

bool MPICommunicator::launchedByMpirun() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMI_SIZE");
}

std::shared_ptr<MPICommunicator> MPICommunicator::create(int *argc, char ***argv) {
  std::shared_ptr<MPICommunicator> c(new MPICommunicator());
  c->impl = std::make_unique<Impl>();
  Impl &m = *c->impl;
  int initialized = 0;
  MPI_Initialized(&initialized);
  int provided = MPI_THREAD_SINGLE;
  if (!initialized) {
    // MULTIPLE lets a rank run its collectives beside its kernels
    // (CollectiveOverlap.h); with less, they run in order.
    check(MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided), "MPI_Init_thread");
    m.ownsMpi = true;
  } else {
    MPI_Query_thread(&provided);
  }
  c->threadMultiple = provided >= MPI_THREAD_MULTIPLE;
  // Errors come back as codes (check()) instead of aborting inside MPI.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &c->worldRank);
  MPI_Comm_size(MPI_COMM_WORLD, &c->worldSize);
  m.rank = c->worldRank;
  m.size = c->worldSize;
  check(MPI_Win_allocate(static_cast<MPI_Aint>(m.size * sizeof(StatusSlot)), 1, MPI_INFO_NULL,
                         MPI_COMM_WORLD, &m.slots, &m.window),
        "MPI_Win_allocate");
  std::memset(m.slots, 0, m.size * sizeof(StatusSlot));
  MPI_Win_set_errhandler(m.window, MPI_ERRORS_RETURN);
  check(MPI_Win_lock_all(0, m.window), "MPI_Win_lock_all");
  // Nobody may put into a window before its owner zeroed it.
  check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
  c->setTimeout(defaultCollectiveTimeout());
  return c;
}

MPICommunicator::~MPICommunicator() {
  if (!impl)
    return;
  Impl &m = *impl;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized || m.published || m.readFailure())
    return; // requests may be pending: only terminate() ends such a job
  for (auto &[members, comm] : m.groups)
    MPI_Comm_free(&comm);
  MPI_Win_unlock_all(m.window);
  MPI_Win_free(&m.window);
  if (m.ownsMpi)
    MPI_Finalize();
}

void MPICommunicator::prepare(const Mesh &mesh) {
  Impl &m = *impl;
  if (mesh.size() != worldSize)
    throw RuntimeError("the mesh " + mesh.toString() + " has " + std::to_string(mesh.size()) +
                       " ranks but MPI runs " + std::to_string(worldSize) + " processes");
  if (mesh.axes.size() > 12)
    throw RuntimeError("the mesh " + mesh.toString() + " has more than 12 axes");
  // Everyone must reach the (blocking) splits; a rank that failed to open the
  // bundle publishes its failure instead, and the barrier reports it.
  std::vector<MPI_Request> barrier(1);
  check(MPI_Ibarrier(MPI_COMM_WORLD, &barrier[0]), "MPI_Ibarrier");
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(timeout()));
  m.wait(barrier, "opening the bundle", deadline, [&] {
    return "rank " + std::to_string(worldRank) + ": timed out after " + seconds(timeout()) +
           " waiting for all ranks to open the bundle";
  });
  for (auto &[members, comm] : m.groups)
    MPI_Comm_free(&comm);
  m.groups.clear();
  const size_t k = mesh.axes.size();
  for (uint32_t subset = 1; subset < (1u << k); ++subset) {
    std::vector<std::string> axes, others;
    for (size_t i = 0; i < k; ++i)
      (subset & (1u << i) ? axes : others).push_back(mesh.axes[i].name);
    std::vector<int> members = mesh.group(worldRank, axes);
    std::sort(members.begin(), members.end());
    int color = static_cast<int>(mesh.positionInGroup(worldRank, others));
    MPI_Comm comm;
    check(MPI_Comm_split(MPI_COMM_WORLD, color, worldRank, &comm), "MPI_Comm_split");
    MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
    m.groups[members] = comm;
  }
}

void MPICommunicator::collective(const CollectiveCall &call) {
  Impl &m = *impl;
  const std::string where = call.site.describe();
  if (std::optional<std::string> f = m.readFailure())
    throw CollectiveError(where + ": " + *f);
  ++m.sequence;
  m.publishSequence();
  const int g = static_cast<int>(call.group.size());
  if (g == 1) {
    combineCollective(call, {call.in});
    return;
  }
  std::vector<int> sorted = call.group;
  std::sort(sorted.begin(), sorted.end());
  auto it = m.groups.find(sorted);
  if (it == m.groups.end())
    throw RuntimeError(where + ": group [" + rankList(call.group) +
                       "] is not a group of the mesh (prepare() builds those)");
  MPI_Comm comm = it->second;
  // positionOf[c]: group position of the rank with index c in `comm`.
  std::vector<int> positionOf(g);
  for (int c = 0; c < g; ++c)
    positionOf[c] = static_cast<int>(
        std::find(call.group.begin(), call.group.end(), sorted[c]) - call.group.begin());

  const int64_t mySequence = m.sequence;
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(timeout()));
  auto timeoutMessage = [&] {
    std::vector<int> missing;
    for (int r : call.group)
      if (r != worldRank && m.sequenceOf(r) < mySequence)
        missing.push_back(r);
    std::string who = missing.empty() ? "no rank of group [" + rankList(call.group) +
                                            "] is behind, yet the exchange did not complete"
                                      : "rank(s) " + rankList(missing) + " of group [" +
                                            rankList(call.group) + "] did not arrive";
    return where + " on rank " + std::to_string(worldRank) + ": timed out after " +
           seconds(timeout()) + "; " + who;
  };
  const size_t elem = dtypeSize(call.dtype);
  std::vector<MPI_Request> request(1);
  if (call.kind != CollectiveKind::AllToAll) {
    int bytes = checkedCount(call.inBytes(), where);
    std::vector<uint8_t> gathered(static_cast<size_t>(bytes) * g);
    check(MPI_Iallgather(call.in, bytes, MPI_BYTE, gathered.data(), bytes, MPI_BYTE, comm,
                         &request[0]),
          "MPI_Iallgather");
    m.wait(request, where, deadline, timeoutMessage);
    std::vector<const void *> inputs(g);
    for (int c = 0; c < g; ++c)
      inputs[positionOf[c]] = gathered.data() + static_cast<size_t>(c) * bytes;
    combineCollective(call, inputs);
    return;
  }
  // all_to_all: part j of `in` (along split_dim) goes to group member j.
  std::vector<int64_t> part = call.inShape;
  part[call.splitDim] /= g;
  size_t partBytes = elem;
  for (int64_t d : part)
    partBytes *= static_cast<size_t>(d);
  int count = checkedCount(partBytes, where);
  std::vector<uint8_t> sendBuf(partBytes * g), recvBuf(partBytes * g);
  std::vector<int64_t> zero(part.size(), 0), at(part.size(), 0);
  for (int c = 0; c < g; ++c) {
    at[call.splitDim] = positionOf[c] * part[call.splitDim];
    copyBlock(call.in, call.inShape, at, sendBuf.data() + c * partBytes, part, zero, part, elem);
  }
  check(MPI_Ialltoall(sendBuf.data(), count, MPI_BYTE, recvBuf.data(), count, MPI_BYTE, comm,
                      &request[0]),
        "MPI_Ialltoall");
  m.wait(request, where, deadline, timeoutMessage);
  std::fill(at.begin(), at.end(), 0);
  for (int c = 0; c < g; ++c) {
    at[call.concatDim] = positionOf[c] * part[call.concatDim];
    copyBlock(recvBuf.data() + c * partBytes, part, zero, call.out, call.outShape, at, part,
              elem);
  }
}

void MPICommunicator::send(const void *data, size_t bytes, int dst, int tag,
                           const std::string &label) {
  Impl &m = *impl;
  std::string where = (label.empty() ? "send to rank " + std::to_string(dst) + " (tag " +
                                           std::to_string(tag) + ")"
                                     : label) +
                      " on rank " + std::to_string(worldRank);
  if (dst < 0 || dst >= worldSize)
    throw RuntimeError(where + ": rank out of range");
  if (std::optional<std::string> f = m.readFailure())
    throw CollectiveError(where + ": " + *f);
  std::vector<MPI_Request> request(1);
  check(MPI_Isend(data, checkedCount(bytes, where), MPI_BYTE, dst, tag, MPI_COMM_WORLD,
                  &request[0]),
        "MPI_Isend");
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(timeout()));
  m.wait(request, where, deadline, [&] {
    return where + ": timed out after " + seconds(timeout()) + "; rank " +
           std::to_string(dst) + " did not receive";
  });
}

void MPICommunicator::recv(void *data, size_t bytes, int src, int tag,
                           const std::string &label) {
  Impl &m = *impl;
  std::string where = (label.empty() ? "recv from rank " + std::to_string(src) + " (tag " +
                                           std::to_string(tag) + ")"
                                     : label) +
                      " on rank " + std::to_string(worldRank);
  if (src < 0 || src >= worldSize)
    throw RuntimeError(where + ": rank out of range");
  if (std::optional<std::string> f = m.readFailure())
    throw CollectiveError(where + ": " + *f);
  std::vector<MPI_Request> request(1);
  // One extra byte detects a longer message than expected.
  std::vector<uint8_t> buffer(bytes + 1);
  check(MPI_Irecv(buffer.data(), checkedCount(bytes + 1, where), MPI_BYTE, src, tag,
                  MPI_COMM_WORLD, &request[0]),
        "MPI_Irecv");
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(timeout()));
  // Poll by hand to keep the status (for the received size).
  auto pause = std::chrono::microseconds(20);
  MPI_Status status;
  while (true) {
    int done = 0;
    check(MPI_Test(&request[0], &done, &status), "MPI_Test");
    if (done)
      break;
    if (std::optional<std::string> f = m.readFailure())
      throw CollectiveError(where + ": " + *f);
    if (Clock::now() > deadline) {
      std::string msg = where + ": timed out after " + seconds(timeout()) + "; rank " +
                        std::to_string(src) + " did not send";
      m.publishFailure(msg);
      throw CollectiveError(msg);
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(1000));
  }
  int got = 0;
  MPI_Get_count(&status, MPI_BYTE, &got);
  if (static_cast<size_t>(got) != bytes)
    throw RuntimeError(where + ": got " + std::to_string(got) + " bytes, expected " +
                       std::to_string(bytes));
  if (bytes)
    std::memcpy(data, buffer.data(), bytes);
}

void MPICommunicator::abort(const std::string &reason) {
  impl->publishFailure("rank " + std::to_string(worldRank) + " failed: " + reason);
}

std::optional<std::string> MPICommunicator::failure() const { return impl->readFailure(); }

void MPICommunicator::stall(const std::string &why) {
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(timeout() * 2 + 1));
  while (Clock::now() < deadline) {
    if (std::optional<std::string> f = impl->readFailure())
      throw CollectiveError("rank " + std::to_string(worldRank) + " stalled (" + why +
                            "): " + *f);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::string msg = "rank " + std::to_string(worldRank) + " stalled (" + why + ")";
  impl->publishFailure(msg);
  throw CollectiveError(msg);
}

void MPICommunicator::terminate(int code) {
  // Let the others see the flag and print their own error first.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code); // MPI_Abort does not return; this keeps [[noreturn]] honest
}

} // namespace pmc::runtime
