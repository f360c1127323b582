//===- TcpRendezvous.h - bootstrap N processes from torchrun variables -*- C++ -*-===//
//
// A Bootstrap lets the processes of one job exchange small byte blobs before
// any device communicator exists: the NCCL unique id, a checksum of the
// bundle. Two implementations: TcpRendezvous (from the environment torchrun
// sets: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT; rank 0
// listens on MASTER_PORT and the others connect to it) and
// communicatorBootstrap() over a host Communicator (MPI under mpirun).
//
//   RendezvousConfig config = RendezvousConfig::fromEnvironment();
//   auto boot = TcpRendezvous::connect(config);
//   std::vector<std::string> all = boot->allGather(myBlob, "nccl unique id");
//   boot->barrier("communicators ready");
//
// Every call has a deadline; a rank that does not connect, dies or does not
// arrive makes every rank throw RuntimeError naming it:
//   "rendezvous at 127.0.0.1:29500: rank 2 of 4 did not connect within 60 s"
//
#ifndef PMC_RUNTIME_TCPRENDEZVOUS_H
#define PMC_RUNTIME_TCPRENDEZVOUS_H

#include "pmc/Runtime/Error.h"

#include <memory>
#include <string>
#include <vector>

namespace pmc::runtime {

class Communicator;

/// Byte-blob exchange among the processes of one job.
class Bootstrap {
public:
  virtual ~Bootstrap();
  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// Every rank's `blob`, indexed by rank, on every rank. `what` names the
  /// exchange in error messages ("nccl unique id").
  virtual std::vector<std::string> allGather(const std::string &blob,
                                             const std::string &what) = 0;
  /// Returns once every rank called barrier().
  void barrier(const std::string &what) { allGather(std::string(), what); }
};

/// Where and who: the torchrun variables, validated.
struct RendezvousConfig {
  int rank = 0;
  int worldSize = 1;
  /// The device index on this host (LOCAL_RANK; defaults to 0).
  int localRank = 0;
  std::string masterAddr = "127.0.0.1";
  int masterPort = 29500;
  /// Seconds each step (connecting, each all-gather) may take.
  double timeoutSeconds = 60;

  /// Whether RANK and WORLD_SIZE are both set (a torchrun-style launch).
  static bool environmentPresent();
  /// Reads RANK, WORLD_SIZE (required), LOCAL_RANK (default 0), MASTER_ADDR
  /// (default 127.0.0.1), MASTER_PORT (default 29500) and
  /// PMC_RENDEZVOUS_TIMEOUT (seconds; default defaultCollectiveTimeout()).
  /// Throws RuntimeError naming the variable and its bad value:
  /// "RANK must be an integer in [0, WORLD_SIZE=4), got '7'".
  static RendezvousConfig fromEnvironment();
  /// "127.0.0.1:29500".
  std::string endpoint() const;
};

/// The TCP star: rank 0 accepts one connection from each other rank and
/// relays every all-gather. Not thread-safe (one call at a time).
class TcpRendezvous : public Bootstrap {
public:
  /// Rank 0 listens on config.masterPort (all interfaces) and waits for
  /// the other ranks; the others connect to masterAddr:masterPort, retrying
  /// until the deadline. Returns once all ranks are connected (every rank
  /// sees the same outcome: success, or RuntimeError naming the missing rank).
  static std::unique_ptr<TcpRendezvous> connect(const RendezvousConfig &config);
  ~TcpRendezvous() override;

  int rank() const override { return cfg.rank; }
  int size() const override { return cfg.worldSize; }
  const RendezvousConfig &config() const { return cfg; }
  /// Seconds later calls may take (e.g. longer for a final barrier that
  /// waits for the slowest rank's whole run).
  void setTimeout(double seconds) { cfg.timeoutSeconds = seconds; }
  /// This process's numeric address as the other ranks can reach it: the
  /// local end of its connection to rank 0 (MASTER_ADDR on rank 0).
  std::string localAddress() const;
  std::vector<std::string> allGather(const std::string &blob, const std::string &what) override;

private:
  TcpRendezvous() = default;
  RendezvousConfig cfg;
  /// Rank 0: the socket of each rank (index 0 unused); others: [0] = rank 0.
  std::vector<int> sockets;
  int listener = -1;
  bool failed = false;
  [[noreturn]] void fail(const std::string &message);
};

namespace tcp {
/// Connects to addr:port (non-blocking connect bounded by `deadlineSeconds`
/// from now); returns the socket, or -1 with `why` set.
int connectOnce(const std::string &addr, int port, double deadlineSeconds, std::string &why);
/// A listening socket on `port` (0: any free port) of every interface;
/// returns it and sets `boundPort`, or -1 with `why` set.
int listenOn(int port, int backlog, int &boundPort, std::string &why);
} // namespace tcp

/// A Bootstrap over the send/recv of a host Communicator whose size is the
/// world (e.g. MPICommunicator under mpirun): rank 0 gathers and sends back.
/// `comm` must outlive the result.
std::unique_ptr<Bootstrap> communicatorBootstrap(Communicator &comm);

} // namespace pmc::runtime

#endif // PMC_RUNTIME_TCPRENDEZVOUS_H
