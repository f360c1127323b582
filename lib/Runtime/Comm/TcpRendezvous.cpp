//===- TcpRendezvous.cpp - torchrun-style TCP star and blob all-gather -----===//
//
// Wire format: every message is a frame {magic "PMCR", type, payload length}
// followed by the payload. Rank j > 0 connects to rank 0 and sends Hello
// (rank, world size); rank 0 answers Ready once all ranks are there, or Error
// with the message every rank then throws. An all-gather is Data from each
// rank to rank 0 and one Result (all blobs) back.
//
#include "pmc/Runtime/Comm/TcpRendezvous.h"
#include "pmc/Runtime/Comm/Communicator.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <thread>

namespace pmc::runtime {

Bootstrap::~Bootstrap() = default;

using Clock = std::chrono::steady_clock;

namespace {

constexpr uint32_t kMagic = 0x524d4350; // "PMCR" little-endian
/// Largest payload accepted (a corrupt or foreign peer cannot make us
/// allocate more).
constexpr uint64_t kMaxPayload = uint64_t(1) << 30;

enum FrameType : uint32_t { Hello = 1, Ready = 2, Data = 3, Result = 4, ErrorFrame = 5 };

struct FrameHeader {
  uint32_t magic;
  uint32_t type;
  uint64_t length;
};

std::string secondsText(double s) {
  std::ostringstream os;
  os << s << " s";
  return os.str();
}

/// Milliseconds left until `deadline` (0 when past), for poll().
int msLeft(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  if (left.count() <= 0)
    return 0;
  return static_cast<int>(std::min<int64_t>(left.count(), 1000));
}

enum class Io { Ok, Eof, Timeout, Error };

/// Writes all of `data` before `deadline`.
Io sendAll(int fd, const void *data, size_t bytes, Clock::time_point deadline) {
  const char *p = static_cast<const char *>(data);
  while (bytes) {
    ssize_t n = ::send(fd, p, bytes, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      p += n;
      bytes -= static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (Clock::now() >= deadline)
        return Io::Timeout;
      pollfd pfd{fd, POLLOUT, 0};
      ::poll(&pfd, 1, std::max(1, msLeft(deadline)));
      continue;
    }
    return (n < 0 && (errno == EPIPE || errno == ECONNRESET)) ? Io::Eof : Io::Error;
  }
  return Io::Ok;
}

/// Reads exactly `bytes` before `deadline`.
Io recvAll(int fd, void *data, size_t bytes, Clock::time_point deadline) {
  char *p = static_cast<char *>(data);
  while (bytes) {
    pollfd pfd{fd, POLLIN, 0};
    int ready = ::poll(&pfd, 1, msLeft(deadline));
    if (ready < 0 && errno == EINTR)
      continue;
    if (ready == 0) {
      if (Clock::now() >= deadline)
        return Io::Timeout;
      continue;
    }
    ssize_t n = ::recv(fd, p, bytes, MSG_DONTWAIT);
    if (n == 0)
      return Io::Eof;
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
        continue;
      return errno == ECONNRESET ? Io::Eof : Io::Error;
    }
    p += n;
    bytes -= static_cast<size_t>(n);
  }
  return Io::Ok;
}

Io sendFrame(int fd, uint32_t type, const std::string &payload, Clock::time_point deadline) {
  FrameHeader h{kMagic, type, payload.size()};
  Io io = sendAll(fd, &h, sizeof(h), deadline);
  if (io != Io::Ok)
    return io;
  return sendAll(fd, payload.data(), payload.size(), deadline);
}

/// Reads one frame; a bad magic or an oversized payload is Io::Error.
Io recvFrame(int fd, uint32_t &type, std::string &payload, Clock::time_point deadline) {
  FrameHeader h{};
  Io io = recvAll(fd, &h, sizeof(h), deadline);
  if (io != Io::Ok)
    return io;
  if (h.magic != kMagic || h.length > kMaxPayload)
    return Io::Error;
  type = h.type;
  payload.assign(h.length, '\0');
  return recvAll(fd, payload.data(), payload.size(), deadline);
}

template <typename T> void append(std::string &s, T v) {
  s.append(reinterpret_cast<const char *>(&v), sizeof(v));
}

template <typename T> bool take(const std::string &s, size_t &pos, T &v) {
  if (pos + sizeof(T) > s.size())
    return false;
  std::memcpy(&v, s.data() + pos, sizeof(T));
  pos += sizeof(T);
  return true;
}

/// Parses an integer environment variable in [lo, hi]; throws naming it.
int intVariable(const char *name, const char *value, long lo, long hi,
                const std::string &range) {
  char *end = nullptr;
  errno = 0;
  long v = std::strtol(value, &end, 10);
  if (!*value || *end || errno || v < lo || v > hi)
    throw RuntimeError(std::string(name) + " must be an integer in " + range + ", got '" +
                       value + "'");
  return static_cast<int>(v);
}

void setNoDelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/// One non-blocking connect attempt to addr:port bounded by `deadline`;
/// returns the socket or -1 with `why` set.
int tryConnect(const std::string &addr, int port, Clock::time_point deadline, std::string &why) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo *list = nullptr;
  std::string service = std::to_string(port);
  int rc = ::getaddrinfo(addr.c_str(), service.c_str(), &hints, &list);
  if (rc != 0) {
    why = std::string("cannot resolve MASTER_ADDR '") + addr + "': " + gai_strerror(rc);
    return -1;
  }
  int result = -1;
  for (addrinfo *ai = list; ai && result < 0; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      why = std::strerror(errno);
      continue;
    }
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
      result = fd;
      break;
    }
    if (errno == EINPROGRESS) {
      pollfd pfd{fd, POLLOUT, 0};
      int wait = std::max(1, std::min(msLeft(deadline), 1000));
      if (::poll(&pfd, 1, wait) == 1) {
        int err = 0;
        socklen_t len = sizeof(err);
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err == 0) {
          result = fd;
          break;
        }
        why = std::strerror(err);
      } else {
        why = "connection attempt timed out";
      }
    } else {
      why = std::strerror(errno);
    }
    ::close(fd);
  }
  ::freeaddrinfo(list);
  return result;
}

} // namespace

