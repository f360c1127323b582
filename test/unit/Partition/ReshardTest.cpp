//===- ReshardTest.cpp - resharding plans, simulated over 4 ranks ---------===//
//
// For every pair of shardings of an 8x8 tensor on the mesh dp=2, tp=2
// (partial sources and targets included), emits the resharding ops, runs
// them on concrete data with a small simulator of the collectives, and checks
// that every rank ends with its block of the target sharding.
//
#include "pmc/Dialect/PMC/IR/PMCDialect.h"
#include "pmc/Dialect/PMC/IR/PMCOps.h"
#include "pmc/Parallel/Partition/Reshard.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Verifier.h"

#include "llvm/ADT/StringSet.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

using namespace mlir;
using namespace mlir::pmc;

namespace {
/// A rank's tensor: row-major values and a shape.
struct Tensor {
  SmallVector<int64_t> shape;
  std::vector<double> data;
};

int64_t numElements(ArrayRef<int64_t> shape) {
  int64_t n = 1;
  for (int64_t s : shape)
    n *= s;
  return n;
}

/// Block `index` of `parts` along `dim`.
Tensor sliceDim(const Tensor &t, int64_t dim, int64_t index, int64_t parts) {
  Tensor out{t.shape, {}};
  out.shape[dim] /= parts;
  int64_t outer = numElements(ArrayRef(t.shape).take_front(dim));
  int64_t inner = numElements(ArrayRef(t.shape).drop_front(dim + 1));
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = index * out.shape[dim]; i < (index + 1) * out.shape[dim]; ++i)
      for (int64_t n = 0; n < inner; ++n)
        out.data.push_back(t.data[(o * t.shape[dim] + i) * inner + n]);
  return out;
}

Tensor concatDim(ArrayRef<Tensor> parts, int64_t dim) {
  Tensor out{parts[0].shape, {}};
  out.shape[dim] *= parts.size();
  int64_t outer = numElements(ArrayRef(out.shape).take_front(dim));
  int64_t inner = numElements(ArrayRef(out.shape).drop_front(dim + 1));
  for (int64_t o = 0; o < outer; ++o)
    for (const Tensor &part : parts) {
      int64_t chunk = part.shape[dim] * inner;
      out.data.insert(out.data.end(), part.data.begin() + o * chunk,
                      part.data.begin() + (o + 1) * chunk);
    }
  return out;
}

class ReshardSimulation : public ::testing::Test {
protected:
  void SetUp() override {
    context.loadDialect<PMCDialect, func::FuncDialect>();
    Builder b(&context);
    mesh = MeshAttr::get(&context, {b.getStringAttr("dp"), b.getStringAttr("tp")},
                         {2, 2});
    global.shape = {8, 8};
    for (int64_t i = 0; i < 64; ++i)
      global.data.push_back(i + 1);
  }

  int64_t numRanks() const { return mesh.getNumDevices(); }

  /// Linearized coordinate of `rank` over `axes` (first major), and the
  /// product of their sizes.
  std::pair<int64_t, int64_t> position(int64_t rank, ArrayRef<StringRef> axes) const {
    SmallVector<int64_t> coords = mesh.getCoordinates(rank);
    int64_t pos = 0, size = 1;
    for (StringRef axis : axes) {
      int64_t a = *mesh.findAxis(axis);
      pos = pos * mesh.getSizes()[a] + coords[a];
      size *= mesh.getSizes()[a];
    }
    return {pos, size};
  }

  /// The ranks of `rank`'s group over `axes`, in group-position order.
  SmallVector<int64_t> group(int64_t rank, ArrayRef<StringRef> axes) const {
    SmallVector<int64_t> members(position(rank, axes).second);
    SmallVector<int64_t> mine = mesh.getCoordinates(rank);
    for (int64_t r = 0; r < numRanks(); ++r) {
      SmallVector<int64_t> theirs = mesh.getCoordinates(r);
      bool same = true;
      for (auto [a, name] : llvm::enumerate(mesh.getNames()))
        if (!llvm::is_contained(axes, name.getValue()) && theirs[a] != mine[a])
          same = false;
      if (same)
        members[position(r, axes).first] = r;
    }
    return members;
  }

  /// `t` split by `sharding`'s dimensions as seen by `rank` (partial ignored).
  Tensor block(const Tensor &t, ShardingAttr sharding, int64_t rank) const {
    Tensor out = t;
    for (int64_t d = 0; d < sharding.getRank(); ++d) {
      auto [pos, parts] = position(rank, sharding.getDimAxes(d));
      out = sliceDim(out, d, pos, parts);
    }
    return out;
  }

