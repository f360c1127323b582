//===- NcclPackingTest.cpp - the NCCL packing plans, simulated on the host --===//
//
// For collectives along every dim of a few shapes and group sizes, runs the
// plan of planPacking() with memcpy (each strided copy row by row) and a
// host model of NCCL's leading-dim all-gather / reduce-scatter / grouped
// send-recv, and compares every rank's output with combineCollective (the
// arithmetic of the host communicators).
//
#include "../../lib/Runtime/CUDA/NcclPacking.h"

#include <gtest/gtest.h>

#include <cstring>
#include <numeric>

using namespace pmc;
using namespace pmc::runtime;
using namespace pmc::runtime::cuda;

namespace {

struct RankBuffers {
  std::vector<float> in, out;
  std::vector<char> send, recv;
  char *at(PackBuffer b) {
    switch (b) {
    case PackBuffer::In: return reinterpret_cast<char *>(in.data());
    case PackBuffer::Out: return reinterpret_cast<char *>(out.data());
    case PackBuffer::SendStage: return send.data();
    case PackBuffer::RecvStage: return recv.data();
    }
    return nullptr;
  }
  void run(const std::vector<StridedCopy> &copies) {
    for (const StridedCopy &c : copies)
      for (size_t r = 0; r < c.rows; ++r)
        std::memcpy(at(c.dst) + c.dstOffset + r * c.dstPitch,
                    at(c.src) + c.srcOffset + r * c.srcPitch, c.width);
  }
};

int64_t count(const std::vector<int64_t> &shape) {
  return std::accumulate(shape.begin(), shape.end(), int64_t(1), std::multiplies<>());
}

/// Simulates `kind` over `n` ranks with the plan and checks it against
/// combineCollective; `dims` = {dim} or {splitDim, concatDim}.
void check(CollectiveKind kind, const std::vector<int64_t> &shape, int n, int d1, int d2 = 0) {
  SCOPED_TRACE(testing::Message() << "kind " << int(kind) << " shape " << shape.size()
                                  << "-d n=" << n << " dims " << d1 << "," << d2);
  CollectiveCall call;
  call.kind = kind;
  call.dtype = DType::Float32;
  call.inShape = shape;
  call.dim = d1;
  call.splitDim = d1;
  call.concatDim = d2;
  call.reduction = Reduction::Sum;
  call.outShape = shape;
  if (kind == CollectiveKind::AllGather)
    call.outShape[d1] *= n;
  if (kind == CollectiveKind::ReduceScatter)
    call.outShape[d1] /= n;
  if (kind == CollectiveKind::AllToAll) {
    call.outShape[d1] /= n;
    call.outShape[d2] *= n;
  }
  for (int r = 0; r < n; ++r)
    call.group.push_back(r);
  const size_t inCount = count(shape), outCount = count(call.outShape);
  PackingPlan plan = planPacking(call, n);

  std::vector<RankBuffers> ranks(n);
  std::vector<const void *> inputs;
  for (int r = 0; r < n; ++r) {
    ranks[r].in.resize(inCount);
    for (size_t i = 0; i < inCount; ++i)
      ranks[r].in[i] = static_cast<float>(r * 1000 + i);
    ranks[r].out.assign(outCount, -1.0f);
    ranks[r].send.resize(plan.sendStageBytes);
    ranks[r].recv.resize(plan.recvStageBytes);
    inputs.push_back(ranks[r].in.data());
  }
  for (RankBuffers &b : ranks)
    b.run(plan.before);
  // NCCL, modeled on flat bytes.
  for (int r = 0; r < n; ++r) {
    char *dst = ranks[r].at(plan.ncclDst);
    for (int j = 0; j < n; ++j) {
      const char *src = ranks[j].at(plan.ncclSrc);
      if (kind == CollectiveKind::AllGather) {
        std::memcpy(dst + j * plan.block, src, plan.block);
      } else if (kind == CollectiveKind::AllToAll) {
        std::memcpy(dst + j * plan.block, src + r * plan.block, plan.block);
      } else { // reduce-scatter of floats: rank r gets block r of the sum
        auto *out = reinterpret_cast<float *>(dst);
        auto *in = reinterpret_cast<const float *>(src + r * plan.block);
        for (size_t i = 0; i < plan.block / 4; ++i)
          out[i] = (j ? out[i] : 0.0f) + in[i];
      }
    }
  }
  for (RankBuffers &b : ranks)
    b.run(plan.after);
  for (int r = 0; r < n; ++r) {
    CollectiveCall mine = call;
    mine.position = r;
    std::vector<float> expected(outCount);
    mine.out = expected.data();
    combineCollective(mine, inputs);
    EXPECT_EQ(ranks[r].out, expected) << "rank " << r;
  }
}

} // namespace

TEST(NcclPacking, AllGatherAlongEveryDim) {
  for (int n : {2, 3})
    for (int d = 0; d < 3; ++d)
      check(CollectiveKind::AllGather, {2, 3, 4}, n, d);
}

TEST(NcclPacking, ReduceScatterAlongEveryDim) {
  check(CollectiveKind::ReduceScatter, {4, 6, 2}, 2, 0);
  check(CollectiveKind::ReduceScatter, {4, 6, 2}, 2, 1);
  check(CollectiveKind::ReduceScatter, {4, 6, 2}, 2, 2);
  check(CollectiveKind::ReduceScatter, {3, 6, 5}, 3, 1);
}

TEST(NcclPacking, AllToAllEverySplitAndConcatDim) {
  for (int s = 0; s < 3; ++s)
    for (int c = 0; c < 3; ++c)
      check(CollectiveKind::AllToAll, {4, 8, 6}, 2, s, c);
  check(CollectiveKind::AllToAll, {6, 3, 6}, 3, 2, 0);
}

TEST(NcclPacking, LeadingDimNeedsNoCopy) {
  CollectiveCall call;
  call.kind = CollectiveKind::AllGather;
  call.inShape = {1, 4, 8};
  call.dim = 1; // dims before it have size 1
  PackingPlan plan = planPacking(call, 4);
  EXPECT_TRUE(plan.before.empty() && plan.after.empty());
  EXPECT_EQ(plan.recvStageBytes, 0u);
  EXPECT_EQ(plan.block, 4u * 8 * 4);
}
