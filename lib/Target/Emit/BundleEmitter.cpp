//===- BundleEmitter.cpp - the pmcrt programs serialized as a bundle -------===//
//
// The bundle writer: after pmc-lower-to-runtime-program, each pmcrt.program
// is printed as the `rank<R>.program` of each of its ranks, the interface of
// @main (its signature) as the manifest, and the weights of the programs as
// `w/<N>` sections (docs/design/bundle.md). Buffer ids are the order in
// which a program's buffer ops appear.
//
#include "pmc/Target/BundleEmitter.h"
#include "EmitSupport.h"
#include "WeightSections.h"
#include "pmc/Support/Version.h"

#include "pmc/Dialect/PMC/IR/PMCAttrs.h"
#include "pmc/Dialect/PMC/IR/PMCDialect.h"
#include "pmc/Dialect/PMC/IR/PMCOps.h"
#include "pmc/Dialect/Runtime/IR/RuntimeOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"

#include <map>

using namespace mlir;
using namespace ::pmc::bundle_emitter;
using ::pmc::BundleImage;
using ::pmc::BundleOptions;
using mlir::pmc::MeshAttr;
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

namespace {
/// One pmcrt.program as JSON: the buffer table (shared by its ranks but for
/// the sections of sharded weights), the commands and the output buffers.
struct SerializedProgram {
  json::Array buffers;
  json::Array commands;
  /// The buffer of each manifest output (-1: another stage computes it).
  json::Array outputs;
  /// Buffer id -> the weight section of each rank (sharded weights).
  std::map<int64_t, std::map<int64_t, std::string>> rankSections;

  /// The buffer table of rank `r`.
  json::Array buffersOfRank(int64_t r) const {
    json::Array copy = buffers;
    for (const auto &[id, names] : rankSections)
      (*copy[id].getAsObject())["section"] = names.at(r);
    return copy;
  }
};

/// Serializes the programs and the manifest of a lowered module.
class ProgramSerializer {
public:
  ProgramSerializer(ModuleOp module, func::FuncOp main, MeshAttr mesh,
                    PipelineInfo pipeline, const BundleOptions &options)
      : module(module), main(main), mesh(mesh), pipeline(std::move(pipeline)),
        options(options), devices(mesh ? mesh.getNumDevices() : 1) {}

  FailureOr<BundleImage> serialize(ArrayRef<pmcrt::ProgramOp> programs,
                                   std::string kernelLibrary);

private:
  FailureOr<SerializedProgram> serializeProgram(pmcrt::ProgramOp program);
  /// Adds a buffer for `value` to the table; returns its id.
  int64_t addBuffer(SerializedProgram &out, Value value, json::Object fields);
  int64_t addBufferOfType(SerializedProgram &out, ShapedType type, json::Object fields);
  LogicalResult addWeight(SerializedProgram &out, pmcrt::WeightOp weight,
                          ArrayRef<int64_t> ranks);
  LogicalResult addCommand(SerializedProgram &out, Operation &op);
  /// The cuda form of a kernel: its launches, in order, each naming the
  /// buffers of its arguments; its scratch buffers become buffers of kind
  /// "scratch".
  LogicalResult addLaunches(SerializedProgram &out, pmcrt::KernelOp kernel,
                            const json::Array &ins, const json::Array &outs);
  /// The manifest entries of @main's inputs or outputs.
  FailureOr<json::Array> interfaceEntries(bool results,
                                          const std::vector<int64_t> &outputStage);
  json::Object manifest(json::Array inputs, json::Array outputs);
  /// How the plan was chosen (informational; the runtime ignores it).
  json::Object planJSON();

  ModuleOp module;
  func::FuncOp main;
  MeshAttr mesh;
  PipelineInfo pipeline;
  const BundleOptions &options;
  int64_t devices;
  /// The id of each buffer of the program being serialized.
  DenseMap<Value, int64_t> ids;
  std::vector<json::Value> microbatchedInputs, microbatchedOutputs;
  /// Weight sections by index (`w/<index>`), written in that order.
  std::map<int64_t, std::vector<BundleImage::Section>> weights;
  /// The initial values of a train step's parameters (`state/<input>`).
  std::vector<BundleImage::Section> stateSections;
};
} // namespace

