//===- BundleEmitter.cpp - manifest, rank programs and weights from @main --===//
//
// One walk over the outlined @main: each op becomes buffers and commands of
// the program of its pipeline stage (ProgramBuilder.h), then the manifest
// and one `rank<R>.program` per rank are printed (docs/design/bundle.md).
//
#include "pmc/Target/BundleEmitter.h"
#include "ProgramBuilder.h"
#include "pmc/Support/Version.h"

#include "pmc/Dialect/PMC/IR/PMCAttrs.h"
#include "pmc/Dialect/PMC/IR/PMCOps.h"
#include "pmc/Dialect/PMC/Transforms/MatmulEpilogue.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"

using namespace mlir;
using namespace ::pmc::bundle_emitter;
using ::pmc::BundleImage;
using ::pmc::BundleOptions;
using mlir::pmc::ConstantOp;
using mlir::pmc::ConvOp;
using mlir::pmc::MatMulOp;
using mlir::pmc::MeshAttr;
using mlir::pmc::ReshapeOp;
using mlir::pmc::ShardingAttr;

std::string (::pmc::BundleImage::sectionBytes)(const std::string &name) const {
  for (const Section &section : sections)
    if (section.name == name)
      return section.data ? std::string((const char *)section.data, section.size)
                          : section.owned;
  return "";
}