  /// What `rank` holds of the global tensor under `sharding`: its block, and
  /// for a partial sharding a part of it that sums (maxes) to the block.
  Tensor sourceValue(ShardingAttr sharding, int64_t rank) const {
    Tensor out = block(global, sharding, rank);
    SmallVector<StringRef> partial;
    for (StringAttr axis : sharding.getPartialAxes())
      partial.push_back(axis.getValue());
    auto [c, parts] = position(rank, partial);
    for (auto [i, v] : llvm::enumerate(out.data)) {
      double noise = (i * 3) % 5 + 1; // Equal across the partial group.
      if (sharding.getPartialKind() == PartialKind::Max)
        v -= c * noise;
      else
        v = v / parts + (c - (parts - 1) / 2.0) * noise;
    }
    return out;
  }

  static double reduce(PartialKind kind, double a, double b) {
    return kind == PartialKind::Max ? std::max(a, b) : a + b;
  }

  /// Runs the ops of `func` on every rank; returns each rank's result.
  SmallVector<Tensor> simulate(func::FuncOp func, ArrayRef<Tensor> inputs) {
    DenseMap<Value, SmallVector<Tensor>> values;
    values[func.getArgument(0)] = SmallVector<Tensor>(inputs);
    for (Operation &op : func.getBody().front()) {
      if (auto ret = dyn_cast<func::ReturnOp>(op))
        return values[ret.getOperand(0)];
      // A share's scale: a scalar constant, then a multiplication by it.
      if (auto constant = dyn_cast<ConstantOp>(op)) {
        auto value = cast<DenseElementsAttr>(constant.getValue());
        scalars[constant.getResult()] = value.getSplatValue<APFloat>().convertToDouble();
        continue;
      }
      SmallVector<Tensor> &in = values[op.getOperand(0)];
      SmallVector<Tensor> out(numRanks());
      if (auto mul = dyn_cast<MulOp>(op)) {
        double scale = scalars.lookup(mul.getOperand(1));
        EXPECT_NE(scale, 0.0) << "a share must scale by a constant";
        for (int64_t r = 0; r < numRanks(); ++r) {
          out[r] = in[r];
          for (double &v : out[r].data)
            v *= scale;
        }
        values[op.getResult(0)] = out;
        continue;
      }
      for (int64_t r = 0; r < numRanks(); ++r) {
        if (auto shard = dyn_cast<ShardOp>(op)) {
          out[r] = block(in[r], shard.getSharding(), r);
          continue;
        }
        SmallVector<StringRef> axes;
        for (Attribute axis : op.getAttrOfType<ArrayAttr>("axes"))
          axes.push_back(cast<StringAttr>(axis).getValue());
        SmallVector<int64_t> members = group(r, axes);
        int64_t pos = position(r, axes).first, size = members.size();
        auto reduced = [&](StringRef reduction) {
          PartialKind kind = reduction == "max" ? PartialKind::Max : PartialKind::Sum;
          Tensor sum = in[members[0]];
          for (int64_t m : ArrayRef(members).drop_front())
            for (auto [i, v] : llvm::enumerate(sum.data))
              v = reduce(kind, v, in[m].data[i]);
          return sum;
        };
        if (auto allReduce = dyn_cast<AllReduceOp>(op)) {
          out[r] = reduced(allReduce.getReduction());
        } else if (auto scatter = dyn_cast<ReduceScatterOp>(op)) {
          out[r] = sliceDim(reduced(scatter.getReduction()), scatter.getDim(), pos, size);
        } else if (auto gather = dyn_cast<AllGatherOp>(op)) {
          SmallVector<Tensor> parts;
          for (int64_t m : members)
            parts.push_back(in[m]);
          out[r] = concatDim(parts, gather.getDim());
        } else if (auto a2a = dyn_cast<AllToAllOp>(op)) {
          SmallVector<Tensor> parts;
          for (int64_t m : members)
            parts.push_back(sliceDim(in[m], a2a.getSplitDim(), pos, size));
          out[r] = concatDim(parts, a2a.getConcatDim());
        } else {
          ADD_FAILURE() << "unexpected op " << op.getName().getStringRef().str();
        }
      }
      for (auto [r, t] : llvm::enumerate(out))
        EXPECT_EQ(ArrayRef<int64_t>(t.shape),
                  cast<RankedTensorType>(op.getResult(0).getType()).getShape())
            << "rank " << r << " of " << op.getName().getStringRef().str();
      values[op.getResult(0)] = out;
    }
    return {};
  }

