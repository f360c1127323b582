//===- CollectiveOverlap.cpp - wait points and the background thread ------===//

#include "pmc/Runtime/CollectiveOverlap.h"
#include "pmc/Runtime/Buffer.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace pmc::runtime {

bool OverlapPlan::any() const {
  return std::any_of(waitBefore.begin(), waitBefore.end(), [](int w) { return w >= 0; });
}

OverlapPlan planCollectiveOverlap(const std::vector<BufferDesc> &buffers,
                                  const std::vector<BufferAccess> &accesses,
                                  const std::vector<bool> &isCollective,
                                  const std::vector<bool> &isTransfer) {
  const int n = static_cast<int>(accesses.size());
  OverlapPlan plan;
  plan.waitBefore.assign(n, -1);
  plan.drainsBefore.assign(isTransfer.begin(), isTransfer.end());
  plan.drainsBefore.resize(n, false);
  plan.collective.assign(isCollective.begin(), isCollective.end());
  plan.collective.resize(n, false);
  // firstTouchAfter[root]: scanning backwards, the nearest later command that
  // reads or writes a buffer with that root.
  std::vector<int> nextTouch(buffers.size(), n);
  for (int i = n - 1; i >= 0; --i) {
    const BufferAccess &a = accesses[i];
    if (isCollective[i]) {
      int wait = n;
      for (int id : a.writes)
        wait = std::min(wait, nextTouch[buffers[id].root]);
      // The next command reads the result: nothing runs in between.
      plan.waitBefore[i] = wait == i + 1 ? -1 : wait;
    }
    for (int id : a.reads)
      nextTouch[buffers[id].root] = i;
    for (int id : a.writes)
      nextTouch[buffers[id].root] = i;
  }
  // At most kMaxCollectivesInFlight at once: a collective finishes before the
  // one that many places later starts, which bounds the memory held by
  // inputs waiting to be reduced to that many buffers.
  std::vector<int> started;
  for (int i = 0; i < n; ++i)
    if (plan.waitBefore[i] >= 0)
      started.push_back(i);
  for (size_t k = 0; k + kMaxCollectivesInFlight < started.size(); ++k) {
    int &wait = plan.waitBefore[started[k]];
    wait = std::min(wait, started[k + kMaxCollectivesInFlight]);
  }
  return plan;
}

void extendLifetimesForOverlap(const OverlapPlan &plan, std::vector<BufferAccess> &accesses,
                               std::vector<int> &outputs) {
  const int n = static_cast<int>(accesses.size());
  for (int i = 0; i < n; ++i) {
    int wait = plan.waitBefore[i];
    if (wait < 0)
      continue;
    std::vector<int> held = accesses[i].reads;
    held.insert(held.end(), accesses[i].writes.begin(), accesses[i].writes.end());
    if (wait == n)
      outputs.insert(outputs.end(), held.begin(), held.end());
    else
      accesses[wait].reads.insert(accesses[wait].reads.end(), held.begin(), held.end());
  }
}

bool backgroundCollectivesEnabled() {
  const char *v = std::getenv("PMC_SYNC_COLLECTIVES");
  return !v || !*v || std::strcmp(v, "0") == 0;
}

CollectiveWorker::~CollectiveWorker() {
  {
    std::lock_guard<std::mutex> lock(mutex);
    stopping = true;
  }
  changed.notify_all();
  if (thread.joinable())
    thread.join();
}

uint64_t CollectiveWorker::submit(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mutex);
    queue.push_back(std::move(task));
  }
  if (!thread.joinable())
    thread = std::thread([this] { loop(); });
  changed.notify_all();
  return ++submitted;
}

void CollectiveWorker::wait(uint64_t ticket) {
  std::unique_lock<std::mutex> lock(mutex);
  changed.wait(lock, [&] { return finished >= ticket; });
  waited = std::max(waited, ticket);
  if (finished == submitted)
    skipRest = false; // nothing queued: the next run starts afresh
  if (error && errorTicket <= ticket) {
    std::exception_ptr e = error;
    error = nullptr;
    std::rethrow_exception(e);
  }
}

void CollectiveWorker::loop() {
  std::unique_lock<std::mutex> lock(mutex);
  for (;;) {
    changed.wait(lock, [&] { return stopping || !queue.empty(); });
    if (queue.empty())
      return; // stopping, nothing left
    std::function<void()> task = std::move(queue.front());
    queue.pop_front();
    // After a failure the rank is going down: later tasks are skipped (they
    // would only wait for their own timeouts).
    bool skip = skipRest;
    lock.unlock();
    std::exception_ptr failure;
    if (!skip) {
      try {
        task();
      } catch (...) {
        failure = std::current_exception();
      }
    }
    lock.lock();
    ++finished;
    if (failure) {
      skipRest = true;
      if (!error) {
        error = failure;
        errorTicket = finished;
      }
    }
    changed.notify_all();
  }
}

} // namespace pmc::runtime
