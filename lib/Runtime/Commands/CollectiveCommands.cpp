//===- CollectiveCommands.cpp - all_reduce, all_gather, ... over mesh axes -===//
//
// docs/design/parallel.md, "Bundle additions":
//   {"op": "all_reduce",     "in": 3, "out": 4, "axes": ["tp"], "reduction": "sum"}
//   {"op": "all_gather",     "in": 3, "out": 4, "axes": ["tp"], "dim": 1}
//   {"op": "reduce_scatter", "in": 3, "out": 4, "axes": ["tp"], "dim": 1, "reduction": "sum"}
//   {"op": "all_to_all",     "in": 3, "out": 4, "axes": ["tp"], "split_dim": 0,
//                            "concat_dim": 1}
//   {"op": "shard",          "in": 3, "out": 4, "sharding": [[], ["tp"]]}
//
// `shard` keeps this rank's block of a tensor every rank holds whole; it does
// not communicate.
//
#include "BuiltinCommands.h"
#include "CommandOperands.h"
#include "../Json.h"
#include "pmc/Runtime/Comm/Communicator.h"
#include "pmc/Runtime/Comm/Mesh.h"

#include <optional>

namespace pmc::runtime {

namespace {

class CollectiveCommand : public Command {
public:
  CollectiveCommand(const nlohmann::json &o, int index, CollectiveKind kind, std::string name)
      : Command(index), kind(kind), name(std::move(name)) {
    in = json::getId(o, "in", where());
    out = json::getId(o, "out", where());
    const nlohmann::json &list = json::field(o, "axes", where());
    if (!list.is_array())
      fail("field 'axes' must be a list of mesh axis names");
    for (const nlohmann::json &a : list) {
      if (!a.is_string())
        fail("field 'axes' must be a list of mesh axis names, got " + a.dump());
      axes.push_back(a.get<std::string>());
    }
    if (kind == CollectiveKind::AllReduce || kind == CollectiveKind::ReduceScatter) {
      std::string r = json::getString(o, "reduction", where());
      if (r == "sum")
        reduction = Reduction::Sum;
      else if (r == "max")
        reduction = Reduction::Max;
      else
        fail("field 'reduction' is '" + r + "', expected 'sum' or 'max'");
    }
    if (kind == CollectiveKind::AllGather || kind == CollectiveKind::ReduceScatter)
      dim = json::getInt(o, "dim", where());
    if (kind == CollectiveKind::AllToAll) {
      splitDim = json::getInt(o, "split_dim", where());
      concatDim = json::getInt(o, "concat_dim", where());
    }
  }

  std::string_view op() const override { return name; }
  std::vector<int> reads() const override { return {in}; }
  std::vector<int> writes() const override { return {out}; }

