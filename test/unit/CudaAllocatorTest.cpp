//===- CudaAllocatorTest.cpp - size classes, reuse, flush on out-of-memory -===//

#include "pmc/Runtime/CUDA/CudaAllocator.h"
#include "pmc/Runtime/Error.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <set>

using namespace pmc::runtime;
using namespace pmc::runtime::cuda;

namespace {

/// A backend over host memory with a capacity, counting its calls.
struct HostBackend {
  size_t capacity = SIZE_MAX, used = 0, allocs = 0, frees = 0;
  std::map<uint64_t, size_t> blocks;
  CachingAllocator make() {
    return CachingAllocator(
        [this](size_t bytes) -> uint64_t {
          if (used + bytes > capacity)
            return 0;
          void *p = std::aligned_alloc(256, bytes);
          used += bytes;
          ++allocs;
          blocks[reinterpret_cast<uint64_t>(p)] = bytes;
          return reinterpret_cast<uint64_t>(p);
        },
        [this](uint64_t p) {
          used -= blocks.at(p);
          blocks.erase(p);
          ++frees;
          std::free(reinterpret_cast<void *>(p));
        });
  }
};

TEST(CudaAllocator, SizeClasses) {
  EXPECT_EQ(CachingAllocator::sizeClass(0), 0u);
  EXPECT_EQ(CachingAllocator::sizeClass(1), 1024u);
  EXPECT_EQ(CachingAllocator::sizeClass(1024), 1024u);
  EXPECT_EQ(CachingAllocator::sizeClass(1025), 1280u);
  EXPECT_EQ(CachingAllocator::sizeClass(2047), 2048u);
  EXPECT_EQ(CachingAllocator::sizeClass(3000), 3072u);
  EXPECT_EQ(CachingAllocator::sizeClass(1 << 20), size_t(1) << 20);
  EXPECT_EQ(CachingAllocator::sizeClass((1 << 20) + 1), (size_t(1) << 20) + (1 << 18));
  // Every class holds the request, wastes at most 25%, is 256-byte aligned,
  // and classes grow with the request.
  size_t previous = 0;
  for (size_t bytes = 1; bytes < (size_t(1) << 26); bytes = bytes * 9 / 8 + 7) {
    size_t c = CachingAllocator::sizeClass(bytes);
    EXPECT_GE(c, bytes);
    EXPECT_EQ(c % 256, 0u) << bytes;
    if (bytes > 1024)
      EXPECT_LE(c, bytes + bytes / 4) << bytes;
    EXPECT_GE(c, previous);
    previous = c;
  }
}

TEST(CudaAllocator, ReleasedBlocksServeTheSameClass) {
  HostBackend backend;
  {
    CachingAllocator alloc = backend.make();
    uint64_t p = alloc.allocate(1000);
    EXPECT_EQ(p % 256, 0u);
    alloc.release(p);
    EXPECT_EQ(alloc.allocate(900), p); // same class 1024: reused
    uint64_t q = alloc.allocate(5000); // another class: a new block
    EXPECT_NE(q, p);
    AllocatorStats s = alloc.stats();
    EXPECT_EQ(s.backendAllocations, 2u);
    EXPECT_EQ(s.cacheHits, 1u);
    EXPECT_EQ(s.bytesInUse, 1024u + CachingAllocator::sizeClass(5000));
    EXPECT_EQ(s.bytesCached, 0u);
    alloc.release(q);
    EXPECT_EQ(alloc.stats().bytesCached, CachingAllocator::sizeClass(5000));
    EXPECT_EQ(alloc.allocate(0), 0u);
    alloc.release(0);
    EXPECT_THROW(alloc.release(q), RuntimeError); // not handed out any more
    EXPECT_EQ(backend.frees, 0u);
  }
  // The destructor returns every block, used or cached.
  EXPECT_EQ(backend.frees, 2u);
  EXPECT_TRUE(backend.blocks.empty());
}

TEST(CudaAllocator, OutOfMemoryFlushesTheCacheOnce) {
  HostBackend backend;
  backend.capacity = 8192;
  CachingAllocator alloc = backend.make();
  uint64_t a = alloc.allocate(4096), b = alloc.allocate(4096);
  alloc.release(a);
  alloc.release(b);
  // 6144 fits only once the two cached 4096-byte blocks are freed.
  uint64_t c = alloc.allocate(6000);
  EXPECT_NE(c, 0u);
  EXPECT_EQ(alloc.stats().flushes, 1u);
  EXPECT_EQ(alloc.stats().bytesCached, 0u);
  try {
    alloc.allocate(4096);
    FAIL() << "expected out of memory";
  } catch (const RuntimeError &e) {
    EXPECT_NE(std::string(e.what()).find("out of device memory: cannot allocate 4096 bytes"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(alloc.stats().peakBytesInUse, 8192u);
}

} // namespace
