//===- NcclPacking.h - strided copies around NCCL's leading-dim collectives -===//
//
// NCCL gathers and scatters along the leading dimension of flat buffers.
// planPacking() says, for a collective along any dim, which strided copies to
// make before and after the NCCL call and between which buffers; it is pure
// arithmetic, so NcclPackingTest checks it on the host against
// combineCollective, and NcclCommunicator turns each copy into one
// cuMemcpy2DAsync.
//
#ifndef PMC_LIB_RUNTIME_CUDA_NCCLPACKING_H
#define PMC_LIB_RUNTIME_CUDA_NCCLPACKING_H

#include "pmc/Runtime/Comm/Communicator.h"

#include <cstddef>
#include <vector>

namespace pmc::runtime::cuda {

/// The buffers a plan refers to: the call's in and out, and two staging
/// buffers allocated for the call.
enum class PackBuffer { In, Out, SendStage, RecvStage };

/// `rows` rows of `width` bytes from src + srcOffset (rows srcPitch apart)
/// to dst + dstOffset (rows dstPitch apart).
struct StridedCopy {
  PackBuffer src, dst;
  size_t srcOffset, srcPitch, dstOffset, dstPitch, width, rows;
};

struct PackingPlan {
  std::vector<StridedCopy> before;
  /// The NCCL call reads `ncclSrc` and writes `ncclDst`. All-gather: `block`
  /// bytes per rank; reduce-scatter: `block` bytes of result per rank;
  /// all-to-all: `block` bytes to and from each rank, rank-major.
  PackBuffer ncclSrc = PackBuffer::In, ncclDst = PackBuffer::Out;
  size_t block = 0;
  std::vector<StridedCopy> after;
  size_t sendStageBytes = 0, recvStageBytes = 0;
};

/// The plan of an all-gather, reduce-scatter or all-to-all (`call.kind`) over
/// `groupSize` ranks; all-reduce needs none (an empty plan, block = bytes).
/// `call`'s shapes and dims must have been checked.
PackingPlan planPacking(const CollectiveCall &call, int groupSize);

} // namespace pmc::runtime::cuda

#endif // PMC_LIB_RUNTIME_CUDA_NCCLPACKING_H
