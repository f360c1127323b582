//===- LocalCommunicator.cpp - rendezvous of thread ranks ------------------===//

#include "pmc/Runtime/Comm/LocalCommunicator.h"

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <sstream>
#include <tuple>

namespace pmc::runtime {

using Clock = std::chrono::steady_clock;

namespace {
/// One collective call of one group: the members' inputs by position.
struct Slot {
  std::vector<const void *> inputs;
  std::vector<bool> arrived;
  int arrivals = 0;
  int departures = 0;
};

Clock::time_point deadlineAfter(double seconds) {
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(
                            std::chrono::duration<double>(seconds));
}

std::string seconds(double s) {
  std::ostringstream os;
  os << s << " s";
  return os.str();
}
} // namespace

struct LocalWorld::State {
  mutable std::mutex mutex;
  std::condition_variable changed;
  std::optional<std::string> failure;
  /// (group, call number of that group) -> slot.
  std::map<std::pair<std::vector<int>, uint64_t>, Slot> slots;
  /// Per rank, how many collectives it has entered per group.
  std::vector<std::map<std::vector<int>, uint64_t>> calls;
  std::map<std::tuple<int, int, int>, std::deque<std::vector<uint8_t>>> mailboxes;

  /// Records `message` unless a failure is recorded already; wakes everyone.
  void fail(const std::string &message) {
    if (!failure)
      failure = message;
    changed.notify_all();
  }
};

LocalWorld::LocalWorld(int size) : worldSize(size), state(std::make_unique<State>()) {
  if (size < 1)
    throw RuntimeError("a local world needs at least one rank, got " + std::to_string(size));
  state->calls.resize(size);
}

LocalWorld::~LocalWorld() = default;

void LocalWorld::reset() {
  std::lock_guard<std::mutex> lock(state->mutex);
  state->failure.reset();
  state->slots.clear();
  for (auto &c : state->calls)
    c.clear();
  state->mailboxes.clear();
}

std::optional<std::string> LocalWorld::failure() const {
  std::lock_guard<std::mutex> lock(state->mutex);
  return state->failure;
}

LocalCommunicator::LocalCommunicator(std::shared_ptr<LocalWorld> world, int rank)
    : world(std::move(world)), rankIndex(rank) {
  if (rank < 0 || rank >= this->world->size())
    throw RuntimeError("rank " + std::to_string(rank) + " is out of range for a world of " +
                       std::to_string(this->world->size()));
  setTimeout(defaultCollectiveTimeout());
}

void LocalCommunicator::collective(const CollectiveCall &call) {
  LocalWorld::State &s = *world->state;
  const std::string where = call.site.describe();
  const int g = static_cast<int>(call.group.size());
  std::unique_lock<std::mutex> lock(s.mutex);
  if (s.failure)
    throw CollectiveError(where + ": " + *s.failure);
  auto key = std::make_pair(call.group, s.calls[rankIndex][call.group]++);
  Slot &slot = s.slots[key];
  if (slot.inputs.empty()) {
    slot.inputs.assign(g, nullptr);
    slot.arrived.assign(g, false);
  }
  slot.inputs[call.position] = call.in;
  slot.arrived[call.position] = true;
  if (++slot.arrivals == g)
    s.changed.notify_all();

  auto deadline = deadlineAfter(timeout());
  while (slot.arrivals < g && !s.failure) {
    if (s.changed.wait_until(lock, deadline) == std::cv_status::timeout &&
        slot.arrivals < g && !s.failure) {
      std::vector<int> missing;
      for (int i = 0; i < g; ++i)
        if (!slot.arrived[i])
          missing.push_back(call.group[i]);
      std::string msg = where + " on rank " + std::to_string(rankIndex) + ": timed out after " +
                        seconds(timeout()) + "; rank(s) " + rankList(missing) +
                        " of group [" + rankList(call.group) + "] did not arrive";
      s.fail(msg);
      throw CollectiveError(msg);
    }
  }
  if (s.failure)
    throw CollectiveError(where + ": " + *s.failure);

  // Every member's input is posted and stays valid until all have departed.
  lock.unlock();
  combineCollective(call, slot.inputs);
  lock.lock();
  if (++slot.departures == g) {
    s.slots.erase(key);
    s.changed.notify_all();
    return;
  }
  while (!s.failure) {
    // The slot is erased by the last member to depart.
    if (!s.slots.count(key))
      return;
    if (s.changed.wait_until(lock, deadline + std::chrono::seconds(1)) ==
            std::cv_status::timeout &&
        s.slots.count(key) && !s.failure) {
      std::string msg = where + " on rank " + std::to_string(rankIndex) +
                        ": timed out waiting for the group [" + rankList(call.group) +
                        "] to finish reading";
      s.fail(msg);
      throw CollectiveError(msg);
    }
  }
  throw CollectiveError(where + ": " + *s.failure);
}

void LocalCommunicator::send(const void *data, size_t bytes, int dst, int tag,
                             const std::string &label) {
  const std::string where = (label.empty() ? "send to rank " + std::to_string(dst) +
                                                 " (tag " + std::to_string(tag) + ")"
                                           : label) +
                            " on rank " + std::to_string(rankIndex);
  if (dst < 0 || dst >= size())
    throw RuntimeError(where + ": rank " + std::to_string(dst) + " is out of range");
  LocalWorld::State &s = *world->state;
  std::lock_guard<std::mutex> lock(s.mutex);
  if (s.failure)
    throw CollectiveError(where + ": " + *s.failure);
  auto *p = static_cast<const uint8_t *>(data);
  s.mailboxes[{rankIndex, dst, tag}].emplace_back(p, p + bytes);
  s.changed.notify_all();
}

void LocalCommunicator::recv(void *data, size_t bytes, int src, int tag,
                             const std::string &label) {
  const std::string where = (label.empty() ? "recv from rank " + std::to_string(src) +
                                                 " (tag " + std::to_string(tag) + ")"
                                           : label) +
                            " on rank " + std::to_string(rankIndex);
  if (src < 0 || src >= size())
    throw RuntimeError(where + ": rank " + std::to_string(src) + " is out of range");
  LocalWorld::State &s = *world->state;
  std::unique_lock<std::mutex> lock(s.mutex);
  auto &box = s.mailboxes[{src, rankIndex, tag}];
  auto deadline = deadlineAfter(timeout());
  while (box.empty() && !s.failure) {
    if (s.changed.wait_until(lock, deadline) == std::cv_status::timeout && box.empty() &&
        !s.failure) {
      std::string msg = where + ": timed out after " + seconds(timeout()) + "; rank " +
                        std::to_string(src) + " did not send";
      s.fail(msg);
      throw CollectiveError(msg);
    }
  }
  if (s.failure)
    throw CollectiveError(where + ": " + *s.failure);
  std::vector<uint8_t> msg = std::move(box.front());
  box.pop_front();
  if (msg.size() != bytes)
    throw RuntimeError(where + ": got " + std::to_string(msg.size()) + " bytes, expected " +
                       std::to_string(bytes));
  if (bytes)
    std::memcpy(data, msg.data(), bytes);
}

void LocalCommunicator::abort(const std::string &reason) {
  LocalWorld::State &s = *world->state;
  std::lock_guard<std::mutex> lock(s.mutex);
  s.fail("rank " + std::to_string(rankIndex) + " failed: " + reason);
}

void LocalCommunicator::stall(const std::string &why) {
  LocalWorld::State &s = *world->state;
  std::unique_lock<std::mutex> lock(s.mutex);
  // Others time out after timeout(); stall a little longer than that.
  auto deadline = deadlineAfter(timeout() * 2 + 1);
  while (!s.failure)
    if (s.changed.wait_until(lock, deadline) == std::cv_status::timeout && !s.failure)
      s.fail("rank " + std::to_string(rankIndex) + " stalled (" + why + ")");
  throw CollectiveError("rank " + std::to_string(rankIndex) + " stalled (" + why +
                        "): " + *s.failure);
}

} // namespace pmc::runtime