int64_t ProgramSerializer::addBufferOfType(SerializedProgram &out, ShapedType type,
                                           json::Object fields) {
  int64_t id = out.buffers.size();
  fields["id"] = id;
  fields["dtype"] = dtypeName(type.getElementType());
  fields["shape"] = i64Array(type.getShape());
  out.buffers.push_back(std::move(fields));
  return id;
}

int64_t ProgramSerializer::addBuffer(SerializedProgram &out, Value value,
                                     json::Object fields) {
  int64_t id = addBufferOfType(out, cast<ShapedType>(value.getType()), std::move(fields));
  ids[value] = id;
  return id;
}

LogicalResult ProgramSerializer::addWeight(SerializedProgram &out, pmcrt::WeightOp weight,
                                           ArrayRef<int64_t> ranks) {
  std::string name = "w/" + std::to_string(weight.getIndex());
  if (weights.count(weight.getIndex()))
    return weight.emitOpError() << "reuses weight section " << name;
  BundleImage::Section whole;
  whole.name = name;
  if (failed(weightBytes(weight.getValue(), weight, whole)))
    return failure();
  ShardingAttr sharding = weight.getShardingAttr();
  if (!sharding) {
    weights[weight.getIndex()].push_back(std::move(whole));
    addBuffer(out, weight, json::Object{{"kind", "weight"}, {"section", name}});
    return success();
  }
  if (!mesh)
    return weight.emitOpError("is sharded, but the module has no pmc.mesh");
  // Each rank's block is a section `w/<N>/r<R>`, R the first rank holding
  // that block; ranks with the same block share it.
  const char *bytes = whole.data ? (const char *)whole.data : whole.owned.data();
  auto globalType = cast<ShapedType>(weight.getValue().getType());
  ArrayRef<int64_t> global = globalType.getShape();
  ArrayRef<int64_t> local = weight.getBuffer().getType().getShape();
  size_t elementBytes = std::max<size_t>(1, globalType.getElementTypeBitWidth() / 8);
  std::map<std::vector<int64_t>, std::string> blocks;
  std::map<int64_t, std::string> names;
  for (int64_t r : ranks) {
    std::vector<int64_t> offsets = blockOffsets(mesh, sharding, local, r);
    auto [it, inserted] = blocks.try_emplace(offsets, name + "/r" + std::to_string(r));
    names[r] = it->second;
    if (!inserted)
      continue;
    BundleImage::Section section;
    section.name = it->second;
    section.owned = sliceBlock(bytes, global, local, offsets, elementBytes);
    weights[weight.getIndex()].push_back(std::move(section));
  }
  int64_t id =
      addBuffer(out, weight, json::Object{{"kind", "weight"}, {"section", names.begin()->second}});
  out.rankSections[id] = std::move(names);
  return success();
}

LogicalResult ProgramSerializer::addLaunches(SerializedProgram &out, pmcrt::KernelOp kernel,
                                             const json::Array &ins,
                                             const json::Array &outs) {
  auto it = options.cuda->kernels.find(kernel.getCallee().str());
  if (it == options.cuda->kernels.end())
    return kernel.emitOpError() << "calls '" << kernel.getCallee()
                                << "', which the cuda target did not compile";
  const ::pmc::GPUKernel &compiled = it->second;
  std::vector<json::Value> params(ins.begin(), ins.end());
  params.insert(params.end(), outs.begin(), outs.end());
  if ((int64_t)params.size() != compiled.numParams)
    return kernel.emitOpError() << "passes " << params.size() << " buffers to '"
                                << kernel.getCallee() << "', which takes "
                                << compiled.numParams;
  for (RankedTensorType type : compiled.scratch)
    params.push_back(addBufferOfType(out, type, json::Object{{"kind", "scratch"}}));
  auto buffers = [&](const std::vector<int64_t> &indices) {
    json::Array array;
    for (int64_t i : indices)
      array.push_back(params[i]);
    return array;
  };
  auto dim3 = [](const std::array<int64_t, 3> &d) { return json::Array{d[0], d[1], d[2]}; };
  for (const ::pmc::GPULaunch &launch : compiled.launches)
    out.commands.push_back(json::Object{{"op", "launch"},
                                        {"kernel", kernel.getCallee()},
                                        {"function", launch.function},
                                        {"grid", dim3(launch.grid)},
                                        {"block", dim3(launch.block)},
                                        {"shared_bytes", launch.sharedBytes},
                                        {"args", buffers(launch.args)},
                                        {"writes", buffers(launch.writes)}});
  return success();
}

