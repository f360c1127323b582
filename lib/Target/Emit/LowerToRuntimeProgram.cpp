//===- LowerToRuntimeProgram.cpp - @main into pmcrt programs ---------------===//
//
// pmc-lower-to-runtime-program (include/pmc/Target/Passes.td): one walk over
// the outlined @main fills the pmcrt.program of each pipeline stage. The
// order in which buffers are created in a program is the order of their ids
// in the serialized rank program.
//
#include "EmitSupport.h"
#include "pmc/Target/Passes.h"

#include "pmc/Dialect/PMC/IR/PMCOps.h"
#include "pmc/Dialect/PMC/Transforms/MatmulEpilogue.h"
#include "pmc/Dialect/Runtime/IR/RuntimeOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/TypeSwitch.h"

namespace mlir::pmc {
#define GEN_PASS_DEF_PMCLOWERTORUNTIMEPROGRAM
#include "pmc/Target/Passes.h.inc"
} // namespace mlir::pmc

using namespace mlir;
using namespace ::pmc::bundle_emitter;
using mlir::pmc::ConstantOp;
using mlir::pmc::MeshAttr;

namespace {
/// The program of one stage while it is built: its ops are appended in order.
struct ProgramState {
  ProgramState(pmcrt::ProgramOp op, Block *block) : op(op), builder(OpBuilder::atBlockEnd(block)) {}
  pmcrt::ProgramOp op;
  OpBuilder builder;
  /// The buffer holding each value of @main this program has.
  DenseMap<Value, Value> buffers;

  Value lookup(Value value) const { return buffers.lookup(value); }
  bool has(Value value) const { return buffers.count(value); }
};

class RuntimeProgramLowering {
public:
  RuntimeProgramLowering(ModuleOp module, func::FuncOp main, MeshAttr mesh,
                         PipelineInfo pipeline)
      : module(module), main(main), body(main.getBody().front()), mesh(mesh),
        pipeline(std::move(pipeline)) {}

  LogicalResult run();

private:
  void createPrograms();
  /// The input buffers of each stage come first: every input without a
  /// pipeline, else those the stage reads (an input returned as is: stage 0).
  LogicalResult addInputs();
  /// An input buffer exists in the programs of the stages that read it.
  LogicalResult bindInput(ProgramState &program, Value value);
  /// The memref type of the buffer holding a `type`, or failure after an error.
  FailureOr<MemRefType> bufferType(Type type, Operation *at);
  /// A pmcrt.temp for `value`.
  FailureOr<Value> addTemp(ProgramState &program, Value value, Operation *at);

  LogicalResult lowerOp(Operation &op);
  LogicalResult lowerTransfer(mlir::pmc::TransferOp transfer, ProgramState &program);
  LogicalResult lowerConstant(ConstantOp constant, ProgramState &program);
  LogicalResult lowerShard(mlir::pmc::ShardOp shard, ProgramState &program);
  /// A collective `Target` from the op `op`'s input to a new temp.
  template <typename Target, typename Source, typename... Attrs>
  LogicalResult lowerCollective(Source op, ProgramState &program, Attrs... attrs);
  LogicalResult lowerCall(func::CallOp call, ProgramState &program);
  LogicalResult lowerMatmul(mlir::pmc::MatMulOp matmul, ProgramState &program);
  LogicalResult lowerConv(mlir::pmc::ConvOp conv, ProgramState &program);
  LogicalResult lowerReshape(mlir::pmc::ReshapeOp reshape, ProgramState &program);
  LogicalResult lowerReturn(func::ReturnOp ret);
  int64_t stageOf(Operation *op) const;

  ModuleOp module;
  func::FuncOp main;
  Block &body;
  MeshAttr mesh;
  PipelineInfo pipeline;
  std::vector<ProgramState> programs;
  /// Weight sections are numbered across all programs, in @main's order.
  int64_t nextWeight = 0;
  int64_t nextTag = 0;
  /// The bias adds and activations folded into a matmul command.
  llvm::SmallPtrSet<Operation *, 16> inEpilogue;
};
} // namespace

int64_t RuntimeProgramLowering::stageOf(Operation *op) const {
  if (auto stage = op->getAttrOfType<IntegerAttr>("pmc.stage"))
    return stage.getInt();
  return 0;
}

