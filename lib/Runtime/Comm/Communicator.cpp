//===- Communicator.cpp - checked collectives and their shared arithmetic --===//

#include "pmc/Runtime/Comm/Communicator.h"
#include "pmc/Runtime/Comm/Mesh.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <type_traits>

namespace pmc::runtime {

const char *reductionName(Reduction r) { return r == Reduction::Sum ? "sum" : "max"; }

std::string CollectiveSite::describe() const {
  std::string s = kind;
  if (command >= 0 || !axes.empty()) {
    s += " (";
    if (command >= 0)
      s += "command " + std::to_string(command) + ", ";
    s += "axes [";
    for (size_t i = 0; i < axes.size(); ++i)
      s += (i ? ", " : "") + axes[i];
    s += "])";
  }
  return s;
}

std::string rankList(const std::vector<int> &ranks) {
  std::string s;
  for (size_t i = 0; i < ranks.size(); ++i)
    s += (i ? ", " : "") + std::to_string(ranks[i]);
  return s;
}

namespace {
size_t denseBytes(DType dtype, const std::vector<int64_t> &shape) {
  size_t n = dtypeSize(dtype);
  for (int64_t d : shape)
    n *= static_cast<size_t>(d);
  return n;
}
} // namespace

size_t CollectiveCall::inBytes() const { return denseBytes(dtype, inShape); }
size_t CollectiveCall::outBytes() const { return denseBytes(dtype, outShape); }

double defaultCollectiveTimeout() {
  const char *env = std::getenv("PMC_COLLECTIVE_TIMEOUT");
  if (!env || !*env)
    return 60;
  char *end = nullptr;
  double v = std::strtod(env, &end);
  if (*end || !(v > 0) || !std::isfinite(v))
    throw RuntimeError(std::string("PMC_COLLECTIVE_TIMEOUT must be a positive number of "
                                   "seconds, got '") +
                       env + "'");
  return v;
}

Communicator::~Communicator() = default;

void Communicator::run(CollectiveCall call) {
  const std::string where = call.site.describe() + ": ";
  auto it = std::find(call.group.begin(), call.group.end(), rank());
  if (it == call.group.end())
    throw RuntimeError(where + "rank " + std::to_string(rank()) +
                       " is not in its group [" + rankList(call.group) + "]");
  for (int r : call.group)
    if (r < 0 || r >= size())
      throw RuntimeError(where + "group [" + rankList(call.group) + "] names rank " +
                         std::to_string(r) + " of " + std::to_string(size()));
  call.position = static_cast<int>(it - call.group.begin());
  int64_t g = static_cast<int64_t>(call.group.size());
  int rankOf = static_cast<int>(call.inShape.size());
  auto checkDim = [&](int d, const char *what) {
    if (d < 0 || d >= rankOf)
      throw RuntimeError(where + what + " " + std::to_string(d) +
                         " is out of range for shape " + shapeToString(call.inShape));
  };
  call.outShape = call.inShape;
  switch (call.kind) {
  case CollectiveKind::AllReduce:
    break;
  case CollectiveKind::AllGather:
    checkDim(call.dim, "dim");
    call.outShape[call.dim] *= g;
    break;
  case CollectiveKind::ReduceScatter:
    checkDim(call.dim, "dim");
    if (call.inShape[call.dim] % g)
      throw RuntimeError(where + "dim " + std::to_string(call.dim) + " of shape " +
                         shapeToString(call.inShape) + " does not split into " +
                         std::to_string(g) + " parts");
    call.outShape[call.dim] /= g;
    break;
  case CollectiveKind::AllToAll:
    checkDim(call.splitDim, "split_dim");
    checkDim(call.concatDim, "concat_dim");
    if (call.inShape[call.splitDim] % g)
      throw RuntimeError(where + "split_dim " + std::to_string(call.splitDim) +
                         " of shape " + shapeToString(call.inShape) +
                         " does not split into " + std::to_string(g) + " parts");
    call.outShape[call.splitDim] /= g;
    call.outShape[call.concatDim] *= g;
    break;
  }
  collective(call);
}

void Communicator::allReduce(const void *in, void *out, DType dtype,
                             const std::vector<int64_t> &shape, Reduction reduction,
                             const std::vector<int> &group, const CollectiveSite &site) {
  CollectiveCall c;
  c.kind = CollectiveKind::AllReduce;
  c.in = in, c.out = out, c.dtype = dtype, c.inShape = shape, c.reduction = reduction;
  c.group = group, c.site = site;
  run(std::move(c));
}

void Communicator::allGather(const void *in, void *out, DType dtype,
                             const std::vector<int64_t> &inShape, int dim,
                             const std::vector<int> &group, const CollectiveSite &site) {
  CollectiveCall c;
  c.kind = CollectiveKind::AllGather;
  c.in = in, c.out = out, c.dtype = dtype, c.inShape = inShape, c.dim = dim;
  c.group = group, c.site = site;
  run(std::move(c));
}

void Communicator::reduceScatter(const void *in, void *out, DType dtype,
                                 const std::vector<int64_t> &inShape, int dim,
                                 Reduction reduction, const std::vector<int> &group,
                                 const CollectiveSite &site) {
  CollectiveCall c;
  c.kind = CollectiveKind::ReduceScatter;
  c.in = in, c.out = out, c.dtype = dtype, c.inShape = inShape, c.dim = dim;
  c.reduction = reduction, c.group = group, c.site = site;
  run(std::move(c));
}

void Communicator::allToAll(const void *in, void *out, DType dtype,
                            const std::vector<int64_t> &inShape, int splitDim,
                            int concatDim, const std::vector<int> &group,
                            const CollectiveSite &site) {
  CollectiveCall c;
  c.kind = CollectiveKind::AllToAll;
  c.in = in, c.out = out, c.dtype = dtype, c.inShape = inShape;
  c.splitDim = splitDim, c.concatDim = concatDim, c.group = group, c.site = site;
  run(std::move(c));
}

//===----------------------------------------------------------------------===//
// Element-wise reduction.
//===----------------------------------------------------------------------===//

namespace {

template <typename T>
void reduceTyped(Reduction r, const std::vector<const void *> &inputs, size_t offset,
                 size_t count, void *out) {
  T *o = static_cast<T *>(out);
  for (size_t e = 0; e < count; ++e) {
    T acc = static_cast<const T *>(inputs[0])[offset + e];
    for (size_t i = 1; i < inputs.size(); ++i) {
      T v = static_cast<const T *>(inputs[i])[offset + e];
      if (r == Reduction::Max) {
        // NaN propagates, as in numpy's maximum.
        if constexpr (std::is_floating_point_v<T>)
          acc = (std::isnan(acc) || std::isnan(v)) ? NAN : std::max(acc, v);
        else
          acc = std::max(acc, v);
      } else if constexpr (std::is_integral_v<T>) {
        using U = std::make_unsigned_t<T>;
        acc = static_cast<T>(static_cast<U>(acc) + static_cast<U>(v)); // wraps
      } else {
        acc += v;
      }
    }
    o[e] = acc;
  }
}

template <float (*Load)(uint16_t), uint16_t (*Store)(float)>
void reduce16(Reduction r, const std::vector<const void *> &inputs, size_t offset,
              size_t count, void *out) {
  uint16_t *o = static_cast<uint16_t *>(out);
  for (size_t e = 0; e < count; ++e) {
    float acc = Load(static_cast<const uint16_t *>(inputs[0])[offset + e]);
    for (size_t i = 1; i < inputs.size(); ++i) {
      float v = Load(static_cast<const uint16_t *>(inputs[i])[offset + e]);
      if (r == Reduction::Sum)
        acc += v;
      else
        acc = (std::isnan(acc) || std::isnan(v)) ? NAN : std::max(acc, v);
    }
    o[e] = Store(acc);
  }
}

void reduceBool(const std::vector<const void *> &inputs, size_t offset, size_t count,
                void *out) {
  uint8_t *o = static_cast<uint8_t *>(out);
  for (size_t e = 0; e < count; ++e) {
    uint8_t acc = 0;
    for (const void *in : inputs)
      acc |= static_cast<const uint8_t *>(in)[offset + e] ? 1 : 0;
    o[e] = acc;
  }
}

} // namespace

void reduceElements(DType dtype, Reduction r, const std::vector<const void *> &inputs,
                    size_t offset, size_t count, void *out) {
  if (inputs.empty() || count == 0)
    return;
  switch (dtype) {
  case DType::Bool: return reduceBool(inputs, offset, count, out);
  case DType::Int8: return reduceTyped<int8_t>(r, inputs, offset, count, out);
  case DType::Int16: return reduceTyped<int16_t>(r, inputs, offset, count, out);
  case DType::Int32: return reduceTyped<int32_t>(r, inputs, offset, count, out);
  case DType::Int64: return reduceTyped<int64_t>(r, inputs, offset, count, out);
  case DType::UInt8: return reduceTyped<uint8_t>(r, inputs, offset, count, out);
  case DType::UInt16: return reduceTyped<uint16_t>(r, inputs, offset, count, out);
  case DType::UInt32: return reduceTyped<uint32_t>(r, inputs, offset, count, out);
  case DType::UInt64: return reduceTyped<uint64_t>(r, inputs, offset, count, out);
  case DType::Float16: return reduce16<pmc::halfToFloat, pmc::floatToHalf>(r, inputs, offset, count, out);
  case DType::BFloat16: return reduce16<pmc::bfloat16ToFloat, pmc::floatToBFloat16>(r, inputs, offset, count, out);
  case DType::Float32: return reduceTyped<float>(r, inputs, offset, count, out);
  case DType::Float64: return reduceTyped<double>(r, inputs, offset, count, out);
  }
}

//===----------------------------------------------------------------------===//
// The four collectives on the group's inputs.
//===----------------------------------------------------------------------===//

void combineCollective(const CollectiveCall &call, const std::vector<const void *> &inputs) {
  const size_t elem = dtypeSize(call.dtype);
  const int64_t g = static_cast<int64_t>(inputs.size());
  const std::vector<int64_t> &in = call.inShape;
  auto product = [](const std::vector<int64_t> &s, size_t from, size_t to) {
    int64_t n = 1;
    for (size_t i = from; i < to; ++i)
      n *= s[i];
    return n;
  };
  switch (call.kind) {
  case CollectiveKind::AllReduce:
    reduceElements(call.dtype, call.reduction, inputs, 0, product(in, 0, in.size()),
                   call.out);
    return;
  case CollectiveKind::AllGather: {
    std::vector<int64_t> zero(in.size(), 0), at(in.size(), 0);
    for (int64_t i = 0; i < g; ++i) {
      at[call.dim] = i * in[call.dim];
      copyBlock(inputs[i], in, zero, call.out, call.outShape, at, in, elem);
    }
    return;
  }
  case CollectiveKind::ReduceScatter: {
    size_t d = static_cast<size_t>(call.dim);
    int64_t outer = product(in, 0, d), inner = product(in, d + 1, in.size());
    int64_t part = call.outShape[d] * inner;
    for (int64_t o = 0; o < outer; ++o)
      reduceElements(call.dtype, call.reduction, inputs,
                     static_cast<size_t>(o * in[d] * inner + call.position * part),
                     static_cast<size_t>(part),
                     static_cast<uint8_t *>(call.out) + o * part * elem);
    return;
  }
  case CollectiveKind::AllToAll: {
    std::vector<int64_t> part = in;
    part[call.splitDim] /= g;
    std::vector<int64_t> from(in.size(), 0), to(in.size(), 0);
    from[call.splitDim] = call.position * part[call.splitDim];
    for (int64_t i = 0; i < g; ++i) {
      to[call.concatDim] = i * part[call.concatDim];
      copyBlock(inputs[i], in, from, call.out, call.outShape, to, part, elem);
    }
    return;
  }
  }
}

} // namespace pmc::runtime