  /// Every sharding of a rank-2 tensor on dp, tp: each axis on dimension 0,
  /// dimension 1, nowhere, or (with `partial`) pending; both orders when both
  /// axes split one dimension.
  SmallVector<ShardingAttr> allShardings(bool partial) {
    SmallVector<ShardingAttr> all;
    int places = partial ? 4 : 3;
    for (int p0 = 0; p0 < places; ++p0)
      for (int p1 = 0; p1 < places; ++p1)
        for (int order = 0; order < (p0 == p1 && p0 < 2 ? 2 : 1); ++order) {
          SmallVector<SmallVector<StringRef>> dims(2);
          SmallVector<StringRef> partialAxes;
          std::pair<StringRef, int> axes[2] = {{"dp", p0}, {"tp", p1}};
          if (order)
            std::swap(axes[0], axes[1]);
          for (auto [name, place] : axes) {
            if (place < 2)
              dims[place].push_back(name);
            else if (place == 3)
              partialAxes.push_back(name);
          }
          for (PartialKind kind : {PartialKind::Sum, PartialKind::Max}) {
            all.push_back(ShardingAttr::get(&context, dims, partialAxes, kind));
            if (partialAxes.empty())
              break;
          }
        }
    return all;
  }

  /// Emits the reshard of `source` to `target` in a fresh function.
  FailureOr<func::FuncOp> build(ModuleOp module, ShardingAttr source,
                                ShardingAttr target) {
    OpBuilder b(&context);
    auto globalType = RankedTensorType::get(global.shape, b.getF64Type());
    auto localType = RankedTensorType::get(*source.getLocalShape(mesh, global.shape),
                                           b.getF64Type());
    b.setInsertionPointToEnd(module.getBody());
    auto func = func::FuncOp::create(b, b.getUnknownLoc(), "reshard",
                                     b.getFunctionType({localType}, {}));
    Block *body = func.addEntryBlock();
    b.setInsertionPointToEnd(body);
    FailureOr<Value> result =
        emitReshard(b, b.getUnknownLoc(), body->getArgument(0), globalType, source,
                    target, mesh, [&] { return func.emitError(); });
    if (failed(result))
      return failure();
    func::ReturnOp::create(b, b.getUnknownLoc(), *result);
    func.setType(b.getFunctionType({localType}, {result->getType()}));
    return func;
  }

  MLIRContext context;
  MeshAttr mesh;
  Tensor global;
  DenseMap<Value, double> scalars;
};

std::string str(Attribute attr) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << attr;
  return s;
}

TEST_F(ReshardSimulation, AllPairsOnTwoByTwoMesh) {
  // Errors for impossible targets are expected; keep them off stderr.
  ScopedDiagnosticHandler quiet(&context, [](Diagnostic &) { return success(); });
  int checked = 0, refused = 0;
  for (ShardingAttr source : allShardings(/*partial=*/true)) {
    for (ShardingAttr target : allShardings(/*partial=*/true)) {
      OpBuilder b(&context);
      OwningOpRef<ModuleOp> module = ModuleOp::create(b.getUnknownLoc());
      (*module)->setAttr(kMeshAttrName, mesh);
      std::string pair = str(source) + " -> " + str(target);
      // Axes partial in the target only are shares of a whole value; a source
      // and a target waiting for different reductions cannot convert.
      bool possible = !source.isPartial() || !target.isPartial() ||
                      source.getPartialKind() == target.getPartialKind();
      FailureOr<func::FuncOp> func = build(*module, source, target);
      ASSERT_EQ(succeeded(func), possible) << pair;
      if (!possible) {
        ++refused;
        continue;
      }
      ASSERT_TRUE(succeeded(verify(*module))) << pair;
      SmallVector<Tensor> inputs;
      for (int64_t r = 0; r < numRanks(); ++r)
        inputs.push_back(sourceValue(source, r));
      SmallVector<Tensor> outputs = simulate(*func, inputs);
      ASSERT_EQ((int64_t)outputs.size(), numRanks()) << pair;
      // Reduce what a partial target still has pending, then compare.
      SmallVector<StringRef> pending;
      for (StringAttr axis : target.getPartialAxes())
        pending.push_back(axis.getValue());
      for (int64_t r = 0; r < numRanks(); ++r) {
        Tensor expected = block(global, target, r);
        Tensor got = outputs[r];
        for (int64_t m : group(r, pending))
          if (m != r)
            for (auto [i, v] : llvm::enumerate(got.data))
              v = reduce(target.getPartialKind(), v, outputs[m].data[i]);
        ASSERT_EQ(got.shape, expected.shape) << pair << " rank " << r;
        for (size_t i = 0; i < got.data.size(); ++i)
          ASSERT_NEAR(got.data[i], expected.data[i], 1e-9)
              << pair << " rank " << r << " element " << i;
      }
      // Cost sanity: equal shardings cost nothing, and an axis is gathered
      // and then sliced again only to change its place in a dimension's
      // order (there is no permuting collective).
      FailureOr<SmallVector<ReshardStep>> plan = planReshard(
          source, target, mesh, global.shape, [&] { return (*module)->emitError(); });
      ASSERT_TRUE(succeeded(plan));
      if (source == target) {
        EXPECT_TRUE(plan->empty()) << pair;
      }
      llvm::StringSet<> gathered;
      for (const ReshardStep &step : *plan) {
        if (step.kind == ReshardStep::Kind::AllGather) {
          for (StringRef axis : step.axes)
            gathered.insert(axis);
        }
        if (step.kind != ReshardStep::Kind::Shard)
          continue;
        for (const auto &axes : step.shardDims) {
          for (StringRef axis : axes) {
            if (!gathered.contains(axis))
              continue;
            auto placeOf = [&](ShardingAttr sharding) {
              for (int64_t d = 0; d < sharding.getRank(); ++d)
                for (auto [i, name] : llvm::enumerate(sharding.getDimAxes(d)))
                  if (name == axis)
                    return std::make_pair(d, (int64_t)i);
              return std::make_pair<int64_t, int64_t>(-1, -1);
            };
            EXPECT_NE(placeOf(source), placeOf(target))
                << pair << ": gathers then slices '" << axis.str() << "'";
          }
        }
      }
      ++checked;
    }
  }
  // 11 plain + 14 partial (sum and max) shardings: all 25 * 25 pairs tried.
  EXPECT_EQ(checked + refused, 25 * 25);
  EXPECT_GT(refused, 0);
}

