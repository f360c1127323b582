//===- TcpCommunicator.cpp - full-mesh TCP messages and collectives --------===//
//
// Frames on a peer connection: {type, tag, length} + payload. Message frames
// carry send() data (collectives use tag kCollectiveTag, in program order);
// Failure frames carry a rank's failure text; Bye says the peer is closing on
// purpose, so that its EOF is not taken for a crash.
//
#include "pmc/Runtime/Comm/TcpCommunicator.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

namespace pmc::runtime {

namespace {

using Clock = std::chrono::steady_clock;

enum FrameType : uint32_t { Message = 1, Failure = 2, Bye = 3, Hello = 4 };
/// Programs number their messages from 0; collectives use their own channel.
constexpr int32_t kCollectiveTag = -1;

struct Header {
  uint32_t type;
  int32_t tag;
  uint64_t length;
};

std::string seconds(double s) {
  std::ostringstream os;
  os << s << " s";
  return os.str();
}

bool writeAll(int fd, const void *data, size_t bytes) {
  const char *p = static_cast<const char *>(data);
  while (bytes) {
    ssize_t n = ::send(fd, p, bytes, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    p += n;
    bytes -= static_cast<size_t>(n);
  }
  return true;
}

bool readAll(int fd, void *data, size_t bytes) {
  char *p = static_cast<char *>(data);
  while (bytes) {
    ssize_t n = ::recv(fd, p, bytes, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    p += n;
    bytes -= static_cast<size_t>(n);
  }
  return true;
}

Clock::time_point after(double s) {
  return Clock::now() +
         std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

} // namespace

struct TcpCommunicator::Impl {
  std::unique_ptr<TcpRendezvous> rendezvous;
  int rank = 0, size = 1;
  std::vector<int> sockets;             // by peer rank; -1 for self
  std::vector<std::mutex> writeLocks;   // one per peer
  std::vector<std::thread> readers;
  mutable std::mutex mutex;
  std::condition_variable changed;
  std::map<std::pair<int, int32_t>, std::deque<std::string>> inbox; // (src, tag)
  std::optional<std::string> failure;
  std::vector<bool> saidBye;
  bool closing = false;
  int readersDone = 0;

  void record(const std::string &message) {
    std::lock_guard<std::mutex> lock(mutex);
    if (!failure)
      failure = message;
    changed.notify_all();
  }

  bool sendFrame(int peer, uint32_t type, int32_t tag, const void *data, size_t bytes) {
    std::lock_guard<std::mutex> lock(writeLocks[peer]);
    Header h{type, tag, bytes};
    return writeAll(sockets[peer], &h, sizeof(h)) && writeAll(sockets[peer], data, bytes);
  }

  void read(int peer) {
    int fd = sockets[peer];
    while (true) {
      Header h{};
      std::string payload;
      bool ok = readAll(fd, &h, sizeof(h));
      if (ok && h.length > (uint64_t(1) << 40))
        ok = false;
      if (ok) {
        payload.resize(h.length);
        ok = readAll(fd, payload.data(), payload.size());
      }
      std::lock_guard<std::mutex> lock(mutex);
      if (!ok) {
        if (!closing && !saidBye[peer] && !failure)
          failure = "rank " + std::to_string(peer) +
                    " disconnected (the process exited or failed)";
        ++readersDone;
        changed.notify_all();
        return;
      }
      if (h.type == Message)
        inbox[{peer, h.tag}].push_back(std::move(payload));
      else if (h.type == Failure && !failure)
        failure = payload;
      else if (h.type == Bye)
        saidBye[peer] = true;
      changed.notify_all();
    }
  }

  /// Waits for the next message from (src, tag) until `deadline`; nullopt on
  /// timeout; throws CollectiveError on a recorded failure.
  std::optional<std::string> take(int src, int32_t tag, Clock::time_point deadline,
                                  const std::string &where) {
    std::unique_lock<std::mutex> lock(mutex);
    auto &box = inbox[{src, tag}];
    while (box.empty() && !failure)
      if (changed.wait_until(lock, deadline) == std::cv_status::timeout && box.empty() &&
          !failure)
        return std::nullopt;
    if (!box.empty()) {
      std::string m = std::move(box.front());
      box.pop_front();
      return m;
    }
    throw CollectiveError(where + ": " + *failure);
  }

  /// Records `message` and tells every peer.
  void publish(const std::string &message) {
    record(message);
    for (int r = 0; r < size; ++r)
      if (r != rank)
        sendFrame(r, Failure, 0, message.data(), message.size());
  }
};

TcpCommunicator::TcpCommunicator() : impl(std::make_unique<Impl>()) {}

std::shared_ptr<TcpCommunicator> TcpCommunicator::create(const RendezvousConfig &config) {
  std::shared_ptr<TcpCommunicator> c(new TcpCommunicator());
  Impl &m = *c->impl;
  m.rendezvous = TcpRendezvous::connect(config);
  m.rank = config.rank;
  m.size = config.worldSize;
  m.sockets.assign(m.size, -1);
  m.writeLocks = std::vector<std::mutex>(m.size);
  m.saidBye.assign(m.size, false);
  c->setTimeout(config.timeoutSeconds);
  const std::string where = "tcp communicator (rank " + std::to_string(m.rank) + "): ";
  // Each rank listens on a free port; lower ranks accept, higher ones connect.
  int port = 0;
  std::string why;
  int listener = m.size > 1 ? tcp::listenOn(0, m.size, port, why) : -1;
  if (m.size > 1 && listener < 0)
    throw RuntimeError(where + "cannot listen: " + why);
  std::vector<std::string> where_ = m.rendezvous->allGather(
      m.rendezvous->localAddress() + " " + std::to_string(listener >= 0 ? port : 0),
      "tcp communicator addresses");
  auto deadline = after(config.timeoutSeconds);
  try {
    for (int r = 0; r < m.rank; ++r) {
      std::istringstream is(where_[r]);
      std::string host;
      int peerPort = 0;
      is >> host >> peerPort;
      int fd = tcp::connectOnce(host, peerPort, config.timeoutSeconds, why);
      if (fd < 0)
        throw RuntimeError(where + "cannot connect to rank " + std::to_string(r) + " at " +
                           host + ":" + std::to_string(peerPort) + ": " + why);
      m.sockets[r] = fd;
      Header h{Hello, m.rank, 0};
      if (!writeAll(fd, &h, sizeof(h)))
        throw RuntimeError(where + "rank " + std::to_string(r) + " closed the connection");
    }
    for (int accepted = 0; accepted < m.size - 1 - m.rank;) {
      pollfd pfd{listener, POLLIN, 0};
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0)
        throw RuntimeError(where + "higher ranks did not connect within " +
                           seconds(config.timeoutSeconds));
      if (::poll(&pfd, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000))) <= 0)
        continue;
      int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0)
        continue;
      Header h{};
      if (!readAll(fd, &h, sizeof(h)) || h.type != Hello || h.tag <= m.rank ||
          h.tag >= m.size || m.sockets[h.tag] >= 0) {
        ::close(fd);
        continue;
      }
      m.sockets[h.tag] = fd;
      ++accepted;
    }
  } catch (...) {
    if (listener >= 0)
      ::close(listener);
    throw;
  }
  if (listener >= 0)
    ::close(listener);
  for (int r = 0; r < m.size; ++r)
    if (r != m.rank)
      m.readers.emplace_back([&m, r] { m.read(r); });
  // Everyone is connected before anyone sends.
  m.rendezvous->barrier("tcp communicator connected");
  return c;
}

