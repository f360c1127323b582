//===- CPUTarget.cpp - kernels -> LLVM -> object -> host shared library ----===//
#include "pmc/Target/CPU.h"

#include "KernelWrappers.h"
#include "LaunchVectorizationHook.h"
#include "pmc/Conversion/Passes.h"
#include "pmc/Dialect/PMC/IR/PMCOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/TypeUtilities.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/SubtargetFeature.h"

#include "llvm/ADT/ScopeExit.h"

#include <mutex>

using namespace mlir;

/// The tensor-level half: pmc -> linalg -> bufferized, results as out-params.
static const char *kBufferizePipeline =
    "pmc-convert-to-linalg,"
    "linalg-fuse-elementwise-ops,canonicalize,cse,"
    "eliminate-empty-tensors,"
    "one-shot-bufferize{bufferize-function-boundaries=true "
    "function-boundary-type-conversion=identity-layout-map},"
    "buffer-results-to-out-params{hoist-static-allocs=true modify-public-functions=true},"
    "canonicalize";

/// The memref-level half: loops and the conversions to the LLVM dialect.
static const char *kLowerToLLVMPipeline =
    "buffer-deallocation-pipeline,"
    "convert-linalg-to-loops,lower-affine,convert-scf-to-cf,canonicalize,"
    "expand-strided-metadata,lower-affine,finalize-memref-to-llvm,"
    "convert-math-to-llvm,convert-math-to-libm,convert-arith-to-llvm,"
    "convert-index-to-llvm,convert-cf-to-llvm,"
    "convert-func-to-llvm{use-bare-ptr-memref-call-conv=true},"
    "reconcile-unrealized-casts";

/// The launch vectorization test hook (CPUTargetOptions): deallocations, then
/// linalg -> scf.parallel as the CUDA target does before GPU mapping.
static const char *kTestParallelLoopsPipeline =
    "buffer-deallocation-pipeline,"
    "func.func(convert-linalg-to-parallel-loops),canonicalize,cse";

/// ... and after `vectorizeParallelLoops`: scf.parallel -> sequential loops,
/// vector.load/store/broadcast -> LLVM, and the rest as kLowerToLLVMPipeline.
static const char *kTestVectorLoopsToLLVMPipeline =
    "convert-linalg-to-loops,lower-affine,convert-scf-to-cf,canonicalize,"
    "expand-strided-metadata,lower-affine,convert-vector-to-llvm,"
    "finalize-memref-to-llvm,"
    "convert-math-to-llvm,convert-math-to-libm,convert-arith-to-llvm,"
    "convert-index-to-llvm,convert-cf-to-llvm,"
    "convert-func-to-llvm{use-bare-ptr-memref-call-conv=true},"
    "reconcile-unrealized-casts";

static void registerPipelinePasses() {
  static std::once_flag once;
  std::call_once(once, [] {
    mlir::registerAllPasses();
    mlir::pmc::registerPMCConversionPasses();
  });
}

void ::pmc::buildKernelBufferizationPipeline(OpPassManager &pm) {
  registerPipelinePasses();
  (void)parsePassPipeline(kBufferizePipeline, pm);
}

void ::pmc::buildCPUKernelPipeline(OpPassManager &pm) {
  registerPipelinePasses();
  // The pipelines are fixed strings over registered passes; parsing cannot fail.
  (void)parsePassPipeline(kBufferizePipeline, pm);
  (void)parsePassPipeline(kLowerToLLVMPipeline, pm);
}

/// memref.copy between buffers with non-identity layouts would become a call
/// into MLIR's C runner library; the kernels must not depend on it, so every
/// copy becomes a linalg.copy (plain loops).
void ::pmc::copiesToLinalg(ModuleOp module) {
  SmallVector<memref::CopyOp> copies;
  module.walk([&](memref::CopyOp copy) { copies.push_back(copy); });
  for (memref::CopyOp copy : copies) {
    OpBuilder builder(copy);
    linalg::CopyOp::create(builder, copy.getLoc(), copy.getSource(),
                           copy.getTarget());
    copy.erase();
  }
}