  void validate(const ValidateContext &ctx) override {
    const BufferDesc &src = operand(ctx, in, "in");
    const BufferDesc &dst = operand(ctx, out, "out");
    if (in == out)
      fail("'in' and 'out' are the same buffer " + src.describe());
    if (src.dtype != dst.dtype)
      fail("'in' " + src.describe() + " and 'out' " + dst.describe() +
           " have different dtypes");
    try {
      group = ctx.mesh.group(ctx.rank, axes);
    } catch (const RuntimeError &e) {
      fail(std::string("field 'axes': ") + e.what());
    }
    const int64_t g = static_cast<int64_t>(group.size());
    const int rankOf = static_cast<int>(src.shape.size());
    auto checkDim = [&](int64_t d, const char *field) {
      if (d < 0 || d >= rankOf)
        fail(std::string("field '") + field + "' is " + std::to_string(d) +
             ", out of range for 'in' " + src.describe());
    };
    std::vector<int64_t> expected = src.shape;
    std::string rule;
    switch (kind) {
    case CollectiveKind::AllReduce:
      rule = "the same shape as 'in'";
      break;
    case CollectiveKind::AllGather:
      checkDim(dim, "dim");
      expected[dim] *= g;
      rule = "'in' with dim " + std::to_string(dim) + " times the group size " +
             std::to_string(g);
      break;
    case CollectiveKind::ReduceScatter:
      checkDim(dim, "dim");
      if (src.shape[dim] % g)
        fail("dim " + std::to_string(dim) + " of 'in' " + src.describe() +
             " is not divisible by the group size " + std::to_string(g));
      expected[dim] /= g;
      rule = "'in' with dim " + std::to_string(dim) + " divided by the group size " +
             std::to_string(g);
      break;
    case CollectiveKind::AllToAll:
      checkDim(splitDim, "split_dim");
      checkDim(concatDim, "concat_dim");
      if (src.shape[splitDim] % g)
        fail("split_dim " + std::to_string(splitDim) + " of 'in' " + src.describe() +
             " is not divisible by the group size " + std::to_string(g));
      expected[splitDim] /= g;
      expected[concatDim] *= g;
      rule = "'in' with split_dim " + std::to_string(splitDim) + " divided and concat_dim " +
             std::to_string(concatDim) + " multiplied by the group size " +
             std::to_string(g);
      break;
    }
    if (dst.shape != expected)
      fail("'out' " + dst.describe() + " should have shape " + shapeToString(expected) +
           " (" + rule + ")");
    dtype = src.dtype;
    inShape = src.shape;
    outShape = dst.shape;
    position = static_cast<int>(ctx.mesh.positionInGroup(ctx.rank, axes));
  }

  /// This rank's call, but for the data pointers.
  CollectiveCall call() const {
    CollectiveCall call;
    call.kind = kind;
    call.dtype = dtype;
    call.inShape = inShape;
    call.outShape = outShape;
    call.reduction = reduction;
    call.dim = static_cast<int>(dim);
    call.splitDim = static_cast<int>(splitDim);
    call.concatDim = static_cast<int>(concatDim);
    call.group = group;
    call.position = position;
    call.site = CollectiveSite{name, index, axes};
    return call;
  }

  void execute(const ExecContext &ctx) const override {
    CollectiveSite site{name, index, axes};
    const void *x = ctx.buffers[in];
    void *y = ctx.buffers[out];
    switch (kind) {
    case CollectiveKind::AllReduce:
      return ctx.comm.allReduce(x, y, dtype, inShape, reduction, group, site);
    case CollectiveKind::AllGather:
      return ctx.comm.allGather(x, y, dtype, inShape, static_cast<int>(dim), group, site);
    case CollectiveKind::ReduceScatter:
      return ctx.comm.reduceScatter(x, y, dtype, inShape, static_cast<int>(dim), reduction,
                                    group, site);
    case CollectiveKind::AllToAll:
      return ctx.comm.allToAll(x, y, dtype, inShape, static_cast<int>(splitDim),
                               static_cast<int>(concatDim), group, site);
    }
  }

private:
  CollectiveKind kind;
  std::string name;
  int in = 0, out = 0;
  std::vector<std::string> axes;
  Reduction reduction = Reduction::Sum;
  int64_t dim = 0, splitDim = 0, concatDim = 0;
  // Set by validate().
  std::vector<int> group;
  int position = 0;
  DType dtype = DType::Float32;
  std::vector<int64_t> inShape, outShape;
};

/// {"op": "shard", "in", "out", "sharding"}: this rank's block of `in`.
class ShardCommand : public Command {
public:
  ShardCommand(const nlohmann::json &o, int index) : Command(index) {
    in = json::getId(o, "in", where());
    out = json::getId(o, "out", where());
    const nlohmann::json &list = json::field(o, "sharding", where());
    auto bad = [&] {
      fail("field 'sharding' must be a list (one per dimension) of lists of mesh axis "
           "names, got " + list.dump());
    };
    if (!list.is_array())
      bad();
    for (const nlohmann::json &dim : list) {
      if (!dim.is_array())
        bad();
      std::vector<std::string> axes;
      for (const nlohmann::json &a : dim) {
        if (!a.is_string())
          bad();
        axes.push_back(a.get<std::string>());
      }
      sharding.push_back(std::move(axes));
    }
  }
  std::string_view op() const override { return "shard"; }
  std::vector<int> reads() const override { return {in}; }
  std::vector<int> writes() const override { return {out}; }

