//===- ONNXImporter.cpp - an ONNX ModelProto to a func.func of pmc ops ----===//
#include "pmc/Import/ONNX/ONNXImporter.h"

#include "ImporterImpl.h"
#include "TrainingBatchNorm.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "pmc/Dialect/PMC/IR/PMCDialect.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Location.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/Path.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

using namespace mlir;
using namespace ::pmc::onnx_import;

namespace {

/// Reads the model file; protobuf's default 64 MB message limit is raised to
/// the 2 GB that the format allows.
LogicalResult parseModel(const std::string &path, onnx::ModelProto &model,
                         Location loc) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0)
    return emitError(loc) << "cannot open ONNX model '" << path
                          << "': " << std::strerror(errno);
  bool ok;
  {
    google::protobuf::io::FileInputStream raw(fd);
    google::protobuf::io::CodedInputStream coded(&raw);
    coded.SetTotalBytesLimit(INT_MAX);
    ok = model.ParseFromCodedStream(&coded) && coded.ConsumedEntireMessage();
    ok = ok && raw.GetErrno() == 0;
  }
  ::close(fd);
  if (!ok)
    return emitError(loc) << "'" << path
                          << "' is not a valid ONNX model (the protobuf does not "
                             "parse: the file is truncated or not ONNX)";
  if (!model.has_graph() || model.ir_version() <= 0 ||
      (model.graph().node_size() == 0 && model.graph().output_size() == 0))
    return emitError(loc) << "'" << path
                          << "' is not an ONNX model (no ir_version or an empty "
                             "graph)";
  return success();
}

/// The `tensor<...>` type of graph input `name` (or of a sequence input's
/// element `name[i]`) of ONNX type `tensor`, with --input-shape applied.
FailureOr<RankedTensorType>
tensorInputType(MLIRContext &context, const std::string &name,
                const onnx::TypeProto_Tensor &tensor,
                const ::pmc::ImportOptions &options, Location loc) {
  Type elementType = convertElementType(context, tensor.elem_type());
  if (!elementType)
    return emitError(loc) << "graph input '" << name
                          << "' has unsupported element type "
                          << onnxTypeName(tensor.elem_type());
  auto given = options.inputShapes.find(name);
  SmallVector<int64_t> shape;
  if (tensor.has_shape()) {
    for (auto [i, dim] : llvm::enumerate(tensor.shape().dim())) {
      if (dim.has_dim_value() && dim.dim_value() >= 0) {
        shape.push_back(dim.dim_value());
        continue;
      }
      if (given == options.inputShapes.end()) {
        InFlightDiagnostic d = emitError(loc)
                               << "input '" << name
                               << "' has a dynamic dimension " << i;
        if (dim.has_dim_param())
          d << " ('" << dim.dim_param() << "')";
        d << "; give its shape with --input-shape " << name << "=...";
        return failure();
      }
      shape.push_back(ShapedType::kDynamic);
    }
  } else if (given == options.inputShapes.end()) {
    return emitError(loc) << "input '" << name
                          << "' has no shape; give its shape with --input-shape "
                          << name << "=...";
  }
  if (given != options.inputShapes.end()) {
    const std::vector<int64_t> &dims = given->second;
    if (tensor.has_shape() && dims.size() != shape.size())
      return emitError(loc) << "--input-shape " << name << " gives rank "
                            << dims.size() << ", the model declares rank "
                            << shape.size();
    for (size_t i = 0; i < shape.size(); ++i)
      if (shape[i] != ShapedType::kDynamic && shape[i] != dims[i])
        return emitError(loc) << "--input-shape " << name << " gives dim "
                              << i << " = " << dims[i]
                              << ", the model fixes it to " << shape[i];
    shape.assign(dims.begin(), dims.end());
  }
  // Shape arithmetic (element counts, offsets) must not overflow int64.
  int64_t elements = 1;
  for (int64_t d : shape) {
    if (d <= 0)
      continue;
    if (d > kMaxTensorElements / elements)
      return emitError(loc) << "input '" << name << "' has shape ["
                            << ArrayRef<int64_t>(shape) << "]: more than 2^40 elements";
    elements *= d;
  }
  return RankedTensorType::get(shape, elementType);
}