LogicalResult ProgramSerializer::addCommand(SerializedProgram &out, Operation &op) {
  auto id = [&](Value value) -> json::Value { return value ? ids.lookup(value) : -1; };
  auto collective = [&](StringRef kind, Value in, Value result, json::Object fields) {
    fields["op"] = kind.str();
    fields["in"] = id(in);
    fields["out"] = id(result);
    out.commands.push_back(std::move(fields));
    return success();
  };
  return llvm::TypeSwitch<Operation *, LogicalResult>(&op)
      .Case([&](pmcrt::KernelOp kernel) {
        json::Array ins, outs;
        for (Value input : kernel.getInputs())
          ins.push_back(id(input));
        for (Value output : kernel.getOutputs())
          outs.push_back(id(output));
        if (options.cuda)
          return addLaunches(out, kernel, ins, outs);
        out.commands.push_back(json::Object{{"op", "kernel"},
                                            {"symbol", kernel.getCallee()},
                                            {"inputs", std::move(ins)},
                                            {"outputs", std::move(outs)}});
        return success();
      })
      .Case([&](pmcrt::MatmulOp matmul) {
        json::Object command{{"op", "matmul"},          {"a", id(matmul.getA())},
                             {"b", id(matmul.getB())},  {"c", id(matmul.getC())},
                             {"trans_a", matmul.getTransA()},
                             {"trans_b", matmul.getTransB()}};
        if (matmul.getBias())
          command["bias"] = id(matmul.getBias());
        if (matmul.getActivation() != "none")
          command["activation"] = matmul.getActivation().str();
        out.commands.push_back(std::move(command));
        return success();
      })
      .Case([&](pmcrt::ConvOp conv) {
        out.commands.push_back(json::Object{{"op", "conv"},
                                            {"x", id(conv.getX())},
                                            {"w", id(conv.getW())},
                                            {"bias", id(conv.getBias())},
                                            {"y", id(conv.getY())},
                                            {"strides", i64Array(conv.getStrides())},
                                            {"pads", i64Array(conv.getPads())},
                                            {"dilations", i64Array(conv.getDilations())},
                                            {"group", (int64_t)conv.getGroup()}});
        return success();
      })
      .Case([&](pmcrt::AllReduceOp c) {
        return collective("all_reduce", c.getInput(), c.getOutput(),
                          json::Object{{"axes", strArray(c.getAxes())},
                                       {"reduction", c.getReduction().str()}});
      })
      .Case([&](pmcrt::AllGatherOp c) {
        return collective("all_gather", c.getInput(), c.getOutput(),
                          json::Object{{"axes", strArray(c.getAxes())},
                                       {"dim", (int64_t)c.getDim()}});
      })
      .Case([&](pmcrt::ReduceScatterOp c) {
        return collective("reduce_scatter", c.getInput(), c.getOutput(),
                          json::Object{{"axes", strArray(c.getAxes())},
                                       {"dim", (int64_t)c.getDim()},
                                       {"reduction", c.getReduction().str()}});
      })
      .Case([&](pmcrt::AllToAllOp c) {
        return collective("all_to_all", c.getInput(), c.getOutput(),
                          json::Object{{"axes", strArray(c.getAxes())},
                                       {"split_dim", (int64_t)c.getSplitDim()},
                                       {"concat_dim", (int64_t)c.getConcatDim()}});
      })
      .Case([&](pmcrt::ShardOp c) {
        return collective("shard", c.getInput(), c.getOutput(),
                          json::Object{{"sharding", shardingJSON(c.getSharding())}});
      })
      .Case([&](pmcrt::SendOp send) {
        out.commands.push_back(json::Object{{"op", "send"},
                                            {"in", id(send.getInput())},
                                            {"to_stage", (int64_t)send.getToStage()},
                                            {"tag", (int64_t)send.getTag()}});
        return success();
      })
      .Case([&](pmcrt::RecvOp recv) {
        out.commands.push_back(json::Object{{"op", "recv"},
                                            {"out", id(recv.getOutput())},
                                            {"from_stage", (int64_t)recv.getFromStage()},
                                            {"tag", (int64_t)recv.getTag()}});
        return success();
      })
      .Default([](Operation *op) {
        return op->emitOpError("is not an op of a rank program");
      });
}

