//===- CompileCommand.cpp - `pmc-opt compile model.onnx|model.mlir` --------===//
#include "Commands.h"

#include "pmc/Driver/Compiler.h"
#include "pmc/Driver/Driver.h"
#include "pmc/Driver/Verify.h"
#include "pmc/Parallel/Planner.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Support/Timing.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

namespace cl = llvm::cl;

using namespace pmc;

namespace {
/// The flags of `pmc-opt compile`, registered while an instance lives.
struct CompileFlags {
  cl::opt<std::string> modelPath{cl::Positional, cl::desc("<model.onnx|model.mlir>"),
                                 cl::Required};
  cl::opt<std::string> outputPath{
      "o", cl::desc("Output file (default: the model's name with .pmc; stdout "
                    "for --emit mlir)"),
      cl::value_desc("file")};
  cl::opt<std::string> target{"target", cl::desc("Target: cpu or cuda (PTX + launch lists; docs/design/bundle.md)"),
                              cl::init("cpu")};
  cl::opt<int> devices{"devices",
                       cl::desc("Number of devices; above 1 the model is "
                                "partitioned (data parallel unless --mesh/--shard)"),
                       cl::init(1)};
  cl::opt<std::string> mesh{
      "mesh", cl::desc("Device mesh: named axes and sizes whose product is "
                       "--devices, e.g. dp=2,tp=2"),
      cl::value_desc("AXIS=SIZE,...")};
  cl::list<std::string> shards{
      "shard",
      cl::desc("Sharding of a graph input or weight: per dimension the "
               "'+'-joined mesh axes it is split over (empty = replicated), "
               "dimensions separated by commas, e.g. w_fc=,tp or x=dp"),
      cl::value_desc("NAME=DIMS")};
  cl::opt<int> stages{
      "stages",
      cl::desc("Pipeline stages: cut the model into K stages of about equal "
               "estimated FLOPs, one per pp coordinate (the mesh gets pp=K first; "
               "without --mesh it is pp=K,dp=devices/K); docs/design/pipeline.md"),
      cl::value_desc("K"), cl::init(0)};
  cl::opt<int> microbatches{
      "microbatches",
      cl::desc("Microbatches per pipeline step: the batch is split into M parts "
               "that flow through the stages (needs --stages)"),
      cl::value_desc("M"), cl::init(1)};
  cl::opt<std::string> schedule{
      "schedule", cl::desc("Pipeline schedule: gpipe or 1f1b (default)"),
      cl::init("1f1b")};
  cl::opt<double> bucketMB{
      "bucket-mb",
      cl::desc("Independent all-reduces (a train step's data-parallel gradient "
               "sync) are combined into buckets of at most this many MiB, each "
               "started as soon as its last gradient is ready (PyTorch DDP's "
               "bucket_cap_mb); 0 (default): one all-reduce per gradient, each "
               "started as soon as it is ready"),
      cl::value_desc("MB"), cl::init(0)};
  cl::opt<bool> verify{
      "verify", cl::desc("Also compile for one device, run both bundles on "
                         "random inputs and fail when they differ"),
      cl::init(false)};
  cl::opt<double> tolerance{
      "verify-tolerance",
      cl::desc("Largest allowed difference for --verify: |a - b| <= tol * (1 + |b|)"),
      cl::init(1e-4)};
  cl::list<std::string> inputShapes{
      "input-shape", cl::desc("Static shape of a dynamic input: name=1x128 (name= for a scalar)"),
      cl::value_desc("name=DIMS")};
  cl::list<std::string> sequenceLengths{
      "sequence-length",
      cl::desc("Length of a sequence graph input: name=N; its elements are the "
               "inputs name[0] ... name[N-1] (shapes from the model or --input-shape)"),
      cl::value_desc("name=N")};
  cl::list<std::string> absentInputs{
      "absent", cl::desc("An optional graph input given no value"),
      cl::value_desc("name")};
  cl::list<std::string> bindings{
      "bind",
      cl::desc("Specialize a graph input to the value in a .npy file (it leaves "
               "the signature and becomes a constant): name=value.npy"),
      cl::value_desc("name=FILE")};
  cl::opt<std::string> emit{"emit",
                            cl::desc("What to write: bundle (default), or mlir "
                                     "(the module after outlining and lowering "
                                     "to linalg), or plan (the planner's JSON, "
                                     "stopping after planning)"),
                            cl::init("bundle")};
  cl::opt<std::string> plan{
      "plan",
      cl::desc("Without --mesh/--shard and with --devices N > 1: auto (the "
               "planner searches meshes and shardings, docs/design/planner.md), "
               "default (data parallel over the batch) or random[:SEED] (a random "
               "legal plan, for differential tests: test/plans)"),
      cl::init("auto")};
  cl::opt<std::string> deviceSpec{
      "device-spec",
      cl::desc("Device spec the planner scores with: h100-sxm, h100-pcie, h200, "
               "a100, cpu or a spec JSON file (default: h100-sxm for --target "
               "cuda, cpu for --target cpu)"),
      cl::value_desc("NAME|FILE")};
  cl::opt<bool> explain{"explain",
                        cl::desc("Print the planner's choice, predicted time and "
                                 "memory, and the alternatives with why they lost"),
                        cl::init(false)};
  cl::opt<std::string> explainSVG{
      "explain-svg", cl::desc("Write the planner's plan as an SVG picture (devices x "
                              "stages, what each holds, where it communicates)"),
      cl::value_desc("plan.svg"), cl::init("")};
  cl::opt<std::string> cpu{"cpu",
                           cl::desc("LLVM CPU the kernels target: host (default) "
                                    "or a name such as x86-64-v2 for portability"),
                           cl::init("host")};
  cl::opt<std::string> cpuKernelPipeline{
      "cpu-kernel-pipeline",
      cl::desc("The pass pipeline of the CPU kernels, as pmc-opt spells it (default: "
               "pmc-cpu-kernels; pmc-test-cpu-vectorized-kernels{bytes=16} runs the CUDA "
               "launch vectorization on the CPU, for tests)"),
      cl::value_desc("PIPELINE"), cl::init(""), cl::Hidden};
  cl::opt<std::string> dtype{
      "dtype",
      cl::desc("Precision of weights and compute: fp32 (default), bf16 or fp16; "
               "reductions, softmax and LayerNorm statistics stay fp32, inputs and "
               "outputs stay float32"),
      cl::init("fp32")};