//===----------------------------------------------------------------------===//
// Sockets
//===----------------------------------------------------------------------===//

int tcp::connectOnce(const std::string &addr, int port, double deadlineSeconds,
                     std::string &why) {
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(deadlineSeconds));
  int fd = tryConnect(addr, port, deadline, why);
  if (fd >= 0) {
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    setNoDelay(fd);
  }
  return fd;
}

int tcp::listenOn(int port, int backlog, int &boundPort, std::string &why) {
  int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  bool v6 = fd >= 0;
  if (!v6)
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    why = std::strerror(errno);
    return -1;
  }
  int one = 1, zero = 0;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_storage storage{};
  socklen_t len;
  if (v6) {
    // Dual stack: IPv4 peers arrive as v4-mapped addresses.
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    auto *a = reinterpret_cast<sockaddr_in6 *>(&storage);
    a->sin6_family = AF_INET6;
    a->sin6_addr = in6addr_any;
    a->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof(sockaddr_in6);
  } else {
    auto *a = reinterpret_cast<sockaddr_in *>(&storage);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_ANY);
    a->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof(sockaddr_in);
  }
  if (::bind(fd, reinterpret_cast<sockaddr *>(&storage), len) != 0 ||
      ::listen(fd, std::max(backlog, 16)) != 0) {
    why = std::strerror(errno);
    ::close(fd);
    return -1;
  }
  len = sizeof(storage);
  ::getsockname(fd, reinterpret_cast<sockaddr *>(&storage), &len);
  boundPort = ntohs(v6 ? reinterpret_cast<sockaddr_in6 *>(&storage)->sin6_port
                       : reinterpret_cast<sockaddr_in *>(&storage)->sin_port);
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

