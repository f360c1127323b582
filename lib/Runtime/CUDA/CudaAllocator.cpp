//===- CudaAllocator.cpp - size classes and free lists over cuMemAlloc ------===//

#include "pmc/Runtime/CUDA/CudaAllocator.h"
#include "pmc/Runtime/Error.h"

#include <string>

namespace pmc::runtime::cuda {

CachingAllocator::CachingAllocator(BackendAlloc alloc, BackendFree free)
    : backendAlloc(std::move(alloc)), backendFree(std::move(free)) {}

CachingAllocator::~CachingAllocator() {
  std::lock_guard<std::mutex> lock(mutex);
  for (const auto &[address, size] : live)
    backendFree(address);
  live.clear();
  emptyCacheLocked();
}

size_t CachingAllocator::sizeClass(size_t bytes) {
  constexpr size_t kMin = 1024;
  if (bytes == 0)
    return 0;
  if (bytes <= kMin)
    return kMin;
  // The power of two at or below `bytes`, split into four steps.
  size_t pow = kMin;
  while (pow <= bytes / 2)
    pow *= 2;
  size_t step = pow / 4;
  if (bytes > SIZE_MAX - step)
    return bytes; // absurd sizes: let the backend refuse them
  return (bytes + step - 1) / step * step;
}

uint64_t CachingAllocator::allocate(size_t bytes) {
  size_t size = sizeClass(bytes);
  if (!size)
    return 0;
  std::lock_guard<std::mutex> lock(mutex);
  uint64_t address = 0;
  auto it = freeLists.find(size);
  if (it != freeLists.end() && !it->second.empty()) {
    address = it->second.back();
    it->second.pop_back();
    counters.bytesCached -= size;
    ++counters.cacheHits;
  } else {
    address = backendAlloc(size);
    if (!address && counters.bytesCached) {
      emptyCacheLocked();
      ++counters.flushes;
      address = backendAlloc(size);
    }
    if (!address)
      throw RuntimeError("out of device memory: cannot allocate " + std::to_string(bytes) +
                         " bytes (" + std::to_string(counters.bytesInUse) +
                         " bytes in use by this executor)");
    ++counters.backendAllocations;
  }
  live.emplace(address, size);
  counters.bytesInUse += size;
  counters.peakBytesInUse = std::max(counters.peakBytesInUse, counters.bytesInUse);
  return address;
}

void CachingAllocator::release(uint64_t address) {
  if (!address)
    return;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = live.find(address);
  if (it == live.end())
    throw RuntimeError("device memory at 0x" + std::to_string(address) +
                       " was not allocated by this allocator");
  size_t size = it->second;
  live.erase(it);
  counters.bytesInUse -= size;
  counters.bytesCached += size;
  freeLists[size].push_back(address);
}

void CachingAllocator::emptyCache() {
  std::lock_guard<std::mutex> lock(mutex);
  emptyCacheLocked();
}

void CachingAllocator::emptyCacheLocked() {
  for (auto &[size, blocks] : freeLists)
    for (uint64_t address : blocks)
      backendFree(address);
  freeLists.clear();
  counters.bytesCached = 0;
}

AllocatorStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mutex);
  return counters;
}

} // namespace pmc::runtime::cuda