  // Training (docs/user-guide.md, "Training"): the bundle is the train step.
  cl::opt<bool> train{"train",
                      cl::desc("Compile the train step: forward, --loss, backward and the "
                               "--optimizer update as one program; its parameters (every "
                               "float initializer of more than one element but "
                               "BatchNormalization's running statistics and --frozen) and "
                               "optimizer state become inputs that the runtime keeps"),
                      cl::init(false)};
  cl::opt<std::string> loss{
      "loss",
      cl::desc("With --train: cross_entropy:LOGITS[,LABELS], mse|l1|bce_with_logits:"
               "OUTPUT[,TARGET] (PyTorch's losses; options reduction=mean|sum, "
               "ignore_index=N, label_smoothing=E) or output:NAME (the model's own loss)"),
      cl::value_desc("SPEC"), cl::init("")};
  cl::opt<std::string> optimizer{
      "optimizer",
      cl::desc("With --train: sgd|adam|adamw[:key=value,...], torch.optim's semantics "
               "and defaults (sgd: lr, momentum, dampening, nesterov, weight_decay; "
               "adam/adamw: lr, betas=B1/B2, eps, weight_decay)"),
      cl::value_desc("SPEC"), cl::init("sgd")};
  cl::opt<int> zero{"zero",
                    cl::desc("With --train: the ZeRO stage over dp, 0-3 (default: the "
                             "planner's choice; 0 with --mesh)"),
                    cl::init(-1)};
  cl::opt<double> gradClip{"grad-clip",
                           cl::desc("With --train: clip the gradients to this global L2 "
                                    "norm (0: no clipping)"),
                           cl::init(0.0)};
  cl::opt<double> lossScale{
      "loss-scale",
      cl::desc("With --train: dynamic loss scaling from this initial scale, as "
               "torch.amp.GradScaler (a step with inf/NaN gradients is skipped and halves "
               "it; 0: none; default 65536 with --dtype fp16, none otherwise)"),
      cl::init(-1.0)};
  cl::opt<int64_t> lossScaleGrowthInterval{
      "loss-scale-growth-interval",
      cl::desc("With --train and loss scaling: finite steps before the scale doubles"),
      cl::init(2000)};
  cl::list<std::string> frozen{"frozen",
                               cl::desc("With --train: initializers that are not trained"),
                               cl::value_desc("NAME"), cl::CommaSeparated};