/// A bound input's value as a constant attribute of the declared type.
FailureOr<DenseElementsAttr> boundValue(MLIRContext &context,
                                        const onnx::ValueInfoProto &info,
                                        const ::pmc::HostTensor &value, Location loc) {
  using ::pmc::DType;
  if (!info.type().has_tensor_type())
    return emitError(loc) << "--bind '" << info.name()
                          << "': only tensor inputs can be bound, it is a sequence or optional";
  Builder b(&context);
  Type elementType;
  switch (value.dtype) {
  case DType::Bool: elementType = b.getI1Type(); break;
  case DType::Int8: elementType = b.getIntegerType(8); break;
  case DType::Int16: elementType = b.getIntegerType(16); break;
  case DType::Int32: elementType = b.getIntegerType(32); break;
  case DType::Int64: elementType = b.getIntegerType(64); break;
  case DType::UInt8: elementType = b.getIntegerType(8, false); break;
  case DType::UInt16: elementType = b.getIntegerType(16, false); break;
  case DType::UInt32: elementType = b.getIntegerType(32, false); break;
  case DType::UInt64: elementType = b.getIntegerType(64, false); break;
  case DType::Float16: elementType = b.getF16Type(); break;
  case DType::BFloat16: elementType = b.getBF16Type(); break;
  case DType::Float32: elementType = b.getF32Type(); break;
  case DType::Float64: elementType = b.getF64Type(); break;
  }
  Type declared = convertElementType(context, info.type().tensor_type().elem_type());
  // numpy has no bfloat16: its values are bound as uint16 bit patterns.
  if (declared && declared.isBF16() && value.dtype == DType::UInt16)
    elementType = declared;
  if (declared && declared != elementType)
    return emitError(loc) << "bound input '" << info.name() << "' has element type "
                          << elementType << ", the model declares " << declared;
  int64_t count = 1;
  for (int64_t d : value.shape)
    count *= d;
  size_t bytes = value.dtype == DType::Bool ? 1
                 : elementType.getIntOrFloatBitWidth() / 8;
  if (value.data.size() != count * bytes)
    return emitError(loc) << "bound input '" << info.name() << "' holds "
                          << value.data.size() << " bytes, its shape needs "
                          << count * bytes;
  const auto &shapeProto = info.type().tensor_type().shape();
  bool rankOk = shapeProto.dim_size() == (int)value.shape.size();
  for (int i = 0; rankOk && i < shapeProto.dim_size(); ++i)
    if (shapeProto.dim(i).has_dim_value() &&
        shapeProto.dim(i).dim_value() != value.shape[i])
      rankOk = false;
  if (info.type().tensor_type().has_shape() && !rankOk)
    return emitError(loc) << "bound input '" << info.name() << "' has shape "
                          << "[" << llvm::make_range(value.shape.begin(), value.shape.end()) << "]"
                          << ", which the model's declared shape does not allow";
  auto type = RankedTensorType::get(value.shape, elementType);
  ArrayRef<char> raw(reinterpret_cast<const char *>(value.data.data()),
                     value.data.size());
  if (value.dtype == DType::Bool) {
    SmallVector<bool> bits(value.data.begin(), value.data.end());
    return DenseElementsAttr::get(type, bits);
  }
  return DenseElementsAttr::getFromRawBuffer(type, raw);
}

class GraphImporter : public SubgraphImporter {
public:
  GraphImporter(MLIRContext &context, const std::string &path,
                const ::pmc::ImportOptions &options)
      : context(context), path(path), options(options),
        fileLoc(FileLineColLoc::get(&context, path, 0, 0)) {
    modelDir = llvm::sys::path::parent_path(path).str();
    if (modelDir.empty())
      modelDir = ".";
  }

  OwningOpRef<ModuleOp> run();

  FailureOr<SmallVector<Value>> importInline(const onnx::GraphProto &graph,
                                             ValueRange graphInputs,
                                             StringRef prefix) override;
  Value trainingStep() const override { return stepArgument; }

private:
  /// The names one graph defines: the main graph's, or a subgraph's while it
  /// is imported. Lookups walk from the innermost scope out, as ONNX's
  /// scoping rules say.
  struct Scope {
    llvm::StringMap<Value> values;
    llvm::StringMap<const onnx::TensorProto *> initializers;
  };

  FailureOr<Value> lookup(const std::string &valueName, OpBuilder &builder);
  void define(StringRef valueName, Value v) { scopes.back().values[valueName] = v; }
  /// Whether any scope defines `valueName` (a value or an initializer).
  bool isDefined(StringRef valueName) const;
  /// Imports the nodes of `graph` in order; `prefix` names nested nodes.
  LogicalResult importNodes(const onnx::GraphProto &graph, StringRef prefix);
  LogicalResult checkDeclaredType(const onnx::ValueInfoProto &info, Value v);

