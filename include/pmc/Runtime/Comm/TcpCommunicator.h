//===- TcpCommunicator.h - one rank per process over TCP (torchrun) -*- C++ -*-===//
//
// The host communicator of a torchrun-style launch without MPI: N processes
// with RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT meet through TcpRendezvous,
// then connect every pair directly (a full mesh of TCP connections). A
// reader thread per peer files incoming messages by (source, tag); a
// collective sends this rank's input to every other member, receives theirs
// and combines them in group order (combineCollective), so every rank gets
// bitwise the same result. Failures travel as frames: abort() tells every
// peer, and a peer that disconnects without saying goodbye is reported by
// rank ("rank 2 disconnected (the process exited or failed)").
//
//   auto comm = TcpCommunicator::create(RendezvousConfig::fromEnvironment());
//   SessionOptions options;
//   options.communicator = comm;
//
#ifndef PMC_RUNTIME_TCPCOMMUNICATOR_H
#define PMC_RUNTIME_TCPCOMMUNICATOR_H

#include "pmc/Runtime/Comm/Communicator.h"
#include "pmc/Runtime/Comm/TcpRendezvous.h"

#include <memory>

namespace pmc::runtime {

class TcpCommunicator : public Communicator {
public:
  /// Collective over all ranks: rendezvous, then the full mesh. Throws
  /// RuntimeError naming a rank that did not connect.
  static std::shared_ptr<TcpCommunicator> create(const RendezvousConfig &config);
  /// Says goodbye to every peer and closes the connections.
  ~TcpCommunicator() override;

  int rank() const override;
  int size() const override;
  void send(const void *data, size_t bytes, int dst, int tag,
            const std::string &label) override;
  void recv(void *data, size_t bytes, int src, int tag, const std::string &label) override;
  using Communicator::recv;
  using Communicator::send;
  void abort(const std::string &reason) override;
  std::optional<std::string> failure() const override;
  void stall(const std::string &why) override;
  /// The rendezvous (for a final barrier; its timeout can be changed).
  TcpRendezvous &rendezvous();

protected:
  void collective(const CollectiveCall &call) override;

private:
  TcpCommunicator();
  struct Impl;
  std::unique_ptr<Impl> impl;
};

} // namespace pmc::runtime

#endif // PMC_RUNTIME_TCPCOMMUNICATOR_H