  void validate(const ValidateContext &ctx) override {
    const BufferDesc &src = operand(ctx, in, "in");
    const BufferDesc &dst = operand(ctx, out, "out");
    if (in == out)
      fail("'in' and 'out' are the same buffer " + src.describe());
    if (src.dtype != dst.dtype)
      fail("'in' " + src.describe() + " and 'out' " + dst.describe() +
           " have different dtypes");
    if (sharding.size() != src.shape.size())
      fail("field 'sharding' has " + std::to_string(sharding.size()) +
           " entries for 'in' " + src.describe());
    try {
      checkSharding(sharding, src.shape, ctx.mesh, "field 'sharding'");
    } catch (const RuntimeError &e) {
      fail(e.what());
    }
    std::vector<int64_t> expected = localShape(src.shape, sharding, ctx.mesh);
    if (dst.shape != expected)
      fail("'out' " + dst.describe() + " should have shape " + shapeToString(expected) +
           " (the local shard of 'in' under sharding " + shardingToString(sharding) + ")");
    inShape = src.shape;
    outShape = expected;
    offsets = shardOffsets(src.shape, sharding, ctx.mesh, ctx.rank);
    elementSize = dtypeSize(src.dtype);
  }

  ShardOperands operands() const { return ShardOperands{inShape, offsets, outShape, elementSize}; }

  void execute(const ExecContext &ctx) const override {
    copyBlock(ctx.buffers[in], inShape, offsets, ctx.buffers[out], outShape,
              std::vector<int64_t>(outShape.size(), 0), outShape, elementSize);
  }

private:
  int in = 0, out = 0;
  Sharding sharding;
  std::vector<int64_t> inShape, outShape, offsets;
  size_t elementSize = 0;
};

CommandFactory collective(CollectiveKind kind, const char *name) {
  return [kind, name](const nlohmann::json &o, int index) -> std::unique_ptr<Command> {
    return std::make_unique<CollectiveCommand>(o, index, kind, name);
  };
}

/// The collective commands by op: the one table of their names.
struct CollectiveOp {
  const char *op;
  std::optional<CollectiveKind> kind; // none: shard (a local slice)
};
constexpr CollectiveOp kCollectiveOps[] = {
    {"all_reduce", CollectiveKind::AllReduce},
    {"all_gather", CollectiveKind::AllGather},
    {"reduce_scatter", CollectiveKind::ReduceScatter},
    {"all_to_all", CollectiveKind::AllToAll},
    {"shard", std::nullopt},
};

} // namespace

std::optional<CollectiveCall> collectiveCall(const Command &command) {
  if (auto *collective = dynamic_cast<const CollectiveCommand *>(&command))
    return collective->call();
  return std::nullopt;
}

std::optional<ShardOperands> shardOperands(const Command &command) {
  if (auto *shard = dynamic_cast<const ShardCommand *>(&command))
    return shard->operands();
  return std::nullopt;
}

const std::vector<std::string> &collectiveCommandOps() {
  static const std::vector<std::string> ops = [] {
    std::vector<std::string> names;
    for (const CollectiveOp &c : kCollectiveOps)
      names.push_back(c.op);
    return names;
  }();
  return ops;
}

void registerCollectiveCommands(std::map<std::string, CommandFactory> &factories) {
  for (const CollectiveOp &c : kCollectiveOps) {
    if (c.kind)
      factories[c.op] = collective(*c.kind, c.op);
    else
      factories[c.op] = [](const nlohmann::json &o, int index) -> std::unique_ptr<Command> {
        return std::make_unique<ShardCommand>(o, index);
      };
  }
}

} // namespace pmc::runtime