/// The plan chosen for the key pairs, as printed by printReshardPlan.
std::string planOf(MLIRContext &context, MeshAttr mesh, ShardingAttr source,
                   ShardingAttr target) {
  FailureOr<SmallVector<ReshardStep>> plan =
      planReshard(source, target, mesh, {8, 8}, [&] {
        return emitError(UnknownLoc::get(&context));
      });
  if (failed(plan))
    return "failed";
  std::string s;
  llvm::raw_string_ostream os(s);
  printReshardPlan(*plan, os);
  return s;
}

TEST_F(ReshardSimulation, KeyPairsTakeTheCheapestPlan) {
  using Dims = SmallVector<SmallVector<StringRef>>;
  auto sh = [&](Dims dims, SmallVector<StringRef> partial = {}) {
    return ShardingAttr::get(&context, dims, partial);
  };
  EXPECT_EQ(planOf(context, mesh, sh({{}, {}}, {"tp"}), sh({{}, {}})), "all_reduce{tp}");
  EXPECT_EQ(planOf(context, mesh, sh({{}, {}}, {"tp"}), sh({{}, {"tp"}})),
            "reduce_scatter{tp}@1");
  EXPECT_EQ(planOf(context, mesh, sh({{"dp"}, {}}, {"tp"}), sh({{"dp", "tp"}, {}})),
            "reduce_scatter{tp}@0");
  EXPECT_EQ(planOf(context, mesh, sh({{}, {"tp"}}), sh({{}, {}})), "all_gather{tp}@1");
  EXPECT_EQ(planOf(context, mesh, sh({{"tp"}, {}}), sh({{}, {"tp"}})),
            "all_to_all{tp}@0->1");
  EXPECT_EQ(planOf(context, mesh, sh({{}, {}}), sh({{"dp"}, {"tp"}})),
            "shard[{dp}, {tp}]");
  EXPECT_EQ(planOf(context, mesh, sh({{"dp", "tp"}, {}}), sh({{}, {"dp"}})),
            "all_gather{tp}@0; all_to_all{dp}@0->1");
  EXPECT_EQ(planOf(context, mesh, sh({{"dp", "tp"}, {}}), sh({{}, {}})),
            "all_gather{dp, tp}@0");
  EXPECT_EQ(planOf(context, mesh, sh({{"dp"}, {}}, {"tp"}), sh({{}, {}})),
            "all_reduce{tp}; all_gather{dp}@0");
  // A whole value joining a pending sum (a conv's bias): a local share.
  EXPECT_EQ(planOf(context, mesh, sh({{}, {}}), sh({{}, {}}, {"tp"})), "share{tp}");
  EXPECT_EQ(planOf(context, mesh, sh({{"tp"}, {}}), sh({{"dp"}, {}}, {"tp"})),
            "all_gather{tp}@0; shard[{dp}, {}]; share{tp}");
}
} // namespace