  MLIRContext &context;
  std::string path, modelDir;
  const ::pmc::ImportOptions &options;
  Location fileLoc;
  onnx::ModelProto model;
  SmallVector<Scope> scopes;
  /// Initializers read so far: reading moves a large tensor's bytes out of
  /// the proto, and an unrolled body reads its initializers once per
  /// iteration.
  llvm::DenseMap<const onnx::TensorProto *, Value> readInitializers;
  OpBuilder *builder = nullptr;
  SmallVector<std::string> argNames;
  int64_t opset = 0;
  /// The `pmc.step` argument of a training import that has Dropout nodes.
  Value stepArgument;
};

/// Whether `graph` or one of its subgraphs has a Dropout node.
bool hasDropout(const onnx::GraphProto &graph) {
  for (const onnx::NodeProto &node : graph.node()) {
    if (node.op_type() == "Dropout" && (node.domain().empty() || node.domain() == "ai.onnx"))
      return true;
    for (const onnx::AttributeProto &a : node.attribute()) {
      if (a.has_g() && hasDropout(a.g()))
        return true;
      for (const onnx::GraphProto &g : a.graphs())
        if (hasDropout(g))
          return true;
    }
  }
  return false;
}

/// A graph output whose declared element type or static dims disagree with
/// what the import computed is an error in the model (or in pmc): report it.
LogicalResult GraphImporter::checkDeclaredType(const onnx::ValueInfoProto &info,
                                               Value v) {
  if (!info.type().has_tensor_type())
    return success();
  const auto &tensor = info.type().tensor_type();
  auto type = cast<RankedTensorType>(v.getType());
  Type declared = convertElementType(context, tensor.elem_type());
  bool mismatch = tensor.elem_type() != 0 && declared != type.getElementType();
  if (tensor.has_shape()) {
    if (tensor.shape().dim_size() != type.getRank())
      mismatch = true;
    else
      for (auto [i, dim] : llvm::enumerate(tensor.shape().dim()))
        if (dim.has_dim_value() && dim.dim_value() != type.getDimSize(i))
          mismatch = true;
  }
  if (!mismatch)
    return success();
  InFlightDiagnostic diag = emitError(fileLoc)
                            << "graph output '" << info.name() << "' is computed as "
                            << type << ", but the model declares " << onnxTypeName(tensor.elem_type());
  if (tensor.has_shape()) {
    diag << " [";
    llvm::interleave(tensor.shape().dim(), diag, [&](const onnx::TensorShapeProto::Dimension &d) {
      if (d.has_dim_value())
        diag << d.dim_value();
      else
        diag << "?";
    }, "x");
    diag << "]";
  }
  return failure();
}

FailureOr<Value> GraphImporter::lookup(const std::string &valueName,
                                       OpBuilder &builder) {
  for (Scope &scope : llvm::reverse(scopes)) {
    auto it = scope.values.find(valueName);
    if (it != scope.values.end())
      return it->second;
    auto init = scope.initializers.find(valueName);
    if (init == scope.initializers.end())
      continue;
    auto read = readInitializers.find(init->second);
    if (read != readInitializers.end())
      return read->second;
    // Initializers are read on first use, at the top of the function. The
    // importer owns the model, and readTensor moves large raw_data out of it.
    OpBuilder::InsertionGuard guard(builder);
    builder.setInsertionPointToStart(builder.getInsertionBlock());
    Location loc = NameLoc::get(StringAttr::get(&context, valueName), fileLoc);
    auto attr = readTensor(const_cast<onnx::TensorProto &>(*init->second), modelDir,
                           context, [&] { return emitError(loc) << "initializer: "; });
    if (failed(attr))
      return failure();
    Value v = mlir::pmc::ConstantOp::create(builder, loc, *attr);
    readInitializers[init->second] = v;
    return v;
  }
  return failure();
}

bool GraphImporter::isDefined(StringRef valueName) const {
  for (const Scope &scope : scopes)
    if (scope.values.count(valueName) || scope.initializers.count(valueName))
      return true;
  return false;
}

