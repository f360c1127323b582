//===- BundleEmitter.cpp - manifest, rank programs and weights from @main --===//
#include "pmc/Target/BundleEmitter.h"
#include "pmc/Support/Version.h"

#include "pmc/Dialect/PMC/IR/PMCAttrs.h"
#include "pmc/Dialect/PMC/IR/PMCOps.h"
#include "pmc/Dialect/PMC/Transforms/MatmulEpilogue.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"

#include <cstring>
#include <map>

using namespace mlir;
namespace json = llvm::json;
using mlir::pmc::ConstantOp;
using mlir::pmc::ConvOp;
using mlir::pmc::MatMulOp;
using mlir::pmc::ReshapeOp;
using mlir::pmc::MeshAttr;
using mlir::pmc::ShardingAttr;


std::string (::pmc::BundleImage::sectionBytes)(const std::string &name) const {
  for (const Section &section : sections)
    if (section.name == name)
      return section.data ? std::string((const char *)section.data, section.size)
                          : section.owned;
  return "";
}

/// numpy's name of a pmc element type, or "" when the bundle has none.
static std::string dtypeName(Type type) {
  if (type.isF16())
    return "float16";
  if (type.isBF16())
    return "bfloat16";
  if (type.isF32())
    return "float32";
  if (type.isF64())
    return "float64";
  if (auto integer = dyn_cast<IntegerType>(type)) {
    unsigned width = integer.getWidth();
    if (width == 1)
      return "bool";
    if (width != 8 && width != 16 && width != 32 && width != 64)
      return "";
    return (integer.isUnsigned() ? "uint" : "int") + std::to_string(width);
  }
  return "";
}

static json::Array shapeJSON(RankedTensorType type) {
  json::Array shape;
  for (int64_t d : type.getShape())
    shape.push_back(d);
  return shape;
}

static json::Array i64Array(ArrayRef<int64_t> values) {
  json::Array array;
  for (int64_t v : values)
    array.push_back(v);
  return array;
}

namespace {
/// Builds the program that a set of ranks runs (all ranks, or those of one
/// pipeline stage) while walking @main.
class ProgramBuilder {
public:
  ProgramBuilder(::pmc::BundleImage &image, MeshAttr mesh, unsigned &nextWeight,
                 std::vector<int64_t> ranks)
      : image(image), mesh(mesh), nextWeight(nextWeight), ranks(std::move(ranks)) {}

  /// Adds a buffer for `value`; returns its id, or -1 after an error.
  int64_t addBuffer(Value value, json::Object fields, Operation *at) {
    int64_t id = addBufferOfType(value.getType(), std::move(fields), at);
    if (id >= 0)
      ids[value] = id;
    return id;
  }

  /// Adds a buffer of `type` that no value names (a cuda scratch buffer).
  int64_t addBufferOfType(Type type, json::Object fields, Operation *at) {
    auto tensor = dyn_cast<RankedTensorType>(type);
    std::string dtype = tensor ? dtypeName(tensor.getElementType()) : "";
    if (dtype.empty()) {
      at->emitOpError() << "produces " << type
                        << ", which the bundle cannot hold (no numpy dtype)";
      return -1;
    }
    int64_t id = buffers.size();
    fields["id"] = id;
    fields["dtype"] = dtype;
    fields["shape"] = shapeJSON(tensor);
    buffers.push_back(std::move(fields));
    return id;
  }

  int64_t idOf(Value value) const { return ids.lookup(value); }
  bool hasId(Value value) const { return ids.count(value); }