static std::string valueName(func::FuncOp main, unsigned index, bool result) {
  StringAttr name = result ? main.getResultAttrOfType<StringAttr>(index, "pmc.name")
                           : main.getArgAttrOfType<StringAttr>(index, "pmc.name");
  if (name)
    return name.str();
  return (result ? "output" : "input") + std::to_string(index);
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

namespace {
/// Walks @main once and fills the programs of every stage, then prints the
/// manifest and the rank programs into a BundleImage.
class BundleEmitter {
public:
  BundleEmitter(ModuleOp module, func::FuncOp main, MeshAttr mesh, PipelineInfo pipeline,
                const BundleOptions &options);

  /// The whole bundle, or failure after an error naming the op.
  FailureOr<BundleImage> emit(std::string kernelLibrary);

private:
  /// Manifest entries of the graph inputs, and the input buffers of the
  /// stages that read them.
  LogicalResult addInputs();
  /// An input buffer exists in the programs of the stages that read the input.
  LogicalResult bindInput(ProgramBuilder &program, Value value);
  LogicalResult emitOp(Operation &op);
  LogicalResult emitTransfer(mlir::pmc::TransferOp transfer, ProgramBuilder &program);
  LogicalResult emitConstant(ConstantOp constant, ProgramBuilder &program);
  LogicalResult emitShard(mlir::pmc::ShardOp shard, ProgramBuilder &program);
  /// A collective: `in` and `out` buffers plus the op's attributes.
  LogicalResult emitCollective(Operation *op, StringRef kind, Value input, Value output,
                               json::Object fields, ProgramBuilder &program);
  LogicalResult emitCall(func::CallOp call, ProgramBuilder &program);
  LogicalResult emitMatmul(MatMulOp matmul, ProgramBuilder &program);
  LogicalResult emitConv(ConvOp conv, ProgramBuilder &program);
  LogicalResult emitReshape(ReshapeOp reshape, ProgramBuilder &program);
  LogicalResult emitReturn(func::ReturnOp ret);
  /// The manifest (docs/design/bundle.md); `plan` and `pipeline` when set.
  json::Object manifest();
  /// How the plan was chosen (informational; the runtime ignores it).
  json::Object planJSON();
  int64_t stageOf(Operation *op) const;

  ModuleOp module;
  func::FuncOp main;
  Block &body;
  MeshAttr mesh;
  PipelineInfo pipeline;
  const BundleOptions &options;
  int64_t devices;
  BundleImage image;
  /// Weight sections are numbered across all programs.
  unsigned nextWeight = 0;
  std::vector<int64_t> stageOfRank;
  /// One program per stage (one in all without a pipeline), run by the
  /// ranks whose pp coordinate is the stage.
  std::vector<ProgramBuilder> programs;
  json::Array inputs, outputs;
  /// Per stage, the buffer of each manifest output (-1: another stage's).
  std::vector<json::Array> programOutputs;
  int64_t nextTag = 0;
  /// The bias adds and activations folded into a matmul command.
  llvm::SmallPtrSet<Operation *, 16> inEpilogue;
};
} // namespace

BundleEmitter::BundleEmitter(ModuleOp module, func::FuncOp main, MeshAttr mesh,
                             PipelineInfo pipeline, const BundleOptions &options)
    : module(module), main(main), body(main.getBody().front()), mesh(mesh),
      pipeline(std::move(pipeline)), options(options),
      devices(mesh ? mesh.getNumDevices() : 1), stageOfRank(devices, 0),
      programOutputs(this->pipeline.stages) {
  // The manifest, the rank programs and the kernel library come first;
  // weights are appended as found.
  size_t kernelSections = options.cuda ? options.cuda->ptx.size() : 1;
  image.sections.resize(devices + 1 + kernelSections);
  std::vector<std::vector<int64_t>> stageRanks(this->pipeline.stages);
  for (int64_t r = 0; r < devices; ++r) {
    if (this->pipeline.ppAxis)
      stageOfRank[r] = mesh.getCoordinates(r)[*this->pipeline.ppAxis];
    stageRanks[stageOfRank[r]].push_back(r);
  }
  programs.reserve(this->pipeline.stages);
  for (int64_t stage = 0; stage < this->pipeline.stages; ++stage)
    programs.emplace_back(image, mesh, nextWeight, stageRanks[stage]);
}

int64_t BundleEmitter::stageOf(Operation *op) const {
  if (auto stage = op->getAttrOfType<IntegerAttr>("pmc.stage"))
    return stage.getInt();
  return 0;
}

LogicalResult BundleEmitter::bindInput(ProgramBuilder &program, Value value) {
  auto arg = dyn_cast<BlockArgument>(value);
  if (!arg || arg.getOwner() != &body || program.hasId(arg))
    return success();
  json::Object fields{{"kind", "input"}, {"input", (int64_t)arg.getArgNumber()}};
  return success(program.addBuffer(arg, std::move(fields), main) >= 0);
}

LogicalResult BundleEmitter::addInputs() {
  for (BlockArgument arg : body.getArguments()) {
    unsigned i = arg.getArgNumber();
    auto sharding = main.getArgAttrOfType<ShardingAttr>(i, mlir::pmc::kShardingAttrName);
    bool microbatched = pipeline.enabled && main.getArgAttr(i, "pmc.microbatched");
    FailureOr<json::Object> entry =
        tensorEntry(valueName(main, i, false), cast<RankedTensorType>(arg.getType()),
                    sharding, mesh, main, "input", microbatched ? pipeline.microbatches : 1);
    if (failed(entry))
      return failure();
    if (microbatched)
      pipeline.microbatchedInputs.push_back(valueName(main, i, false));
    inputs.push_back(std::move(*entry));
  }
  // Input buffers come first: every input without a pipeline, else in each
  // stage the inputs it reads (an input returned as is: stage 0).
  std::vector<llvm::SmallDenseSet<unsigned>> readBy(pipeline.stages);
  for (Operation &op : body)
    for (Value operand : op.getOperands())
      if (auto arg = dyn_cast<BlockArgument>(operand); arg && arg.getOwner() == &body) {
        int64_t stage = isa<func::ReturnOp>(op) ? 0 : stageOf(&op);
        if (stage >= 0 && stage < pipeline.stages && !isa<mlir::pmc::TransferOp>(op))
          readBy[stage].insert(arg.getArgNumber());
      }
  for (int64_t stage = 0; stage < pipeline.stages; ++stage)
    for (BlockArgument arg : body.getArguments())
      if (!pipeline.enabled || readBy[stage].contains(arg.getArgNumber()))
        if (failed(bindInput(programs[stage], arg)))
          return failure();
  return success();
}

LogicalResult BundleEmitter::emitOp(Operation &op) {
  int64_t stage = stageOf(&op);
  if (stage < 0 || stage >= pipeline.stages)
    return op.emitOpError() << "has pmc.stage " << stage << ", but the pipeline has "
                            << pipeline.stages << " stage(s)";
  ProgramBuilder &program = programs[stage];
  if (auto transfer = dyn_cast<mlir::pmc::TransferOp>(op))
    return emitTransfer(transfer, program);
  for (Value operand : op.getOperands())
    if (failed(bindInput(program, operand)))
      return failure();
  LogicalResult emitted =
      llvm::TypeSwitch<Operation *, LogicalResult>(&op)
          .Case([&](ConstantOp c) { return emitConstant(c, program); })
          .Case([&](mlir::pmc::ShardOp s) { return emitShard(s, program); })
          .Case([&](mlir::pmc::AllReduceOp c) {
            return emitCollective(c, "all_reduce", c.getInput(), c.getResult(),
                                  json::Object{{"axes", strArray(c.getAxes())},
                                               {"reduction", c.getReduction().str()}},
                                  program);
          })
          .Case([&](mlir::pmc::AllGatherOp c) {
            return emitCollective(c, "all_gather", c.getInput(), c.getResult(),
                                  json::Object{{"axes", strArray(c.getAxes())},
                                               {"dim", c.getDim()}},
                                  program);
          })
          .Case([&](mlir::pmc::ReduceScatterOp c) {
            return emitCollective(c, "reduce_scatter", c.getInput(), c.getResult(),
                                  json::Object{{"axes", strArray(c.getAxes())},
                                               {"dim", c.getDim()},
                                               {"reduction", c.getReduction().str()}},
                                  program);
          })
          .Case([&](mlir::pmc::AllToAllOp c) {
            return emitCollective(c, "all_to_all", c.getInput(), c.getResult(),
                                  json::Object{{"axes", strArray(c.getAxes())},
                                               {"split_dim", c.getSplitDim()},
                                               {"concat_dim", c.getConcatDim()}},
                                  program);
          })
          .Case([&](func::CallOp c) { return emitCall(c, program); })
          .Case([&](MatMulOp m) { return emitMatmul(m, program); })
          .Case([&](ConvOp c) { return emitConv(c, program); })
          .Case([&](ReshapeOp r) { return emitReshape(r, program); })
          .Case([&](func::ReturnOp r) { return emitReturn(r); })
          .Default([](Operation *op) {
            return op->emitOpError()
                   << "cannot be executed by the runtime: @main may only hold "
                      "constants, kernel calls, float matmul/conv, reshapes, "
                      "collectives and shards (run pmc-outline-kernels first)";
          });
  if (failed(emitted))
    return failure();
  // A return names buffers of several stages; a sharded weight has no
  // buffer of the whole constant.
  auto shard = dyn_cast<mlir::pmc::ShardOp>(op);
  if (isa<func::ReturnOp>(op) || (shard && shard.getInput().getDefiningOp<ConstantOp>()))
    return success();
  for (Value operand : op.getOperands())
    if (!program.hasId(operand))
      return op.emitOpError("uses a value that has no buffer");
  return success();
}

LogicalResult BundleEmitter::emitTransfer(mlir::pmc::TransferOp transfer,
                                          ProgramBuilder &program) {
  // A send in the programs of from_stage, a recv in those of to_stage.
  int64_t from = transfer.getFromStage(), to = transfer.getToStage();
  if (to != stageOf(transfer) || from < 0 || from >= to)
    return transfer.emitOpError() << "moves stage " << from << " to " << to
                                  << " but has pmc.stage " << stageOf(transfer);
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
  program.commands.push_back(
      json::Object{{"op", "recv"}, {"out", out}, {"from_stage", from}, {"tag", tag}});
  return success();
}

LogicalResult BundleEmitter::emitConstant(ConstantOp constant, ProgramBuilder &program) {
  // A constant only ever sharded is stored as its ranks' blocks alone.
  bool onlySharded = !constant->use_empty() &&
                     llvm::all_of(constant->getUsers(), [](Operation *user) {
                       return isa<mlir::pmc::ShardOp>(user);
                     });
  return onlySharded ? success() : program.addWeight(constant);
}

LogicalResult BundleEmitter::emitShard(mlir::pmc::ShardOp shard, ProgramBuilder &program) {
  if (!mesh)
    return shard.emitOpError("needs a pmc.mesh on the module");
  if (auto constant = shard.getInput().getDefiningOp<ConstantOp>())
    return program.addShardedWeight(constant, shard);
  return emitCollective(shard, "shard", shard.getInput(), shard.getResult(),
                        json::Object{{"sharding", shardingJSON(shard.getSharding())}},
                        program);
}

LogicalResult BundleEmitter::emitCollective(Operation *op, StringRef kind, Value input,
                                            Value output, json::Object fields,
                                            ProgramBuilder &program) {
  int64_t out = program.addTemp(output, op);
  if (out < 0)
    return failure();
  fields["op"] = kind.str();
  fields["in"] = program.idOf(input);
  fields["out"] = out;
  program.commands.push_back(std::move(fields));
  return success();
}

LogicalResult BundleEmitter::emitCall(func::CallOp call, ProgramBuilder &program) {
  json::Array ins, outs;
  for (Value operand : call.getOperands())
    ins.push_back(program.idOf(operand));
  for (Value result : call.getResults()) {
    int64_t id = program.addTemp(result, call);
    if (id < 0)
      return failure();
    outs.push_back(id);
  }
  if (options.cuda)
    return addLaunches(program, call, ins, outs, *options.cuda);
  program.commands.push_back(json::Object{{"op", "kernel"},
                                          {"symbol", call.getCallee()},
                                          {"inputs", std::move(ins)},
                                          {"outputs", std::move(outs)}});
  return success();
}

LogicalResult BundleEmitter::emitMatmul(MatMulOp matmul, ProgramBuilder &program) {
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
  return success();
}

LogicalResult BundleEmitter::emitConv(ConvOp conv, ProgramBuilder &program) {
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
  return success();
}

LogicalResult BundleEmitter::emitReshape(ReshapeOp reshape, ProgramBuilder &program) {
  // A view of the root buffer (never a view of a view).
  int64_t of = program.idOf(reshape.getInput());
  while (true) {
    const json::Object *base = program.buffers[of].getAsObject();
    if (base->getString("kind") != "view")
      break;
    of = *base->getInteger("of");
  }
  json::Object fields{{"kind", "view"}, {"of", of}};
  return success(program.addBuffer(reshape.getResult(), std::move(fields), reshape) >= 0);
}

LogicalResult BundleEmitter::emitReturn(func::ReturnOp ret) {
  for (auto [i, value] : llvm::enumerate(ret.getOperands())) {
    auto sharding = main.getResultAttrOfType<ShardingAttr>(i, mlir::pmc::kShardingAttrName);
    bool microbatched = pipeline.enabled && main.getResultAttr(i, "pmc.microbatched");
    FailureOr<json::Object> entry =
        tensorEntry(valueName(main, i, true), cast<RankedTensorType>(value.getType()),
                    sharding, mesh, ret, "output", microbatched ? pipeline.microbatches : 1);
    if (failed(entry))
      return failure();
    // The stage that computes the output (an input returned as is: 0).
    Operation *producer = value.getDefiningOp();
    int64_t outputStage = producer ? stageOf(producer) : 0;
    if (failed(bindInput(programs[outputStage], value)))
      return failure();
    if (pipeline.enabled) {
      (*entry)["stage"] = outputStage;
      if (microbatched)
        pipeline.microbatchedOutputs.push_back(valueName(main, i, true));
    }
    outputs.push_back(std::move(*entry));
    for (int64_t s = 0; s < pipeline.stages; ++s)
      programOutputs[s].push_back(s == outputStage ? programs[s].idOf(value) : int64_t(-1));
  }
  return success();
}

json::Object BundleEmitter::planJSON() {
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
  if (auto json = module->getAttrOfType<StringAttr>("pmc.plan_json")) {
    if (llvm::Expected<json::Value> parsed = json::parse(json.getValue()))
      plan["planner"] = std::move(*parsed);
    else
      llvm::consumeError(parsed.takeError());
  }
  if (auto explain = module->getAttrOfType<StringAttr>("pmc.plan_explain"))
    plan["explain"] = explain.str();
  return plan;
}

json::Object BundleEmitter::manifest() {
  json::Array ranks;
  for (int64_t r = 0; r < devices; ++r)
    ranks.push_back(json::Object{{"rank", r},
                                 {"program", "rank" + std::to_string(r) + ".program"}});
  json::Array meshAxes;
  if (mesh)
    for (auto [name, size] : llvm::zip(mesh.getNames(), mesh.getSizes()))
      meshAxes.push_back(json::Object{{"name", name.str()}, {"size", size}});
  json::Object manifest{{"format", "pmc-bundle"},
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
  if (pipeline.enabled)
    manifest["pipeline"] =
        json::Object{{"stages", pipeline.stages},
                     {"axis", "pp"},
                     {"microbatches", pipeline.microbatches},
                     {"schedule", pipeline.schedule},
                     {"microbatched_inputs", json::Array(pipeline.microbatchedInputs)},
                     {"microbatched_outputs", json::Array(pipeline.microbatchedOutputs)}};
  if (mesh)
    manifest["plan"] = planJSON();
  return manifest;
}

static std::string printJSON(json::Value value) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << llvm::formatv("{0:2}", value);
  return text;
}

FailureOr<BundleImage> BundleEmitter::emit(std::string kernelLibrary) {
  if (failed(addInputs()))
    return failure();
  for (Operation &op : body)
    if (!inEpilogue.contains(&op) && failed(emitOp(op)))
      return failure();
  image.sections[0].name = "manifest";
  image.sections[0].owned = printJSON(manifest());
  // The SPMD program of a stage is the same on each of its ranks but for
  // their weight sections.
  for (int64_t r = 0; r < devices; ++r) {
    int64_t stage = stageOfRank[r];
    json::Object rank{{"rank", r},
                      {"buffers", programs[stage].buffersOfRank(r)},
                      {"commands", json::Array(programs[stage].commands)},
                      {"outputs", json::Array(programOutputs[stage])}};
    if (pipeline.enabled)
      rank["stage"] = stage;
    image.sections[1 + r].name = "rank" + std::to_string(r) + ".program";
    image.sections[1 + r].owned = printJSON(std::move(rank));
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
  return std::move(image);
}

FailureOr<BundleImage>(::pmc::buildBundleImage)(ModuleOp module, std::string kernelLibrary,
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
  return BundleEmitter(module, main, mesh, std::move(*pipeline), options)
      .emit(std::move(kernelLibrary));
}
