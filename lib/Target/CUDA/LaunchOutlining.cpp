//===- LaunchOutlining.cpp - bufferized kernels to gpu.func launches -------===//
#include "LaunchOutlining.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/SetVector.h"

using namespace mlir;

LogicalResult (::pmc::allocsToScratch)(func::FuncOp func) {
  Block &body = func.getBody().front();
  SmallVector<Operation *> allocs;
  WalkResult walk = func.walk([&](Operation *op) {
    if (!isa<memref::AllocOp, memref::DeallocOp>(op))
      return WalkResult::advance();
    if (op->getBlock() != &body) {
      op->emitOpError() << "in kernel '" << func.getSymName()
                        << "' is inside a loop or branch; the cuda target needs "
                           "every temporary buffer at the kernel's top level";
      return WalkResult::interrupt();
    }
    allocs.push_back(op);
    return WalkResult::advance();
  });
  if (walk.wasInterrupted())
    return failure();
  int64_t scratch = 0;
  for (Operation *op : allocs) {
    if (isa<memref::DeallocOp>(op)) {
      op->erase();
      continue;
    }
    auto alloc = cast<memref::AllocOp>(op);
    MemRefType type = alloc.getType();
    if (!type.hasStaticShape() || !type.getLayout().isIdentity())
      return alloc.emitOpError() << "in kernel '" << func.getSymName()
                                 << "' allocates " << type
                                 << "; the cuda target needs static, dense temporaries";
    unsigned index = func.getNumArguments();
    if (failed(func.insertArgument(index, type, {}, alloc.getLoc())))
      return alloc.emitOpError("cannot become a scratch parameter");
    alloc.getResult().replaceAllUsesWith(body.getArgument(index));
    alloc.erase();
    ++scratch;
  }
  func->setAttr(kScratchParamsAttrName, Builder(func.getContext()).getI64IntegerAttr(scratch));
  return success();
}

/// An op a launch may recompute in each thread: no regions, no writes.
static bool isCloneable(Operation *op) {
  if (op->getNumRegions() != 0)
    return false;
  if (isMemoryEffectFree(op))
    return true;
  auto effects = dyn_cast<MemoryEffectOpInterface>(op);
  return effects && effects.onlyHasEffect<MemoryEffects::Read>();
}

/// The parameters (by index) of `func` that some op of it may write.
static std::vector<int64_t> writtenParameters(gpu::GPUFuncOp func) {
  llvm::SmallSetVector<int64_t, 8> written;
  bool all = false;
  func.walk([&](Operation *op) {
    if (op == func)
      return;
    auto effects = dyn_cast<MemoryEffectOpInterface>(op);
    if (!effects) {
      if (!isMemoryEffectFree(op) &&
          !op->hasTrait<OpTrait::HasRecursiveMemoryEffects>())
        all = true;
      return;
    }
    SmallVector<MemoryEffects::EffectInstance> instances;
    effects.getEffects(instances);
    for (const MemoryEffects::EffectInstance &effect : instances) {
      if (!isa<MemoryEffects::Write>(effect.getEffect()))
        continue;
      Value value = effect.getValue();
      if (!value) {
        all = true;
        continue;
      }
      while (auto view = value.getDefiningOp<ViewLikeOpInterface>())
        value = view.getViewSource();
      auto arg = dyn_cast<BlockArgument>(value);
      if (arg && arg.getOwner() == &func.getBody().front())
        written.insert(arg.getArgNumber());
    }
  });
  if (all)
    return std::vector<int64_t>(llvm::seq<int64_t>(0, func.getNumArguments()).begin(),
                                llvm::seq<int64_t>(0, func.getNumArguments()).end());
  std::vector<int64_t> result(written.begin(), written.end());
  llvm::sort(result);
  return result;
}

/// Copies the memref.globals that `func` reads into `gpuModule`.
static void copyGlobals(gpu::GPUFuncOp func, gpu::GPUModuleOp gpuModule,
                        ModuleOp module) {
  SymbolTable symbols(gpuModule);
  func.walk([&](memref::GetGlobalOp get) {
    if (symbols.lookup(get.getName()))
      return;
    auto global = module.lookupSymbol<memref::GlobalOp>(get.getName());
    if (!global)
      return; // The verifier reports the missing symbol.
    OpBuilder builder(gpuModule.getBody(), gpuModule.getBody()->begin());
    builder.clone(*global);
  });
}

namespace {
/// The launch geometry of one work op.
struct Geometry {
  SmallVector<int64_t> lowerBounds, steps, trips;
  int64_t total = 1;
};
} // namespace

/// The iteration space of `loop`, which must have constant bounds.
static FailureOr<Geometry> geometryOf(scf::ParallelOp loop, StringRef kernel) {
  Geometry g;
  for (auto [lb, ub, step] :
       llvm::zip(loop.getLowerBound(), loop.getUpperBound(), loop.getStep())) {
    std::optional<int64_t> l = getConstantIntValue(lb), u = getConstantIntValue(ub),
                           s = getConstantIntValue(step);
    if (!l || !u || !s || *s <= 0)
      return loop.emitOpError() << "in kernel '" << kernel
                                << "' has non-constant bounds; the cuda target "
                                   "needs static loop nests";
    int64_t trip = *u > *l ? (*u - *l + *s - 1) / *s : 0;
    g.lowerBounds.push_back(*l);
    g.steps.push_back(*s);
    g.trips.push_back(trip);
    g.total *= trip;
  }
  return g;
}