  /// The CompileOptions the flags ask for; false (and `error`) on a bad value.
  bool toOptions(CompileOptions &options, std::string &error);
};
} // namespace

bool CompileFlags::toOptions(CompileOptions &options, std::string &error) {
  options.target = target;
  options.devices = devices;
  options.cpu.cpu = cpu;
  options.cpu.kernelPipeline = cpuKernelPipeline;
  options.plan = plan;
  options.deviceSpec = deviceSpec;
  options.planOnly = emit == "plan";
  options.import.parameterValues = !options.planOnly; // planning reads shapes only
  options.dtype = dtype;
  options.stages = stages;
  options.microbatches = microbatches;
  options.schedule = schedule;
  if (bucketMB < 0) {
    error = "--bucket-mb is " + std::to_string(bucketMB.getValue()) + ", expected 0 or more";
    return false;
  }
  options.bucketBytes = static_cast<int64_t>(bucketMB * (1 << 20));
  if (!parseInputShapes(inputShapes, options.import, error) ||
      !parseSequenceInputs(sequenceLengths, absentInputs, options.import, error) ||
      !parseBindings(bindings, options.import, error) ||
      (!mesh.empty() && !parseMesh(mesh, options, error)) ||
      !parseShardings(shards, options, error))
    return false;
  if (!train && (!loss.empty() || optimizer.getNumOccurrences() || zero >= 0 ||
                 gradClip != 0.0 || !frozen.empty() || lossScale.getNumOccurrences() ||
                 lossScaleGrowthInterval.getNumOccurrences())) {
    error = "--loss, --optimizer, --zero, --grad-clip, --loss-scale* and --frozen need "
            "--train";
    return false;
  }
  if (train) {
    if (loss.empty()) {
      error = "--train needs --loss (e.g. --loss cross_entropy:logits,labels)";
      return false;
    }
    LossSpec spec;
    if (!parseLossSpec(loss, spec, error) ||
        !parseOptimizerSpec(optimizer, options.train, error))
      return false;
    if (zero < -1 || zero > 3) {
      error = "--zero " + std::to_string(zero) + ": expected 0, 1, 2 or 3";
      return false;
    }
    if (gradClip < 0) {
      error = "--grad-clip must be positive (0: no clipping)";
      return false;
    }
    if (lossScale.getNumOccurrences() && !(lossScale >= 0)) {
      error = "--loss-scale must be positive (0: no loss scaling)";
      return false;
    }
    if (lossScaleGrowthInterval < 1) {
      error = "--loss-scale-growth-interval must be at least 1";
      return false;
    }
    options.train.zero = zero;
    options.train.gradClip = gradClip;
    if (lossScale.getNumOccurrences())
      options.train.lossScale = lossScale;
    options.train.lossScaleGrowthInterval = lossScaleGrowthInterval;
    options.import.loss = spec;
    options.import.trainInitializers = true;
    options.import.frozen.insert(frozen.begin(), frozen.end());
  }
  if (!cpuKernelPipeline.empty()) {
    if (target != "cpu") {
      error = "--cpu-kernel-pipeline needs --target cpu";
      return false;
    }
    registerPMCPassesOnce(); // the pipeline is looked up by name
  }
  if (emit != "bundle" && emit != "mlir" && emit != "plan") {
    error = "--emit " + emit + ": expected bundle, mlir or plan";
    return false;
  }
  return true;
}

