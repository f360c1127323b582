//===- Communicator.h - collectives and messages between ranks --*- C++ -*-===//
//
// One Communicator per rank. Collectives run over a group given as the ordered
// list of global ranks (Mesh::group); a rank's position in the list is its
// position in the group. Every call has a deadline (timeout()); when it
// passes, or when any rank has failed (abort()), the call throws
// CollectiveError on every rank, naming the collective and the ranks that did
// not arrive or the rank that failed and its message. Implementations:
// LocalCommunicator (ranks as threads of one process) and MPICommunicator.
//
//   comm.allReduce(in, out, DType::Float32, {4, 8}, Reduction::Sum, {0, 1},
//                  {"all_reduce", 3, {"tp"}});
//
#ifndef PMC_RUNTIME_COMMUNICATOR_H
#define PMC_RUNTIME_COMMUNICATOR_H

#include "pmc/Runtime/Error.h"
#include "pmc/Support/HostTensor.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pmc::runtime {

/// A collective or message failed: timeout, or another rank failed.
class CollectiveError : public RuntimeError {
public:
  using RuntimeError::RuntimeError;
};

struct Mesh;

enum class Reduction { Sum, Max };
/// "sum", "max".
const char *reductionName(Reduction r);

/// Where a collective comes from, for messages:
/// "all_reduce (command 3, axes [tp])".
struct CollectiveSite {
  std::string kind;
  int command = -1;
  std::vector<std::string> axes;
  std::string describe() const;
};

enum class CollectiveKind { AllReduce, AllGather, ReduceScatter, AllToAll };

/// Everything one rank passes to a collective. `inShape`/`outShape` are the
/// local shapes before and after; `group` the ordered global ranks.
struct CollectiveCall {
  CollectiveKind kind = CollectiveKind::AllReduce;
  const void *in = nullptr;
  void *out = nullptr;
  DType dtype = DType::Float32;
  std::vector<int64_t> inShape, outShape;
  Reduction reduction = Reduction::Sum;
  /// AllGather/ReduceScatter: the dimension; AllToAll: split and concat dims.
  int dim = 0, splitDim = 0, concatDim = 0;
  std::vector<int> group;
  /// This rank's index in `group`.
  int position = 0;
  CollectiveSite site;
  size_t inBytes() const;
  size_t outBytes() const;
};

/// The default collective timeout in seconds: $PMC_COLLECTIVE_TIMEOUT when set
/// (a positive number; anything else throws RuntimeError naming the variable),
/// else 60.
double defaultCollectiveTimeout();

class Communicator {
public:
  virtual ~Communicator();
  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// Called by Session::open on every rank once the mesh is known, before any
  /// collective (MPICommunicator builds its group communicators here).
  virtual void prepare(const Mesh &mesh) {}
  /// Whether a rank may run its collectives on a background thread while its
  /// main thread computes (CollectiveOverlap.h): the calls stay one at a
  /// time and in order, but abort() and failure() may come from the other
  /// thread meanwhile.
  virtual bool allowsBackgroundCollectives() const { return false; }

  /// Seconds each collective or message may wait for the other ranks.
  double timeout() const { return timeoutSeconds; }
  void setTimeout(double seconds) { timeoutSeconds = seconds; }

  /// Sum (max) of the group's `in`s into `out`, both of `shape`. float16 and
  /// bfloat16 accumulate in float32; bool sums saturate (logical or);
  /// integers wrap. Every rank gets bitwise the same result (the group's
  /// tensors are combined in group order).
  void allReduce(const void *in, void *out, DType dtype, const std::vector<int64_t> &shape,
                 Reduction reduction, const std::vector<int> &group,
                 const CollectiveSite &site);
  /// Concatenation of the group's `in`s (of `inShape`) along `dim`.
  void allGather(const void *in, void *out, DType dtype, const std::vector<int64_t> &inShape,
                 int dim, const std::vector<int> &group, const CollectiveSite &site);
  /// allReduce, then this rank's slice (group position) of `dim`.
  void reduceScatter(const void *in, void *out, DType dtype,
                     const std::vector<int64_t> &inShape, int dim, Reduction reduction,
                     const std::vector<int> &group, const CollectiveSite &site);
  /// Splits `in` along `splitDim` into group-size parts, sends part j to
  /// group member j and concatenates the parts received along `concatDim`
  /// (in group order).
  void allToAll(const void *in, void *out, DType dtype, const std::vector<int64_t> &inShape,
                int splitDim, int concatDim, const std::vector<int> &group,
                const CollectiveSite &site);

  /// Point-to-point: `bytes` from this rank to `dst` (buffered: returns once
  /// the bytes are handed off) and the matching receive from `src`. Messages
  /// between a pair with the same `tag` arrive in order. A receive of a
  /// message of another size throws RuntimeError. Messages (timeouts, size
  /// mismatches) start with `label` and " on rank <this rank>"; an empty
  /// label means "send to rank <dst> (tag <tag>)" / "recv from rank <src>
  /// (tag <tag>)".
  ///
  ///   comm.recv(p, n, 1, tag, "recv of microbatch 3 from stage 0 (rank 1)");
  ///   // "recv of microbatch 3 from stage 0 (rank 1) on rank 3: timed out
  ///   //  after 60 s; rank 1 did not send"
  virtual void send(const void *data, size_t bytes, int dst, int tag,
                    const std::string &label) = 0;
  virtual void recv(void *data, size_t bytes, int src, int tag, const std::string &label) = 0;
  void send(const void *data, size_t bytes, int dst, int tag) {
    send(data, bytes, dst, tag, "");
  }
  void recv(void *data, size_t bytes, int src, int tag) { recv(data, bytes, src, tag, ""); }

  /// Records that this rank failed with `reason`: every rank's pending and
  /// later calls throw CollectiveError naming this rank and the reason.
  virtual void abort(const std::string &reason) = 0;
  /// The first failure recorded by any rank ("rank 2 failed: ..."), if any.
  virtual std::optional<std::string> failure() const = 0;
  /// Test hook (PMC_TEST_STALL_RANK): behaves like a rank that never arrives:
  /// waits until another rank records a failure or timeout() passes, then
  /// throws CollectiveError.
  virtual void stall(const std::string &why) = 0;

protected:
  /// Runs a checked call; implementations exchange data with the group.
  virtual void collective(const CollectiveCall &call) = 0;

private:
  void run(CollectiveCall call);
  double timeoutSeconds = 60;
};

/// Fills `call.out` from the `in` tensors of all group members (`inputs`, in
/// group order): the shared arithmetic of every implementation.
void combineCollective(const CollectiveCall &call, const std::vector<const void *> &inputs);

/// Element-wise reduction of `count` elements of each of `inputs` (each read
/// from element `offset`) into `out`.
void reduceElements(DType dtype, Reduction reduction, const std::vector<const void *> &inputs,
                    size_t offset, size_t count, void *out);

/// "2, 3" for {2, 3}.
std::string rankList(const std::vector<int> &ranks);

} // namespace pmc::runtime

#endif // PMC_RUNTIME_COMMUNICATOR_H