FailureOr<SerializedProgram> ProgramSerializer::serializeProgram(pmcrt::ProgramOp program) {
  SerializedProgram out;
  ids.clear();
  for (unsigned i = 0; i < main.getNumResults(); ++i)
    out.outputs.push_back(int64_t(-1));
  for (Operation &op : program.getBody().front()) {
    LogicalResult done =
        llvm::TypeSwitch<Operation *, LogicalResult>(&op)
            .Case([&](pmcrt::InputOp input) {
              addBuffer(out, input,
                        json::Object{{"kind", "input"}, {"input", (int64_t)input.getIndex()}});
              return success();
            })
            .Case([&](pmcrt::WeightOp weight) {
              return addWeight(out, weight, program.getRanks());
            })
            .Case([&](pmcrt::TempOp temp) {
              addBuffer(out, temp, json::Object{{"kind", "temp"}});
              return success();
            })
            .Case([&](pmcrt::ViewOp view) {
              addBuffer(out, view,
                        json::Object{{"kind", "view"}, {"of", ids.lookup(view.getSource())}});
              return success();
            })
            .Case([&](pmcrt::OutputsOp outputs) -> LogicalResult {
              for (auto [value, position] :
                   llvm::zip(outputs.getValues(), outputs.getPositions())) {
                if (position >= (int64_t)main.getNumResults())
                  return outputs.emitOpError() << "lists output " << position << ", but @main has "
                                               << main.getNumResults();
                out.outputs[position] = ids.lookup(value);
              }
              return success();
            })
            .Default([&](Operation *command) { return addCommand(out, *command); });
    if (failed(done))
      return failure();
  }
  return out;
}

FailureOr<json::Array>
ProgramSerializer::interfaceEntries(bool results, const std::vector<int64_t> &outputStage) {
  json::Array entries;
  unsigned count = results ? main.getNumResults() : main.getNumArguments();
  for (unsigned i = 0; i < count; ++i) {
    auto sharding =
        results ? main.getResultAttrOfType<ShardingAttr>(i, mlir::pmc::kShardingAttrName)
                : main.getArgAttrOfType<ShardingAttr>(i, mlir::pmc::kShardingAttrName);
    bool microbatched =
        pipeline.enabled && (results ? main.getResultAttr(i, "pmc.microbatched")
                                     : main.getArgAttr(i, "pmc.microbatched"));
    Type type = results ? main.getResultTypes()[i] : main.getArgumentTypes()[i];
    std::string name = valueName(main, i, results);
    FailureOr<json::Object> entry =
        tensorEntry(name, cast<RankedTensorType>(type), sharding, mesh, main,
                    results ? "output" : "input", microbatched ? pipeline.microbatches : 1);
    if (failed(entry))
      return failure();
    if (results && pipeline.enabled)
      (*entry)["stage"] = outputStage[i];
    // A train step's state (docs/design/bundle.md, "State"): the runtime
    // keeps each rank's shard of these inputs across runs, and writes the
    // outputs that update them over them.
    bool buffer = !results && main.getArgAttr(i, mlir::pmc::kBufferAttrName);
    if (!results && (buffer || main.getArgAttr(i, mlir::pmc::kParameterAttrName))) {
      (*entry)["state"] = buffer ? "buffer" : "parameter";
      // Its value before the first step: a section the runtime loads.
      if (auto initial =
              main.getArgAttrOfType<ElementsAttr>(i, mlir::pmc::kInitialValueAttrName)) {
        BundleImage::Section section;
        section.name = "state/" + std::to_string(i);
        if (failed(weightBytes(initial, main, section)))
          return failure();
        (*entry)["initial"] = section.name;
        stateSections.push_back(std::move(section));
      }
    }
    else if (!results && main.getArgAttr(i, mlir::pmc::kOptimizerStateAttrName))
      (*entry)["state"] = "optimizer_state";
    else if (results && main.getResultAttr(i, mlir::pmc::kStateUpdateAttrName))
      (*entry)["updates"] = name;
    if (microbatched)
      (results ? microbatchedOutputs : microbatchedInputs).push_back(name);
    entries.push_back(std::move(*entry));
  }
  return entries;
}

