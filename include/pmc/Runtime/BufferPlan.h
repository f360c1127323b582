//===- BufferPlan.h - placing temps in one arena by liveness ----*- C++ -*-===//
#ifndef PMC_RUNTIME_BUFFERPLAN_H
#define PMC_RUNTIME_BUFFERPLAN_H

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace pmc::runtime {

class Command;
struct BufferDesc;

/// The live range of one temp: from the command that writes it to the last
/// command that reads it (or through a view), both inclusive.
struct Lifetime {
  int buffer = 0;
  int first = 0;
  int last = 0;
  size_t bytes = 0;
};

/// Arena offsets of all buffers (-1 for non-temps) and the arena size.
struct ArenaPlan {
  std::vector<int64_t> offsets;
  size_t arenaBytes = 0;
};

/// Every byte placed in the arena starts at a multiple of this.
inline constexpr size_t kArenaAlignment = 64;

/// Bytes all temps of `buffers` take without reuse (each rounded up to
/// kArenaAlignment): what the arena would be without liveness.
size_t tempBytesWithoutReuse(const std::vector<BufferDesc> &buffers);

/// The buffers one command reads and writes, by id.
struct BufferAccess {
  std::vector<int> reads, writes;
};
/// The accesses of each of `commands`, in order.
std::vector<BufferAccess> accessesOf(const std::vector<std::unique_ptr<Command>> &commands);

/// Lifetimes of the temps of a validated program whose commands make the
/// `accesses`, in order. Program outputs stay live to the end
/// (`accesses.size()`). Views extend the lifetime of their root.
std::vector<Lifetime> computeLifetimes(const std::vector<BufferDesc> &buffers,
                                       const std::vector<BufferAccess> &accesses,
                                       const std::vector<int> &outputs);

/// Assigns offsets greedily by decreasing size: each temp goes to the lowest
/// 64-byte aligned offset that does not overlap a placed temp whose lifetime
/// intersects its own. `numBuffers` sizes the result's `offsets`.
///
///   ArenaPlan plan = assignOffsets({{0, 0, 1, 256}, {1, 1, 2, 256},
///                                   {2, 2, 3, 256}}, 3);
///   // buffers 0 and 2 share offset 0; arenaBytes == 512
ArenaPlan assignOffsets(const std::vector<Lifetime> &lifetimes, size_t numBuffers);

} // namespace pmc::runtime

#endif // PMC_RUNTIME_BUFFERPLAN_H
