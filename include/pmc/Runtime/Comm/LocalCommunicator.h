//===- LocalCommunicator.h - ranks as threads of one process ----*- C++ -*-===//
//
// N ranks that share one LocalWorld: a collective is a rendezvous of the
// group's threads (each posts its input pointer; when all have arrived each
// computes its own output from the others' inputs, zero-copy; then they wait
// until all have read before returning). Waits use condition variables with
// deadlines; a failure recorded by any rank wakes every waiter.
//
//   auto world = std::make_shared<LocalWorld>(4);
//   // on thread r:
//   LocalCommunicator comm(world, r);
//   comm.allReduce(in, out, DType::Float32, {8}, Reduction::Sum, {0, 1, 2, 3}, site);
//
#ifndef PMC_RUNTIME_LOCALCOMMUNICATOR_H
#define PMC_RUNTIME_LOCALCOMMUNICATOR_H

#include "pmc/Runtime/Comm/Communicator.h"

#include <memory>

namespace pmc::runtime {

/// The shared state of N thread ranks: rendezvous slots, mailboxes, failure.
class LocalWorld {
public:
  explicit LocalWorld(int size);
  ~LocalWorld();
  LocalWorld(const LocalWorld &) = delete;
  LocalWorld &operator=(const LocalWorld &) = delete;

  int size() const { return worldSize; }
  /// Clears the failure, pending rendezvous and messages. Only call while no
  /// rank is inside a call (between runs).
  void reset();
  /// The first failure recorded, if any.
  std::optional<std::string> failure() const;

private:
  friend class LocalCommunicator;
  struct State;
  int worldSize;
  std::unique_ptr<State> state;
};

class LocalCommunicator : public Communicator {
public:
  LocalCommunicator(std::shared_ptr<LocalWorld> world, int rank);
  int rank() const override { return rankIndex; }
  int size() const override { return world->size(); }
  using Communicator::recv;
  using Communicator::send;
  void send(const void *data, size_t bytes, int dst, int tag,
            const std::string &label) override;
  void recv(void *data, size_t bytes, int src, int tag, const std::string &label) override;
  void abort(const std::string &reason) override;
  std::optional<std::string> failure() const override { return world->failure(); }
  bool allowsBackgroundCollectives() const override { return true; }
  void stall(const std::string &why) override;

protected:
  void collective(const CollectiveCall &call) override;

private:
  std::shared_ptr<LocalWorld> world;
  int rankIndex;
};

} // namespace pmc::runtime

#endif // PMC_RUNTIME_LOCALCOMMUNICATOR_H