  /// Fills `weight` with the bytes of `constant` (borrowed from a dense
  /// resource, or owned).
  static LogicalResult weightBytes(ConstantOp constant,
                                   ::pmc::BundleImage::Section &weight) {
    auto type = cast<RankedTensorType>(constant.getType());
    Attribute value = constant.getValue();
    int64_t count = type.getNumElements();
    if (auto resource = dyn_cast<DenseResourceElementsAttr>(value)) {
      AsmResourceBlob *blob = resource.getRawHandle().getBlob();
      if (!blob)
        return constant.emitOpError("refers to a dense resource whose bytes "
                                    "are missing (elided?)");
      ArrayRef<char> data = blob->getData();
      weight.data = data.data();
      weight.size = data.size();
    } else if (auto dense = dyn_cast<DenseElementsAttr>(value)) {
      if (type.getElementType().isInteger(1)) {
        // One byte per bool.
        for (bool b : dense.getValues<bool>())
          weight.owned.push_back(b ? 1 : 0);
      } else if (dense.isSplat()) {
        ArrayRef<char> raw = dense.getRawData();
        size_t elementBytes = type.getElementTypeBitWidth() / 8;
        weight.owned.reserve(elementBytes * count);
        for (int64_t i = 0; i < count; ++i)
          weight.owned.append(raw.data(), elementBytes);
      } else {
        ArrayRef<char> raw = dense.getRawData();
        weight.owned.assign(raw.data(), raw.size());
      }
    } else {
      return constant.emitOpError()
             << "has a value the bundle cannot store: " << value;
    }
    size_t expected = (size_t)count *
                      std::max<size_t>(1, type.getElementTypeBitWidth() / 8);
    size_t size = weight.data ? weight.size : weight.owned.size();
    if (size != expected)
      return constant.emitOpError() << "holds " << size << " bytes, expected "
                                    << expected << " for " << type;
    return success();
  }

  /// Adds a `w/<N>` section holding the bytes of `constant`, shared by all ranks.
  LogicalResult addWeight(ConstantOp constant) {
    std::string section = "w/" + std::to_string(nextWeight++);
    ::pmc::BundleImage::Section weight;
    weight.name = section;
    if (failed(weightBytes(constant, weight)))
      return failure();
    image.sections.push_back(std::move(weight));
    json::Object fields{{"kind", "weight"}, {"section", section}};
    return success(addBuffer(constant.getResult(), std::move(fields), constant) >= 0);
  }

  /// `pmc.shard(pmc.constant)`: each rank's block of the constant becomes a
  /// section `w/<N>/r<R>` (R: the first rank holding that block; ranks with
  /// the same block share it), and the result buffer of rank R names R's.
  LogicalResult addShardedWeight(ConstantOp constant, mlir::pmc::ShardOp shard) {
    ::pmc::BundleImage::Section whole;
    if (failed(weightBytes(constant, whole)))
      return failure();
    const char *bytes = whole.data ? (const char *)whole.data : whole.owned.data();
    auto globalType = cast<RankedTensorType>(constant.getType());
    auto localType = cast<RankedTensorType>(shard.getType());
    ArrayRef<int64_t> global = globalType.getShape(), local = localType.getShape();
    size_t elementBytes = std::max<size_t>(1, globalType.getElementTypeBitWidth() / 8);
    int64_t rank = globalType.getRank();
    unsigned weight = nextWeight++;
    std::map<std::vector<int64_t>, std::string> blocks;
    std::map<int64_t, std::string> names;
    for (int64_t r : ranks) {
      std::vector<int64_t> offsets =
          blockOffsets(mesh, shard.getSharding(), local, r);
      auto [it, inserted] = blocks.try_emplace(
          offsets, "w/" + std::to_string(weight) + "/r" + std::to_string(r));
      names[r] = it->second;
      if (!inserted)
        continue;
      ::pmc::BundleImage::Section section;
      section.name = it->second;
      int64_t count = localType.getNumElements();
      section.owned.resize(count * elementBytes);
      // Copy rows of the last dimension; `index` walks the local block.
      int64_t row = rank ? local.back() : 1;
      std::vector<int64_t> index(rank, 0);
      for (int64_t done = 0; done < count; done += row) {
        int64_t offset = 0;
        for (int64_t d = 0; d < rank; ++d)
          offset = offset * global[d] + offsets[d] + index[d];
        std::memcpy(&section.owned[done * elementBytes], bytes + offset * elementBytes,
                    row * elementBytes);
        for (int64_t d = rank - 2; d >= 0; --d) {
          if (++index[d] < local[d])
            break;
          index[d] = 0;
        }
      }
      image.sections.push_back(std::move(section));
    }
    json::Object fields{{"kind", "weight"}, {"section", names.begin()->second}};
    int64_t id = addBuffer(shard.getResult(), std::move(fields), shard);
    if (id < 0)
      return failure();
    rankSections[id] = std::move(names);
    return success();
  }