//===----------------------------------------------------------------------===//
// RendezvousConfig
//===----------------------------------------------------------------------===//

bool RendezvousConfig::environmentPresent() {
  return std::getenv("RANK") && std::getenv("WORLD_SIZE");
}

RendezvousConfig RendezvousConfig::fromEnvironment() {
  RendezvousConfig c;
  const char *world = std::getenv("WORLD_SIZE");
  const char *rank = std::getenv("RANK");
  if (!world)
    throw RuntimeError("WORLD_SIZE is not set (the TCP rendezvous needs RANK, WORLD_SIZE, "
                       "MASTER_ADDR and MASTER_PORT, as torchrun sets them)");
  if (!rank)
    throw RuntimeError("RANK is not set (the TCP rendezvous needs RANK, WORLD_SIZE, "
                       "MASTER_ADDR and MASTER_PORT, as torchrun sets them)");
  c.worldSize = intVariable("WORLD_SIZE", world, 1, 1 << 16, "[1, 65536]");
  std::string ws = std::to_string(c.worldSize);
  c.rank = intVariable("RANK", rank, 0, c.worldSize - 1, "[0, WORLD_SIZE=" + ws + ")");
  if (const char *local = std::getenv("LOCAL_RANK"); local && *local)
    c.localRank = intVariable("LOCAL_RANK", local, 0, c.worldSize - 1,
                              "[0, WORLD_SIZE=" + ws + ")");
  if (const char *addr = std::getenv("MASTER_ADDR")) {
    if (!*addr)
      throw RuntimeError("MASTER_ADDR is set but empty (a host name or IP address of rank 0)");
    c.masterAddr = addr;
  }
  if (const char *port = std::getenv("MASTER_PORT"))
    c.masterPort = intVariable("MASTER_PORT", port, 1, 65535, "[1, 65535]");
  c.timeoutSeconds = defaultCollectiveTimeout();
  if (const char *t = std::getenv("PMC_RENDEZVOUS_TIMEOUT"); t && *t) {
    char *end = nullptr;
    double v = std::strtod(t, &end);
    if (*end || !(v > 0) || !std::isfinite(v))
      throw RuntimeError(std::string("PMC_RENDEZVOUS_TIMEOUT must be a positive number of "
                                     "seconds, got '") +
                         t + "'");
    c.timeoutSeconds = v;
  }
  return c;
}

std::string RendezvousConfig::endpoint() const {
  return masterAddr + ":" + std::to_string(masterPort);
}

//===----------------------------------------------------------------------===//
// TcpRendezvous
//===----------------------------------------------------------------------===//

TcpRendezvous::~TcpRendezvous() {
  for (int fd : sockets)
    if (fd >= 0)
      ::close(fd);
  if (listener >= 0)
    ::close(listener);
}

std::string TcpRendezvous::localAddress() const {
  if (cfg.rank == 0 || sockets.empty() || sockets[0] < 0)
    return cfg.masterAddr;
  sockaddr_storage a{};
  socklen_t len = sizeof(a);
  char host[NI_MAXHOST] = {};
  if (::getsockname(sockets[0], reinterpret_cast<sockaddr *>(&a), &len) != 0 ||
      ::getnameinfo(reinterpret_cast<sockaddr *>(&a), len, host, sizeof(host), nullptr, 0,
                    NI_NUMERICHOST) != 0)
    return cfg.masterAddr;
  std::string h = host;
  if (h.rfind("::ffff:", 0) == 0)
    h = h.substr(7); // v4-mapped
  return h;
}

