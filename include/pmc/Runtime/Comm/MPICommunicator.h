//===- MPICommunicator.h - one rank per process over OpenMPI ----*- C++ -*-===//
//
// The communicator of `mpirun -np N pmc-run ...`: collectives are MPI
// non-blocking collectives (MPI_Iallgather, MPI_Ialltoall) on one
// communicator per group, polled against the deadline; messages are
// MPI_Isend/MPI_Irecv on MPI_COMM_WORLD, polled the same way.
//
// Failure detection without hangs: every process exposes an MPI window
// (passive target, MPI_Win_lock_all for the communicator's lifetime) holding
// one status slot per rank. Rank j writes its slot on every process with
// MPI_Put + MPI_Win_flush_all: its collective sequence number when it enters a
// collective, and a failure flag with its message when it fails or times
// out. Waiting ranks read only their own window, so they learn who arrived
// and who failed even when a peer is stuck. After a failure the pending MPI
// requests cannot be completed: the process should report its error and call
// terminate(), which ends every process of the job (MPI_Abort).
//
//   auto comm = MPICommunicator::create(&argc, &argv); // MPI_Init if needed
//   SessionOptions options;
//   options.communicator = comm;
//   auto session = Session::open("model.pmc", options);
//
// Only available when built with MPI (PMC_HAVE_MPI, target PMCRuntimeMPI).
//
#ifndef PMC_RUNTIME_MPICOMMUNICATOR_H
#define PMC_RUNTIME_MPICOMMUNICATOR_H

#include "pmc/Runtime/Comm/Communicator.h"

#include <map>
#include <memory>

namespace pmc::runtime {

class MPICommunicator : public Communicator {
public:
  /// Whether this process was started by mpirun (OMPI_COMM_WORLD_SIZE or
  /// PMI_SIZE is set).
  static bool launchedByMpirun();
  /// Initializes MPI (unless already initialized) and creates the status
  /// window on MPI_COMM_WORLD; collective over all processes.
  static std::shared_ptr<MPICommunicator> create(int *argc = nullptr, char ***argv = nullptr);
  /// Frees the window and group communicators and finalizes MPI if create()
  /// initialized it (only when no failure is pending; see terminate()).
  ~MPICommunicator() override;

  int rank() const override { return worldRank; }
  int size() const override { return worldSize; }
  /// Waits (polled, deadline, failure flags) until every rank reached this
  /// point, then builds one communicator per non-empty subset of the mesh
  /// axes with MPI_Comm_split (ranks ordered by global rank).
  void prepare(const Mesh &mesh) override;
  using Communicator::recv;
  using Communicator::send;
  void send(const void *data, size_t bytes, int dst, int tag,
            const std::string &label) override;
  void recv(void *data, size_t bytes, int src, int tag, const std::string &label) override;
  void abort(const std::string &reason) override;
  std::optional<std::string> failure() const override;
  void stall(const std::string &why) override;
  /// When MPI gives MPI_THREAD_MULTIPLE (create() asks for it).
  bool allowsBackgroundCollectives() const override { return threadMultiple; }

  /// Ends the whole job after a failure: gives the other ranks a moment to
  /// see the failure flag and report it, then MPI_Abort(MPI_COMM_WORLD, code).
  [[noreturn]] void terminate(int code);

protected:
  void collective(const CollectiveCall &call) override;

private:
  MPICommunicator() = default;
  struct Impl;
  std::unique_ptr<Impl> impl;
  int worldRank = 0, worldSize = 1;
  bool threadMultiple = false;
};

} // namespace pmc::runtime

#endif // PMC_RUNTIME_MPICOMMUNICATOR_H
