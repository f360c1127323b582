//===- BufferPlan.cpp - liveness of temps and their arena offsets ----------===//

#include "pmc/Runtime/BufferPlan.h"
#include "pmc/Runtime/Buffer.h"
#include "pmc/Runtime/Command.h"

#include <algorithm>

namespace pmc::runtime {

namespace {
size_t alignUp(size_t v) {
  return (v + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment;
}
} // namespace

size_t tempBytesWithoutReuse(const std::vector<BufferDesc> &buffers) {
  size_t total = 0;
  for (const BufferDesc &b : buffers)
    if (b.kind == BufferKind::Temp)
      total += alignUp(b.bytes);
  return total;
}

std::vector<BufferAccess> accessesOf(const std::vector<std::unique_ptr<Command>> &commands) {
  std::vector<BufferAccess> accesses;
  for (const std::unique_ptr<Command> &command : commands)
    accesses.push_back({command->reads(), command->writes()});
  return accesses;
}

std::vector<Lifetime> computeLifetimes(const std::vector<BufferDesc> &buffers,
                                       const std::vector<BufferAccess> &accesses,
                                       const std::vector<int> &outputs) {
  const int end = static_cast<int>(accesses.size());
  std::vector<int> first(buffers.size(), -1), last(buffers.size(), -1);
  auto touch = [&](int id, int at) {
    int root = buffers[id].root;
    if (first[root] < 0 || at < first[root])
      first[root] = at;
    last[root] = std::max(last[root], at);
  };
  for (int i = 0; i < end; ++i) {
    for (int id : accesses[i].writes)
      touch(id, i);
    for (int id : accesses[i].reads)
      touch(id, i);
  }
  for (int id : outputs)
    touch(id, end);
  std::vector<Lifetime> lifetimes;
  for (const BufferDesc &b : buffers)
    if (b.kind == BufferKind::Temp && first[b.id] >= 0)
      lifetimes.push_back({b.id, first[b.id], last[b.id], b.bytes});
  return lifetimes;
}

ArenaPlan assignOffsets(const std::vector<Lifetime> &lifetimes, size_t numBuffers) {
  ArenaPlan plan;
  plan.offsets.assign(numBuffers, -1);
  std::vector<const Lifetime *> order;
  for (const Lifetime &l : lifetimes)
    order.push_back(&l);
  std::stable_sort(order.begin(), order.end(), [](const Lifetime *a, const Lifetime *b) {
    if (a->bytes != b->bytes)
      return a->bytes > b->bytes;
    return a->first < b->first;
  });
  struct Placed {
    size_t begin, end;
    const Lifetime *life;
  };
  std::vector<Placed> placed;
  for (const Lifetime *l : order) {
    size_t size = alignUp(std::max<size_t>(l->bytes, 1));
    // Ranges taken by temps live at the same time, by start offset.
    std::vector<std::pair<size_t, size_t>> busy;
    for (const Placed &p : placed)
      if (p.life->first <= l->last && l->first <= p.life->last)
        busy.emplace_back(p.begin, p.end);
    std::sort(busy.begin(), busy.end());
    // Best fit: the smallest gap that holds `size`, else the end.
    size_t cursor = 0, best = SIZE_MAX, bestGap = SIZE_MAX;
    for (const auto &[begin, end] : busy) {
      if (begin > cursor && begin - cursor >= size && begin - cursor < bestGap) {
        best = cursor;
        bestGap = begin - cursor;
      }
      cursor = std::max(cursor, end);
    }
    if (best == SIZE_MAX)
      best = cursor;
    placed.push_back({best, best + size, l});
    plan.offsets[l->buffer] = static_cast<int64_t>(best);
    plan.arenaBytes = std::max(plan.arenaBytes, best + size);
  }
  return plan;
}

} // namespace pmc::runtime