void TcpRendezvous::fail(const std::string &message) {
  failed = true;
  if (cfg.rank == 0) {
    // Tell every connected rank, briefly: a dead peer must not delay us.
    auto deadline = Clock::now() + std::chrono::seconds(2);
    for (size_t r = 1; r < sockets.size(); ++r)
      if (sockets[r] >= 0) {
        sendFrame(sockets[r], ErrorFrame, message, deadline);
        ::shutdown(sockets[r], SHUT_WR);
      }
    // Closing a socket with unread input resets the connection, which can
    // discard the error frame on the peer: read until every peer hung up.
    auto drainUntil = Clock::now() + std::chrono::seconds(1);
    char sink[4096];
    for (size_t r = 1; r < sockets.size(); ++r)
      while (sockets[r] >= 0) {
        pollfd pfd{sockets[r], POLLIN, 0};
        if (::poll(&pfd, 1, msLeft(drainUntil)) <= 0 ||
            ::recv(sockets[r], sink, sizeof(sink), MSG_DONTWAIT) <= 0)
          break;
      }
  }
  throw RuntimeError(message);
}

std::unique_ptr<TcpRendezvous> TcpRendezvous::connect(const RendezvousConfig &config) {
  if (config.worldSize < 1 || config.rank < 0 || config.rank >= config.worldSize)
    throw RuntimeError("rendezvous: rank " + std::to_string(config.rank) +
                       " is not in [0, " + std::to_string(config.worldSize) + ")");
  std::unique_ptr<TcpRendezvous> t(new TcpRendezvous());
  t->cfg = config;
  const std::string where = "rendezvous at " + config.endpoint() + ": ";
  const std::string of = " of " + std::to_string(config.worldSize);
  const double timeout = config.timeoutSeconds;
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(timeout));
  if (config.worldSize == 1)
    return t;

  if (config.rank == 0) {
    t->sockets.assign(config.worldSize, -1);
    int bound = 0;
    std::string why;
    int fd = tcp::listenOn(config.masterPort, config.worldSize, bound, why);
    if (fd < 0)
      throw RuntimeError(where + "rank 0 cannot listen on port " +
                         std::to_string(config.masterPort) + " (MASTER_PORT): " + why);
    t->listener = fd;
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    int connected = 1;
    while (connected < config.worldSize) {
      pollfd pfd{fd, POLLIN, 0};
      int ready = ::poll(&pfd, 1, msLeft(deadline));
      if (ready <= 0) {
        if (Clock::now() < deadline)
          continue;
        std::vector<int> missing;
        for (int r = 1; r < config.worldSize; ++r)
          if (t->sockets[r] < 0)
            missing.push_back(r);
        t->fail(where + (missing.size() == 1 ? "rank " : "ranks ") + rankList(missing) + of +
                " did not connect within " + secondsText(timeout));
      }
      int peer = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (peer < 0)
        continue;
      setNoDelay(peer);
      uint32_t type = 0;
      std::string hello;
      auto helloDeadline = std::min(deadline, Clock::now() + std::chrono::seconds(10));
      Io io = recvFrame(peer, type, hello, helloDeadline);
      int32_t peerRank = -1, peerWorld = -1;
      size_t pos = 0;
      if (io != Io::Ok || type != Hello || !take(hello, pos, peerRank) ||
          !take(hello, pos, peerWorld)) {
        ::close(peer); // not one of ours (a port scanner, a stale client)
        continue;
      }
      std::string problem;
      if (peerWorld != config.worldSize)
        problem = "rank " + std::to_string(peerRank) + " has WORLD_SIZE=" +
                  std::to_string(peerWorld) + " but rank 0 has WORLD_SIZE=" +
                  std::to_string(config.worldSize);
      else if (peerRank <= 0 || peerRank >= config.worldSize)
        problem = "a process connected with RANK=" + std::to_string(peerRank) +
                  " (rank 0 is this process; expected 1.." +
                  std::to_string(config.worldSize - 1) + ")";
      else if (t->sockets[peerRank] >= 0)
        problem = "two processes connected with RANK=" + std::to_string(peerRank);
      if (!problem.empty()) {
        sendFrame(peer, ErrorFrame, where + problem, helloDeadline);
        ::close(peer);
        t->fail(where + problem);
      }
      t->sockets[peerRank] = peer;
      ++connected;
    }
    for (int r = 1; r < config.worldSize; ++r)
      if (sendFrame(t->sockets[r], Ready, "", deadline + std::chrono::seconds(5)) != Io::Ok)
        t->fail(where + "rank " + std::to_string(r) + of +
                " disconnected right after connecting");
    ::close(t->listener);
    t->listener = -1;
    return t;
  }

  // Rank > 0: connect with retries until the deadline.
  std::string why = "no attempt";
  int fd = -1;
  auto pause = std::chrono::milliseconds(20);
  while (fd < 0) {
    fd = tryConnect(config.masterAddr, config.masterPort, deadline, why);
    if (fd >= 0)
      break;
    if (Clock::now() >= deadline)
      throw RuntimeError(where + "rank " + std::to_string(config.rank) + of +
                         " could not connect to rank 0 within " + secondsText(timeout) +
                         " (" + why + ")");
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(500));
  }
  setNoDelay(fd);
  t->sockets = {fd};
  std::string hello;
  append<int32_t>(hello, config.rank);
  append<int32_t>(hello, config.worldSize);
  // Rank 0 answers when the last rank arrived or its own deadline passed.
  auto answerBy = deadline + std::chrono::seconds(10);
  if (sendFrame(fd, Hello, hello, answerBy) != Io::Ok)
    throw RuntimeError(where + "rank " + std::to_string(config.rank) +
                       " lost the connection to rank 0 while saying hello");
  uint32_t type = 0;
  std::string payload;
  Io io = recvFrame(fd, type, payload, answerBy);
  if (io == Io::Ok && type == Ready)
    return t;
  if (io == Io::Ok && type == ErrorFrame)
    throw RuntimeError(payload);
  throw RuntimeError(where + "rank 0" + of +
                     (io == Io::Timeout ? " did not confirm the rendezvous in time"
                                        : " closed the connection before all ranks connected"));
}