TcpCommunicator::~TcpCommunicator() {
  Impl &m = *impl;
  {
    std::lock_guard<std::mutex> lock(m.mutex);
    m.closing = !m.failure; // after a failure peers may still want to hear EOF
  }
  for (int r = 0; r < m.size; ++r)
    if (r != m.rank && m.sockets[r] >= 0) {
      if (m.closing)
        m.sendFrame(r, Bye, 0, nullptr, 0);
      ::shutdown(m.sockets[r], SHUT_WR);
    }
  {
    // Peers that finish too close their side; one still running is not
    // waited for long: its reader is cut off after a grace period.
    std::unique_lock<std::mutex> lock(m.mutex);
    m.closing = true;
    auto grace = after(2);
    while (m.readersDone < static_cast<int>(m.readers.size()))
      if (m.changed.wait_until(lock, grace) == std::cv_status::timeout)
        break;
  }
  for (int r = 0; r < m.size; ++r)
    if (r != m.rank && m.sockets[r] >= 0)
      ::shutdown(m.sockets[r], SHUT_RD);
  for (std::thread &t : m.readers)
    t.join();
  for (int fd : m.sockets)
    if (fd >= 0)
      ::close(fd);
}

int TcpCommunicator::rank() const { return impl->rank; }
int TcpCommunicator::size() const { return impl->size; }
TcpRendezvous &TcpCommunicator::rendezvous() { return *impl->rendezvous; }

