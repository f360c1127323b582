//===- CudaPlanning.cpp - chip choice, matmul layouts, copies, waits -------===//

#include "pmc/Runtime/CUDA/CudaPlanning.h"
#include "pmc/Runtime/Error.h"
#include "pmc/Support/HostTensor.h"

#include <algorithm>

namespace pmc::runtime::cuda {

Chip parseChip(const std::string &chip) {
  auto bad = [&]() -> Chip {
    throw RuntimeError("PTX chip '" + chip + "' is not of the form sm_<digits>, e.g. sm_90");
  };
  if (chip.rfind("sm_", 0) != 0 || chip.size() < 5)
    return bad();
  size_t i = 3;
  int value = 0;
  while (i < chip.size() && chip[i] >= '0' && chip[i] <= '9' && value < 100000)
    value = value * 10 + (chip[i++] - '0');
  if (i == 3)
    return bad();
  Chip c;
  c.capability = value;
  if (i < chip.size()) {
    if (i + 1 != chip.size() || (chip[i] != 'a' && chip[i] != 'f'))
      return bad();
    c.archSpecific = chip[i] == 'a';
    if (chip[i] == 'f')
      c.familySpecific = true;
  }
  return c;
}

size_t selectPtxChip(const std::vector<std::string> &chips, int major, int minor,
                     const std::string &deviceName) {
  const int device = major * 10 + minor;
  size_t best = chips.size();
  Chip bestChip;
  for (size_t i = 0; i < chips.size(); ++i) {
    Chip c = parseChip(chips[i]);
    bool fits = c.archSpecific     ? c.capability == device
                : c.familySpecific ? c.capability / 10 == major && c.capability <= device
                                   : c.capability <= device;
    if (!fits)
      continue;
    bool better = best == chips.size() || c.capability > bestChip.capability ||
                  (c.capability == bestChip.capability && c.archSpecific &&
                   !bestChip.archSpecific);
    if (better) {
      best = i;
      bestChip = c;
    }
  }
  if (best == chips.size()) {
    std::string list;
    for (const std::string &c : chips)
      list += (list.empty() ? "" : ", ") + c;
    throw RuntimeError("no PTX module fits " + deviceName + " (compute capability " +
                       std::to_string(major) + "." + std::to_string(minor) +
                       "): the bundle has PTX for " + (list.empty() ? "no chip" : list) +
                       "; compile it with a chip at or below sm_" + std::to_string(device));
  }
  return best;
}

LtMatmulPlan planLtMatmul(const std::vector<int64_t> &a, const std::vector<int64_t> &b,
                          const std::vector<int64_t> &c, bool transA, bool transB) {
  for (const auto *s : {&a, &b, &c})
    if (s->size() < 2)
      throw RuntimeError("operand of shape " + shapeToString(*s) + " must have rank >= 2");
  size_t ra = a.size(), rb = b.size(), rc = c.size();
  int64_t a0 = a[ra - 2], a1 = a[ra - 1], b0 = b[rb - 2], b1 = b[rb - 1];
  LtMatmulPlan p;
  p.m = transA ? a1 : a0;
  p.k = transA ? a0 : a1;
  int64_t kb = transB ? b1 : b0;
  p.n = transB ? b0 : b1;
  if (p.k != kb)
    throw RuntimeError("contraction sizes differ: op(a) of " + shapeToString(a) + " is " +
                       std::to_string(p.m) + "x" + std::to_string(p.k) + ", op(b) of " +
                       shapeToString(b) + " is " + std::to_string(kb) + "x" +
                       std::to_string(p.n));
  if (c[rc - 2] != p.m || c[rc - 1] != p.n)
    throw RuntimeError("'c' of shape " + shapeToString(c) + " must end in " +
                       std::to_string(p.m) + "x" + std::to_string(p.n));
  const int64_t maxDim = (int64_t(1) << 31) - 1;
  for (int64_t v : {p.m, p.n, p.k})
    if (v > maxDim)
      throw RuntimeError("a matmul dimension exceeds 2^31-1");

  // cuBLASLt A = pmc b (stored [b0, b1] row-major = b1 x b0 column-major),
  // B = pmc a, D = c^T.
  p.transA = transB;
  p.transB = transA;
  p.layoutA = {static_cast<uint64_t>(b1), static_cast<uint64_t>(b0), std::max<int64_t>(1, b1),
               0};
  p.layoutB = {static_cast<uint64_t>(a1), static_cast<uint64_t>(a0), std::max<int64_t>(1, a1),
               0};
  p.layoutD = {static_cast<uint64_t>(p.n), static_cast<uint64_t>(p.m),
               std::max<int64_t>(1, p.n), p.m * p.n};

  // Batch dims: a's and b's broadcast (right-aligned) must equal c's.
  std::vector<int64_t> ba(a.begin(), a.end() - 2), bb(b.begin(), b.end() - 2),
      bc(c.begin(), c.end() - 2);
  size_t nb = std::max(ba.size(), bb.size());
  if (bc.size() != nb)
    throw RuntimeError("'c' of shape " + shapeToString(c) + " has " +
                       std::to_string(bc.size()) + " batch dims, expected " +
                       std::to_string(nb));
  ba.insert(ba.begin(), nb - ba.size(), 1);
  bb.insert(bb.begin(), nb - bb.size(), 1);
  for (size_t d = 0; d < nb; ++d) {
    if (ba[d] != bb[d] && ba[d] != 1 && bb[d] != 1)
      throw RuntimeError("batch dim " + std::to_string(d) + " of 'a' " + shapeToString(a) +
                         " and 'b' " + shapeToString(b) + " do not broadcast");
    if (bc[d] != (ba[d] == 1 ? bb[d] : ba[d]))
      throw RuntimeError("batch dim " + std::to_string(d) + " of 'c' " + shapeToString(c) +
                         " is " + std::to_string(bc[d]) + ", expected " +
                         std::to_string(ba[d] == 1 ? bb[d] : ba[d]));
  }
  p.batches = 1;
  for (int64_t d : bc)
    p.batches *= d;
  // Element offsets of pmc a and b for each matrix of c, in row-major order.
  std::vector<int64_t> offA(p.batches), offB(p.batches), idx(nb, 0);
  for (int64_t i = 0; i < p.batches; ++i) {
    int64_t oa = 0, ob = 0;
    for (size_t d = 0; d < nb; ++d) {
      oa = oa * ba[d] + (ba[d] == 1 ? 0 : idx[d]);
      ob = ob * bb[d] + (bb[d] == 1 ? 0 : idx[d]);
    }
    offA[i] = oa * a0 * a1;
    offB[i] = ob * b0 * b1;
    for (int64_t d = static_cast<int64_t>(nb) - 1; d >= 0; --d) {
      if (++idx[d] < bc[d])
        break;
      idx[d] = 0;
    }
  }
  // cuBLASLt's operands are pmc's b (A) and a (B).
  p.offsetsA = std::move(offB);
  p.offsetsB = std::move(offA);
  auto uniform = [&](const std::vector<int64_t> &o, int64_t &stride) {
    stride = o.size() > 1 ? o[1] - o[0] : 0;
    for (size_t i = 0; i < o.size(); ++i)
      if (o[i] != static_cast<int64_t>(i) * stride)
        return false;
    return true;
  };
  p.strided = uniform(p.offsetsA, p.layoutA.batchStride) &&
              uniform(p.offsetsB, p.layoutB.batchStride);
  if (!p.strided)
    p.layoutA.batchStride = p.layoutB.batchStride = 0;
  return p;
}

LtEpiloguePlan planLtEpilogue(const LtMatmulPlan &plan, const std::string &activation,
                              const std::vector<int64_t> *biasShape) {
  LtEpiloguePlan e;
  bool bias = biasShape != nullptr;
  if (activation == "none")
    e.epilogue = bias ? LtEpilogue::Bias : LtEpilogue::Default;
  else if (activation == "relu")
    e.epilogue = bias ? LtEpilogue::ReluBias : LtEpilogue::Relu;
  else if (activation == "gelu_tanh")
    e.epilogue = bias ? LtEpilogue::GeluBias : LtEpilogue::Gelu;
  else if (activation == "gelu")
    throw RuntimeError("activation 'gelu' (the erf form) has no cuBLASLt epilogue, whose GELU "
                       "is the tanh approximation (pmc compile --target cuda keeps an erf "
                       "GELU in a kernel)");
  else
    throw RuntimeError("unknown activation '" + activation +
                       "' (none, relu or gelu_tanh on cuda)");
  if (bias) {
    const std::vector<int64_t> &s = *biasShape;
    bool lastDim = !s.empty() && s.back() == plan.n;
    for (size_t d = 0; lastDim && d + 1 < s.size(); ++d)
      lastDim = s[d] == 1;
    if (!lastDim)
      throw RuntimeError("'bias' of shape " + shapeToString(s) + " must be [" +
                         std::to_string(plan.n) + "] or [1, ..., 1, " + std::to_string(plan.n) +
                         "] (the last dim of 'c')");
    // D = c^T is n x m: one bias element per row of D, every column and
    // every batch matrix the same vector.
    e.biasLength = plan.n;
    e.biasBatchStride = 0;
  }
  return e;
}

KernelParams::KernelParams(const std::vector<int> &args,
                           const std::vector<uint64_t> &addresses) {
  addressValues.reserve(args.size());
  for (int id : args) {
    if (id < 0 || static_cast<size_t>(id) >= addresses.size())
      throw RuntimeError("launch argument buffer " + std::to_string(id) +
                         " has no device address");
    addressValues.push_back(addresses[id]);
  }
  pointers.reserve(addressValues.size());
  for (uint64_t &v : addressValues)
    pointers.push_back(&v);
}

std::vector<Copy2D> planBlockCopy(const std::vector<int64_t> &srcShape,
                                  const std::vector<int64_t> &offsets,
                                  const std::vector<int64_t> &dstShape, size_t elementSize) {
  const size_t rank = srcShape.size();
  if (offsets.size() != rank || dstShape.size() != rank)
    throw RuntimeError("block copy: shapes " + shapeToString(srcShape) + " and " +
                       shapeToString(dstShape) + " and offsets of different ranks");
  for (size_t d = 0; d < rank; ++d) {
    if (dstShape[d] == 0)
      return {};
    if (offsets[d] < 0 || offsets[d] + dstShape[d] > srcShape[d])
      throw RuntimeError("block copy: block " + shapeToString(dstShape) + " at " +
                         shapeToString(offsets) + " exceeds " + shapeToString(srcShape));
  }
  // Element strides.
  std::vector<size_t> srcStride(rank, 1), dstStride(rank, 1);
  for (size_t d = rank; d-- > 1;) {
    srcStride[d - 1] = srcStride[d] * static_cast<size_t>(srcShape[d]);
    dstStride[d - 1] = dstStride[d] * static_cast<size_t>(dstShape[d]);
  }
  // `cut`: the last dimension that is not taken whole.
  int cut = -1;
  for (size_t d = 0; d < rank; ++d)
    if (dstShape[d] != srcShape[d])
      cut = static_cast<int>(d);
  size_t total = elementSize;
  for (int64_t v : dstShape)
    total *= static_cast<size_t>(v);
  if (cut < 0)
    return {Copy2D{0, 0, total, 1, total, total}};
  size_t width = static_cast<size_t>(dstShape[cut]) * srcStride[cut] * elementSize;
  size_t base = static_cast<size_t>(offsets[cut]) * srcStride[cut];
  if (cut == 0)
    return {Copy2D{base * elementSize, 0, width, 1, width, width}};
  const int rowDim = cut - 1;
  Copy2D proto;
  proto.widthBytes = width;
  proto.height = static_cast<size_t>(dstShape[rowDim]);
  proto.srcPitch = srcStride[rowDim] * elementSize;
  proto.dstPitch = dstStride[rowDim] * elementSize;
  base += static_cast<size_t>(offsets[rowDim]) * srcStride[rowDim];
  // Enumerate dims [0, rowDim).
  std::vector<Copy2D> copies;
  std::vector<int64_t> idx(rowDim, 0);
  while (true) {
    size_t src = base, dst = 0;
    for (int d = 0; d < rowDim; ++d) {
      src += static_cast<size_t>(offsets[d] + idx[d]) * srcStride[d];
      dst += static_cast<size_t>(idx[d]) * dstStride[d];
    }
    Copy2D c = proto;
    c.srcOffset = src * elementSize;
    c.dstOffset = dst * elementSize;
    copies.push_back(c);
    int d = rowDim - 1;
    for (; d >= 0; --d) {
      if (++idx[d] < dstShape[d])
        break;
      idx[d] = 0;
    }
    if (d < 0)
      break;
  }
  return copies;
}

std::vector<std::vector<int>> planCollectiveWaits(const std::vector<CommandAccess> &commands) {
  auto any = [](const std::vector<ByteRange> &xs, const std::vector<ByteRange> &ys) {
    for (const ByteRange &x : xs)
      for (const ByteRange &y : ys)
        if (x.overlaps(y))
          return true;
    return false;
  };
  std::vector<std::vector<int>> waits(commands.size() + 1);
  std::vector<int> pending;
  for (size_t i = 0; i < commands.size(); ++i) {
    const CommandAccess &cmd = commands[i];
    if (cmd.collective) {
      pending.push_back(static_cast<int>(i));
      continue;
    }
    int last = -1;
    for (size_t p = 0; p < pending.size(); ++p) {
      const CommandAccess &c = commands[pending[p]];
      if (any(c.writes, cmd.reads) || any(c.writes, cmd.writes) || any(c.reads, cmd.writes))
        last = static_cast<int>(p);
    }
    if (last >= 0) {
      waits[i].push_back(pending[last]);
      pending.erase(pending.begin(), pending.begin() + last + 1);
    }
  }
  if (!pending.empty())
    waits.back().push_back(pending.back());
  return waits;
}

GraphDecision decideGraphCapture(bool enabled, size_t commandCount, size_t collectiveCount,
                                 bool collectivesCapturable) {
  if (!enabled)
    return {false, "disabled"};
  if (commandCount == 0)
    return {false, "the program has no commands"};
  if (collectiveCount > 0 && !collectivesCapturable)
    return {false, "its collectives are staged through host memory, which a capture "
                   "cannot contain"};
  return {true, "captured after the first run"};
}

} // namespace pmc::runtime::cuda