/// Adds the --mlir-print-ir-*, --mlir-timing, ... instrumentation.
static mlir::LogicalResult configurePassManager(mlir::PassManager &pm) {
  if (failed(mlir::applyPassManagerCLOptions(pm)))
    return mlir::failure();
  mlir::applyDefaultTimingPassManagerCLOptions(pm);
  return mlir::success();
}

/// Writes to `path` ("-": stdout) what `write` prints; false after printing
/// the error.
static bool writeOutput(const std::string &path,
                        llvm::function_ref<void(llvm::raw_ostream &)> write) {
  std::string error;
  auto output = mlir::openOutputFile(path, &error);
  if (!output) {
    llvm::errs() << "error: " << error << "\n";
    return false;
  }
  write(output->os());
  output->keep();
  return true;
}

/// --explain-svg and --explain: the plan as a picture and as text.
static bool printExplanation(mlir::ModuleOp module, const CompileFlags &flags) {
  if (!flags.explainSVG.empty()) {
    auto json = module->getAttrOfType<mlir::StringAttr>("pmc.plan_json");
    llvm::Expected<std::string> svg =
        json ? mlir::pmc::planJSONToSVG(json.getValue())
             : llvm::Expected<std::string>(llvm::createStringError(
                   "nothing was planned (one device, or --mesh/--shard given)"));
    if (!svg) {
      llvm::errs() << "error: --explain-svg " << flags.explainSVG << ": "
                   << llvm::toString(svg.takeError()) << "\n";
      return false;
    }
    std::string svgError;
    auto file = mlir::openOutputFile(flags.explainSVG, &svgError);
    if (!file) {
      llvm::errs() << "error: --explain-svg: " << svgError << "\n";
      return false;
    }
    file->os() << *svg;
    file->keep();
  }
  if (!flags.explain)
    return true;
  if (auto text = module->getAttrOfType<mlir::StringAttr>("pmc.plan_explain"))
    llvm::outs() << text.getValue();
  else if (auto text = module->getAttrOfType<mlir::StringAttr>("pmc.plan"))
    llvm::outs() << "plan: " << text.getValue() << "\n";
  else
    llvm::outs() << "plan: one device, nothing to plan\n";
  return true;
}

/// --emit plan: the planner's JSON, nothing compiled.
static int emitPlan(mlir::ModuleOp module, const CompileOptions &options,
                    const CompileFlags &flags) {
  if (options.devices < 1 || !options.mesh.empty() || !options.shardings.empty()) {
    llvm::errs() << "error: --emit plan: the planner runs without --mesh/--shard\n";
    return 1;
  }
  // The planner scores the types it will compile (--dtype halves weights
  // and activations); with planOnly the conversion reads no weight bytes.
  if (failed(buildTrainStep(module, options, configurePassManager)) ||
      failed(convertPrecision(module, options, configurePassManager)) ||
      failed(partitionModule(module, options, configurePassManager)))
    return 1;
  auto json = module->getAttrOfType<mlir::StringAttr>("pmc.plan_json");
  if (!json) {
    llvm::errs() << "error: --emit plan: the model has a mesh already; nothing was planned\n";
    return 1;
  }
  if (!printExplanation(module, flags))
    return 1;
  std::string path = flags.outputPath.empty() ? "-" : flags.outputPath.getValue();
  bool written =
      writeOutput(path, [&](llvm::raw_ostream &os) { os << json.getValue() << "\n"; });
  return written ? 0 : 1;
}

/// --emit mlir: the module after partitioning, outlining and lowering.
static int emitMLIR(mlir::ModuleOp module, const CompileOptions &options,
                    const CompileFlags &flags) {
  if (failed(checkCompileOptions(module.getLoc(), options)) ||
      failed(buildTrainStep(module, options, configurePassManager)) ||
      failed(convertPrecision(module, options, configurePassManager)) ||
      failed(partitionModule(module, options, configurePassManager)) ||
      failed(outlineAndLower(module, /*lowerKernels=*/true, configurePassManager,
                             options.target, options.bucketBytes)))
    return 1;
  std::string path = flags.outputPath.empty() ? "-" : flags.outputPath.getValue();
  bool written = writeOutput(path, [&](llvm::raw_ostream &os) {
    module.print(os, mlir::OpPrintingFlags().elideLargeElementsAttrs(16));
    os << "\n";
  });
  return written ? 0 : 1;
}

