//===- CudaPlanningTest.cpp - the CUDA executor's decisions, without a GPU -===//

#include "pmc/Runtime/CUDA/CudaPlanning.h"
#include "pmc/Runtime/Error.h"
#include "pmc/Runtime/Comm/Mesh.h"
#include "pmc/Support/HostTensor.h"

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <numeric>
#include <random>

using namespace pmc;
using namespace pmc::runtime;
using namespace pmc::runtime::cuda;

namespace {

std::string errorOf(const std::function<void()> &f) {
  try {
    f();
  } catch (const RuntimeError &e) {
    return e.what();
  }
  return "";
}

//===----------------------------------------------------------------------===//
// PTX chip selection
//===----------------------------------------------------------------------===//

TEST(CudaChip, NewestNotAboveTheDevice) {
  std::vector<std::string> chips = {"sm_80", "sm_90"};
  EXPECT_EQ(chips[selectPtxChip(chips, 9, 0)], "sm_90");
  EXPECT_EQ(chips[selectPtxChip(chips, 8, 6)], "sm_80");
  EXPECT_EQ(chips[selectPtxChip(chips, 8, 0)], "sm_80");
  EXPECT_EQ(chips[selectPtxChip(chips, 10, 0)], "sm_90"); // Blackwell JITs sm_90 PTX
  EXPECT_EQ(chips[selectPtxChip(chips, 12, 0)], "sm_90");
  // Order in the manifest does not matter.
  std::vector<std::string> reversed = {"sm_90", "sm_80"};
  EXPECT_EQ(reversed[selectPtxChip(reversed, 8, 9)], "sm_80");
}

TEST(CudaChip, NoneFitsNamesTheChipsAndTheDevice) {
  std::string msg = errorOf([] { selectPtxChip({"sm_80", "sm_90"}, 7, 5, "Tesla T4"); });
  EXPECT_NE(msg.find("Tesla T4"), std::string::npos) << msg;
  EXPECT_NE(msg.find("compute capability 7.5"), std::string::npos) << msg;
  EXPECT_NE(msg.find("sm_80, sm_90"), std::string::npos) << msg;
  EXPECT_NE(errorOf([] { selectPtxChip({}, 9, 0); }).find("no chip"), std::string::npos);
}

TEST(CudaChip, ArchSpecificChipsOnlyOnTheirCapability) {
  std::vector<std::string> chips = {"sm_80", "sm_90a"};
  EXPECT_EQ(chips[selectPtxChip(chips, 9, 0)], "sm_90a");
  EXPECT_EQ(chips[selectPtxChip(chips, 10, 0)], "sm_80");
  EXPECT_TRUE(parseChip("sm_90a").archSpecific);
  EXPECT_EQ(parseChip("sm_100").capability, 100);
  EXPECT_TRUE(parseChip("sm_100f").familySpecific);
  for (const char *bad : {"compute_90", "sm_", "sm_9x", "sm_90ab", "90"})
    EXPECT_NE(errorOf([&] { parseChip(bad); }).find("is not of the form"), std::string::npos)
        << bad;
}

//===----------------------------------------------------------------------===//
// Row-major matmul on column-major cuBLASLt
//===----------------------------------------------------------------------===//

/// Row-major numpy matmul with broadcasting, the specification.
std::vector<double> referenceMatmul(const std::vector<double> &a, const std::vector<int64_t> &sa,
                                    const std::vector<double> &b, const std::vector<int64_t> &sb,
                                    const std::vector<int64_t> &sc, bool ta, bool tb) {
  size_t ra = sa.size(), rb = sb.size(), rc = sc.size();
  int64_t m = sc[rc - 2], n = sc[rc - 1], k = ta ? sa[ra - 2] : sa[ra - 1];
  int64_t batches = 1;
  for (size_t d = 0; d + 2 < rc; ++d)
    batches *= sc[d];
  std::vector<double> c(batches * m * n, 0);
  for (int64_t i = 0; i < batches; ++i) {
    // The batch index of c, mapped onto a and b with broadcasting.
    std::vector<int64_t> idx(rc - 2);
    int64_t rest = i;
    for (size_t d = rc - 2; d-- > 0;) {
      idx[d] = rest % sc[d];
      rest /= sc[d];
    }
    auto offset = [&](const std::vector<int64_t> &s) {
      int64_t o = 0;
      size_t nb = s.size() - 2, skip = (rc - 2) - nb;
      for (size_t d = 0; d < nb; ++d)
        o = o * s[d] + (s[d] == 1 ? 0 : idx[skip + d]);
      return o * s[s.size() - 2] * s[s.size() - 1];
    };
    int64_t oa = offset(sa), ob = offset(sb);
    int64_t a1 = sa[ra - 1], b1 = sb[rb - 1];
    for (int64_t r = 0; r < m; ++r)
      for (int64_t col = 0; col < n; ++col) {
        double acc = 0;
        for (int64_t x = 0; x < k; ++x) {
          double av = ta ? a[oa + x * a1 + r] : a[oa + r * a1 + x];
          double bv = tb ? b[ob + col * b1 + x] : b[ob + x * b1 + col];
          acc += av * bv;
        }
        c[i * m * n + r * n + col] = acc;
      }
  }
  return c;
}

/// What cuBLASLt computes from the plan: column-major D = op(A) op(B),
/// A read from pmc's b and B from pmc's a.
std::vector<double> runPlan(const LtMatmulPlan &p, const std::vector<double> &a,
                            const std::vector<double> &b) {
  std::vector<double> c(p.batches * p.m * p.n, -1);
  for (int64_t i = 0; i < p.batches; ++i) {
    int64_t oA = p.strided ? i * p.layoutA.batchStride : p.offsetsA[i];
    int64_t oB = p.strided ? i * p.layoutB.batchStride : p.offsetsB[i];
    int64_t oD = i * p.layoutD.batchStride;
    // D is layoutD.rows x layoutD.cols = n x m; K = k.
    for (uint64_t r = 0; r < p.layoutD.rows; ++r)
      for (uint64_t col = 0; col < p.layoutD.cols; ++col) {
        double acc = 0;
        for (int64_t x = 0; x < p.k; ++x) {
          // op(A)(r, x); A stored rows x cols with ld.
          double av = p.transA ? b[oA + r * p.layoutA.ld + x] : b[oA + x * p.layoutA.ld + r];
          double bv = p.transB ? a[oB + x * p.layoutB.ld + col] : a[oB + col * p.layoutB.ld + x];
          acc += av * bv;
        }
        c[oD + col * p.layoutD.ld + r] = acc;
      }
  }
  return c;
}

std::vector<double> iota(const std::vector<int64_t> &shape, double scale) {
  int64_t n = std::accumulate(shape.begin(), shape.end(), int64_t(1), std::multiplies<>());
  std::vector<double> v(n);
  std::mt19937 gen(static_cast<unsigned>(n));
  std::uniform_int_distribution<int> dist(-4, 4);
  for (double &x : v)
    x = dist(gen) * scale;
  return v;
}

struct MatmulCase {
  std::vector<int64_t> a, b, c;
  bool ta, tb;
  bool strided;
};

class CudaMatmulLayout : public ::testing::TestWithParam<MatmulCase> {};

TEST_P(CudaMatmulLayout, ComputesTheRowMajorProduct) {
  const MatmulCase &mc = GetParam();
  LtMatmulPlan p = planLtMatmul(mc.a, mc.b, mc.c, mc.ta, mc.tb);
  EXPECT_EQ(p.strided, mc.strided);
  std::vector<double> a = iota(mc.a, 1.0), b = iota(mc.b, 0.5);
  EXPECT_EQ(runPlan(p, a, b), referenceMatmul(a, mc.a, b, mc.b, mc.c, mc.ta, mc.tb));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, CudaMatmulLayout,
    ::testing::Values(MatmulCase{{2, 3}, {3, 4}, {2, 4}, false, false, true},
                      MatmulCase{{3, 2}, {3, 4}, {2, 4}, true, false, true},
                      MatmulCase{{2, 3}, {4, 3}, {2, 4}, false, true, true},
                      MatmulCase{{3, 2}, {4, 3}, {2, 4}, true, true, true},
                      // A shared weight: b's batch stride is 0.
                      MatmulCase{{5, 2, 3}, {3, 4}, {5, 2, 4}, false, false, true},
                      MatmulCase{{3, 2}, {5, 4, 3}, {5, 2, 4}, true, true, true},
                      MatmulCase{{2, 3, 2, 3}, {2, 3, 3, 4}, {2, 3, 2, 4}, false, false, true},
                      // Broadcast both ways: no single stride, one call per batch.
                      MatmulCase{{2, 1, 2, 3}, {1, 3, 3, 4}, {2, 3, 2, 4}, false, false, false},
                      MatmulCase{{1, 1}, {1, 7}, {1, 7}, false, false, true}));

TEST(CudaMatmulLayout, PlainGemmLayouts) {
  // c[2x4] = a[2x3] b[3x4]: cuBLASLt computes c^T[4x2] = b^T[4x3] a^T[3x2].
  LtMatmulPlan p = planLtMatmul({2, 3}, {3, 4}, {2, 4}, false, false);
  EXPECT_FALSE(p.transA);
  EXPECT_FALSE(p.transB);
  EXPECT_EQ(p.layoutA.rows, 4u);
  EXPECT_EQ(p.layoutA.cols, 3u);
  EXPECT_EQ(p.layoutA.ld, 4);
  EXPECT_EQ(p.layoutB.rows, 3u);
  EXPECT_EQ(p.layoutB.cols, 2u);
  EXPECT_EQ(p.layoutB.ld, 3);
  EXPECT_EQ(p.layoutD.rows, 4u);
  EXPECT_EQ(p.layoutD.cols, 2u);
  EXPECT_EQ(p.layoutD.ld, 4);
  // trans_a / trans_b swap onto cuBLASLt's B / A.
  LtMatmulPlan t = planLtMatmul({3, 2}, {3, 4}, {2, 4}, true, false);
  EXPECT_TRUE(t.transB);
  EXPECT_FALSE(t.transA);
}

TEST(CudaMatmulLayout, RejectsBadShapes) {
  EXPECT_NE(errorOf([] { planLtMatmul({2, 3}, {4, 5}, {2, 5}, false, false); })
                .find("contraction sizes differ"),
            std::string::npos);
  EXPECT_NE(errorOf([] { planLtMatmul({2, 3}, {3, 5}, {2, 4}, false, false); })
                .find("must end in 2x5"),
            std::string::npos);
  EXPECT_NE(errorOf([] { planLtMatmul({2, 2, 3}, {3, 3, 5}, {2, 2, 5}, false, false); })
                .find("do not broadcast"),
            std::string::npos);
  EXPECT_NE(errorOf([] { planLtMatmul({3}, {3, 5}, {5}, false, false); }).find("rank >= 2"),
            std::string::npos);
}

//===----------------------------------------------------------------------===//
// Launch arguments
//===----------------------------------------------------------------------===//

TEST(CudaLaunchArgs, OneDeviceAddressPerArgument) {
  std::vector<uint64_t> addresses = {0x1000, 0x2000, 0x3000};
  KernelParams params({2, 0, 2}, addresses);
  ASSERT_EQ(params.values(), (std::vector<uint64_t>{0x3000, 0x1000, 0x3000}));
  void **p = params.params();
  ASSERT_NE(p, nullptr);
  // cuLaunchKernel reads each parameter through its pointer (.param .u64).
  EXPECT_EQ(*static_cast<uint64_t *>(p[0]), 0x3000u);
  EXPECT_EQ(*static_cast<uint64_t *>(p[1]), 0x1000u);
  EXPECT_EQ(*static_cast<uint64_t *>(p[2]), 0x3000u);
  EXPECT_EQ(sizeof(*static_cast<uint64_t *>(p[0])), 8u);
  // Moving keeps the pointers valid.
  KernelParams moved = std::move(params);
  EXPECT_EQ(*static_cast<uint64_t *>(moved.params()[1]), 0x1000u);
  EXPECT_EQ(moved.params()[1], &moved.values()[1]);
  KernelParams none({}, addresses);
  EXPECT_EQ(none.params(), nullptr);
  EXPECT_NE(errorOf([&] { KernelParams bad({3}, addresses); }).find("buffer 3"),
            std::string::npos);
}

//===----------------------------------------------------------------------===//
// Block copies
//===----------------------------------------------------------------------===//

/// Applies the copies to host memory.
std::vector<float> applyCopies(const std::vector<Copy2D> &copies, const std::vector<float> &src,
                               size_t dstElements) {
  std::vector<float> dst(dstElements, -1);
  const char *s = reinterpret_cast<const char *>(src.data());
  char *d = reinterpret_cast<char *>(dst.data());
  for (const Copy2D &c : copies)
    for (size_t row = 0; row < c.height; ++row)
      std::memcpy(d + c.dstOffset + row * c.dstPitch, s + c.srcOffset + row * c.srcPitch,
                  c.widthBytes);
  return dst;
}

TEST(CudaBlockCopy, ColumnBlockIsOne2DCopy) {
  std::vector<Copy2D> copies = planBlockCopy({4, 6}, {0, 3}, {4, 3}, 4);
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0].srcOffset, 12u);
  EXPECT_EQ(copies[0].widthBytes, 12u);
  EXPECT_EQ(copies[0].height, 4u);
  EXPECT_EQ(copies[0].srcPitch, 24u);
  EXPECT_EQ(copies[0].dstPitch, 12u);
  // A row block is one contiguous copy.
  copies = planBlockCopy({4, 6}, {2, 0}, {2, 6}, 4);
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0].srcOffset, 48u);
  EXPECT_EQ(copies[0].widthBytes, 48u);
  EXPECT_EQ(copies[0].height, 1u);
}