void RuntimeProgramLowering::createPrograms() {
  int64_t devices = mesh ? mesh.getNumDevices() : 1;
  std::vector<SmallVector<int64_t>> stageRanks(pipeline.stages);
  for (int64_t r = 0; r < devices; ++r)
    stageRanks[stageOfRank(pipeline, mesh, r)].push_back(r);
  OpBuilder builder(module.getContext());
  builder.setInsertionPointAfter(main);
  for (int64_t stage = 0; stage < pipeline.stages; ++stage) {
    auto program = pmcrt::ProgramOp::create(builder, main.getLoc(), stage,
                                            stageRanks[stage]);
    Block *block = new Block();
    program.getBody().push_back(block);
    builder.setInsertionPointAfter(program);
    programs.emplace_back(program, block);
  }
}

FailureOr<MemRefType> RuntimeProgramLowering::bufferType(Type type, Operation *at) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor || dtypeName(tensor.getElementType()).empty() || !tensor.hasStaticShape())
    return at->emitOpError() << "produces " << type
                             << ", which the bundle cannot hold (no numpy dtype)";
  return MemRefType::get(tensor.getShape(), tensor.getElementType());
}

FailureOr<Value> RuntimeProgramLowering::addTemp(ProgramState &program, Value value,
                                                 Operation *at) {
  FailureOr<MemRefType> type = bufferType(value.getType(), at);
  if (failed(type))
    return failure();
  Value buffer = pmcrt::TempOp::create(program.builder, value.getLoc(), *type);
  program.buffers[value] = buffer;
  return buffer;
}

LogicalResult RuntimeProgramLowering::bindInput(ProgramState &program, Value value) {
  auto arg = dyn_cast<BlockArgument>(value);
  if (!arg || arg.getOwner() != &body || program.has(arg))
    return success();
  FailureOr<MemRefType> type = bufferType(arg.getType(), main);
  if (failed(type))
    return failure();
  program.buffers[arg] =
      pmcrt::InputOp::create(program.builder, arg.getLoc(), *type, arg.getArgNumber());
  return success();
}

