//===- Compiler.cpp - the compiler as a library: model -> bundle -----------===//
#include "pmc/Driver/Compiler.h"

#include "Commands.h"
#include "pmc/Conversion/Passes.h"
#include "pmc/Dialect/PMC/Transforms/Passes.h"
#include "pmc/Parallel/Partition/Passes.h"
#include "pmc/Target/BundleEmitter.h"
#include "pmc/Target/CUDA.h"
#include "pmc/Target/Passes.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

LogicalResult (::pmc::checkCompileOptions)(Location loc, const CompileOptions &options) {
  if (options.target != "cpu" && options.target != "cuda")
    return emitError(loc) << "unknown target '" << options.target
                          << "' (expected cpu or cuda)";
  if (options.devices < 1)
    return emitError(loc) << "--devices " << options.devices
                          << ": expected a positive device count";
  if (options.dtype != "fp32" && options.dtype != "bf16" && options.dtype != "fp16")
    return emitError(loc) << "--dtype " << options.dtype
                          << ": expected fp32, bf16 or fp16";
  if (llvm::StringRef plan = options.plan;
      plan != "auto" && plan != "default" && !plan.starts_with("random"))
    return emitError(loc) << "--plan " << plan << ": expected auto, default or random[:SEED]";
  if (!options.shardings.empty() && options.mesh.empty())
    return emitError(loc) << "--shard needs --mesh (the axes the shardings name), "
                             "e.g. --mesh dp=" << options.devices;
  if (failed(checkPipelineOptions(loc, options)))
    return failure();
  if (!options.mesh.empty()) {
    std::vector<std::pair<std::string, int64_t>> mesh = effectiveMesh(options);
    int64_t product = 1;
    for (const auto &axis : mesh)
      product *= axis.second;
    if (product != options.devices) {
      InFlightDiagnostic diag = emitError(loc) << "--mesh ";
      llvm::interleave(
          mesh, diag,
          [&](const auto &axis) { diag << axis.first << "=" << axis.second; }, ",");
      return diag << " has " << product << " devices, but --devices is "
                  << options.devices;
    }
  }
  for (const auto &[name, dims] : options.shardings)
    for (auto [d, axes] : llvm::enumerate(dims))
      for (const std::string &axis : axes)
        if (llvm::none_of(options.mesh,
                          [&](const auto &a) { return a.first == axis; })) {
          InFlightDiagnostic diag = emitError(loc)
                                    << "--shard " << name << ": dimension " << d
                                    << " names axis '" << axis
                                    << "', which the mesh does not have (axes: ";
          llvm::interleaveComma(options.mesh, diag,
                                [&](const auto &a) { diag << a.first; });
          return diag << ")";
        }
  return success();
}

OwningOpRef<ModuleOp> (::pmc::loadModel)(MLIRContext &context, const std::string &path,
                                     const ImportOptions &options) {
  if (llvm::StringRef(path).ends_with(".mlir"))
    return parseSourceFile<ModuleOp>(path, &context);
  return importONNXFile(context, path, options);
}

double (::pmc::effectiveLossScale)(const TrainOptions &train, const std::string &dtype) {
  if (train.lossScale >= 0)
    return train.lossScale;
  // fp16's largest value is 65504: gradients below 2^-24 would flush to zero
  // unscaled (torch.amp.GradScaler's initial scale).
  return dtype == "fp16" ? 65536.0 : 0.0;
}

LogicalResult (::pmc::buildTrainStep)(ModuleOp module, const CompileOptions &options,
                                      PassManagerConfigurator configure) {
  constexpr llvm::StringLiteral kBuilt = "pmc.train_step";
  if (!options.train.enabled || module->hasAttr(kBuilt))
    return success();
  PassManager pm(module.getContext(), ModuleOp::getOperationName());
  if (configure && failed(configure(pm)))
    return failure();
  mlir::pmc::PMCTrainStepOptions step;
  const TrainOptions &t = options.train;
  step.optimizer = t.optimizer;
  step.momentum = t.momentum;
  step.dampening = t.dampening;
  step.nesterov = t.nesterov;
  step.beta1 = t.beta1;
  step.beta2 = t.beta2;
  step.eps = t.eps;
  step.weightDecay = t.weightDecay;
  step.gradClip = t.gradClip;
  step.lossScale = effectiveLossScale(t, options.dtype);
  step.lossScaleGrowthInterval = t.lossScaleGrowthInterval;
  // A training pipeline: the forward (and loss) is cut into stages first,
  // so that every backward op takes the stage of the op it differentiates.
  if (options.stages > 0) {
    mlir::pmc::PMCEvenStagesOptions cut;
    cut.stages = options.stages;
    pm.addPass(mlir::pmc::createPMCEvenStages(cut));
  }
  pm.addPass(mlir::pmc::createPMCTrainStep(step));
  if (failed(pm.run(module)))
    return failure();
  module->setAttr(kBuilt, UnitAttr::get(module.getContext()));
  // What a runner needs beside the step (the bundle's manifest "train").
  Builder b(module.getContext());
  module->setAttr("pmc.train",
                  b.getDictionaryAttr({b.getNamedAttr("optimizer", b.getStringAttr(t.optimizer)),
                                       b.getNamedAttr("lr", b.getF64FloatAttr(t.lr))}));
  return success();
}