LogicalResult GraphImporter::importNodes(const onnx::GraphProto &graph,
                                         StringRef prefix) {
  for (auto [index, node] : llvm::enumerate(graph.node())) {
    std::string nodeName = node.name().empty()
                               ? node.op_type() + "_" + std::to_string(index)
                               : node.name();
    if (!prefix.empty())
      nodeName = (prefix + "/" + nodeName).str();
    Location loc = NameLoc::get(builder->getStringAttr(nodeName), fileLoc);
    int64_t nodeOpset = opset;
    if (!node.domain().empty() && node.domain() != "ai.onnx") {
      int64_t version = 0;
      for (const auto &import : model.opset_import())
        if (import.domain() == node.domain())
          version = import.version();
      // The training operators are registered as "<domain>.<op type>" and
      // imported with the opset of their domain (NodeImporter::run).
      if (node.domain() != kTrainingDomain || version <= 0)
        return emitError(loc) << "node '" << nodeName << "' : unsupported ONNX operator '"
                              << node.op_type() << "' (domain '" << node.domain()
                              << "', opset " << version << ")";
      nodeOpset = version;
    }
    SmallVector<Value> nodeInputs;
    for (const std::string &in : node.input()) {
      if (in.empty()) {
        nodeInputs.push_back(Value());
        continue;
      }
      auto v = lookup(in, *builder);
      if (failed(v)) {
        if (!isDefined(in))
          emitError(loc) << "node '" << nodeName << "' (" << node.op_type()
                         << ", opset " << opset << "): input '" << in
                         << "' is not produced by an earlier node, an "
                            "initializer or a graph input";
        return failure();
      }
      nodeInputs.push_back(*v);
    }
    NodeImporter importer(*builder, loc, node, nodeName, nodeOpset,
                          std::move(nodeInputs), argNames, modelDir, this);
    if (failed(importer.run()))
      return failure();
    for (auto [i, out] : llvm::enumerate(node.output()))
      if (!out.empty() && importer.getOutputs()[i])
        define(out, importer.getOutputs()[i]);
  }
  return success();
}

FailureOr<SmallVector<Value>>
GraphImporter::importInline(const onnx::GraphProto &graph, ValueRange graphInputs,
                            StringRef prefix) {
  if (graph.sparse_initializer_size() > 0)
    return emitError(fileLoc) << prefix << ": sparse initializers are unsupported";
  scopes.emplace_back();
  llvm::scope_exit popScope([&] { scopes.pop_back(); });
  for (const onnx::TensorProto &t : graph.initializer())
    scopes.back().initializers[t.name()] = &t;
  for (auto [info, v] : llvm::zip(graph.input(), graphInputs))
    define(info.name(), v);
  if (failed(importNodes(graph, prefix)))
    return failure();
  SmallVector<Value> results;
  for (const onnx::ValueInfoProto &out : graph.output()) {
    auto v = lookup(out.name(), *builder);
    if (failed(v)) {
      if (!isDefined(out.name()))
        emitError(fileLoc) << prefix << ": output '" << out.name()
                           << "' is not produced by any node";
      return failure();
    }
    results.push_back(*v);
  }
  return results;
}