  /// The element offsets of rank `r`'s block of a tensor sharded by
  /// `sharding` whose local shape is `local` (docs/design/parallel.md).
  static std::vector<int64_t> blockOffsets(MeshAttr mesh, ShardingAttr sharding,
                                           ArrayRef<int64_t> local, int64_t r) {
    SmallVector<int64_t> coords = mesh.getCoordinates(r);
    std::vector<int64_t> offsets;
    for (int64_t d = 0; d < (int64_t)local.size(); ++d) {
      int64_t index = 0;
      for (StringRef axis : sharding.getDimAxes(d))
        index = index * mesh.getAxisSize(axis) + coords[*mesh.findAxis(axis)];
      offsets.push_back(index * local[d]);
    }
    return offsets;
  }

  /// The buffer table of rank `r`: per-rank weight sections substituted.
  json::Array buffersOfRank(int64_t r) const {
    json::Array copy = buffers;
    for (const auto &[id, names] : rankSections)
      (*copy[id].getAsObject())["section"] = names.at(r);
    return copy;
  }

  int64_t addTemp(Value value, Operation *at) {
    return addBuffer(value, json::Object{{"kind", "temp"}}, at);
  }

  json::Array buffers;
  json::Array commands;

private:
  ::pmc::BundleImage &image;
  MeshAttr mesh;
  /// Buffer id -> the section of each rank (sharded weights).
  std::map<int64_t, std::map<int64_t, std::string>> rankSections;
  llvm::DenseMap<Value, int64_t> ids;
  /// Weight sections are numbered across all programs.
  unsigned &nextWeight;
  /// The ranks that run this program.
  std::vector<int64_t> ranks;
};
} // namespace

static std::string valueName(func::FuncOp main, unsigned index, bool result) {
  StringAttr name = result ? main.getResultAttrOfType<StringAttr>(index, "pmc.name")
                           : main.getArgAttrOfType<StringAttr>(index, "pmc.name");
  if (name)
    return name.str();
  return (result ? "output" : "input") + std::to_string(index);
}

/// `[["dp"], []]`: the manifest spelling of a sharding.
static json::Array shardingJSON(ShardingAttr sharding) {
  json::Array dims;
  for (int64_t d = 0; d < sharding.getRank(); ++d) {
    json::Array axes;
    for (StringRef axis : sharding.getDimAxes(d))
      axes.push_back(axis.str());
    dims.push_back(std::move(axes));
  }
  return dims;
}

/// The manifest entry of a graph input or output whose local (per-rank) type
/// is `type`: the global shape and, when split, the sharding.
static FailureOr<json::Object> tensorEntry(std::string name, RankedTensorType type,
                                           ShardingAttr sharding, MeshAttr mesh,
                                           Operation *at, StringRef what,
                                           int64_t microbatches = 1) {
  SmallVector<int64_t> shape(type.getShape());
  // A microbatched tensor holds all microbatches (microbatch-major on dim 0).
  if (microbatches > 1 && !shape.empty())
    shape[0] *= microbatches;
  json::Object entry{{"name", name}, {"dtype", dtypeName(type.getElementType())}};
  if (sharding && !sharding.isReplicated()) {
    if (!mesh)
      return at->emitOpError() << what << " '" << name << "' has sharding " << sharding
                               << " but the module has no pmc.mesh";
    if (sharding.isPartial())
      return at->emitOpError() << what << " '" << name << "' is partial (" << sharding
                               << "): graph inputs and outputs must be complete "
                                  "(the partitioner reduces them)";
    if (sharding.getRank() != type.getRank())
      return at->emitOpError() << what << " '" << name << "': sharding " << sharding
                               << " does not match " << type;
    for (int64_t d = 0; d < type.getRank(); ++d)
      for (StringRef axis : sharding.getDimAxes(d)) {
        if (!mesh.findAxis(axis))
          return at->emitOpError() << what << " '" << name << "': sharding "
                                   << sharding << " names axis '" << axis
                                   << "', which " << mesh << " does not have";
        shape[d] *= mesh.getAxisSize(axis);
      }
    entry["sharding"] = shardingJSON(sharding);
  }
  json::Array dims;
  for (int64_t d : shape)
    dims.push_back(d);
  entry["shape"] = std::move(dims);
  return entry;
}

static json::Array strArray(ArrayAttr attr) {
  json::Array array;
  for (Attribute a : attr)
    array.push_back(cast<StringAttr>(a).str());
  return array;
}