json::Object ProgramSerializer::planJSON() {
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

json::Object ProgramSerializer::manifest(json::Array inputs, json::Array outputs) {
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
                     {"microbatched_inputs", json::Array(microbatchedInputs)},
                     {"microbatched_outputs", json::Array(microbatchedOutputs)}};
  if (mesh)
    manifest["plan"] = planJSON();
  if (auto train = module->getAttrOfType<DictionaryAttr>("pmc.train")) {
    auto optimizer = train.getAs<StringAttr>("optimizer");
    auto lr = train.getAs<FloatAttr>("lr");
    if (optimizer && lr)
      manifest["train"] = json::Object{{"optimizer", optimizer.str()},
                                       {"lr", lr.getValueAsDouble()}};
  }
  return manifest;
}

static std::string printJSON(json::Value value) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << llvm::formatv("{0:2}", value);
  return text;
}

FailureOr<BundleImage> ProgramSerializer::serialize(ArrayRef<pmcrt::ProgramOp> programs,
                                                    std::string kernelLibrary) {
  std::vector<SerializedProgram> serialized;
  std::vector<int64_t> outputStage(main.getNumResults(), -1);
  for (pmcrt::ProgramOp program : programs) {
    FailureOr<SerializedProgram> out = serializeProgram(program);
    if (failed(out))
      return failure();
    for (int64_t position : program.getOutputs().getPositions()) {
      if (outputStage[position] >= 0)
        return program.emitOpError() << "computes output " << position
                                     << ", which stage " << outputStage[position]
                                     << " computes too";
      outputStage[position] = program.getStage();
    }
    serialized.push_back(std::move(*out));
  }
  for (auto [i, stage] : llvm::enumerate(outputStage))
    if (stage < 0)
      return main.emitOpError() << "output " << i << " is computed by no program";
  FailureOr<json::Array> inputs = interfaceEntries(false, outputStage);
  FailureOr<json::Array> outputs = interfaceEntries(true, outputStage);
  if (failed(inputs) || failed(outputs))
    return failure();

  // The manifest, the rank programs and the kernel code come first, then
  // the weights in the order of their numbers.
  BundleImage image;
  image.sections.push_back({"manifest", printJSON(manifest(std::move(*inputs),
                                                           std::move(*outputs)))});
  // The SPMD program of a stage is the same on each of its ranks but for
  // their weight sections.
  for (int64_t r = 0; r < devices; ++r) {
    int64_t stage = stageOfRank(pipeline, mesh, r);
    const SerializedProgram &program = serialized[stage];
    json::Object rank{{"rank", r},
                      {"buffers", program.buffersOfRank(r)},
                      {"commands", json::Array(program.commands)},
                      {"outputs", json::Array(program.outputs)}};
    if (pipeline.enabled)
      rank["stage"] = stage;
    image.sections.push_back(
        {"rank" + std::to_string(r) + ".program", printJSON(std::move(rank))});
  }
  if (options.cuda) {
    for (const auto &[chip, ptx] : options.cuda->ptx)
      image.sections.push_back({"kernels.ptx." + chip, ptx});
  } else {
    image.sections.push_back({"kernels.cpu", std::move(kernelLibrary)});
  }
  for (auto &[index, sections] : weights)
    for (BundleImage::Section &section : sections)
      image.sections.push_back(std::move(section));
  for (BundleImage::Section &section : stateSections)
    image.sections.push_back(std::move(section));
  return image;
}

FailureOr<BundleImage>(::pmc::buildBundleImage)(ModuleOp module, std::string kernelLibrary,
                                                const BundleOptions &options) {
  auto main = module.lookupSymbol<func::FuncOp>(mlir::pmc::kEntryFunctionName);
  SmallVector<pmcrt::ProgramOp> programs(module.getOps<pmcrt::ProgramOp>());
  if (!main || !main.isExternal() || programs.empty())
    return module.emitError("the bundle writer needs the pmcrt programs of @main "
                            "(run pmc-lower-to-runtime-program first)");
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
  llvm::sort(programs, [](pmcrt::ProgramOp a, pmcrt::ProgramOp b) {
    return a.getStage() < b.getStage();
  });
  for (auto [stage, program] : llvm::enumerate(programs))
    if ((int64_t)program.getStage() != (int64_t)stage || (int64_t)programs.size() != pipeline->stages)
      return program.emitOpError() << "is stage " << program.getStage() << " of "
                                   << programs.size() << " programs, but the pipeline has "
                                   << pipeline->stages << " stage(s), one program each";
  return ProgramSerializer(module, main, mesh, std::move(*pipeline), options)
      .serialize(programs, std::move(kernelLibrary));
}
