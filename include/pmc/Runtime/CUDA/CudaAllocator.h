//===- CudaAllocator.h - a caching allocator of device memory ---*- C++ -*-===//
//
// cuMemAlloc and cuMemFree synchronize the device and are slow; the executor
// allocates its arena, weights, inputs and workspaces through this cache
// instead. Sizes round up to size classes (four per power of two, at least
// 1 KiB, so at most 25% is wasted and every block is 256-byte aligned as
// cuMemAlloc returns it); a released block goes to the free list of its
// class and serves the next request of that class. When the device is out of
// memory the cache is emptied and the allocation retried once.
//
//   CachingAllocator alloc(rawAlloc, rawFree);
//   uint64_t p = alloc.allocate(1000);   // class 1024: a new block
//   alloc.release(p);
//   uint64_t q = alloc.allocate(900);    // class 1024: the same block again
//
#ifndef PMC_RUNTIME_CUDA_CUDAALLOCATOR_H
#define PMC_RUNTIME_CUDA_CUDAALLOCATOR_H

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace pmc::runtime::cuda {

/// Counters of a CachingAllocator.
struct AllocatorStats {
  /// Blocks obtained from the backend, and requests served from the cache.
  size_t backendAllocations = 0, cacheHits = 0;
  /// Bytes (by class size) handed out now, at most at once, and held in free lists.
  size_t bytesInUse = 0, peakBytesInUse = 0, bytesCached = 0;
  /// Times the cache was emptied to retry a failed backend allocation.
  size_t flushes = 0;
};

class CachingAllocator {
public:
  /// The backend: allocate `bytes` (returns 0 when out of memory, throws on
  /// other errors) and free a block it returned.
  using BackendAlloc = std::function<uint64_t(size_t bytes)>;
  using BackendFree = std::function<void(uint64_t address)>;

  CachingAllocator(BackendAlloc alloc, BackendFree free);
  /// Returns every block to the backend (blocks still in use included).
  ~CachingAllocator();
  CachingAllocator(const CachingAllocator &) = delete;
  CachingAllocator &operator=(const CachingAllocator &) = delete;

  /// The size a request of `bytes` is served with (0 stays 0).
  static size_t sizeClass(size_t bytes);

  /// A block of at least `bytes` (0 for 0 bytes). Throws RuntimeError
  /// naming the size when the backend has no memory even after a flush.
  uint64_t allocate(size_t bytes);
  /// Returns a block from allocate() to its free list (0 is ignored).
  /// Throws RuntimeError for an address it did not hand out.
  void release(uint64_t address);
  /// Frees every cached block.
  void emptyCache();
  AllocatorStats stats() const;

private:
  void emptyCacheLocked();

  BackendAlloc backendAlloc;
  BackendFree backendFree;
  mutable std::mutex mutex;
  /// Free blocks by class size.
  std::map<size_t, std::vector<uint64_t>> freeLists;
  /// Blocks handed out, with their class size.
  std::unordered_map<uint64_t, size_t> live;
  AllocatorStats counters;
};

} // namespace pmc::runtime::cuda

#endif // PMC_RUNTIME_CUDA_CUDAALLOCATOR_H
