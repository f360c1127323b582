//===- CUDATarget.cpp - kernels -> gpu launches -> NVVM -> PTX -------------===//
#include "pmc/Target/CUDA.h"

#include "LaunchOutlining.h"
#include "pmc/Target/Passes.h"
#include "pmc/Target/LaunchVectorization.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "pmc/Dialect/PMC/IR/PMCDialect.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/GPU/GPUToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"

#include <cstdlib>

using namespace mlir;


/// The device half: views and loops to plain LLVM, then NVVM with one pointer
/// per memref argument (all shapes are static); gpu-module-to-binary follows.
static void buildDevicePipeline(OpPassManager &pm) {
  OpPassManager &device = pm.nest<gpu::GPUModuleOp>();
  device.addPass(memref::createExpandStridedMetadataPass());
  device.addPass(createLowerAffinePass());
  device.addPass(createSCFToControlFlowPass());
  ConvertGpuOpsToNVVMOpsOptions nvvm;
  nvvm.useBarePtrCallConv = true;
  device.addPass(createConvertGpuOpsToNVVMOps(nvvm));
  device.addPass(createCanonicalizerPass());
  device.addPass(createCSEPass());
  device.addPass(createReconcileUnrealizedCastsPass());
}

/// The CUDA toolkit whose libdevice the kernels link (math functions).
static std::string findToolkit(const ::pmc::CUDATargetOptions &options) {
  if (!options.toolkitPath.empty())
    return options.toolkitPath;
  for (const char *var : {"CUDA_ROOT", "CUDA_HOME", "CUDA_PATH"})
    if (const char *value = std::getenv(var); value && *value)
      return value;
  if (llvm::ErrorOr<std::string> ptxas = llvm::sys::findProgramByName("ptxas")) {
    // <toolkit>/bin/ptxas
    SmallString<128> dir(*ptxas);
    llvm::sys::path::remove_filename(dir);
    llvm::sys::path::remove_filename(dir);
    return dir.str().str();
  }
  return "/usr/local/cuda";
}

FailureOr<::pmc::CUDAKernels> (::pmc::compileKernelsToPTX)(
    ModuleOp module, const CUDATargetOptions &options,
    llvm::function_ref<LogicalResult(PassManager &)> configurePassManager) {
  MLIRContext *context = module.getContext();
  Location loc = module.getLoc();
  DialectRegistry registry;
  registry.insert<gpu::GPUDialect, NVVM::NVVMDialect, vector::VectorDialect>();
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  registerGPUDialectTranslation(registry);
  registerNVVMDialectTranslation(registry);
  NVVM::registerNVVMTargetInterfaceExternalModels(registry);
  context->appendDialectRegistry(registry);
  context->loadDialect<gpu::GPUDialect, NVVM::NVVMDialect, vector::VectorDialect>();

  OwningOpRef<ModuleOp> kernels = cast<ModuleOp>(module->clone());
  CUDAKernels result;
  result.producer = "MLIR/LLVM " LLVM_VERSION_STRING " (gpu-module-to-binary, NVPTX)";
  auto runPipeline = [&](function_ref<void(OpPassManager &)> build) -> LogicalResult {
    PassManager pm(context, ModuleOp::getOperationName());
    build(pm);
    if (configurePassManager && failed(configurePassManager(pm)))
      return failure();
    return pm.run(*kernels);
  };
  mlir::pmc::CUDAKernelsOptions kernelOptions;
  kernelOptions.blockSize = options.blockSize;
  kernelOptions.vectorBytes = options.vectorBytes;
  if (failed(runPipeline([&](OpPassManager &pm) {
        mlir::pmc::buildCUDAKernelPipeline(pm, kernelOptions);
      })))
    return failure();
  FailureOr<std::map<std::string, GPUKernel>> launches = ::pmc::collectKernels(*kernels);
  if (failed(launches))
    return failure();
  result.kernels = std::move(*launches);
  auto gpuModule = kernels->lookupSymbol<gpu::GPUModuleOp>(::pmc::kGPUModuleName);
  if (!gpuModule || gpuModule.getBody()->getOps<gpu::GPUFuncOp>().empty())
    return result;

  OpBuilder builder(context);
  SmallVector<Attribute> targets;
  for (const std::string &chip : options.chips)
    targets.push_back(NVVM::NVVMTargetAttr::get(
        context, options.optLevel, "nvptx64-nvidia-cuda", chip));
  gpuModule.setTargetsAttr(builder.getArrayAttr(targets));
  std::string toolkit = findToolkit(options);
  SmallString<128> libdevice(toolkit);
  llvm::sys::path::append(libdevice, "nvvm", "libdevice", "libdevice.10.bc");
  if (!llvm::sys::fs::exists(libdevice))
    return emitError(loc) << "the cuda target needs the CUDA toolkit's libdevice, "
                             "which is not at "
                          << libdevice
                          << " (set CUDA_HOME, or put the toolkit's bin/ on PATH)";
  GpuModuleToBinaryPassOptions binaryOptions;
  binaryOptions.toolkitPath = toolkit;
  binaryOptions.linkFiles.push_back(libdevice.str().str());
  binaryOptions.compilationTarget = "isa";
  if (failed(runPipeline([&](OpPassManager &pm) {
        buildDevicePipeline(pm);
        pm.addPass(createGpuModuleToBinaryPass(binaryOptions));
      })))
    return failure();

  auto binary = kernels->lookupSymbol<gpu::BinaryOp>(::pmc::kGPUModuleName);
  if (!binary)
    return emitError(loc) << "internal error: gpu-module-to-binary left no binary";
  for (Attribute attr : binary.getObjects()) {
    auto object = cast<gpu::ObjectAttr>(attr);
    auto target = dyn_cast<NVVM::NVVMTargetAttr>(object.getTarget());
    if (!target)
      return emitError(loc) << "internal error: a kernel object is not for NVVM";
    std::string ptx = object.getObject().str();
    // The serializer NUL-terminates the text.
    while (!ptx.empty() && ptx.back() == '\0')
      ptx.pop_back();
    result.ptx.emplace_back(target.getChip().str(), std::move(ptx));
  }
  return result;
}