TEST(CudaBlockCopy, MatchesCopyBlock) {
  std::vector<int64_t> src = {3, 4, 6, 2};
  std::vector<float> data(3 * 4 * 6 * 2);
  std::iota(data.begin(), data.end(), 0.0f);
  for (auto [offsets, shape] :
       std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>>{
           {{0, 2, 0, 0}, {3, 2, 6, 2}},
           {{1, 0, 3, 0}, {1, 4, 3, 2}},
           {{0, 1, 2, 1}, {3, 2, 2, 1}},
           {{0, 0, 0, 0}, {3, 4, 6, 2}}}) {
    size_t n = std::accumulate(shape.begin(), shape.end(), size_t(1), std::multiplies<>());
    std::vector<float> expected(n);
    copyBlock(data.data(), src, offsets, expected.data(), shape,
              std::vector<int64_t>(shape.size(), 0), shape, sizeof(float));
    EXPECT_EQ(applyCopies(planBlockCopy(src, offsets, shape, 4), data, n), expected)
        << shapeToString(offsets) << " " << shapeToString(shape);
  }
  EXPECT_NE(errorOf([] { planBlockCopy({4}, {3}, {2}, 4); }).find("exceeds"), std::string::npos);
}

//===----------------------------------------------------------------------===//
// Stream waits
//===----------------------------------------------------------------------===//