/// The cuda form of a kernel call: its launches, in order, each naming the
/// buffers of its arguments; the kernel's scratch buffers become buffers of
/// kind "scratch" (docs/design/bundle.md).
static LogicalResult addLaunches(ProgramBuilder &program, func::CallOp call,
                                 const json::Array &ins, const json::Array &outs,
                                 const ::pmc::CUDAKernels &cuda) {
  auto it = cuda.kernels.find(call.getCallee().str());
  if (it == cuda.kernels.end())
    return call.emitOpError() << "calls '" << call.getCallee()
                              << "', which the cuda target did not compile";
  const ::pmc::GPUKernel &kernel = it->second;
  std::vector<json::Value> params(ins.begin(), ins.end());
  params.insert(params.end(), outs.begin(), outs.end());
  if ((int64_t)params.size() != kernel.numParams)
    return call.emitOpError() << "passes " << params.size() << " buffers to '"
                              << call.getCallee() << "', which takes "
                              << kernel.numParams;
  for (RankedTensorType type : kernel.scratch) {
    int64_t id = program.addBufferOfType(type, json::Object{{"kind", "scratch"}}, call);
    if (id < 0)
      return failure();
    params.push_back(id);
  }
  auto buffers = [&](const std::vector<int64_t> &indices) {
    json::Array array;
    for (int64_t i : indices)
      array.push_back(params[i]);
    return array;
  };
  auto dim3 = [](const std::array<int64_t, 3> &d) { return json::Array{d[0], d[1], d[2]}; };
  for (const ::pmc::GPULaunch &launch : kernel.launches)
    program.commands.push_back(json::Object{{"op", "launch"},
                                            {"kernel", call.getCallee()},
                                            {"function", launch.function},
                                            {"grid", dim3(launch.grid)},
                                            {"block", dim3(launch.block)},
                                            {"shared_bytes", launch.sharedBytes},
                                            {"args", buffers(launch.args)},
                                            {"writes", buffers(launch.writes)}});
  return success();
}

namespace {
/// The module's `pmc.pipeline`, checked against its mesh.
struct PipelineInfo {
  bool enabled = false;
  int64_t stages = 1;
  int64_t microbatches = 1;
  std::string schedule;
  /// The mesh axis `pp`, when the mesh has it.
  std::optional<unsigned> ppAxis;
  std::vector<json::Value> microbatchedInputs, microbatchedOutputs;
};
} // namespace

static FailureOr<PipelineInfo> pipelineInfo(ModuleOp module, MeshAttr mesh) {
  PipelineInfo info;
  auto dict = module->getAttrOfType<DictionaryAttr>("pmc.pipeline");
  if (!dict)
    return info;
  auto stages = dict.getAs<IntegerAttr>("stages");
  auto microbatches = dict.getAs<IntegerAttr>("microbatches");
  auto schedule = dict.getAs<StringAttr>("schedule");
  if (!stages || !microbatches || !schedule || stages.getInt() < 1 ||
      microbatches.getInt() < 1)
    return module.emitError() << "pmc.pipeline must hold stages, microbatches and "
                                 "schedule, got "
                              << dict;
  info.enabled = true;
  info.stages = stages.getInt();
  info.microbatches = microbatches.getInt();
  info.schedule = schedule.str();
  info.ppAxis = mesh ? mesh.findAxis("pp") : std::nullopt;
  int64_t ppSize = info.ppAxis ? mesh.getAxisSize("pp") : 1;
  if (ppSize != info.stages || (info.ppAxis && *info.ppAxis != 0))
    return module.emitError() << "pmc.pipeline has " << info.stages
                              << " stages, but the mesh " << mesh
                              << " needs them as its first axis pp";
  return info;
}