LogicalResult (::pmc::convertPrecision)(ModuleOp module, const CompileOptions &options,
                                        PassManagerConfigurator configure) {
  if (options.dtype == "fp32")
    return success();
  PassManager pm(module.getContext(), ModuleOp::getOperationName());
  if (configure && failed(configure(pm)))
    return failure();
  mlir::pmc::PMCConvertPrecisionOptions precision;
  precision.dtype = options.dtype == "fp16" ? "f16" : options.dtype;
  // Planning needs the types, not the values: never read the weights then.
  precision.typesOnly = options.planOnly;
  pm.addPass(mlir::pmc::createPMCConvertPrecision(precision));
  return pm.run(module);
}

LogicalResult (::pmc::outlineAndLower)(ModuleOp module, bool lowerKernels,
                                   PassManagerConfigurator configure,
                                   llvm::StringRef target, int64_t bucketBytes) {
  PassManager pm(module.getContext(), ModuleOp::getOperationName());
  if (configure && failed(configure(pm)))
    return failure();
  mlir::pmc::PMCCombineAllReducesOptions buckets;
  buckets.bucketBytes = bucketBytes;
  pm.addPass(mlir::pmc::createPMCCombineAllReduces(buckets));
  mlir::pmc::PMCOutlineKernelsOptions outline;
  outline.target = target.str();
  pm.addPass(mlir::pmc::createPMCOutlineKernels(outline));
  pm.addPass(mlir::pmc::createPMCHoistCollectives());
  if (lowerKernels)
    pm.addPass(mlir::pmc::createConvertPMCToLinalg());
  return pm.run(module);
}

LogicalResult (::pmc::compileModuleToBundle)(ModuleOp module, const CompileOptions &options,
                                         const std::string &bundlePath,
                                         PassManagerConfigurator configure) {
  if (failed(::pmc::checkCompileOptions(module.getLoc(), options)))
    return failure();
  if (failed(::pmc::buildTrainStep(module, options, configure)) ||
      failed(::pmc::convertPrecision(module, options, configure)) ||
      failed(::pmc::partitionModule(module, options, configure)))
    return failure();
  if (failed(::pmc::outlineAndLower(module, /*lowerKernels=*/false, configure,
                                      options.target, options.bucketBytes)))
    return failure();
  BundleOptions bundleOptions;
  bundleOptions.target = options.target;
  bundleOptions.devices = options.devices;
  FailureOr<std::string> library = std::string();
  FailureOr<CUDAKernels> cuda;
  if (options.target == "cuda") {
    cuda = compileKernelsToPTX(module, options.cuda, configure);
    if (failed(cuda))
      return failure();
    bundleOptions.cuda = &*cuda;
  } else {
    library = compileKernelsToSharedLibrary(module, options.cpu, configure);
  }
  if (failed(library))
    return failure();
  PassManager lower(module.getContext(), ModuleOp::getOperationName());
  if (configure && failed(configure(lower)))
    return failure();
  lower.addPass(mlir::pmc::createPMCLowerToRuntimeProgram());
  if (failed(lower.run(module)))
    return failure();
  FailureOr<BundleImage> image =
      buildBundleImage(module, std::move(*library), bundleOptions);
  if (failed(image))
    return failure();
  std::string error;
  if (!writeBundleImage(*image, bundlePath, error))
    return emitError(module.getLoc()) << error;
  return success();
}

namespace {
/// A fresh driver context whose diagnostics are printed into a string.
struct CapturingContext {
  CapturingContext() : os(text), handler(sourceMgr, &context, os) {
    ::pmc::prepareDriverContext(context);
  }
  MLIRContext context{MLIRContext::Threading::DISABLED};
  std::string text;
  llvm::raw_string_ostream os;
  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler handler;
};
} // namespace

bool (::pmc::compileModelFile)(const std::string &modelPath, const std::string &bundlePath,
                           const CompileOptions &options, std::string &diagnostics) {
  CapturingContext capture;
  bool ok = false;
  Location loc = FileLineColLoc::get(&capture.context, modelPath, 0, 0);
  if (succeeded(::pmc::checkCompileOptions(loc, options))) {
    OwningOpRef<ModuleOp> module =
        loadModel(capture.context, modelPath, options.import);
    ok = module && succeeded(compileModuleToBundle(*module, options, bundlePath));
  }
  diagnostics = capture.text;
  return ok;
}

bool (::pmc::planModelFile)(const std::string &modelPath, const CompileOptions &options,
                         std::string &planJSON, std::string &diagnostics) {
  CapturingContext capture;
  bool ok = false;
  CompileOptions planning = options;
  planning.planOnly = true;
  planning.plan = "auto";
  planning.import.parameterValues = false; // shapes only
  OwningOpRef<ModuleOp> module = loadModel(capture.context, modelPath, planning.import);
  if (module && succeeded(buildTrainStep(*module, planning)) &&
      succeeded(convertPrecision(*module, planning)) &&
      succeeded(partitionModule(*module, planning))) {
    if (auto json = (*module)->getAttrOfType<StringAttr>("pmc.plan_json")) {
      planJSON = json.str();
      ok = true;
    } else {
      emitError(module->getLoc()) << "the model has a pmc.mesh already; nothing to plan";
    }
  }
  diagnostics = capture.text;
  return ok;
}

bool (::pmc::importModelToText)(const std::string &modelPath, const ImportOptions &options,
                            std::string &text, std::string &diagnostics) {
  CapturingContext capture;
  OwningOpRef<ModuleOp> module = loadModel(capture.context, modelPath, options);
  diagnostics = capture.text;
  if (!module)
    return false;
  llvm::raw_string_ostream os(text);
  module->print(os);
  return true;
}