std::vector<std::string> TcpRendezvous::allGather(const std::string &blob,
                                                  const std::string &what) {
  const std::string where = "rendezvous at " + cfg.endpoint() + ": ";
  const std::string of = " of " + std::to_string(cfg.worldSize);
  if (failed)
    throw RuntimeError(where + what + ": the rendezvous failed earlier");
  if (cfg.worldSize == 1)
    return {blob};
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(cfg.timeoutSeconds));
  if (cfg.rank == 0) {
    std::vector<std::string> all(cfg.worldSize);
    all[0] = blob;
    for (int r = 1; r < cfg.worldSize; ++r) {
      uint32_t type = 0;
      Io io = recvFrame(sockets[r], type, all[r], deadline);
      if (io == Io::Timeout)
        fail(where + "rank " + std::to_string(r) + of + " did not reach " + what + " within " +
             secondsText(cfg.timeoutSeconds));
      if (io != Io::Ok)
        fail(where + "rank " + std::to_string(r) + of + " disconnected before " + what +
             " (the process exited or failed)");
      if (type == ErrorFrame)
        fail(all[r]);
      if (type != Data)
        fail(where + "rank " + std::to_string(r) + of + " sent an unexpected message during " +
             what);
    }
    std::string result;
    append<uint32_t>(result, static_cast<uint32_t>(cfg.worldSize));
    for (const std::string &b : all) {
      append<uint64_t>(result, b.size());
      result += b;
    }
    for (int r = 1; r < cfg.worldSize; ++r)
      if (sendFrame(sockets[r], Result, result, deadline + std::chrono::seconds(10)) != Io::Ok)
        fail(where + "rank " + std::to_string(r) + of + " disconnected during " + what);
    return all;
  }

  int fd = sockets[0];
  auto answerBy = deadline + std::chrono::seconds(10);
  uint32_t type = 0;
  std::string payload;
  Io io = sendFrame(fd, Data, blob, answerBy);
  if (io == Io::Ok) {
    io = recvFrame(fd, type, payload, answerBy);
  } else {
    // Rank 0 may have failed first: its error frame can still be read.
    Io pending = recvFrame(fd, type, payload, Clock::now() + std::chrono::seconds(1));
    if (pending == Io::Ok && type == ErrorFrame)
      io = Io::Ok;
  }
  if (io == Io::Ok && type == ErrorFrame) {
    failed = true;
    throw RuntimeError(payload);
  }
  if (io != Io::Ok || type != Result) {
    failed = true;
    throw RuntimeError(where + "rank 0" + of +
                       (io == Io::Timeout ? " did not answer " + what + " within " +
                                                secondsText(cfg.timeoutSeconds + 10)
                                          : " disconnected during " + what +
                                                " (the process exited or failed)"));
  }
  size_t pos = 0;
  uint32_t count = 0;
  std::vector<std::string> all;
  if (take(payload, pos, count) && count == static_cast<uint32_t>(cfg.worldSize)) {
    for (uint32_t i = 0; i < count; ++i) {
      uint64_t len = 0;
      if (!take(payload, pos, len) || pos + len > payload.size())
        break;
      all.emplace_back(payload.substr(pos, len));
      pos += len;
    }
  }
  if (all.size() != static_cast<size_t>(cfg.worldSize)) {
    failed = true;
    throw RuntimeError(where + "rank 0 sent a malformed result for " + what);
  }
  return all;
}