/// Builds the body of a parallel launch: thread `linear` runs iteration
/// `linear` of `loop` (row-major over its dimensions), if there is one.
static void buildParallelBody(OpBuilder &b, Location loc, scf::ParallelOp loop,
                              const Geometry &g, int64_t block, int64_t grid,
                              IRMapping &mapping) {
  auto index = [&](int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); };
  Value bid = gpu::BlockIdOp::create(b, loc, gpu::Dimension::x);
  Value tid = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  Value linear = arith::AddIOp::create(
      b, loc, arith::MulIOp::create(b, loc, bid, index(block)), tid);
  if (grid * block != g.total) {
    Value inRange = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, linear,
                                          index(g.total));
    auto guard = scf::IfOp::create(b, loc, inRange, /*withElseRegion=*/false);
    b.setInsertionPointToStart(&guard.getThenRegion().front());
  }
  // Row-major delinearization, innermost dimension last.
  SmallVector<Value> ivs(g.trips.size());
  Value rest = linear;
  for (int64_t d = (int64_t)g.trips.size() - 1; d >= 0; --d) {
    Value i = d == 0 ? rest : arith::RemUIOp::create(b, loc, rest, index(g.trips[d]));
    if (d != 0)
      rest = arith::DivUIOp::create(b, loc, rest, index(g.trips[d]));
    if (g.steps[d] != 1)
      i = arith::MulIOp::create(b, loc, i, index(g.steps[d]));
    if (g.lowerBounds[d] != 0)
      i = arith::AddIOp::create(b, loc, i, index(g.lowerBounds[d]));
    ivs[d] = i;
  }
  mapping.map(loop.getInductionVars(), ivs);
  for (Operation &op : loop.getBody()->without_terminator())
    b.clone(op, mapping);
}

LogicalResult (::pmc::outlineLaunches)(func::FuncOp func, gpu::GPUModuleOp gpuModule,
                                       int64_t blockSize) {
  int64_t launches = 0;
  Block &body = func.getBody().front();
  auto module = func->getParentOfType<ModuleOp>();
  SymbolTable symbols(gpuModule);
  SmallVector<Operation *> work;
  for (Operation &op : body.without_terminator())
    if (!isCloneable(&op))
      work.push_back(&op);

  for (Operation *op : work) {
    if (!op->use_empty())
      return op->emitOpError() << "in kernel '" << func.getSymName()
                               << "' computes a value that other ops use; the "
                                  "cuda target cannot pass it between launches";
    auto loop = dyn_cast<scf::ParallelOp>(op);
    if (loop && loop.getNumResults() != 0)
      return loop.emitOpError() << "in kernel '" << func.getSymName()
                                << "' reduces into results; expected a loop "
                                   "nest writing memory";
    Geometry g;
    if (loop) {
      FailureOr<Geometry> geometry = geometryOf(loop, func.getSymName());
      if (failed(geometry))
        return failure();
      g = *geometry;
    }
    if (g.total == 0) {
      op->erase();
      continue;
    }
    int64_t block = loop ? std::min(blockSize, g.total) : 1;
    int64_t grid = (g.total + block - 1) / block;

    // The values the op uses from the kernel's top level: parameters, and
    // cloneable ops (with what they use in turn).
    llvm::SetVector<Value> used;
    for (Value operand : op->getOperands())
      used.insert(operand);
    getUsedValuesDefinedAbove(op->getRegions(), used);
    llvm::SmallSetVector<BlockArgument, 8> params;
    llvm::SmallSetVector<Operation *, 8> deps;
    for (size_t i = 0; i < used.size(); ++i) {
      Value value = used[i];
      if (auto arg = dyn_cast<BlockArgument>(value)) {
        params.insert(arg);
        continue;
      }
      Operation *def = value.getDefiningOp();
      if (!isCloneable(def))
        return def->emitOpError() << "in kernel '" << func.getSymName()
                                  << "' produces a value that a launch needs but "
                                     "that cannot be recomputed on the device";
      if (deps.insert(def))
        for (Value operand : def->getOperands())
          used.insert(operand);
    }
    SmallVector<BlockArgument> paramList(params.begin(), params.end());
    llvm::sort(paramList, [](BlockArgument a, BlockArgument b) {
      return a.getArgNumber() < b.getArgNumber();
    });
    SmallVector<Operation *> depList(deps.begin(), deps.end());
    llvm::sort(depList, [](Operation *a, Operation *b) { return a->isBeforeInBlock(b); });

    // The gpu.func.
    Location loc = op->getLoc();
    SmallVector<Type> paramTypes;
    for (BlockArgument arg : paramList)
      paramTypes.push_back(arg.getType());
    OpBuilder b(gpuModule.getBody(), gpuModule.getBody()->end());
    std::string name =
        (func.getSymName() + "_" + std::to_string(launches++)).str();
    auto gpuFunc = gpu::GPUFuncOp::create(b, loc, name,
                                          b.getFunctionType(paramTypes, {}));
    gpuFunc->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
    gpuFunc.setKnownBlockSizeAttr(b.getDenseI32ArrayAttr({(int32_t)block, 1, 1}));
    symbols.insert(gpuFunc);
    Block &entry = gpuFunc.getBody().front();
    b.setInsertionPointToStart(&entry);
    IRMapping mapping;
    for (auto [arg, param] : llvm::zip(paramList, entry.getArguments()))
      mapping.map(arg, param);
    for (Operation *dep : depList)
      b.clone(*dep, mapping);
    {
      OpBuilder::InsertionGuard guard(b);
      if (loop)
        buildParallelBody(b, loc, loop, g, block, grid, mapping);
      else
        b.clone(*op, mapping);
    }
    b.setInsertionPointToEnd(&entry);
    gpu::ReturnOp::create(b, loc);
    copyGlobals(gpuFunc, gpuModule, module);

    // The launch, in place of the op; `pmc.writes` names the kernel
    // parameters it may write.
    SmallVector<int64_t> writes;
    for (int64_t p : writtenParameters(gpuFunc))
      writes.push_back(paramList[p].getArgNumber());
    OpBuilder host(op);
    auto index = [&](int64_t v) { return arith::ConstantIndexOp::create(host, loc, v); };
    Value one = index(1);
    auto launch = gpu::LaunchFuncOp::create(
        host, loc, gpuFunc, gpu::KernelDim3{index(grid), one, one},
        gpu::KernelDim3{index(block), one, one},
        /*dynamicSharedMemorySize=*/Value(),
        SmallVector<Value>(paramList.begin(), paramList.end()));
    launch->setAttr(kWritesAttrName, host.getDenseI64ArrayAttr(writes));
    op->erase();
  }
  // What only the launches used is now dead on the host.
  for (Operation &op : llvm::make_early_inc_range(llvm::reverse(body)))
    if (op.use_empty() && !op.hasTrait<OpTrait::IsTerminator>() && isCloneable(&op))
      op.erase();
  return success();
}

