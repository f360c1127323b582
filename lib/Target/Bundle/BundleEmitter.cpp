//===- BundleEmitter.cpp - manifest, rank program and weights from @main ---===//
#include "pmc/Target/BundleEmitter.h"
#include "pmc/Support/Version.h"

#include "pmc/Dialect/PMC/IR/PMCOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"

using namespace mlir;
namespace json = llvm::json;
using mlir::pmc::ConstantOp;
using mlir::pmc::ConvOp;
using mlir::pmc::MatMulOp;
using mlir::pmc::ReshapeOp;


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
/// Builds the program of rank 0 while walking @main.
class ProgramBuilder {
public:
  ProgramBuilder(::pmc::BundleImage &image) : image(image) {}

  /// Adds a buffer for `value`; returns its id, or -1 after an error.
  int64_t addBuffer(Value value, json::Object fields, Operation *at) {
    auto type = dyn_cast<RankedTensorType>(value.getType());
    std::string dtype = type ? dtypeName(type.getElementType()) : "";
    if (dtype.empty()) {
      at->emitOpError() << "produces " << value.getType()
                        << ", which the bundle cannot hold (no numpy dtype)";
      return -1;
    }
    int64_t id = buffers.size();
    fields["id"] = id;
    fields["dtype"] = dtype;
    fields["shape"] = shapeJSON(type);
    buffers.push_back(std::move(fields));
    ids[value] = id;
    return id;
  }

  int64_t idOf(Value value) const { return ids.lookup(value); }
  bool hasId(Value value) const { return ids.count(value); }

  /// Adds a `w/<N>` section holding the bytes of `constant`.
  LogicalResult addWeight(mlir::pmc::ConstantOp constant) {
    auto type = cast<RankedTensorType>(constant.getType());
    std::string section = "w/" + std::to_string(nextWeight++);
    ::pmc::BundleImage::Section weight;
    weight.name = section;
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
    image.sections.push_back(std::move(weight));
    json::Object fields{{"kind", "weight"}, {"section", section}};
    return success(addBuffer(constant.getResult(), std::move(fields), constant) >= 0);
  }

  int64_t addTemp(Value value, Operation *at) {
    return addBuffer(value, json::Object{{"kind", "temp"}}, at);
  }

  json::Array buffers;
  json::Array commands;

private:
  ::pmc::BundleImage &image;
  llvm::DenseMap<Value, int64_t> ids;
  unsigned nextWeight = 0;
};
} // namespace

static std::string valueName(func::FuncOp main, unsigned index, bool result) {
  StringAttr name = result ? main.getResultAttrOfType<StringAttr>(index, "pmc.name")
                           : main.getArgAttrOfType<StringAttr>(index, "pmc.name");
  if (name)
    return name.str();
  return (result ? "output" : "input") + std::to_string(index);
}

FailureOr<::pmc::BundleImage>
(::pmc::buildBundleImage)(ModuleOp module, std::string kernelLibrary,
                      const BundleOptions &options) {
  auto main = module.lookupSymbol<func::FuncOp>("main");
  if (!main || main.isExternal() || !main.getBody().hasOneBlock())
    return module.emitError("the bundle needs a @main function with one block");
  BundleImage image;
  // The manifest and the program come first; weights are appended as found.
  image.sections.resize(2);
  ProgramBuilder program(image);

  json::Array inputs, outputs;
  Block &body = main.getBody().front();
  for (BlockArgument arg : body.getArguments()) {
    auto type = cast<RankedTensorType>(arg.getType());
    inputs.push_back(json::Object{{"name", valueName(main, arg.getArgNumber(), false)},
                                  {"dtype", dtypeName(type.getElementType())},
                                  {"shape", shapeJSON(type)}});
    json::Object fields{{"kind", "input"}, {"input", (int64_t)arg.getArgNumber()}};
    if (program.addBuffer(arg, std::move(fields), main) < 0)
      return failure();
  }

  json::Array programOutputs;
  for (Operation &op : body) {
    if (auto constant = dyn_cast<ConstantOp>(op)) {
      if (failed(program.addWeight(constant)))
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
      program.commands.push_back(json::Object{{"op", "kernel"},
                                              {"symbol", call.getCallee()},
                                              {"inputs", std::move(ins)},
                                              {"outputs", std::move(outs)}});
    } else if (auto matmul = dyn_cast<MatMulOp>(op)) {
      int64_t c = program.addTemp(matmul.getResult(), matmul);
      if (c < 0)
        return failure();
      program.commands.push_back(json::Object{{"op", "matmul"},
                                              {"a", program.idOf(matmul.getLhs())},
                                              {"b", program.idOf(matmul.getRhs())},
                                              {"c", c},
                                              {"trans_a", matmul.getTransposeA()},
                                              {"trans_b", matmul.getTransposeB()}});
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
        auto type = cast<RankedTensorType>(value.getType());
        outputs.push_back(json::Object{{"name", valueName(main, i, true)},
                                       {"dtype", dtypeName(type.getElementType())},
                                       {"shape", shapeJSON(type)}});
        programOutputs.push_back(program.idOf(value));
      }
    } else {
      return op.emitOpError()
             << "cannot be executed by the runtime: @main may only hold "
                "constants, kernel calls, float matmul/conv and reshapes (run "
                "pmc-outline-kernels first)";
    }
    for (Value operand : op.getOperands())
      if (!program.hasId(operand))
        return op.emitOpError("uses a value that has no buffer");
  }

  json::Array ranks;
  ranks.push_back(json::Object{{"rank", 0}, {"program", "rank0.program"}});
  json::Object manifest{
      {"format", "pmc-bundle"},
      {"format_version", 1},
      {"producer", std::string("pmc ") + PMC_VERSION_STRING},
      {"target", options.target},
      {"devices", options.devices},
      {"mesh", json::Object{{"axes", json::Array{}}}},
      {"kernel_library", "kernels.cpu"},
      {"inputs", std::move(inputs)},
      {"outputs", std::move(outputs)},
      {"ranks", std::move(ranks)}};
  json::Object rank{{"rank", 0},
                    {"buffers", std::move(program.buffers)},
                    {"commands", std::move(program.commands)},
                    {"outputs", std::move(programOutputs)}};
  auto print = [](json::Value value) {
    std::string text;
    llvm::raw_string_ostream os(text);
    os << llvm::formatv("{0:2}", value);
    return text;
  };
  image.sections[0].name = "manifest";
  image.sections[0].owned = print(std::move(manifest));
  image.sections[1].name = "rank0.program";
  image.sections[1].owned = print(std::move(rank));
  BundleImage::Section library;
  library.name = "kernels.cpu";
  library.owned = std::move(kernelLibrary);
  image.sections.insert(image.sections.begin() + 2, std::move(library));
  return image;
}