void TcpCommunicator::send(const void *data, size_t bytes, int dst, int tag,
                           const std::string &label) {
  Impl &m = *impl;
  if (dst < 0 || dst >= m.size)
    throw RuntimeError("send: rank " + std::to_string(dst) + " is out of range");
  const std::string where =
      (label.empty() ? "send to rank " + std::to_string(dst) + " (tag " + std::to_string(tag) + ")"
                     : label) +
      " on rank " + std::to_string(m.rank);
  if (auto f = failure())
    throw CollectiveError(where + ": " + *f);
  if (dst == m.rank) {
    std::lock_guard<std::mutex> lock(m.mutex);
    m.inbox[{dst, tag}].emplace_back(static_cast<const char *>(data), bytes);
    m.changed.notify_all();
    return;
  }
  if (!m.sendFrame(dst, Message, tag, data, bytes)) {
    std::string msg = where + ": rank " + std::to_string(dst) +
                      " disconnected (the process exited or failed)";
    m.record(msg);
    throw CollectiveError(msg);
  }
}

void TcpCommunicator::recv(void *data, size_t bytes, int src, int tag,
                           const std::string &label) {
  Impl &m = *impl;
  if (src < 0 || src >= m.size)
    throw RuntimeError("recv: rank " + std::to_string(src) + " is out of range");
  const std::string where =
      (label.empty() ? "recv from rank " + std::to_string(src) + " (tag " + std::to_string(tag) + ")"
                     : label) +
      " on rank " + std::to_string(m.rank);
  std::optional<std::string> msg = m.take(src, tag, after(timeout()), where);
  if (!msg) {
    std::string text = where + ": timed out after " + seconds(timeout()) + "; rank " +
                       std::to_string(src) + " did not send";
    m.publish(text);
    throw CollectiveError(text);
  }
  if (msg->size() != bytes)
    throw RuntimeError(where + ": got " + std::to_string(msg->size()) + " bytes, expected " +
                       std::to_string(bytes));
  if (bytes)
    std::memcpy(data, msg->data(), bytes);
}

void TcpCommunicator::collective(const CollectiveCall &call) {
  Impl &m = *impl;
  const std::string where = call.site.describe();
  if (auto f = failure())
    throw CollectiveError(where + ": " + *f);
  const size_t bytes = call.inBytes();
  for (int member : call.group)
    if (member != m.rank && !m.sendFrame(member, Message, kCollectiveTag, call.in, bytes)) {
      std::string msg = where + " on rank " + std::to_string(m.rank) + ": rank " +
                        std::to_string(member) + " disconnected (the process exited or failed)";
      m.record(msg);
      throw CollectiveError(msg);
    }
  std::vector<std::string> received(call.group.size());
  std::vector<const void *> inputs(call.group.size());
  auto deadline = after(timeout());
  for (size_t i = 0; i < call.group.size(); ++i) {
    int member = call.group[i];
    if (member == m.rank) {
      inputs[i] = call.in;
      continue;
    }
    std::optional<std::string> got = m.take(member, kCollectiveTag, deadline, where);
    if (!got) {
      std::vector<int> missing;
      for (size_t j = i; j < call.group.size(); ++j) {
        if (call.group[j] == m.rank)
          continue;
        std::lock_guard<std::mutex> lock(m.mutex);
        if (j == i || m.inbox[{call.group[j], kCollectiveTag}].empty())
          missing.push_back(call.group[j]);
      }
      std::string msg = where + " on rank " + std::to_string(m.rank) + ": timed out after " +
                        seconds(timeout()) + "; rank(s) " + rankList(missing) +
                        " of group [" + rankList(call.group) + "] did not arrive";
      m.publish(msg);
      throw CollectiveError(msg);
    }
    if (got->size() != bytes)
      throw CollectiveError(where + " on rank " + std::to_string(m.rank) + ": rank " +
                            std::to_string(member) + " sent " + std::to_string(got->size()) +
                            " bytes, expected " + std::to_string(bytes));
    received[i] = std::move(*got);
    inputs[i] = received[i].data();
  }
  combineCollective(call, inputs);
}

void TcpCommunicator::abort(const std::string &reason) {
  impl->publish("rank " + std::to_string(impl->rank) + " failed: " + reason);
}

std::optional<std::string> TcpCommunicator::failure() const {
  std::lock_guard<std::mutex> lock(impl->mutex);
  return impl->failure;
}

void TcpCommunicator::stall(const std::string &why) {
  Impl &m = *impl;
  std::unique_lock<std::mutex> lock(m.mutex);
  auto deadline = after(timeout() * 2 + 1);
  while (!m.failure)
    if (m.changed.wait_until(lock, deadline) == std::cv_status::timeout && !m.failure) {
      lock.unlock();
      m.publish("rank " + std::to_string(m.rank) + " stalled (" + why + ")");
      lock.lock();
    }
  throw CollectiveError("rank " + std::to_string(m.rank) + " stalled (" + why + "): " +
                        *m.failure);
}

} // namespace pmc::runtime