/// A kernel's zero-element operands and results hold no data, but a memref such
/// as `memref<4x0xf32>` has no bare-pointer form, so the kernel would not lower.
/// Such arguments are replaced inside the body by empty constants, such results
/// become `tensor<0xT>`: the exported entry point still takes one pointer each.
void ::pmc::dropZeroSizeSignatures(func::FuncOp func) {
  auto isEmpty = [](Type t) {
    auto tensor = dyn_cast<RankedTensorType>(t);
    return tensor && tensor.hasStaticShape() && tensor.getNumElements() == 0 &&
           tensor.getRank() != 1;
  };
  auto flatType = [](RankedTensorType t) {
    Type element = t.getElementType();
    if (auto integer = dyn_cast<IntegerType>(element))
      element = IntegerType::get(t.getContext(), integer.getWidth());
    return RankedTensorType::get({0}, element);
  };
  FunctionType type = func.getFunctionType();
  if (!llvm::any_of(type.getInputs(), isEmpty) &&
      !llvm::any_of(type.getResults(), isEmpty))
    return;
  Block &entry = func.getBody().front();
  OpBuilder builder(func.getContext());
  builder.setInsertionPointToStart(&entry);
  SmallVector<Type> inputs(type.getInputs()), results(type.getResults());
  for (auto [i, arg] : llvm::enumerate(entry.getArguments())) {
    auto argType = dyn_cast<RankedTensorType>(arg.getType());
    if (!isEmpty(argType))
      continue;
    Value empty = mlir::pmc::ConstantOp::create(
        builder, func.getLoc(), DenseElementsAttr::get(argType, ArrayRef<Attribute>{}));
    arg.replaceAllUsesWith(empty);
    inputs[i] = flatType(argType);
    arg.setType(inputs[i]);
  }
  for (auto [i, result] : llvm::enumerate(results)) {
    auto resultType = dyn_cast<RankedTensorType>(result);
    if (!isEmpty(resultType))
      continue;
    result = flatType(resultType);
    func.walk([&](func::ReturnOp ret) {
      OpBuilder b(ret);
      auto flat = cast<RankedTensorType>(result);
      ret->setOperand(i, arith::ConstantOp::create(
                             b, ret.getLoc(), flat,
                             DenseElementsAttr::get(flat, ArrayRef<Attribute>{})));
    });
  }
  func.setFunctionType(FunctionType::get(func.getContext(), inputs, results));
}

/// bf16 <-> f32 conversions become integer shifts and the round-to-nearest-even
/// of arith's bf16 expansion: LLVM would otherwise call `__truncsfbf2`, which
/// the C runtime of older compilers (GCC 12) lacks, and the kernel library is
/// linked with no undefined symbols. (f16 conversions are F16C instructions
/// or libgcc's `__truncsfhf2`/`__extendhfsf2`.)
static LogicalResult expandBFloat16Conversions(ModuleOp module) {
  bool any = false;
  module.walk([&](Operation *op) {
    if (isa<arith::ExtFOp, arith::TruncFOp>(op) &&
        (getElementTypeOrSelf(op->getOperand(0).getType()).isBF16() ||
         getElementTypeOrSelf(op->getResult(0).getType()).isBF16()))
      any = true;
  });
  if (!any)
    return success();
  RewritePatternSet patterns(module.getContext());
  arith::populateExpandBFloat16Patterns(patterns);
  return applyPatternsGreedily(module, std::move(patterns));
}

/// Creates the TargetMachine for `options.cpu`.
static std::unique_ptr<llvm::TargetMachine>
createTargetMachine(const ::pmc::CPUTargetOptions &options, std::string &error) {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });
  llvm::Triple triple(llvm::sys::getDefaultTargetTriple());
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return nullptr;
  std::string cpu = options.cpu;
  llvm::SubtargetFeatures features;
  if (cpu.empty() || cpu == "host") {
    cpu = llvm::sys::getHostCPUName().str();
    for (const auto &feature : llvm::sys::getHostCPUFeatures())
      features.AddFeature(feature.first(), feature.second);
  }
  llvm::TargetOptions targetOptions;
  llvm::CodeGenOptLevel level = options.optLevel == 0   ? llvm::CodeGenOptLevel::None
                                : options.optLevel == 1 ? llvm::CodeGenOptLevel::Less
                                : options.optLevel == 2 ? llvm::CodeGenOptLevel::Default
                                                        : llvm::CodeGenOptLevel::Aggressive;
  std::unique_ptr<llvm::TargetMachine> machine(target->createTargetMachine(
      triple, cpu, features.getString(), targetOptions, llvm::Reloc::PIC_,
      std::nullopt, level));
  if (!machine)
    error = "LLVM has no target machine for CPU '" + cpu + "'";
  return machine;
}

static void optimize(llvm::Module &module, llvm::TargetMachine &machine,
                     unsigned optLevel) {
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PassBuilder builder(&machine);
  builder.registerModuleAnalyses(mam);
  builder.registerCGSCCAnalyses(cgam);
  builder.registerFunctionAnalyses(fam);
  builder.registerLoopAnalyses(lam);
  builder.crossRegisterProxies(lam, fam, cgam, mam);
  llvm::OptimizationLevel level = optLevel == 0   ? llvm::OptimizationLevel::O0
                                  : optLevel == 1 ? llvm::OptimizationLevel::O1
                                  : optLevel == 2 ? llvm::OptimizationLevel::O2
                                                  : llvm::OptimizationLevel::O3;
  llvm::ModulePassManager passes = builder.buildPerModuleDefaultPipeline(level);
  passes.run(module, mam);
}