OwningOpRef<ModuleOp> GraphImporter::run() {
  if (failed(parseModel(path, model, fileLoc)))
    return nullptr;
  bool hasDefault = false;
  for (const auto &import : model.opset_import()) {
    if (import.domain().empty() || import.domain() == "ai.onnx") {
      opset = import.version();
      hasDefault = true;
    }
  }
  if (!hasDefault)
    opset = 1; // IR version 2 models imply opset 1.
  if (opset > kMaxOpset) {
    emitError(fileLoc) << "the model uses opset " << opset
                       << " of the default domain; pmc supports opsets up to "
                       << kMaxOpset;
    return nullptr;
  }
  onnx::GraphProto &graph = *model.mutable_graph();
  std::set<std::string> parameters = options.parameters;
  if (options.trainInitializers) {
    std::set<std::string> names;
    for (const onnx::TensorProto &t : graph.initializer())
      names.insert(t.name());
    for (const std::string &n : options.frozen)
      if (!names.count(n)) {
        emitError(fileLoc) << "--frozen names '" << n << "', which is no initializer";
        return nullptr;
      }
    // BatchNormalization's running mean and variance are buffers, not weights.
    std::set<std::string> runningStats;
    for (const onnx::NodeProto &n : graph.node())
      if (n.op_type() == "BatchNormalization")
        for (int i : {3, 4})
          if (n.input_size() > i)
            runningStats.insert(n.input(i));
    for (const onnx::TensorProto &t : graph.initializer()) {
      int64_t elements = 1;
      for (int64_t d : t.dims())
        elements *= d;
      Type element = convertElementType(context, t.data_type());
      if (element && isa<FloatType>(element) && elements > 1 && !runningStats.count(t.name()) &&
          !options.frozen.count(t.name()))
        parameters.insert(t.name());
    }
    if (parameters.empty()) {
      emitError(fileLoc) << "the model has no float initializer to train (of more than one "
                            "element, not BatchNormalization's running statistics, not "
                            "frozen)";
      return nullptr;
    }
  }
  // After choosing the parameters: the loss's own constants are none.
  if (options.loss) {
    std::string error;
    if (!::pmc::addTrainingLoss(model, *options.loss, error)) {
      emitError(fileLoc) << error;
      return nullptr;
    }
  }
  // Trained, BatchNormalization uses batch statistics and updates its
  // running ones: those become state (buffers), their new values results.
  std::map<std::string, std::string> bufferUpdates; // output -> initializer
  std::set<std::string> buffers;
  if (options.trainInitializers) {
    std::string error;
    if (!::pmc::prepareBatchNormTraining(model, bufferUpdates, error)) {
      emitError(fileLoc) << error;
      return nullptr;
    }
    for (const auto &[output, stat] : bufferUpdates)
      buffers.insert(stat);
  }
  scopes.emplace_back();
  llvm::StringMap<const onnx::TensorProto *> &initializers = scopes.back().initializers;
  for (const onnx::TensorProto &t : graph.initializer())
    initializers[t.name()] = &t;
  if (graph.sparse_initializer_size() > 0) {
    emitError(fileLoc) << "sparse initializers ('"
                       << graph.sparse_initializer(0).values().name()
                       << "') are unsupported";
    return nullptr;
  }

  // Names given on the command line must exist.
  llvm::StringMap<const onnx::ValueInfoProto *> inputInfos;
  for (const auto &in : graph.input())
    inputInfos[in.name()] = &in;
  for (const auto &[n, value] : options.boundInputs)
    if (!inputInfos.count(n)) {
      emitError(fileLoc) << "--bind names '" << n << "', which is not a graph input";
      return nullptr;
    }
  for (const auto &[n, length] : options.sequenceLengths) {
    auto it = inputInfos.find(n);
    const onnx::TypeProto *type = it == inputInfos.end() ? nullptr : &it->second->type();
    if (type && type->has_optional_type())
      type = &type->optional_type().elem_type();
    if (!type || !type->has_sequence_type()) {
      emitError(fileLoc) << "--sequence-length names '" << n
                         << "', which is not a sequence graph input";
      return nullptr;
    }
  }
  for (const std::string &n : options.absentInputs) {
    auto it = inputInfos.find(n);
    if (it == inputInfos.end() || !it->second->type().has_optional_type()) {
      emitError(fileLoc) << "--absent names '" << n
                         << "', which is not an optional graph input";
      return nullptr;
    }
  }

  // --input-shape may also name an element s[i] of a sequence input.
  llvm::StringSet<> shapeNames;
  for (const auto &in : graph.input())
    shapeNames.insert(in.name());
  for (const auto &[n, length] : options.sequenceLengths)
    for (int64_t i = 0; i < length; ++i)
      shapeNames.insert(n + "[" + std::to_string(i) + "]");
  for (const auto &[n, shape] : options.inputShapes)
    if (!shapeNames.contains(n)) {
      emitError(fileLoc) << "--input-shape names '" << n
                         << "', which is not a graph input (nor an element name[i] of a "
                            "sequence input)";
      return nullptr;
    }

  OwningOpRef<ModuleOp> module = ModuleOp::create(fileLoc);
  OpBuilder builder(&context);
  this->builder = &builder;
  builder.setInsertionPointToEnd(module->getBody());

  // Signature: graph inputs that are neither initializers nor bound. A
  // sequence of length N gives the N arguments `name[0]` ... `name[N-1]`; an
  // optional is its element, or (--absent) no argument.
  struct SignatureInput {
    std::string name;
    enum Kind { Tensor, Sequence, EmptyOptional } kind;
    unsigned firstArg = 0, numArgs = 0;
    Type elementType;
  };
  SmallVector<Type> argTypes;
  SmallVector<SignatureInput> signatureInputs;
  for (const auto &in : graph.input()) {
    if (initializers.count(in.name()) || options.boundInputs.count(in.name()))
      continue;
    const onnx::TypeProto *type = &in.type();
    if (type->has_optional_type()) {
      if (options.absentInputs.count(in.name())) {
        signatureInputs.push_back({in.name(), SignatureInput::EmptyOptional});
        continue;
      }
      type = &type->optional_type().elem_type();
    }
    if (type->has_tensor_type()) {
      auto t = tensorInputType(context, in.name(), type->tensor_type(), options, fileLoc);
      if (failed(t))
        return nullptr;
      signatureInputs.push_back({in.name(), SignatureInput::Tensor,
                                 (unsigned)argTypes.size(), 1});
      argTypes.push_back(*t);
      argNames.push_back(in.name());
      continue;
    }
    if (!type->has_sequence_type() || !type->sequence_type().elem_type().has_tensor_type()) {
      emitError(fileLoc) << "graph input '" << in.name()
                         << "' is a map, a sparse tensor or a sequence of non-tensors, "
                            "which pmc does not implement";
      return nullptr;
    }
    const onnx::TypeProto_Tensor &element = type->sequence_type().elem_type().tensor_type();
    auto length = options.sequenceLengths.find(in.name());
    if (length == options.sequenceLengths.end()) {
      emitError(fileLoc) << "graph input '" << in.name() << "' is a sequence; give its "
                         << "length with --sequence-length " << in.name()
                         << "=N (its elements are the inputs " << in.name() << "[0] ... "
                         << in.name() << "[N-1])";
      return nullptr;
    }
    Type elementType = convertElementType(context, element.elem_type());
    if (!elementType) {
      emitError(fileLoc) << "graph input '" << in.name() << "' has unsupported element type "
                         << onnxTypeName(element.elem_type());
      return nullptr;
    }
    signatureInputs.push_back({in.name(), SignatureInput::Sequence, (unsigned)argTypes.size(),
                               (unsigned)length->second, elementType});
    for (int64_t i = 0; i < length->second; ++i) {
      std::string elementName = in.name() + "[" + std::to_string(i) + "]";
      auto t = tensorInputType(context, elementName, element, options, fileLoc);
      if (failed(t))
        return nullptr;
      argTypes.push_back(*t);
      argNames.push_back(elementName);
    }
  }
  // Parameters: float initializers that become arguments (training); then
  // the buffers, likewise with their initial values.
  unsigned firstParameter = argTypes.size();
  SmallVector<std::string> parameterNames;
  SmallVector<Attribute> parameterValues;
  SmallVector<std::string> stateNames(parameters.begin(), parameters.end());
  stateNames.append(buffers.begin(), buffers.end());
  for (const std::string &n : stateNames) {
    auto init = initializers.find(n);
    Type element = init == initializers.end()
                       ? Type()
                       : convertElementType(context, init->second->data_type());
    if (!element || !isa<FloatType>(element)) {
      emitError(fileLoc) << "parameter '" << n << "' is not a float initializer of the model";
      return nullptr;
    }
    SmallVector<int64_t> dims(init->second->dims().begin(), init->second->dims().end());
    argTypes.push_back(RankedTensorType::get(dims, element));
    argNames.push_back(n);
    parameterNames.push_back(n);
    Attribute initial;
    if (options.parameterValues) {
      auto attr = readTensor(const_cast<onnx::TensorProto &>(*init->second), modelDir, context,
                             [&] { return emitError(fileLoc) << "parameter '" << n << "': "; });
      if (failed(attr))
        return nullptr;
      initial = *attr;
    }
    parameterValues.push_back(initial);
  }
  // Trained, Dropout draws a new mask every step from the step counter
  // (the argument pmc-train-step feeds its optimizer from, too).
  std::optional<unsigned> stepIndex;
  if (options.trainInitializers && hasDropout(graph)) {
    if (inputInfos.count(mlir::pmc::kStepName)) {
      emitError(fileLoc) << "graph input '" << mlir::pmc::kStepName
                         << "' has the name of the train step's counter";
      return nullptr;
    }
    stepIndex = argTypes.size();
    argTypes.push_back(RankedTensorType::get({}, builder.getF32Type()));
    argNames.push_back(mlir::pmc::kStepName.str());
  }
  auto func = func::FuncOp::create(builder, fileLoc, mlir::pmc::kEntryFunctionName,
                                   builder.getFunctionType(argTypes, {}));
  Block *entry = func.addEntryBlock();
  for (auto [i, n] : llvm::enumerate(argNames))
    func.setArgAttr(i, "pmc.name", builder.getStringAttr(n));
  for (auto [k, n] : llvm::enumerate(parameterNames)) {
    func.setArgAttr(firstParameter + k,
                    buffers.count(n) ? mlir::pmc::kBufferAttrName
                                     : mlir::pmc::kParameterAttrName,
                    builder.getUnitAttr());
    if (parameterValues[k])
      func.setArgAttr(firstParameter + k, mlir::pmc::kInitialValueAttrName, parameterValues[k]);
    define(n, entry->getArgument(firstParameter + k));
  }
  if (stepIndex)
    stepArgument = entry->getArgument(*stepIndex);
  builder.setInsertionPointToEnd(entry);
  for (const SignatureInput &in : signatureInputs) {
    Location loc = NameLoc::get(builder.getStringAttr(in.name), fileLoc);
    switch (in.kind) {
    case SignatureInput::Tensor:
      define(in.name, entry->getArgument(in.firstArg));
      break;
    case SignatureInput::Sequence:
      define(in.name, buildSequence(builder, loc,
                                    entry->getArguments().slice(in.firstArg, in.numArgs),
                                    in.elementType));
      break;
    case SignatureInput::EmptyOptional:
      define(in.name, buildEmptyOptional(builder, loc));
      break;
    }
  }
  for (const auto &in : graph.input()) {
    auto bound = options.boundInputs.find(in.name());
    if (bound == options.boundInputs.end() || initializers.count(in.name()))
      continue;
    Location loc = NameLoc::get(builder.getStringAttr(in.name()), fileLoc);
    auto attr = boundValue(context, in, bound->second, loc);
    if (failed(attr))
      return nullptr;
    define(in.name(), mlir::pmc::ConstantOp::create(builder, loc, *attr));
  }

  if (failed(importNodes(graph, "")))
    return nullptr;

  // Outputs: a sequence gives one result per element (`name[i]`), an empty
  // optional none.
  SmallVector<Value> results;
  SmallVector<std::string> resultNames;
  for (const auto &out : graph.output()) {
    auto v = lookup(out.name(), builder);
    if (failed(v)) {
      if (!initializers.count(out.name()))
        emitError(fileLoc) << "graph output '" << out.name()
                           << "' is not produced by any node";
      return nullptr;
    }
    if (isEmptyOptional(*v))
      continue;
    if (isSequence(*v)) {
      for (auto [i, element] : llvm::enumerate(sequenceElements(*v))) {
        results.push_back(element);
        resultNames.push_back(out.name() + "[" + std::to_string(i) + "]");
      }
      continue;
    }
    if (failed(checkDeclaredType(out, *v)))
      return nullptr;
    results.push_back(*v);
    resultNames.push_back(out.name());
  }
  func::ReturnOp::create(builder, fileLoc, results);
  // Constants that only fed folded shape arithmetic are dead now, and so are
  // the casts that held sequences and optionals (SequenceImporters.cpp).
  for (Operation &op : llvm::make_early_inc_range(llvm::reverse(*entry)))
    if (isOpTriviallyDead(&op))
      op.erase();
  WalkResult leftover = func.walk([&](UnrealizedConversionCastOp cast) {
    cast.emitError("pmc internal error: a sequence or optional is used after import");
    return WalkResult::interrupt();
  });
  if (leftover.wasInterrupted())
    return nullptr;
  func.setFunctionType(builder.getFunctionType(argTypes, ValueRange(results).getTypes()));
  for (auto [i, n] : llvm::enumerate(resultNames)) {
    auto update = bufferUpdates.find(n);
    if (update == bufferUpdates.end()) {
      func.setResultAttr(i, "pmc.name", builder.getStringAttr(n));
      continue;
    }
    func.setResultAttr(i, "pmc.name", builder.getStringAttr(update->second));
    func.setResultAttr(i, mlir::pmc::kStateUpdateAttrName, builder.getUnitAttr());
  }
  return module;
}

} // namespace

namespace pmc {
OwningOpRef<ModuleOp> importONNXFile(MLIRContext &context, const std::string &path,
                                     const ImportOptions &options) {
  context.loadDialect<mlir::pmc::PMCDialect, func::FuncDialect>();
  GraphImporter importer(context, path, options);
  return importer.run();
}
} // namespace pmc