FailureOr<::pmc::BundleImage>
(::pmc::buildBundleImage)(ModuleOp module, std::string kernelLibrary,
                      const BundleOptions &options) {
  auto main = module.lookupSymbol<func::FuncOp>(mlir::pmc::kEntryFunctionName);
  if (!main || main.isExternal() || !main.getBody().hasOneBlock())
    return module.emitError("the bundle needs a @main function with one block");
  auto mesh = module->getAttrOfType<MeshAttr>(mlir::pmc::kMeshAttrName);
  int64_t devices = mesh ? mesh.getNumDevices() : 1;
  if (!mesh && options.devices != 1)
    return module.emitError() << "a bundle for " << options.devices
                              << " devices needs a partitioned module (pmc.mesh)";
  if (mesh && options.devices != 1 && options.devices != devices)
    return module.emitError() << "the module's mesh " << mesh << " has " << devices
                              << " devices, but the bundle is for " << options.devices;
  FailureOr<PipelineInfo> pipeline = pipelineInfo(module, mesh);
  if (failed(pipeline))
    return failure();
  int64_t numStages = pipeline->stages;
  BundleImage image;
  // The manifest, the rank programs and the kernel library come first;
  // weights are appended as found.
  size_t kernelSections = options.cuda ? options.cuda->ptx.size() : 1;
  image.sections.resize(devices + 1 + kernelSections);
  // One program per stage (one in all without a pipeline), run by the ranks
  // whose pp coordinate is the stage.
  unsigned nextWeight = 0;
  std::vector<int64_t> stageOfRank(devices, 0);
  std::vector<std::vector<int64_t>> stageRanks(numStages);
  for (int64_t r = 0; r < devices; ++r) {
    if (pipeline->ppAxis)
      stageOfRank[r] = mesh.getCoordinates(r)[*pipeline->ppAxis];
    stageRanks[stageOfRank[r]].push_back(r);
  }
  std::vector<ProgramBuilder> programs;
  programs.reserve(numStages);
  for (int64_t stage = 0; stage < numStages; ++stage)
    programs.emplace_back(image, mesh, nextWeight, stageRanks[stage]);
  auto stageOf = [&](Operation *op) -> int64_t {
    if (auto stage = op->getAttrOfType<IntegerAttr>("pmc.stage"))
      return stage.getInt();
    return 0;
  };

  json::Array inputs, outputs;
  Block &body = main.getBody().front();
  for (BlockArgument arg : body.getArguments()) {
    unsigned i = arg.getArgNumber();
    auto sharding = main.getArgAttrOfType<ShardingAttr>(i, mlir::pmc::kShardingAttrName);
    bool microbatched = pipeline->enabled && main.getArgAttr(i, "pmc.microbatched");
    FailureOr<json::Object> entry =
        tensorEntry(valueName(main, i, false), cast<RankedTensorType>(arg.getType()),
                    sharding, mesh, main, "input", microbatched ? pipeline->microbatches : 1);
    if (failed(entry))
      return failure();
    if (microbatched)
      pipeline->microbatchedInputs.push_back(valueName(main, i, false));
    inputs.push_back(std::move(*entry));
  }
  // An input buffer exists in the programs of the stages that read the input.
  auto bindInput = [&](ProgramBuilder &program, Value value) -> LogicalResult {
    auto arg = dyn_cast<BlockArgument>(value);
    if (!arg || arg.getOwner() != &body || program.hasId(arg))
      return success();
    json::Object fields{{"kind", "input"}, {"input", (int64_t)arg.getArgNumber()}};
    return success(program.addBuffer(arg, std::move(fields), main) >= 0);
  };

  // A collective: `in` and `out` buffers plus the op's attributes.
  auto addCollective = [&](ProgramBuilder &program, Operation *op, StringRef kind,
                           Value input, Value output,
                           json::Object fields) -> LogicalResult {
    int64_t out = program.addTemp(output, op);
    if (out < 0)
      return failure();
    fields["op"] = kind.str();
    fields["in"] = program.idOf(input);
    fields["out"] = out;
    program.commands.push_back(std::move(fields));
    return success();
  };

  // Input buffers come first: every input without a pipeline, else in each
  // stage the inputs it reads (an input returned as is: stage 0).
  std::vector<llvm::SmallDenseSet<unsigned>> readBy(numStages);
  for (Operation &op : body)
    for (Value operand : op.getOperands())
      if (auto arg = dyn_cast<BlockArgument>(operand); arg && arg.getOwner() == &body) {
        int64_t stage = isa<func::ReturnOp>(op) ? 0 : stageOf(&op);
        if (stage >= 0 && stage < numStages && !isa<mlir::pmc::TransferOp>(op))
          readBy[stage].insert(arg.getArgNumber());
      }
  for (int64_t stage = 0; stage < numStages; ++stage)
    for (BlockArgument arg : body.getArguments())
      if (!pipeline->enabled || readBy[stage].contains(arg.getArgNumber()))
        if (failed(bindInput(programs[stage], arg)))
          return failure();

  // Per stage, the buffer of each manifest output (-1: another stage's).
  std::vector<json::Array> programOutputs(numStages);
  int64_t nextTag = 0;
  // The bias adds and activations folded into a matmul command.
  llvm::SmallPtrSet<Operation *, 16> inEpilogue;
  for (Operation &op : body) {
    if (inEpilogue.contains(&op))
      continue;
    int64_t stage = stageOf(&op);
    if (stage < 0 || stage >= numStages)
      return op.emitOpError() << "has pmc.stage " << stage << ", but the pipeline has "
                              << numStages << " stage(s)";
    ProgramBuilder &program = programs[stage];
    if (!isa<mlir::pmc::TransferOp>(op))
      for (Value operand : op.getOperands())
        if (failed(bindInput(program, operand)))
          return failure();
    if (auto transfer = dyn_cast<mlir::pmc::TransferOp>(op)) {
      // A send in the programs of from_stage, a recv in those of to_stage.
      int64_t from = transfer.getFromStage(), to = transfer.getToStage();
      if (to != stage || from < 0 || from >= to)
        return transfer.emitOpError() << "moves stage " << from << " to " << to
                                      << " but has pmc.stage " << stage;
      ProgramBuilder &sender = programs[from];
      if (failed(bindInput(sender, transfer.getInput())))
        return failure();
      if (!sender.hasId(transfer.getInput()))
        return transfer.emitOpError() << "sends a value that stage " << from
                                      << " does not compute";
      int64_t tag = nextTag++;
      sender.commands.push_back(json::Object{{"op", "send"},
                                             {"in", sender.idOf(transfer.getInput())},
                                             {"to_stage", to},
                                             {"tag", tag}});
      int64_t out = program.addTemp(transfer.getResult(), transfer);
      if (out < 0)
        return failure();
      program.commands.push_back(json::Object{
          {"op", "recv"}, {"out", out}, {"from_stage", from}, {"tag", tag}});
      continue;
    }
    if (auto constant = dyn_cast<ConstantOp>(op)) {
      // A constant only ever sharded is stored as its ranks' blocks alone.
      bool onlySharded = !constant->use_empty() &&
                         llvm::all_of(constant->getUsers(), [](Operation *user) {
                           return isa<mlir::pmc::ShardOp>(user);
                         });
      if (!onlySharded && failed(program.addWeight(constant)))
        return failure();
    } else if (auto shard = dyn_cast<mlir::pmc::ShardOp>(op)) {
      if (!mesh)
        return shard.emitOpError("needs a pmc.mesh on the module");
      if (auto constant = shard.getInput().getDefiningOp<ConstantOp>()) {
        if (failed(program.addShardedWeight(constant, shard)))
          return failure();
        continue;
      }
      if (failed(addCollective(program, shard, "shard", shard.getInput(), shard.getResult(),
                               json::Object{{"sharding", shardingJSON(shard.getSharding())}})))
        return failure();
    } else if (auto reduce = dyn_cast<mlir::pmc::AllReduceOp>(op)) {
      if (failed(addCollective(program, reduce, "all_reduce", reduce.getInput(), reduce.getResult(),
                               json::Object{{"axes", strArray(reduce.getAxes())},
                                            {"reduction", reduce.getReduction().str()}})))
        return failure();
    } else if (auto gather = dyn_cast<mlir::pmc::AllGatherOp>(op)) {
      if (failed(addCollective(program, gather, "all_gather", gather.getInput(), gather.getResult(),
                               json::Object{{"axes", strArray(gather.getAxes())},
                                            {"dim", gather.getDim()}})))
        return failure();
    } else if (auto scatter = dyn_cast<mlir::pmc::ReduceScatterOp>(op)) {
      if (failed(addCollective(program, scatter, "reduce_scatter", scatter.getInput(),
                               scatter.getResult(),
                               json::Object{{"axes", strArray(scatter.getAxes())},
                                            {"dim", scatter.getDim()},
                                            {"reduction", scatter.getReduction().str()}})))
        return failure();
    } else if (auto a2a = dyn_cast<mlir::pmc::AllToAllOp>(op)) {
      if (failed(addCollective(program, a2a, "all_to_all", a2a.getInput(), a2a.getResult(),
                               json::Object{{"axes", strArray(a2a.getAxes())},
                                            {"split_dim", a2a.getSplitDim()},
                                            {"concat_dim", a2a.getConcatDim()}})))
        return failure();
    } else if (auto call = dyn_cast<func::CallOp>(op)) {
      json::Array ins, outs;
      for (Value operand : call.getOperands())
        ins.push_back(program.idOf(operand));
      for (Value result : call.getResults()) {
        int64_t id = program.addTemp(result, call);
        if (id < 0)
          return failure();
        outs.push_back(id);
      }
      if (options.cuda) {
        if (failed(addLaunches(program, call, ins, outs, *options.cuda)))
          return failure();
      } else {
        program.commands.push_back(json::Object{{"op", "kernel"},
                                                {"symbol", call.getCallee()},
                                                {"inputs", std::move(ins)},
                                                {"outputs", std::move(outs)}});
      }
    } else if (auto matmul = dyn_cast<MatMulOp>(op)) {
      // The bias add / activation pmc-outline-kernels folded into it write
      // no buffer of their own: c is the chain's last value.
      FailureOr<mlir::pmc::MatmulEpilogue> epilogue = mlir::pmc::resolveMatmulEpilogue(matmul);
      if (failed(epilogue))
        return failure();
      json::Object command{{"op", "matmul"},
                           {"a", program.idOf(matmul.getLhs())},
                           {"b", program.idOf(matmul.getRhs())},
                           {"trans_a", matmul.getTransposeA()},
                           {"trans_b", matmul.getTransposeB()}};
      if (Value bias = epilogue->bias) {
        if (failed(bindInput(program, bias)))
          return failure();
        if (!program.hasId(bias))
          return epilogue->biasAdd.emitOpError("adds a bias that has no buffer");
        command["bias"] = program.idOf(bias);
        inEpilogue.insert(epilogue->biasAdd);
      }
      if (epilogue->activation) {
        command["activation"] = epilogue->activationName().str();
        inEpilogue.insert(epilogue->activation);
      }
      int64_t c = program.addTemp(epilogue->result, matmul);
      if (c < 0)
        return failure();
      command["c"] = c;
      program.commands.push_back(std::move(command));
    } else if (auto conv = dyn_cast<ConvOp>(op)) {
      int64_t y = program.addTemp(conv.getResult(), conv);
      if (y < 0)
        return failure();
      int64_t bias = conv.getBias() ? program.idOf(conv.getBias()) : -1;
      program.commands.push_back(json::Object{{"op", "conv"},
                                              {"x", program.idOf(conv.getInput())},
                                              {"w", program.idOf(conv.getWeight())},
                                              {"bias", bias},
                                              {"y", y},
                                              {"strides", i64Array(conv.getStrides())},
                                              {"pads", i64Array(conv.getPads())},
                                              {"dilations", i64Array(conv.getDilations())},
                                              {"group", conv.getGroup()}});
    } else if (auto reshape = dyn_cast<ReshapeOp>(op)) {
      // A view of the root buffer (never a view of a view).
      int64_t of = program.idOf(reshape.getInput());
      while (true) {
        const json::Object *base = program.buffers[of].getAsObject();
        if (base->getString("kind") != "view")
          break;
        of = *base->getInteger("of");
      }
      json::Object fields{{"kind", "view"}, {"of", of}};
      if (program.addBuffer(reshape.getResult(), std::move(fields), reshape) < 0)
        return failure();
    } else if (auto ret = dyn_cast<func::ReturnOp>(op)) {
      for (auto [i, value] : llvm::enumerate(ret.getOperands())) {
        auto sharding = main.getResultAttrOfType<ShardingAttr>(
            i, mlir::pmc::kShardingAttrName);
        bool microbatched = pipeline->enabled && main.getResultAttr(i, "pmc.microbatched");
        FailureOr<json::Object> entry =
            tensorEntry(valueName(main, i, true), cast<RankedTensorType>(value.getType()),
                        sharding, mesh, ret, "output",
                        microbatched ? pipeline->microbatches : 1);
        if (failed(entry))
          return failure();
        // The stage that computes the output (an input returned as is: 0).
        Operation *producer = value.getDefiningOp();
        int64_t outputStage = producer ? stageOf(producer) : 0;
        if (failed(bindInput(programs[outputStage], value)))
          return failure();
        if (pipeline->enabled) {
          (*entry)["stage"] = outputStage;
          if (microbatched)
            pipeline->microbatchedOutputs.push_back(valueName(main, i, true));
        }
        outputs.push_back(std::move(*entry));
        for (int64_t s = 0; s < numStages; ++s)
          programOutputs[s].push_back(s == outputStage ? programs[s].idOf(value)
                                                       : int64_t(-1));
      }
      continue;
    } else {
      return op.emitOpError()
             << "cannot be executed by the runtime: @main may only hold "
                "constants, kernel calls, float matmul/conv, reshapes, "
                "collectives and shards (run pmc-outline-kernels first)";
    }
    for (Value operand : op.getOperands())
      if (!program.hasId(operand))
        return op.emitOpError("uses a value that has no buffer");
  }

  json::Array ranks;
  for (int64_t r = 0; r < devices; ++r)
    ranks.push_back(json::Object{{"rank", r},
                                 {"program", "rank" + std::to_string(r) + ".program"}});
  json::Array meshAxes;
  if (mesh)
    for (auto [name, size] : llvm::zip(mesh.getNames(), mesh.getSizes()))
      meshAxes.push_back(json::Object{{"name", name.str()}, {"size", size}});
  json::Object manifest{
      {"format", "pmc-bundle"},
      {"format_version", 1},
      {"producer", std::string("pmc ") + PMC_VERSION_STRING},
      {"target", options.target},
      {"devices", devices},
      {"mesh", json::Object{{"axes", std::move(meshAxes)}}},
      {"inputs", std::move(inputs)},
      {"outputs", std::move(outputs)},
      {"ranks", std::move(ranks)}};
  if (options.cuda) {
    json::Array ptx;
    for (const auto &[chip, text] : options.cuda->ptx)
      ptx.push_back(json::Object{{"chip", chip}, {"section", "kernels.ptx." + chip}});
    manifest["cuda"] = json::Object{{"ptx", std::move(ptx)},
                                    {"kernel_abi", "bare-pointer"},
                                    {"producer", options.cuda->producer}};
  } else {
    manifest["kernel_library"] = "kernels.cpu";
  }
  if (pipeline->enabled)
    manifest["pipeline"] = json::Object{
        {"stages", numStages},
        {"axis", "pp"},
        {"microbatches", pipeline->microbatches},
        {"schedule", pipeline->schedule},
        {"microbatched_inputs", json::Array(pipeline->microbatchedInputs)},
        {"microbatched_outputs", json::Array(pipeline->microbatchedOutputs)}};
  if (mesh) {
    // How the plan was chosen (informational; the runtime ignores it).
    json::Object plan;
    auto source = module->getAttrOfType<StringAttr>("pmc.plan_source");
    plan["source"] = source ? source.str() : "partitioned input";
    if (Attribute text = module->getAttr("pmc.plan")) {
      if (auto str = dyn_cast<StringAttr>(text)) {
        plan["text"] = str.str();
      } else {
        std::string printed;
        llvm::raw_string_ostream os(printed);
        text.print(os);
        plan["text"] = printed;
      }
    }
    // The planner's JSON and explanation (pmc-auto-sharding).
    if (auto json = module->getAttrOfType<StringAttr>("pmc.plan_json"))
      if (llvm::Expected<json::Value> parsed = json::parse(json.getValue()))
        plan["planner"] = std::move(*parsed);
      else
        llvm::consumeError(parsed.takeError());
    if (auto explain = module->getAttrOfType<StringAttr>("pmc.plan_explain"))
      plan["explain"] = explain.str();
    manifest["plan"] = std::move(plan);
  }
  auto print = [](json::Value value) {
    std::string text;
    llvm::raw_string_ostream os(text);
    os << llvm::formatv("{0:2}", value);
    return text;
  };
  image.sections[0].name = "manifest";
  image.sections[0].owned = print(std::move(manifest));
  // The SPMD program of a stage is the same on each of its ranks but for
  // their weight sections.
  for (int64_t r = 0; r < devices; ++r) {
    int64_t stage = stageOfRank[r];
    json::Object rank{{"rank", r},
                      {"buffers", programs[stage].buffersOfRank(r)},
                      {"commands", json::Array(programs[stage].commands)},
                      {"outputs", json::Array(programOutputs[stage])}};
    if (pipeline->enabled)
      rank["stage"] = stage;
    image.sections[1 + r].name = "rank" + std::to_string(r) + ".program";
    image.sections[1 + r].owned = print(std::move(rank));
  }
  if (options.cuda) {
    for (auto [i, ptx] : llvm::enumerate(options.cuda->ptx)) {
      image.sections[1 + devices + i].name = "kernels.ptx." + ptx.first;
      image.sections[1 + devices + i].owned = ptx.second;
    }
  } else {
    image.sections[1 + devices].name = "kernels.cpu";
    image.sections[1 + devices].owned = std::move(kernelLibrary);
  }
  return image;
}