/// --verify: the same model compiled for one device, both bundles run on
/// random inputs and compared.
static int verifyAgainstOneDevice(mlir::MLIRContext &context, const CompileOptions &options,
                                  const CompileFlags &flags, const std::string &bundlePath) {
  if (!isMultiDevice(options)) {
    llvm::errs() << "error: --verify compares a multi-device bundle with one "
                    "device; pass --devices N (N > 1)\n";
    return 1;
  }
  CompileOptions single = options;
  single.devices = 1;
  single.mesh.clear();
  single.shardings.clear();
  single.stages = 0;
  single.microbatches = 1;
  // The reference: the same model for one device, in a fresh module.
  mlir::OwningOpRef<mlir::ModuleOp> reference =
      loadModel(context, flags.modelPath, options.import);
  if (!reference)
    return 1;
  if (reference->getOperation()->hasAttr("pmc.mesh")) {
    llvm::errs() << "error: --verify: " << flags.modelPath
                 << " is partitioned already (it has pmc.mesh); there is no "
                    "1-device program to compare with\n";
    return 1;
  }
  std::string referencePath = bundlePath + ".1dev.tmp";
  if (failed(compileModuleToBundle(*reference, single, referencePath, configurePassManager)))
    return 1;
  VerifyReport report;
  bool same = verifyBundles(bundlePath, referencePath, flags.tolerance, report);
  llvm::sys::fs::remove(referencePath);
  if (report.runFailed) {
    llvm::errs() << "error: " << report.text;
    return 1;
  }
  llvm::outs() << "verify: " << options.devices << " devices vs 1\n" << report.text;
  if (!same) {
    llvm::errs() << "error: --verify: the " << options.devices
                 << "-device bundle differs from the 1-device bundle (max abs diff "
                 << report.maxAbs << ", max rel diff " << report.maxRel << ")\n";
    return 1;
  }
  return 0;
}

int pmc::runCompileCommand(int argc, char **argv) {
  CompileFlags flags;
  mlir::registerAsmPrinterCLOptions();
  mlir::registerMLIRContextCLOptions();
  mlir::registerPassManagerCLOptions();
  mlir::registerDefaultTimingManagerCLOptions();
  cl::ParseCommandLineOptions(argc, argv,
                              "pmc-opt compile: compiles a model into a bundle\n");
  CompileOptions options;
  std::string error;
  if (!flags.toOptions(options, error)) {
    llvm::errs() << "error: " << error << "\n";
    return 1;
  }
  mlir::MLIRContext context;
  prepareDriverContext(context);
  llvm::SourceMgr sourceMgr;
  mlir::SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);
  mlir::Location loc = mlir::FileLineColLoc::get(&context, flags.modelPath.getValue(), 0, 0);
  if (failed(checkCompileOptions(loc, options)))
    return 1;
  mlir::OwningOpRef<mlir::ModuleOp> module =
      loadModel(context, flags.modelPath, options.import);
  if (!module)
    return 1;
  if (flags.emit == "plan")
    return emitPlan(*module, options, flags);
  if (flags.emit == "mlir")
    return emitMLIR(*module, options, flags);
  std::string bundlePath = flags.outputPath;
  if (bundlePath.empty()) {
    llvm::SmallString<128> path(llvm::sys::path::filename(flags.modelPath.getValue()));
    llvm::sys::path::replace_extension(path, "pmc");
    bundlePath = path.str().str();
  }
  if (failed(compileModuleToBundle(*module, options, bundlePath, configurePassManager)) ||
      !printExplanation(*module, flags))
    return 1;
  return flags.verify ? verifyAgainstOneDevice(context, options, flags, bundlePath) : 0;
}