/// Links `object` into a shared library with the system C compiler driver.
static FailureOr<std::string> linkSharedLibrary(Location loc, StringRef object,
                                                const std::string &linker) {
  SmallString<128> dir;
  if (std::error_code ec = llvm::sys::fs::createUniqueDirectory("pmc-kernels", dir))
    return emitError(loc) << "cannot create a temporary directory: " << ec.message();
  auto cleanup = llvm::make_scope_exit([&] { llvm::sys::fs::remove_directories(dir); });
  SmallString<128> objPath(dir), soPath(dir), logPath(dir);
  llvm::sys::path::append(objPath, "kernels.o");
  llvm::sys::path::append(soPath, "kernels.so");
  llvm::sys::path::append(logPath, "link.log");
  {
    std::error_code ec;
    llvm::raw_fd_ostream out(objPath, ec);
    if (ec)
      return emitError(loc) << "cannot write " << objPath << ": " << ec.message();
    out << object;
  }
  auto program = llvm::sys::findProgramByName(linker);
  if (!program)
    return emitError(loc) << "cannot find the linker driver '" << linker
                          << "' in PATH (needed to build the kernel library)";
  SmallVector<StringRef> args = {*program, "-shared", "-Wl,-z,defs", "-o", soPath,
                                 objPath, "-lm"};
  std::optional<StringRef> redirects[] = {std::nullopt, StringRef(logPath),
                                          StringRef(logPath)};
  std::string message;
  int rc = llvm::sys::ExecuteAndWait(*program, args, std::nullopt, redirects, 0, 0,
                                     &message);
  if (rc != 0) {
    std::string log;
    if (auto buffer = llvm::MemoryBuffer::getFile(logPath))
      log = (*buffer)->getBuffer().str();
    return emitError(loc) << "linking the kernel library with '" << *program
                          << "' failed (exit " << rc << ") " << message << "\n"
                          << log;
  }
  auto buffer = llvm::MemoryBuffer::getFile(soPath);
  if (!buffer)
    return emitError(loc) << "cannot read " << soPath << ": "
                          << buffer.getError().message();
  return (*buffer)->getBuffer().str();
}

FailureOr<std::string> (::pmc::compileKernelsToSharedLibrary)(
    ModuleOp module, const CPUTargetOptions &options,
    llvm::function_ref<LogicalResult(PassManager &)> configurePassManager) {
  MLIRContext *context = module.getContext();
  Location loc = module.getLoc();
  OwningOpRef<ModuleOp> kernels = cast<ModuleOp>(module->clone());
  // The kernels, renamed so that the exported wrapper can take the name.
  std::vector<std::pair<std::string, std::string>> names;
  for (func::FuncOp func :
       llvm::make_early_inc_range(kernels->getOps<func::FuncOp>())) {
    if (func.getSymName() == mlir::pmc::kEntryFunctionName) {
      func.erase();
      continue;
    }
    if (func.isExternal())
      return func.emitOpError("is a kernel without a body");
    ::pmc::dropZeroSizeSignatures(func);
    std::string name = func.getSymName().str();
    names.emplace_back(name + "_impl", name);
    func.setSymName(names.back().first);
    func.setPublic();
  }

  registerPipelinePasses();
  auto runPipeline = [&](const char *pipeline) -> LogicalResult {
    PassManager pm(context, ModuleOp::getOperationName());
    if (failed(parsePassPipeline(pipeline, pm)))
      return emitError(loc) << "internal error: bad pass pipeline '" << pipeline << "'";
    if (configurePassManager && failed(configurePassManager(pm)))
      return failure();
    return pm.run(*kernels);
  };
  if (failed(runPipeline(kBufferizePipeline)))
    return failure();
  ::pmc::copiesToLinalg(*kernels);
  const char *lowerToLLVM = kLowerToLLVMPipeline;
  if (options.testLaunchVectorizationBytes > 0) {
    context->loadDialect<vector::VectorDialect>();
    if (failed(runPipeline(kTestParallelLoopsPipeline)))
      return failure();
    ::pmc::runLaunchVectorizationHook(*kernels, options.testLaunchVectorizationBytes);
    lowerToLLVM = kTestVectorLoopsToLLVMPipeline;
  }
  // After the test hook, so that its vector bf16 conversions are expanded too.
  if (failed(expandBFloat16Conversions(*kernels)))
    return emitError(loc) << "expanding the bf16 conversions of the kernels failed";
  if (failed(runPipeline(lowerToLLVM)))
    return failure();
  if (failed(::pmc::addKernelWrappers(*kernels, names)))
    return failure();

  DialectRegistry registry;
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  context->appendDialectRegistry(registry);
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(*kernels, llvmContext, "pmc_kernels");
  if (!llvmModule)
    return emitError(loc) << "translating the kernels to LLVM IR failed";

  std::string error;
  std::unique_ptr<llvm::TargetMachine> machine = createTargetMachine(options, error);
  if (!machine)
    return emitError(loc) << "cannot target the host CPU: " << error;
  llvmModule->setDataLayout(machine->createDataLayout());
  llvmModule->setTargetTriple(machine->getTargetTriple());
  optimize(*llvmModule, *machine, options.optLevel);

  SmallString<0> object;
  {
    llvm::raw_svector_ostream os(object);
    llvm::legacy::PassManager codegen;
    if (machine->addPassesToEmitFile(codegen, os, nullptr,
                                     llvm::CodeGenFileType::ObjectFile))
      return emitError(loc) << "LLVM cannot emit an object file for this target";
    codegen.run(*llvmModule);
  }
  return linkSharedLibrary(loc, object, options.linker);
}
