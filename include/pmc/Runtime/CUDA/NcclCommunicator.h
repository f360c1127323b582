//===- NcclCommunicator.h - DeviceCollectives over NCCL ---------*- C++ -*-===//
//
// One process per GPU. The NCCL unique id is bootstrapped through MPI (under
// mpirun) or the TCP rendezvous (torchrun variables); prepare() splits one
// NCCL communicator per ordering of mesh axes; collectives along any dim are
// packed with strided device copies around NCCL's leading-dim primitives
// (docs/design/nccl.md). libnccl.so.2 and libcuda.so.1 are loaded with dlopen.
//
// Timeouts (parallel.md): communicators are nonblocking and a watchdog thread
// times each enqueued call from the moment the stream reaches it; when one
// exceeds the timeout, or NCCL reports an asynchronous error, every
// communicator is aborted (ncclCommAbort) and this and every later call throws
// CollectiveError naming the collective and the rank. Peers then see their
// own call fail the same way.
//
//   // The device context of this rank is current on the calling thread.
//   auto nccl = createNcclCollectives({NcclBootstrap::Auto, hostComm, 60, id});
//   nccl->prepare(mesh);
//   nccl->collective(call, stream);
//   nccl->synchronize(stream);
//
#ifndef PMC_RUNTIME_CUDA_NCCLCOMMUNICATOR_H
#define PMC_RUNTIME_CUDA_NCCLCOMMUNICATOR_H

#include "pmc/Runtime/CUDA/DeviceCollectives.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace pmc::runtime {
class Bootstrap;
class Communicator;
} // namespace pmc::runtime

namespace pmc::runtime::cuda {

class NcclCommunicator : public DeviceCollectives {
public:
  /// Collective over every rank of `bootstrap`: rank 0 creates the NCCL
  /// unique id, all ranks receive it and initialize the world communicator
  /// (nonblocking, polled against `timeoutSeconds`, <= 0 meaning
  /// defaultCollectiveTimeout()). When `bundleId` is not empty every rank must
  /// pass the same one ("rank 2 runs bundle X, rank 0 runs Y" otherwise).
  /// The CUDA context of this rank's device must be current on the calling
  /// thread; calls must come from a thread where it is current too.
  static std::unique_ptr<NcclCommunicator> create(std::unique_ptr<Bootstrap> bootstrap,
                                                  double timeoutSeconds,
                                                  const std::string &bundleId = "");
  ~NcclCommunicator() override;

  int rank() const override { return worldRank; }
  int size() const override { return worldSize; }
  /// Splits one communicator per ordering of a subset of the mesh axes
  /// (skipping orderings that give the same groups); collective over all ranks.
  void prepare(const Mesh &mesh) override;
  /// all_reduce (sum, max), all_gather and reduce_scatter along any dim,
  /// all_to_all (grouped send/recv) on `call.group`'s communicator.
  void collective(const CollectiveCall &call, void *stream) override;
  /// NCCL send/recv on the world communicator. NCCL has no tags: messages
  /// between a pair match in program order (`tag` is only named in errors).
  void send(const void *deviceData, size_t bytes, int dst, int tag, void *stream) override;
  void recv(void *deviceData, size_t bytes, int src, int tag, void *stream) override;
  /// Records `reason` and aborts every NCCL communicator: this and every
  /// later call throw CollectiveError(reason); the peers' pending calls fail
  /// (NCCL remote error or their own timeout).
  void abort(const std::string &reason) override;

  /// Waits until `stream` has run all its work, watching the timeouts:
  /// throws CollectiveError when a collective failed or timed out (use it
  /// instead of cuStreamSynchronize, which would hang on a dead peer).
  void synchronize(void *stream) override;
  /// The first failure (timeout, NCCL error, abort), if any.
  std::optional<std::string> failure() const;
  /// Seconds each call may run once its stream reaches it.
  double timeout() const;
  /// "2.28.9".
  std::string ncclVersion() const;

private:
  NcclCommunicator();
  struct Impl;
  std::unique_ptr<Impl> impl;
  int worldRank = 0, worldSize = 1;
};

/// How the NCCL unique id reaches every process.
enum class NcclBootstrap {
  /// MPI when `hostCommunicator` spans several processes, else the TCP
  /// rendezvous when RANK and WORLD_SIZE are set, else a world of one.
  Auto,
  /// Through `hostCommunicator` (e.g. MPICommunicator under mpirun).
  Mpi,
  /// Through TcpRendezvous from RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT.
  Tcp,
};

/// Parses "auto", "mpi", "tcp"; nullopt for anything else.
std::optional<NcclBootstrap> parseNcclBootstrap(const std::string &text);

struct NcclOptions {
  NcclBootstrap bootstrap = NcclBootstrap::Auto;
  /// The process's host communicator, when there is one (kept alive by the
  /// result); required for NcclBootstrap::Mpi.
  std::shared_ptr<Communicator> hostCommunicator;
  /// <= 0: defaultCollectiveTimeout().
  double timeoutSeconds = 0;
  /// Checked equal on every rank when not empty (e.g. the bundle's checksum).
  std::string bundleId;
};

/// The NCCL DeviceCollectives of this process (see NcclCommunicator::create).
/// Throws RuntimeError naming what is missing (NCCL, the driver, a variable).
std::unique_ptr<DeviceCollectives> createNcclCollectives(const NcclOptions &options);

/// The GPU index this process should use on its host: LOCAL_RANK, else
/// OMPI_COMM_WORLD_LOCAL_RANK (mpirun), else 0. Throws RuntimeError naming a
/// malformed variable.
int ncclLocalDevice();

} // namespace pmc::runtime::cuda

#endif // PMC_RUNTIME_CUDA_NCCLCOMMUNICATOR_H
