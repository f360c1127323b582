//===- NcclPacking.cpp - the copies around NCCL for collectives along any dim -===//

#include "NcclPacking.h"

namespace pmc::runtime::cuda {

namespace {

size_t product(const std::vector<int64_t> &shape, size_t from, size_t to) {
  size_t p = 1;
  for (size_t i = from; i < to && i < shape.size(); ++i)
    p *= static_cast<size_t>(shape[i]);
  return p;
}

} // namespace

PackingPlan planPacking(const CollectiveCall &call, int groupSize) {
  using B = PackBuffer;
  const size_t n = static_cast<size_t>(groupSize);
  const size_t inBytes = call.inBytes();
  PackingPlan plan;
  switch (call.kind) {
  case CollectiveKind::AllReduce:
    plan.block = inBytes;
    return plan;
  case CollectiveKind::AllGather: {
    // Gather rank blocks [n][outer][row], then interleave into [outer][n][row].
    size_t outer = product(call.inShape, 0, call.dim);
    size_t row = outer ? inBytes / outer : 0;
    plan.block = inBytes;
    if (outer == 1)
      return plan;
    plan.ncclDst = B::RecvStage;
    plan.recvStageBytes = inBytes * n;
    for (size_t g = 0; g < n; ++g)
      plan.after.push_back({B::RecvStage, B::Out, g * inBytes, row, g * row, row * n, row, outer});
    return plan;
  }
  case CollectiveKind::ReduceScatter: {
    // Pack in[outer][n][chunk] rank-major into [n][outer][chunk].
    size_t outer = product(call.inShape, 0, call.dim);
    size_t chunk = outer ? inBytes / outer / n : 0;
    plan.block = inBytes / n;
    if (outer == 1)
      return plan;
    plan.ncclSrc = B::SendStage;
    plan.sendStageBytes = inBytes;
    for (size_t g = 0; g < n; ++g)
      plan.before.push_back(
          {B::In, B::SendStage, g * chunk, chunk * n, g * plan.block, chunk, chunk, outer});
    return plan;
  }
  case CollectiveKind::AllToAll: {
    size_t part = inBytes / n;
    plan.block = part;
    // Send: part j is slice j of splitDim.
    size_t outerS = product(call.inShape, 0, call.splitDim);
    if (outerS != 1 && part) {
      size_t rowS = part / outerS;
      plan.ncclSrc = B::SendStage;
      plan.sendStageBytes = inBytes;
      for (size_t j = 0; j < n; ++j)
        plan.before.push_back({B::In, B::SendStage, j * rowS, rowS * n, j * part, rowS, rowS,
                               outerS});
    }
    // Receive: parts (of the in shape with splitDim / n) concatenated along
    // concatDim in group order.
    std::vector<int64_t> partShape = call.inShape;
    partShape[call.splitDim] /= static_cast<int64_t>(n);
    size_t outerC = product(partShape, 0, call.concatDim);
    if (outerC != 1 && part) {
      size_t rowC = part / outerC;
      plan.ncclDst = B::RecvStage;
      plan.recvStageBytes = inBytes;
      for (size_t j = 0; j < n; ++j)
        plan.after.push_back({B::RecvStage, B::Out, j * part, rowC, j * rowC, rowC * n, rowC,
                              outerC});
    }
    return plan;
  }
  }
  return plan;
}

} // namespace pmc::runtime::cuda