/// The constant value of a launch dimension.
static FailureOr<int64_t> constantDim(gpu::LaunchFuncOp launch, Value value) {
  std::optional<int64_t> v = getConstantIntValue(value);
  if (!v)
    return launch.emitOpError("has a grid or block size that is not a constant");
  return *v;
}

FailureOr<std::map<std::string, ::pmc::GPUKernel>>(::pmc::collectKernels)(ModuleOp kernels) {
  std::map<std::string, GPUKernel> result;
  for (func::FuncOp func : kernels.getOps<func::FuncOp>()) {
    GPUKernel &kernel = result[func.getSymName().str()];
    if (auto params = func->getAttrOfType<IntegerAttr>("pmc.kernel_params"))
      kernel.numParams = params.getInt();
    int64_t scratch = 0;
    if (auto count = func->getAttrOfType<IntegerAttr>(kScratchParamsAttrName))
      scratch = count.getInt();
    for (unsigned i = func.getNumArguments() - scratch; i < func.getNumArguments(); ++i) {
      auto type = cast<MemRefType>(func.getArgumentTypes()[i]);
      kernel.scratch.push_back(RankedTensorType::get(type.getShape(), type.getElementType()));
    }
    WalkResult walk = func.walk([&](gpu::LaunchFuncOp op) {
      GPULaunch launch;
      launch.function = op.getKernelName().str();
      gpu::KernelDim3 grid = op.getGridSizeOperandValues();
      gpu::KernelDim3 block = op.getBlockSizeOperandValues();
      Value dims[6] = {grid.x, grid.y, grid.z, block.x, block.y, block.z};
      for (int d = 0; d < 6; ++d) {
        FailureOr<int64_t> v = constantDim(op, dims[d]);
        if (failed(v))
          return WalkResult::interrupt();
        (d < 3 ? launch.grid : launch.block)[d % 3] = *v;
      }
      for (Value arg : op.getKernelOperands()) {
        auto param = dyn_cast<BlockArgument>(arg);
        if (!param || param.getOwner()->getParentOp() != func) {
          op.emitOpError("passes a value that is not a parameter of its kernel");
          return WalkResult::interrupt();
        }
        launch.args.push_back(param.getArgNumber());
      }
      if (auto writes = op->getAttrOfType<DenseI64ArrayAttr>(kWritesAttrName))
        launch.writes.assign(writes.asArrayRef().begin(), writes.asArrayRef().end());
      else
        launch.writes = launch.args; // unknown: it may write every argument
      kernel.launches.push_back(std::move(launch));
      return WalkResult::advance();
    });
    if (walk.wasInterrupted())
      return failure();
  }
  return result;
}
