//===- CollectiveOverlap.h - collectives that run beside the commands -*- C++ -*-===//
//
// A rank starts a collective where the program has it and waits for it only
// before the first command that reads its result: meanwhile the rank's next
// commands run (the data-parallel gradient all-reduce of layer L overlaps the
// backward pass of the layers before L, as PyTorch DDP's buckets do). The
// collectives of a rank run on one background thread in program order, so
// every rank still enters them in the same order.
//
//   cmd 11  all_reduce in=40 out=41      starts; waited for before cmd 80
//   cmd 12  kernel ...                   runs meanwhile
//   cmd 80  kernel inputs=[41, ...]      waits for cmd 11 first
//
// The wait point of a collective is the first later command touching its
// output (or a view of it), or the start of the collective two places later
// (kMaxCollectivesInFlight); its input and output stay live to that point, so
// that the arena reuses neither while the collective runs. Point-to-point
// transfers (send/recv) and the end of the program wait for every pending
// collective.
//
#ifndef PMC_RUNTIME_COLLECTIVEOVERLAP_H
#define PMC_RUNTIME_COLLECTIVEOVERLAP_H

#include "pmc/Runtime/BufferPlan.h"

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace pmc::runtime {

/// Collectives a rank has in flight at most (its inputs stay allocated until
/// they finish); a further one waits for the oldest first. Two, as NCCL
/// users double-buffer gradient buckets.
inline constexpr size_t kMaxCollectivesInFlight = 2;

/// Where each command's collective is waited for.
struct OverlapPlan {
  /// Per command: for a collective run in the background, the index of the
  /// command before which it must have finished (the command count: the end
  /// of the program); -1 for commands that run in order.
  std::vector<int> waitBefore;
  /// Per command: whether every pending collective finishes before it
  /// (point-to-point transfers).
  std::vector<bool> drainsBefore;
  /// Per command: whether it is a collective (those run in order behind
  /// pending background ones, on the same thread).
  std::vector<bool> collective;
  bool any() const;
};

/// The plan for a validated program whose commands make `accesses`;
/// `isCollective[i]` and `isTransfer[i]` per command. A collective whose
/// result the very next command reads runs in order (nothing to overlap).
OverlapPlan planCollectiveOverlap(const std::vector<BufferDesc> &buffers,
                                  const std::vector<BufferAccess> &accesses,
                                  const std::vector<bool> &isCollective,
                                  const std::vector<bool> &isTransfer);

/// `accesses` with the input and output of each background collective also
/// read by the command it is waited for before, and `outputs` with those
/// waited for at the end: the lifetimes computeLifetimes() then gives keep
/// both buffers out of the arena's reuse while the collective runs.
void extendLifetimesForOverlap(const OverlapPlan &plan, std::vector<BufferAccess> &accesses,
                               std::vector<int> &outputs);

/// Whether background collectives are on: $PMC_SYNC_COLLECTIVES unset or "0"
/// (set it to 1 to run every collective in order, e.g. to compare).
bool backgroundCollectivesEnabled();

/// One background thread running tasks in submission order. wait(t) blocks
/// until task t (and so every earlier task) has run and rethrows the first
/// exception of the tasks it waited for; drain() waits for all.
class CollectiveWorker {
public:
  CollectiveWorker() = default;
  ~CollectiveWorker();
  CollectiveWorker(const CollectiveWorker &) = delete;
  CollectiveWorker &operator=(const CollectiveWorker &) = delete;

  /// Queues `task`; returns its ticket (1, 2, ...).
  uint64_t submit(std::function<void()> task);
  void wait(uint64_t ticket);
  void drain() { wait(submitted); }
  /// Tasks submitted and not yet waited for.
  bool pending() const { return waited < submitted; }

private:
  void loop();
  std::thread thread;
  std::mutex mutex;
  std::condition_variable changed;
  std::deque<std::function<void()>> queue;
  uint64_t submitted = 0, finished = 0, waited = 0;
  /// The first exception of a task not yet rethrown, and its ticket.
  std::exception_ptr error;
  uint64_t errorTicket = 0;
  /// Set by a failed task: the tasks queued after it are skipped until
  /// everything submitted has been waited for.
  bool skipRest = false;
  bool stopping = false;
};

} // namespace pmc::runtime

#endif // PMC_RUNTIME_COLLECTIVEOVERLAP_H