LogicalResult RuntimeProgramLowering::addInputs() {
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

LogicalResult RuntimeProgramLowering::lowerOp(Operation &op) {
  int64_t stage = stageOf(&op);
  if (stage < 0 || stage >= pipeline.stages)
    return op.emitOpError() << "has pmc.stage " << stage << ", but the pipeline has "
                            << pipeline.stages << " stage(s)";
  ProgramState &program = programs[stage];
  if (auto transfer = dyn_cast<mlir::pmc::TransferOp>(op))
    return lowerTransfer(transfer, program);
  for (Value operand : op.getOperands())
    if (failed(bindInput(program, operand)))
      return failure();
  // A return names buffers of several stages; a sharded weight has no
  // buffer of the whole constant.
  auto shard = dyn_cast<mlir::pmc::ShardOp>(op);
  bool ownOperands =
      !isa<func::ReturnOp>(op) && !(shard && shard.getInput().getDefiningOp<ConstantOp>());
  if (ownOperands)
    for (Value operand : op.getOperands())
      if (!program.has(operand))
        return op.emitOpError("uses a value that has no buffer");
  using namespace mlir::pmc;
  return llvm::TypeSwitch<Operation *, LogicalResult>(&op)
      .Case([&](ConstantOp c) { return lowerConstant(c, program); })
      .Case([&](ShardOp s) { return lowerShard(s, program); })
      .Case([&](AllReduceOp c) {
        return lowerCollective<pmcrt::AllReduceOp>(c, program, c.getAxesAttr(),
                                                   c.getReductionAttr());
      })
      .Case([&](AllGatherOp c) {
        return lowerCollective<pmcrt::AllGatherOp>(c, program, c.getAxesAttr(),
                                                   c.getDimAttr());
      })
      .Case([&](ReduceScatterOp c) {
        return lowerCollective<pmcrt::ReduceScatterOp>(
            c, program, c.getAxesAttr(), c.getDimAttr(), c.getReductionAttr());
      })
      .Case([&](AllToAllOp c) {
        return lowerCollective<pmcrt::AllToAllOp>(
            c, program, c.getAxesAttr(), c.getSplitDimAttr(), c.getConcatDimAttr());
      })
      .Case([&](func::CallOp c) { return lowerCall(c, program); })
      .Case([&](MatMulOp m) { return lowerMatmul(m, program); })
      .Case([&](ConvOp c) { return lowerConv(c, program); })
      .Case([&](ReshapeOp r) { return lowerReshape(r, program); })
      .Case([&](func::ReturnOp r) { return lowerReturn(r); })
      .Default([](Operation *op) {
        return op->emitOpError()
               << "cannot be executed by the runtime: @main may only hold "
                  "constants, kernel calls, float matmul/conv, reshapes, "
                  "collectives and shards (run pmc-outline-kernels first)";
      });
}

LogicalResult RuntimeProgramLowering::lowerTransfer(mlir::pmc::TransferOp transfer,
                                                    ProgramState &program) {
  // A send in the program of from_stage, a recv in that of to_stage.
  int64_t from = transfer.getFromStage(), to = transfer.getToStage();
  if (to != stageOf(transfer) || from < 0 || from == to || from >= (int64_t)programs.size())
    return transfer.emitOpError() << "moves stage " << from << " to " << to
                                  << " but has pmc.stage " << stageOf(transfer);
  ProgramState &sender = programs[from];
  if (failed(bindInput(sender, transfer.getInput())))
    return failure();
  if (!sender.has(transfer.getInput()))
    return transfer.emitOpError() << "sends a value that stage " << from
                                  << " does not compute";
  int64_t tag = nextTag++;
  pmcrt::SendOp::create(sender.builder, transfer.getLoc(),
                        sender.lookup(transfer.getInput()), to, tag);
  FailureOr<Value> out = addTemp(program, transfer.getResult(), transfer);
  if (failed(out))
    return failure();
  pmcrt::RecvOp::create(program.builder, transfer.getLoc(), *out, from, tag);
  return success();
}

LogicalResult RuntimeProgramLowering::lowerConstant(ConstantOp constant,
                                                    ProgramState &program) {
  // A constant only ever sharded is stored as its ranks' blocks alone.
  bool onlySharded = !constant->use_empty() &&
                     llvm::all_of(constant->getUsers(), [](Operation *user) {
                       return isa<mlir::pmc::ShardOp>(user);
                     });
  if (onlySharded)
    return success();
  FailureOr<MemRefType> type = bufferType(constant.getType(), constant);
  if (failed(type))
    return failure();
  program.buffers[constant] =
      pmcrt::WeightOp::create(program.builder, constant.getLoc(), *type, nextWeight++,
                              cast<ElementsAttr>(constant.getValue()),
                              mlir::pmc::ShardingAttr());
  return success();
}

LogicalResult RuntimeProgramLowering::lowerShard(mlir::pmc::ShardOp shard,
                                                 ProgramState &program) {
  if (!mesh)
    return shard.emitOpError("needs a pmc.mesh on the module");
  auto constant = shard.getInput().getDefiningOp<ConstantOp>();
  if (!constant)
    return lowerCollective<pmcrt::ShardOp>(shard, program, shard.getShardingAttr());
  FailureOr<MemRefType> type = bufferType(shard.getType(), shard);
  if (failed(type))
    return failure();
  program.buffers[shard] =
      pmcrt::WeightOp::create(program.builder, shard.getLoc(), *type, nextWeight++,
                              cast<ElementsAttr>(constant.getValue()),
                              shard.getShardingAttr());
  return success();
}

template <typename Target, typename Source, typename... Attrs>
LogicalResult RuntimeProgramLowering::lowerCollective(Source op, ProgramState &program,
                                                      Attrs... attrs) {
  Value input = program.lookup(op.getInput());
  FailureOr<Value> output = addTemp(program, op.getResult(), op);
  if (failed(output))
    return failure();
  Target::create(program.builder, op.getLoc(), input, *output, attrs...);
  return success();
}

LogicalResult RuntimeProgramLowering::lowerCall(func::CallOp call, ProgramState &program) {
  SmallVector<Value> inputs, outputs;
  for (Value operand : call.getOperands())
    inputs.push_back(program.lookup(operand));
  for (Value result : call.getResults()) {
    FailureOr<Value> output = addTemp(program, result, call);
    if (failed(output))
      return failure();
    outputs.push_back(*output);
  }
  pmcrt::KernelOp::create(program.builder, call.getLoc(), call.getCalleeAttr(), inputs,
                          outputs);
  return success();
}

LogicalResult RuntimeProgramLowering::lowerMatmul(mlir::pmc::MatMulOp matmul,
                                                  ProgramState &program) {
  // The bias add / activation pmc-outline-kernels folded into it write no
  // buffer of their own: c is the chain's last value.
  FailureOr<mlir::pmc::MatmulEpilogue> epilogue = mlir::pmc::resolveMatmulEpilogue(matmul);
  if (failed(epilogue))
    return failure();
  Value bias;
  if (epilogue->bias) {
    if (failed(bindInput(program, epilogue->bias)))
      return failure();
    if (!program.has(epilogue->bias))
      return epilogue->biasAdd.emitOpError("adds a bias that has no buffer");
    bias = program.lookup(epilogue->bias);
    inEpilogue.insert(epilogue->biasAdd);
  }
  if (epilogue->activation)
    inEpilogue.insert(epilogue->activation);
  FailureOr<Value> c = addTemp(program, epilogue->result, matmul);
  if (failed(c))
    return failure();
  pmcrt::MatmulOp::create(program.builder, matmul.getLoc(),
                          program.lookup(matmul.getLhs()), program.lookup(matmul.getRhs()),
                          bias, *c, matmul.getTransposeA(), matmul.getTransposeB(),
                          epilogue->activationName());
  return success();
}

LogicalResult RuntimeProgramLowering::lowerConv(mlir::pmc::ConvOp conv,
                                                ProgramState &program) {
  FailureOr<Value> y = addTemp(program, conv.getResult(), conv);
  if (failed(y))
    return failure();
  Value bias = conv.getBias() ? program.lookup(conv.getBias()) : Value();
  pmcrt::ConvOp::create(program.builder, conv.getLoc(), program.lookup(conv.getInput()),
                        program.lookup(conv.getWeight()), bias, *y, conv.getStrides(),
                        conv.getPads(), conv.getDilations(), conv.getGroup());
  return success();
}

LogicalResult RuntimeProgramLowering::lowerReshape(mlir::pmc::ReshapeOp reshape,
                                                   ProgramState &program) {
  // A view of the root buffer (never a view of a view).
  Value source = program.lookup(reshape.getInput());
  if (auto view = source.getDefiningOp<pmcrt::ViewOp>())
    source = view.getSource();
  FailureOr<MemRefType> type = bufferType(reshape.getType(), reshape);
  if (failed(type))
    return failure();
  program.buffers[reshape.getResult()] =
      pmcrt::ViewOp::create(program.builder, reshape.getLoc(), *type, source);
  return success();
}

LogicalResult RuntimeProgramLowering::lowerReturn(func::ReturnOp ret) {
  std::vector<SmallVector<Value>> values(pipeline.stages);
  std::vector<SmallVector<int64_t>> positions(pipeline.stages);
  for (auto [i, value] : llvm::enumerate(ret.getOperands())) {
    // The stage that computes the output (an input returned as is: 0).
    Operation *producer = value.getDefiningOp();
    int64_t stage = producer ? stageOf(producer) : 0;
    if (failed(bindInput(programs[stage], value)))
      return failure();
    if (!programs[stage].has(value))
      return ret.emitOpError() << "returns a value that stage " << stage
                               << " does not compute";
    values[stage].push_back(programs[stage].lookup(value));
    positions[stage].push_back(i);
  }
  for (int64_t stage = 0; stage < pipeline.stages; ++stage)
    pmcrt::OutputsOp::create(programs[stage].builder, ret.getLoc(), values[stage],
                             positions[stage]);
  return success();
}

LogicalResult RuntimeProgramLowering::run() {
  createPrograms();
  if (failed(addInputs()))
    return failure();
  for (Operation &op : body)
    if (!inEpilogue.contains(&op) && failed(lowerOp(op)))
      return failure();
  // @main stays as the bundle's interface: the signature with the names,
  // shardings and microbatched flags of its inputs and outputs.
  main.eraseBody();
  main.setPrivate();
  return success();
}

namespace {
struct LowerToRuntimeProgram
    : public mlir::pmc::impl::PMCLowerToRuntimeProgramBase<LowerToRuntimeProgram> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto main = module.lookupSymbol<func::FuncOp>(mlir::pmc::kEntryFunctionName);
    if (!main || main.isExternal() || !main.getBody().hasOneBlock()) {
      module.emitError("the bundle needs a @main function with one block");
      return signalPassFailure();
    }
    auto mesh = module->getAttrOfType<MeshAttr>(mlir::pmc::kMeshAttrName);
    FailureOr<PipelineInfo> pipeline = pipelineInfo(module, mesh);
    if (failed(pipeline) ||
        failed(RuntimeProgramLowering(module, main, mesh, std::move(*pipeline)).run()))
      return signalPassFailure();
  }
};
} // namespace