CommandAccess compute(std::vector<ByteRange> reads, std::vector<ByteRange> writes) {
  return {false, std::move(reads), std::move(writes)};
}
CommandAccess collective(ByteRange in, ByteRange out) { return {true, {in}, {out}}; }

TEST(CudaStreams, IndependentComputeOverlapsACollective) {
  ByteRange a{-1, 0, 64}, b{-1, 64, 128}, c{-1, 128, 192}, d{-1, 192, 256};
  auto waits = planCollectiveWaits({
      compute({}, {a}),       // 0: writes a
      collective(a, b),       // 1: all_reduce a -> b on the comm stream
      compute({}, {c}),       // 2: independent: no wait
      compute({c}, {d}),      // 3: independent: no wait
      compute({b, d}, {c}),   // 4: reads b: waits for 1
  });
  ASSERT_EQ(waits.size(), 6u);
  EXPECT_TRUE(waits[2].empty());
  EXPECT_TRUE(waits[3].empty());
  EXPECT_EQ(waits[4], std::vector<int>{1});
  EXPECT_TRUE(waits[5].empty()); // joined already
}

TEST(CudaStreams, ReuseOfACollectivesMemoryWaits) {
  ByteRange in{-1, 0, 64}, out{-1, 64, 128}, other{-1, 256, 320};
  // Command 2 writes over the collective's input (arena reuse): it must wait.
  auto waits = planCollectiveWaits({compute({}, {in}), collective(in, out),
                                    compute({}, {{-1, 32, 96}}), compute({}, {other})});
  EXPECT_EQ(waits[2], std::vector<int>{1});
  EXPECT_TRUE(waits[3].empty());
  // Reading the collective's input is no hazard; the end joins it.
  waits = planCollectiveWaits({compute({}, {in}), collective(in, out), compute({in}, {other})});
  EXPECT_TRUE(waits[2].empty());
  EXPECT_EQ(waits[3], std::vector<int>{1});
  // Different spaces never overlap.
  EXPECT_FALSE((ByteRange{0, 0, 64}).overlaps(ByteRange{1, 0, 64}));
}