//===----------------------------------------------------------------------===//
// Bootstrap over a host Communicator
//===----------------------------------------------------------------------===//

namespace {

/// Gathers at rank 0 over send/recv, then sends the packed result back.
class CommunicatorBootstrap : public Bootstrap {
public:
  explicit CommunicatorBootstrap(Communicator &comm) : comm(comm) {}
  int rank() const override { return comm.rank(); }
  int size() const override { return comm.size(); }

  std::vector<std::string> allGather(const std::string &blob, const std::string &what) override {
    // A tag no rank program uses (programs number their messages from 0).
    constexpr int kTag = 32000;
    int n = comm.size();
    try {
      if (comm.rank() != 0) {
        uint64_t len = blob.size();
        comm.send(&len, sizeof(len), 0, kTag);
        comm.send(blob.data(), blob.size(), 0, kTag);
        uint64_t total = 0;
        comm.recv(&total, sizeof(total), 0, kTag);
        std::string packed(total, '\0');
        comm.recv(packed.data(), packed.size(), 0, kTag);
        return unpack(packed, n, what);
      }
      std::vector<std::string> all(n);
      all[0] = blob;
      for (int r = 1; r < n; ++r) {
        uint64_t len = 0;
        comm.recv(&len, sizeof(len), r, kTag);
        if (len > (uint64_t(1) << 30))
          throw RuntimeError("rank " + std::to_string(r) + " sent a blob of " +
                             std::to_string(len) + " bytes");
        all[r].assign(len, '\0');
        comm.recv(all[r].data(), len, r, kTag);
      }
      std::string packed;
      for (const std::string &b : all) {
        append<uint64_t>(packed, b.size());
        packed += b;
      }
      uint64_t total = packed.size();
      for (int r = 1; r < n; ++r) {
        comm.send(&total, sizeof(total), r, kTag);
        comm.send(packed.data(), packed.size(), r, kTag);
      }
      return all;
    } catch (const RuntimeError &e) {
      throw RuntimeError("bootstrap (" + what + "): " + e.what());
    }
  }

private:
  static std::vector<std::string> unpack(const std::string &packed, int n,
                                         const std::string &what) {
    std::vector<std::string> all;
    size_t pos = 0;
    for (int i = 0; i < n; ++i) {
      uint64_t len = 0;
      if (!take(packed, pos, len) || pos + len > packed.size())
        throw RuntimeError("bootstrap (" + what + "): malformed result from rank 0");
      all.emplace_back(packed.substr(pos, len));
      pos += len;
    }
    return all;
  }

  Communicator &comm;
};

} // namespace

std::unique_ptr<Bootstrap> communicatorBootstrap(Communicator &comm) {
  return std::make_unique<CommunicatorBootstrap>(comm);
}

} // namespace pmc::runtime
