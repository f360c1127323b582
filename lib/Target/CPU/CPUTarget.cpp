//===- CPUTarget.cpp - kernels -> LLVM -> object -> host shared library ----===//
//
// The MLIR half is the pipeline pmc-cpu-kernels (KernelPipelines.cpp); here
// the LLVM dialect is translated, optimized, emitted as an object and linked.
//
#include "pmc/Target/CPU.h"

#include "pmc/Dialect/PMC/IR/PMCOps.h"
#include "pmc/Support/CPUFeatures.h"
#include "pmc/Target/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/IR/Constants.h"
#include "llvm/IR/GlobalVariable.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/MCSubtargetInfo.h"
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
  if (!machine) {
    error = "LLVM has no target machine for CPU '" + cpu + "'";
    return nullptr;
  }
  // LLVM would only warn and generate for its generic CPU.
  if (!machine->getMCSubtargetInfo()->isCPUStringValid(cpu)) {
    error = "'" + cpu + "' is not a CPU LLVM knows for " + triple.str() +
            " (--cpu takes LLVM's names, such as x86-64-v2, x86-64-v3, skylake-avx512, "
            "znver4, or host)";
    return nullptr;
  }
  return machine;
}

/// What the kernels `machine` generates may need of the CPU: its name and the
/// x86 extensions of X86Features.def it enables (none off x86, where the
/// runtime checks nothing).
static ::pmc::KernelTarget kernelTargetOf(const llvm::TargetMachine &machine) {
  ::pmc::KernelTarget target;
  target.cpu = machine.getTargetCPU().str();
  if (!machine.getTargetTriple().isX86())
    return target;
  const llvm::MCSubtargetInfo *subtarget = machine.getMCSubtargetInfo();
  for (std::string_view name : ::pmc::checkableX86Features())
    if (subtarget->checkFeatures("+" + std::string(name)))
      target.features.emplace_back(name);
  llvm::sort(target.features);
  return target;
}

/// Adds the record the runtime checks before it calls a kernel
/// (pmc/Support/CPUFeatures.h): `const char pmc_kernel_target[]`.
static void addKernelTargetRecord(llvm::Module &module,
                                  const llvm::TargetMachine &machine) {
  std::string text = ::pmc::formatKernelTarget(kernelTargetOf(machine));
  llvm::Constant *value =
      llvm::ConstantDataArray::getString(module.getContext(), text, /*AddNull=*/true);
  new llvm::GlobalVariable(module, value->getType(), /*isConstant=*/true,
                           llvm::GlobalValue::ExternalLinkage, value,
                           ::pmc::kKernelTargetSymbol);
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
  PassManager pm(context, ModuleOp::getOperationName());
  if (options.kernelPipeline.empty()) {
    mlir::pmc::buildCPUKernelPipeline(pm);
  } else {
    std::string errorText;
    llvm::raw_string_ostream errorStream(errorText);
    if (failed(parsePassPipeline(options.kernelPipeline, pm, errorStream)))
      return emitError(loc) << "--cpu-kernel-pipeline '" << options.kernelPipeline
                            << "': " << errorText;
  }
  if (configurePassManager && failed(configurePassManager(pm)))
    return failure();
  if (failed(pm.run(*kernels)))
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
    return emitError(loc) << "cannot generate the CPU kernels: " << error;
  llvmModule->setDataLayout(machine->createDataLayout());
  llvmModule->setTargetTriple(machine->getTargetTriple());
  addKernelTargetRecord(*llvmModule, *machine);
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