TEST(CudaStreams, WaitingForALaterCollectiveCoversEarlierOnes) {
  ByteRange a{-1, 0, 64}, b{-1, 64, 128}, c{-1, 128, 192}, d{-1, 192, 256};
  auto waits = planCollectiveWaits({compute({}, {a}), compute({}, {c}), collective(a, b),
                                    collective(c, d), compute({d}, {{-1, 512, 576}}),
                                    compute({b}, {{-1, 576, 640}})});
  EXPECT_EQ(waits[4], std::vector<int>{3});
  EXPECT_TRUE(waits[5].empty()); // collective 2 finished before 3
  EXPECT_TRUE(waits[6].empty());
}

//===----------------------------------------------------------------------===//
// Graph capture
//===----------------------------------------------------------------------===//

TEST(CudaGraphs, Eligibility) {
  EXPECT_TRUE(decideGraphCapture(true, 5, 0, false).capture);
  EXPECT_TRUE(decideGraphCapture(true, 5, 2, true).capture); // NCCL
  GraphDecision staged = decideGraphCapture(true, 5, 2, false);
  EXPECT_FALSE(staged.capture);
  EXPECT_NE(staged.reason.find("host memory"), std::string::npos);
  EXPECT_FALSE(decideGraphCapture(false, 5, 0, true).capture);
  EXPECT_EQ(decideGraphCapture(false, 5, 0, true).reason, "disabled");
  EXPECT_FALSE(decideGraphCapture(true, 0, 0, true).capture);
}

} // namespace
