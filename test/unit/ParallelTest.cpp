//===- ParallelTest.cpp - mesh, shards, collectives, multi-rank Session ----===//

#include "TestUtil.h"
#include "pmc/Runtime/Comm/LocalCommunicator.h"
#include "pmc/Runtime/Comm/Mesh.h"
#include "pmc/Runtime/Session.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <thread>

using namespace pmc;
using namespace pmc::runtime;
using namespace pmc::test;

namespace {

Mesh mesh2d(const std::string &a, int64_t na, const std::string &b, int64_t nb) {
  Mesh m;
  m.axes = {{a, na}, {b, nb}};
  return m;
}

TEST(Mesh, GroupsFollowRowMajorNumbering) {
  Mesh m = mesh2d("dp", 2, "tp", 4);
  EXPECT_EQ(m.coordinates(6), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(m.group(6, {"tp"}), (std::vector<int>{4, 5, 6, 7}));
  EXPECT_EQ(m.group(6, {"dp"}), (std::vector<int>{2, 6}));
  EXPECT_EQ(m.group(6, {"dp", "tp"}), (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(m.group(6, {"tp", "dp"}), (std::vector<int>{0, 4, 1, 5, 2, 6, 3, 7}));
  EXPECT_EQ(m.positionInGroup(6, {"tp", "dp"}), 5);
  EXPECT_EQ(m.group(6, {}), (std::vector<int>{6}));
  EXPECT_THROW(m.group(0, {"pp"}), RuntimeError);
  EXPECT_THROW(m.group(0, {"tp", "tp"}), RuntimeError);
  EXPECT_THROW(Mesh::parse(R"({"axes": [{"name": "a", "size": 2}]})", 4), RuntimeError);
}

TEST(Sharding, SliceAndAssembleRoundTrip) {
  Mesh m = mesh2d("dp", 2, "tp", 4);
  std::vector<int64_t> shape = {8, 16, 3};
  HostTensor full;
  full.dtype = DType::Int32;
  full.shape = shape;
  full.data.resize(full.numBytes());
  for (int64_t i = 0; i < full.numElements(); ++i)
    reinterpret_cast<int32_t *>(full.data.data())[i] = static_cast<int32_t>(i);
  for (Sharding s : {Sharding{{"dp"}, {"tp"}, {}}, Sharding{{"tp", "dp"}, {}, {}},
                     Sharding{{}, {"dp", "tp"}, {}}, Sharding{{"tp"}, {}, {}}}) {
    checkSharding(s, shape, m, "t");
    std::vector<int64_t> local = localShape(shape, s, m);
    HostTensor back = full;
    std::fill(back.data.begin(), back.data.end(), 0xff);
    for (int r = 0; r < 8; ++r) {
      std::vector<int32_t> shard(local[0] * local[1] * local[2]);
      std::vector<int64_t> off = shardOffsets(shape, s, m, r);
      copyBlock(full.data.data(), shape, off, shard.data(), local, {0, 0, 0}, local, 4);
      // Element (i, j, k) of the shard is element off + (i, j, k) of the tensor.
      int64_t i = local[0] - 1, j = local[1] - 1, k = 2;
      EXPECT_EQ(shard[(i * local[1] + j) * local[2] + k],
                ((off[0] + i) * shape[1] + off[1] + j) * shape[2] + off[2] + k);
      if (isAssemblySource(s, m, r))
        copyBlock(shard.data(), local, {0, 0, 0}, back.data.data(), shape, off, local, 4);
    }
    EXPECT_EQ(back.data, full.data) << shardingToString(s);
  }
  EXPECT_EQ(localShape({8, 12}, {{"tp", "dp"}, {}}, m), (std::vector<int64_t>{1, 12}));
  EXPECT_EQ(shardOffsets({8, 12}, {{"tp", "dp"}, {}}, m, 6), (std::vector<int64_t>{5, 0}));
  EXPECT_THROW(checkSharding({{"tp"}, {}}, {6, 4}, m, "x"), RuntimeError);
  EXPECT_THROW(checkSharding({{"tp"}, {"tp"}}, {8, 4}, m, "x"), RuntimeError);
  EXPECT_THROW(checkSharding({{"pp"}, {}}, {8, 4}, m, "x"), RuntimeError);
}

//===----------------------------------------------------------------------===//
// Collectives against references computed here, every dtype.
//===----------------------------------------------------------------------===//

/// Small integers, exact in every dtype (float16/bfloat16 included).
double inputValue(DType t, int rank, int64_t i) {
  int v = static_cast<int>((rank * 5 + i * 3) % 7);
  if (t == DType::Bool)
    return v % 2;
  bool isUnsigned = t == DType::UInt8 || t == DType::UInt16 || t == DType::UInt32 ||
                    t == DType::UInt64;
  return isUnsigned ? v : v - 3;
}

void store(DType t, void *p, int64_t i, double v) {
  switch (t) {
  case DType::Bool: static_cast<uint8_t *>(p)[i] = v != 0; return;
  case DType::Int8: static_cast<int8_t *>(p)[i] = static_cast<int8_t>(v); return;
  case DType::Int16: static_cast<int16_t *>(p)[i] = static_cast<int16_t>(v); return;
  case DType::Int32: static_cast<int32_t *>(p)[i] = static_cast<int32_t>(v); return;
  case DType::Int64: static_cast<int64_t *>(p)[i] = static_cast<int64_t>(v); return;
  case DType::UInt8: static_cast<uint8_t *>(p)[i] = static_cast<uint8_t>(v); return;
  case DType::UInt16: static_cast<uint16_t *>(p)[i] = static_cast<uint16_t>(v); return;
  case DType::UInt32: static_cast<uint32_t *>(p)[i] = static_cast<uint32_t>(v); return;
  case DType::UInt64: static_cast<uint64_t *>(p)[i] = static_cast<uint64_t>(v); return;
  case DType::Float32: static_cast<float *>(p)[i] = static_cast<float>(v); return;
  case DType::Float64: static_cast<double *>(p)[i] = v; return;
  case DType::BFloat16: {
    float f = static_cast<float>(v);
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    static_cast<uint16_t *>(p)[i] = static_cast<uint16_t>(bits >> 16); // exact here
    return;
  }
  case DType::Float16: {
    // Integers below 2048 are exact: sign, exponent, 10-bit mantissa.
    uint16_t h = 0;
    double a = std::fabs(v);
    if (a != 0) {
      int e = static_cast<int>(std::floor(std::log2(a)));
      uint16_t mant = static_cast<uint16_t>((a / std::ldexp(1.0, e) - 1) * 1024);
      h = static_cast<uint16_t>(((e + 15) << 10) | mant);
    }
    static_cast<uint16_t *>(p)[i] = static_cast<uint16_t>(h | (v < 0 ? 0x8000 : 0));
    return;
  }
  }
}

double load(DType t, const void *p, int64_t i) {
  switch (t) {
  case DType::Bool: return static_cast<const uint8_t *>(p)[i];
  case DType::Int8: return static_cast<const int8_t *>(p)[i];
  case DType::Int16: return static_cast<const int16_t *>(p)[i];
  case DType::Int32: return static_cast<const int32_t *>(p)[i];
  case DType::Int64: return static_cast<double>(static_cast<const int64_t *>(p)[i]);
  case DType::UInt8: return static_cast<const uint8_t *>(p)[i];
  case DType::UInt16: return static_cast<const uint16_t *>(p)[i];
  case DType::UInt32: return static_cast<const uint32_t *>(p)[i];
  case DType::UInt64: return static_cast<double>(static_cast<const uint64_t *>(p)[i]);
  case DType::Float32: return static_cast<const float *>(p)[i];
  case DType::Float64: return static_cast<const double *>(p)[i];
  case DType::BFloat16: {
    uint32_t bits = static_cast<uint32_t>(static_cast<const uint16_t *>(p)[i]) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
  }
  case DType::Float16: {
    uint16_t h = static_cast<const uint16_t *>(p)[i];
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double v = e == 0 ? std::ldexp(m, -24) : std::ldexp(m + 1024, e - 25);
    return (h & 0x8000) ? -v : v;
  }
  }
  return 0;
}

struct Case {
  CollectiveKind kind;
  Reduction reduction = Reduction::Sum;
  int dim = 0, split = 0, concat = 0;
  std::string name;
};

std::vector<int64_t> unravel(int64_t i, const std::vector<int64_t> &shape) {
  std::vector<int64_t> idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = i % shape[d];
    i /= shape[d];
  }
  return idx;
}

int64_t ravel(const std::vector<int64_t> &idx, const std::vector<int64_t> &shape) {
  int64_t i = 0;
  for (size_t d = 0; d < shape.size(); ++d)
    i = i * shape[d] + idx[d];
  return i;
}

/// The expected element `o` of the output of the member at `pos` of `group`.
double reference(const Case &c, DType t, const std::vector<int> &group, int pos,
                 const std::vector<int64_t> &in, const std::vector<int64_t> &out, int64_t o) {
  const int64_t g = static_cast<int64_t>(group.size());
  std::vector<int64_t> idx = unravel(o, out);
  auto reduce = [&](const std::vector<int64_t> &at) {
    double acc = 0;
    for (int64_t m = 0; m < g; ++m) {
      double v = inputValue(t, group[m], ravel(at, in));
      if (m == 0)
        acc = v;
      else if (c.reduction == Reduction::Max)
        acc = std::max(acc, v);
      else
        acc = t == DType::Bool ? std::max(acc, v) : acc + v;
    }
    return acc;
  };
  switch (c.kind) {
  case CollectiveKind::AllReduce:
    return reduce(idx);
  case CollectiveKind::AllGather: {
    int64_t m = idx[c.dim] / in[c.dim];
    idx[c.dim] %= in[c.dim];
    return inputValue(t, group[m], ravel(idx, in));
  }
  case CollectiveKind::ReduceScatter:
    idx[c.dim] += pos * out[c.dim];
    return reduce(idx);
  case CollectiveKind::AllToAll: {
    int64_t part = out[c.concat] / g, splitPart = in[c.split] / g;
    int64_t m = idx[c.concat] / part;
    idx[c.concat] %= part;
    idx[c.split] += pos * splitPart;
    return inputValue(t, group[m], ravel(idx, in));
  }
  }
  return 0;
}

TEST(Collectives, EveryKindDtypeAndGroupOnTwoAxisMeshes) {
  const std::vector<DType> dtypes = {
      DType::Bool,   DType::Int8,    DType::Int16,   DType::Int32,    DType::Int64,
      DType::UInt8,  DType::UInt16,  DType::UInt32,  DType::UInt64,   DType::Float16,
      DType::BFloat16, DType::Float32, DType::Float64};
  const std::vector<Case> cases = {
      {CollectiveKind::AllReduce, Reduction::Sum, 0, 0, 0, "all_reduce sum"},
      {CollectiveKind::AllReduce, Reduction::Max, 0, 0, 0, "all_reduce max"},
      {CollectiveKind::AllGather, Reduction::Sum, 0, 0, 0, "all_gather 0"},
      {CollectiveKind::AllGather, Reduction::Sum, 1, 0, 0, "all_gather 1"},
      {CollectiveKind::ReduceScatter, Reduction::Sum, 1, 0, 0, "reduce_scatter sum 1"},
      {CollectiveKind::ReduceScatter, Reduction::Max, 0, 0, 0, "reduce_scatter max 0"},
      {CollectiveKind::AllToAll, Reduction::Sum, 0, 0, 1, "all_to_all 0->1"},
      {CollectiveKind::AllToAll, Reduction::Sum, 0, 1, 0, "all_to_all 1->0"},
      {CollectiveKind::AllToAll, Reduction::Sum, 0, 1, 1, "all_to_all 1->1"}};
  const std::vector<int64_t> in = {8, 8};
  for (Mesh mesh : {mesh2d("dp", 2, "tp", 2), mesh2d("dp", 2, "tp", 4)}) {
    const int n = static_cast<int>(mesh.size());
    for (std::vector<std::string> axes : std::vector<std::vector<std::string>>{
             {"tp"}, {"dp"}, {"dp", "tp"}, {"tp", "dp"}}) {
      for (DType t : dtypes) {
        for (const Case &c : cases) {
          auto world = std::make_shared<LocalWorld>(n);
          const int64_t g = mesh.groupSize(axes);
          std::vector<int64_t> out = in;
          if (c.kind == CollectiveKind::AllGather)
            out[c.dim] *= g;
          if (c.kind == CollectiveKind::ReduceScatter)
            out[c.dim] /= g;
          if (c.kind == CollectiveKind::AllToAll)
            out[c.split] /= g, out[c.concat] *= g;
          const size_t elem = dtypeSize(t);
          std::vector<std::vector<uint8_t>> ins(n), outs(n);
          std::vector<std::string> errors(n);
          std::vector<std::thread> threads;
          for (int r = 0; r < n; ++r) {
            ins[r].resize(64 * elem);
            for (int64_t i = 0; i < 64; ++i)
              store(t, ins[r].data(), i, inputValue(t, r, i));
            outs[r].resize(out[0] * out[1] * elem);
            threads.emplace_back([&, r] {
              try {
                LocalCommunicator comm(world, r);
                comm.setTimeout(10);
                std::vector<int> group = mesh.group(r, axes);
                CollectiveSite site{c.name, 0, axes};
                void *o = outs[r].data();
                const void *x = ins[r].data();
                switch (c.kind) {
                case CollectiveKind::AllReduce:
                  comm.allReduce(x, o, t, in, c.reduction, group, site);
                  break;
                case CollectiveKind::AllGather:
                  comm.allGather(x, o, t, in, c.dim, group, site);
                  break;
                case CollectiveKind::ReduceScatter:
                  comm.reduceScatter(x, o, t, in, c.dim, c.reduction, group, site);
                  break;
                case CollectiveKind::AllToAll:
                  comm.allToAll(x, o, t, in, c.split, c.concat, group, site);
                  break;
                }
              } catch (const std::exception &e) {
                errors[r] = e.what();
              }
            });
          }
          for (auto &th : threads)
            th.join();
          for (int r = 0; r < n; ++r) {
            ASSERT_EQ(errors[r], "") << c.name;
            std::vector<int> group = mesh.group(r, axes);
            int pos = static_cast<int>(mesh.positionInGroup(r, axes));
            for (int64_t o = 0; o < out[0] * out[1]; ++o)
              ASSERT_EQ(load(t, outs[r].data(), o), reference(c, t, group, pos, in, out, o))
                  << c.name << " " << dtypeName(t) << " mesh " << mesh.toString()
                  << " axes " << axes[0] << (axes.size() > 1 ? "," + axes[1] : "")
                  << " rank " << r << " element " << o;
          }
        }
      }
    }
  }
}

TEST(Collectives, HalfSumsAccumulateInFloat32) {
  // 2048 + 1 + 1 in float16 step by step stays 2048; accumulated in float32
  // it is 2050, which float16 represents exactly.
  auto world = std::make_shared<LocalWorld>(3);
  std::vector<uint16_t> ins = {0x6800 /*2048*/, 0x3c00 /*1*/, 0x3c00};
  std::vector<uint16_t> outs(3);
  std::vector<std::thread> threads;
  for (int r = 0; r < 3; ++r)
    threads.emplace_back([&, r] {
      LocalCommunicator comm(world, r);
      comm.allReduce(&ins[r], &outs[r], DType::Float16, {1}, Reduction::Sum, {0, 1, 2},
                     {"all_reduce", 0, {"x"}});
    });
  for (auto &t : threads)
    t.join();
  for (uint16_t o : outs)
    EXPECT_EQ(o, 0x6801); // 2050
}

TEST(Collectives, TimeoutNamesTheMissingRank) {
  auto world = std::make_shared<LocalWorld>(3);
  std::vector<std::string> errors(3);
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int r = 0; r < 3; ++r)
    threads.emplace_back([&, r] {
      LocalCommunicator comm(world, r);
      comm.setTimeout(0.5);
      float x = 1, y = 0;
      try {
        if (r == 2)
          comm.stall("test");
        else
          comm.allReduce(&x, &y, DType::Float32, {1}, Reduction::Sum, {0, 1, 2},
                         {"all_reduce", 7, {"dp", "tp"}});
      } catch (const CollectiveError &e) {
        errors[r] = e.what();
      }
    });
  for (auto &t : threads)
    t.join();
  double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(elapsed, 2.5);
  for (int r = 0; r < 3; ++r) {
    EXPECT_NE(errors[r].find("all_reduce (command 7, axes [dp, tp])"), std::string::npos)
        << errors[r];
    EXPECT_NE(errors[r].find("rank(s) 2 of group [0, 1, 2] did not arrive"), std::string::npos)
        << errors[r];
  }
}

//===----------------------------------------------------------------------===//
// A 4-rank bundle run by Session.
//===----------------------------------------------------------------------===//

constexpr int64_t kB = 4, kD = 8, kH = 16;

struct Mlp {
  std::string path;
  HostTensor x, w1, w2;
};

json buf(int id, std::vector<int64_t> shape, const std::string &kind) {
  return {{"id", id}, {"dtype", "float32"}, {"shape", shape}, {"kind", kind}};
}

/// y = relu(x w1) w2 with x over dp, w1 columns and w2 rows over tp, and an
/// all_reduce over tp; h = relu(x w1) all-gathered over tp.
Mlp megatronBundle(const TempDir &dir) {
  Mlp m;
  std::string kernels = compileKernelLibrary(dir, R"(
void relu(void **a) {
  const float *x = a[0]; float *y = a[1];
  for (int i = 0; i < 16; ++i) y[i] = x[i] > 0 ? x[i] : 0;
})");
  m.x = randomTensor(DType::Float32, {kB, kD}, 1);
  m.w1 = randomTensor(DType::Float32, {kD, kH}, 2);
  m.w2 = randomTensor(DType::Float32, {kH, kD}, 3);
  json sharded = json::array({json::array({"dp"}), json::array()});
  json x = spec("x", "float32", {kB, kD});
  x["sharding"] = sharded;
  json y = spec("y", "float32", {kB, kD}), h = spec("h", "float32", {kB, kH});
  y["sharding"] = sharded;
  h["sharding"] = sharded;
  json man = manifest(json::array({x}), json::array({y, h}));
  man["devices"] = 4;
  man["mesh"] = {{"axes", {{{"name", "dp"}, {"size", 2}}, {{"name", "tp"}, {"size", 2}}}}};
  man["ranks"] = json::array();
  bundle::BundleWriter w;
  for (int r = 0; r < 4; ++r)
    man["ranks"].push_back({{"rank", r}, {"program", "rank" + std::to_string(r) + ".program"}});
  w.addSection("manifest", man.dump());
  w.addSection("kernels.cpu", kernels);
  for (int t = 0; t < 2; ++t) {
    HostTensor a, b;
    a.dtype = b.dtype = DType::Float32;
    a.shape = {kD, kH / 2};
    b.shape = {kH / 2, kD};
    a.data.resize(a.numBytes());
    b.data.resize(b.numBytes());
    for (int64_t i = 0; i < kD; ++i)
      for (int64_t j = 0; j < kH / 2; ++j)
        setValue(a, i * (kH / 2) + j, valueAt(m.w1, i * kH + t * (kH / 2) + j));
    std::memcpy(b.data.data(), m.w2.data.data() + t * b.numBytes(), b.numBytes());
    w.addSection("w/1/r" + std::to_string(t), bytesOf(a));
    w.addSection("w/2/r" + std::to_string(t), bytesOf(b));
  }
  for (int r = 0; r < 4; ++r) {
    std::string t = std::to_string(r % 2);
    json b0 = buf(0, {2, kD}, "input");
    b0["input"] = 0;
    json b1 = buf(1, {kD, kH / 2}, "weight"), b2 = buf(2, {kH / 2, kD}, "weight");
    b1["section"] = "w/1/r" + t;
    b2["section"] = "w/2/r" + t;
    json p = {{"rank", r},
              {"buffers", {b0, b1, b2, buf(3, {2, kH / 2}, "temp"), buf(4, {2, kH / 2}, "temp"),
                           buf(5, {2, kH}, "temp"), buf(6, {2, kD}, "temp"),
                           buf(7, {2, kD}, "temp")}},
              {"commands",
               {{{"op", "matmul"}, {"a", 0}, {"b", 1}, {"c", 3}},
                {{"op", "kernel"}, {"symbol", "relu"}, {"inputs", {3}}, {"outputs", {4}}},
                {{"op", "all_gather"}, {"in", 4}, {"out", 5}, {"axes", {"tp"}}, {"dim", 1}},
                {{"op", "matmul"}, {"a", 4}, {"b", 2}, {"c", 6}},
                {{"op", "all_reduce"}, {"in", 6}, {"out", 7}, {"axes", {"tp"}},
                 {"reduction", "sum"}}}},
              {"outputs", {7, 5}}};
    w.addSection("rank" + std::to_string(r) + ".program", p.dump());
  }
  m.path = dir.file("mlp.pmc");
  w.write(m.path);
  return m;
}

/// Sets environment variables for the scope of a test.
struct ScopedEnv {
  std::vector<std::string> names;
  void set(const std::string &name, const std::string &value) {
    ::setenv(name.c_str(), value.c_str(), 1);
    names.push_back(name);
  }
  ~ScopedEnv() {
    for (const std::string &n : names)
      ::unsetenv(n.c_str());
  }
};

TEST(MultiRankSession, MegatronMlpMatchesReference) {
  TempDir dir;
  Mlp m = megatronBundle(dir);
  auto s = Session::open(m.path);
  EXPECT_EQ(s->devices(), 4);
  EXPECT_EQ(s->localRanks().size(), 4u);
  for (int run = 0; run < 2; ++run) {
    NamedOutputs out = s->run({{"x", m.x}});
    ASSERT_EQ(out.size(), 2u);
    const HostTensor &y = out[0].second, &h = out[1].second;
    ASSERT_EQ(y.shape, (std::vector<int64_t>{kB, kD}));
    ASSERT_EQ(h.shape, (std::vector<int64_t>{kB, kH}));
    for (int64_t i = 0; i < kB; ++i) {
      std::vector<double> hid(kH);
      for (int64_t j = 0; j < kH; ++j) {
        double a = 0;
        for (int64_t k = 0; k < kD; ++k)
          a += valueAt(m.x, i * kD + k) * valueAt(m.w1, k * kH + j);
        hid[j] = std::max(a, 0.0);
        EXPECT_NEAR(valueAt(h, i * kH + j), hid[j], 1e-5);
      }
      for (int64_t j = 0; j < kD; ++j) {
        double a = 0;
        for (int64_t k = 0; k < kH; ++k)
          a += hid[k] * valueAt(m.w2, k * kD + j);
        EXPECT_NEAR(valueAt(y, i * kD + j), a, 1e-4);
      }
    }
  }
}

TEST(MultiRankSession, StalledRankTimesOutOnEveryRank) {
  TempDir dir;
  Mlp m = megatronBundle(dir);
  ScopedEnv env;
  env.set("PMC_TEST_STALL_RANK", "2");
  SessionOptions options;
  options.collectiveTimeout = 1;
  auto s = Session::open(m.path, options);
  auto start = std::chrono::steady_clock::now();
  try {
    s->run({{"x", m.x}});
    FAIL() << "the run should time out";
  } catch (const CollectiveError &e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("all_gather (command 2, axes [tp]) on rank 3: timed out after 1 s; "
                       "rank(s) 2 of group [2, 3] did not arrive"),
              std::string::npos)
        << msg;
  }
  double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(elapsed, 1 + 2.0);
}

TEST(MultiRankSession, FailingRankFailsTheRun) {
  TempDir dir;
  Mlp m = megatronBundle(dir);
  ScopedEnv env;
  env.set("PMC_TEST_FAIL_RANK", "1");
  env.set("PMC_TEST_FAIL_AT_COMMAND", "3");
  SessionOptions options;
  options.collectiveTimeout = 30;
  auto s = Session::open(m.path, options);
  auto start = std::chrono::steady_clock::now();
  try {
    s->run({{"x", m.x}});
    FAIL() << "the run should fail";
  } catch (const CollectiveError &e) {
    EXPECT_NE(std::string(e.what()).find(
                  "rank 1 failed: rank1.program: command 3 (matmul): test hook: rank 1 fails "
                  "here (PMC_TEST_FAIL_RANK)"),
              std::string::npos)
        << e.what();
  }
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
            5.0);
}

TEST(MultiRankSession, RejectsInconsistentCollectives) {
  TempDir dir;
  Mlp m = megatronBundle(dir);
  bundle::BundleReader::open(m.path); // sanity: the good bundle opens
  auto rewrite = [&](const std::function<void(json &, json &)> &edit) {
    auto r = bundle::BundleReader::open(m.path);
    json man = json::parse(r->section("manifest"));
    json p1 = json::parse(r->section("rank1.program"));
    edit(man, p1);
    bundle::BundleWriter w;
    for (const std::string &name : r->sectionNames()) {
      if (name == "manifest")
        w.addSection(name, man.dump());
      else if (name == "rank1.program")
        w.addSection(name, p1.dump());
      else
        w.addSection(name, std::string(r->section(name)));
    }
    std::string path = dir.file("bad.pmc");
    w.write(path);
    return path;
  };
  auto expectError = [](const std::string &path, const std::string &needle) {
    try {
      Session::open(path);
      ADD_FAILURE() << "expected an error containing: " << needle;
    } catch (const RuntimeError &e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expectError(rewrite([](json &, json &p) { p["buffers"][5]["shape"] = {2, 12}; }),
              "rank1.program: command 2 (all_gather): 'out' buffer 5 (temp float32[2x12]) "
              "should have shape [2x16] ('in' with dim 1 times the group size 2)");
  expectError(rewrite([](json &, json &p) { p["commands"][4]["axes"] = {"pp"}; }),
              "rank1.program: command 4 (all_reduce): field 'axes': axis 'pp' is not an axis "
              "of the mesh [dp=2, tp=2]");
  expectError(rewrite([](json &, json &p) { p["commands"][4]["reduction"] = "prod"; }),
              "command 4 (all_reduce): field 'reduction' is 'prod', expected 'sum' or 'max'");
  expectError(rewrite([](json &man, json &) { man["mesh"]["axes"][1]["size"] = 4; }),
              "manifest: mesh [dp=2, tp=4] has 8 ranks but 'devices' is 4");
  expectError(rewrite([](json &man, json &) {
                man["inputs"][0]["sharding"] = {{"dp", "tp"}, {"tp"}};
              }),
              "manifest: input 'x': sharding [{dp, tp}, {tp}] uses axis 'tp' twice");
  expectError(rewrite([](json &man, json &) { man["inputs"][0]["sharding"] = json::array({json::array(), json::array()}); }),
              "rank0.program: buffer 0 (input float32[2x8]): does not match manifest input "
              "'x: float32[4x8]' (local shape [4x8])");
}

TEST(MultiRankSession, ShardCommandKeepsThisRanksBlock) {
  // mesh tp=2: x replicated, y = shard(x, [{}, {tp}]) assembled back to x.
  TempDir dir;
  json y = spec("y", "int32", {4, 6});
  y["sharding"] = json::array({json::array(), json::array({"tp"})});
  json man = manifest(spec("x", "int32", {4, 6}), json::array({y}), false);
  man["devices"] = 2;
  man["mesh"] = {{"axes", {{{"name", "tp"}, {"size", 2}}}}};
  man["ranks"] = {{{"rank", 0}, {"program", "rank0.program"}},
                  {{"rank", 1}, {"program", "rank1.program"}}};
  bundle::BundleWriter w;
  w.addSection("manifest", man.dump());
  for (int r = 0; r < 2; ++r) {
    json p = {{"rank", r},
              {"buffers",
               {{{"id", 0}, {"dtype", "int32"}, {"shape", {4, 6}}, {"kind", "input"},
                 {"input", 0}},
                {{"id", 1}, {"dtype", "int32"}, {"shape", {4, 3}}, {"kind", "temp"}}}},
              {"commands",
               {{{"op", "shard"}, {"in", 0}, {"out", 1},
                 {"sharding", json::array({json::array(), json::array({"tp"})})}}}},
              {"outputs", {1}}};
    w.addSection("rank" + std::to_string(r) + ".program", p.dump());
  }
  std::string path = dir.file("shard.pmc");
  w.write(path);
  HostTensor x;
  x.dtype = DType::Int32;
  x.shape = {4, 6};
  x.data.resize(x.numBytes());
  for (int i = 0; i < 24; ++i)
    reinterpret_cast<int32_t *>(x.data.data())[i] = i * 11;
  NamedOutputs out = Session::open(path)->run({{"x", x}});
  EXPECT_EQ(out[0].second.data, x.data);
  // A sharding whose shard does not match 'out' is rejected before running.
  man["outputs"][0]["sharding"] = json::array({json::array({"tp"}), json::array()});
  bundle::BundleWriter bad;
  bad.addSection("manifest", man.dump());
  for (int r = 0; r < 2; ++r) {
    json p = {{"rank", r},
              {"buffers",
               {{{"id", 0}, {"dtype", "int32"}, {"shape", {4, 6}}, {"kind", "input"},
                 {"input", 0}},
                {{"id", 1}, {"dtype", "int32"}, {"shape", {2, 6}}, {"kind", "temp"}}}},
              {"commands",
               {{{"op", "shard"}, {"in", 0}, {"out", 1},
                 {"sharding", json::array({json::array(), json::array({"tp"})})}}}},
              {"outputs", {1}}};
    bad.addSection("rank" + std::to_string(r) + ".program", p.dump());
  }
  bad.write(dir.file("bad.pmc"));
  try {
    Session::open(dir.file("bad.pmc"));
    ADD_FAILURE() << "expected a shape error";
  } catch (const RuntimeError &e) {
    EXPECT_NE(std::string(e.what()).find(
                  "rank0.program: command 0 (shard): 'out' buffer 1 (temp int32[2x6]) should "
                  "have shape [4x3]"),
              std::string::npos)
        << e.what();
  }
}

} // namespace
