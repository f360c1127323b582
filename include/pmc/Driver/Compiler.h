//===- Compiler.h - the compiler as a library: model -> bundle --*- C++ -*-===//
#ifndef PMC_DRIVER_COMPILER_H
#define PMC_DRIVER_COMPILER_H

#include "pmc/Import/ONNX/ONNXImporter.h"
#include "pmc/Target/CPU.h"
#include "pmc/Target/CUDA.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/Pass/PassManager.h"

#include <string>
#include <utility>
#include <vector>

namespace pmc {

/// The train step to build (pmc-train-step, torch.optim semantics): with
/// `enabled`, @main's result 0 is the loss and the import's parameters
/// (ImportOptions::parameters) are trained.
struct TrainOptions {
  bool enabled = false;
  std::string optimizer = "sgd"; // sgd, adam, adamw
  double momentum = 0.0, dampening = 0.0;
  bool nesterov = false;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weightDecay = 0.0;
  double gradClip = 0.0; // global L2 norm; 0 = none
  /// ZeRO stage over dp (0-3); -1 = the planner's choice.
  int zero = -1;
  /// The learning rate a runner feeds as pmc.lr (`--optimizer adamw:lr=...`);
  /// the step itself takes it as an input.
  double lr = 1e-3;
  /// Dynamic loss scaling (torch.amp.GradScaler): the initial scale, 0 for
  /// none, -1 for the dtype's default (2^16 for fp16, none otherwise).
  double lossScale = -1.0;
  int64_t lossScaleGrowthInterval = 2000;
};

/// The initial loss scale of a train step in `dtype` (0: no loss scaling).
double effectiveLossScale(const TrainOptions &train, const std::string &dtype);

/// Parses `--optimizer KIND[:key=value,...]` (sgd: lr, momentum, dampening,
/// nesterov, weight_decay; adam and adamw: lr, betas=B1/B2, eps,
/// weight_decay) into `train` (enabling it); false and `error` otherwise.
bool parseOptimizerSpec(const std::string &text, TrainOptions &train, std::string &error);

/// What `pmc-opt compile` and `pmc._compiler.compile` do.
struct CompileOptions {
  /// "cpu" or "cuda" (compile-only here: PTX and launches, docs/design/bundle.md).
  std::string target = "cpu";
  /// Device count. Above 1 the module is partitioned (docs/design/parallel.md).
  int devices = 1;
  /// `--mesh dp=2,tp=2`: named axes, in order; empty = let
  /// `pmc-default-sharding` choose (data parallel over all devices).
  std::vector<std::pair<std::string, int64_t>> mesh;
  /// `--shard NAME=DIMS`: per graph input or weight (ONNX initializer) name,
  /// the mesh axes of each dimension (missing trailing dimensions replicate).
  std::vector<std::pair<std::string, std::vector<std::vector<std::string>>>> shardings;
  /// Without mesh/shardings: "auto" (pmc-auto-sharding, docs/design/planner.md)
  /// or "default" (pmc-default-sharding: data parallel over the batch).
  std::string plan = "auto";
  /// The planner's device spec (built-in name or JSON path); empty = h100-sxm
  /// for --target cuda, cpu for --target cpu.
  std::string deviceSpec;
  /// `--dtype`: "fp32" (default), "bf16" or "fp16": weights and compute in
  /// that type, reductions, softmax and LayerNorm statistics in f32, graph
  /// inputs and outputs unchanged (pmc-convert-precision).
  std::string dtype = "fp32";
  /// `--stages K` (K >= 2): a hand-made pipeline of K stages cut evenly by
  /// estimated FLOPs (docs/design/pipeline.md); 0 = no pipeline unless the
  /// planner chooses one. The mesh gets `pp=K` first when `mesh` lacks it;
  /// without `mesh` it is `pp=K,dp=devices/K` (dp over the batch).
  int stages = 0;
  /// `--microbatches M`: microbatches of the batch per step (needs stages).
  int microbatches = 1;
  /// `--schedule gpipe|1f1b`: the pipeline schedule the runtime follows.
  std::string schedule = "1f1b";
  /// `--bucket-mb`: independent all-reduces (a train step's gradient sync)
  /// are combined into buckets of at most this many bytes
  /// (pmc-combine-all-reduces, PyTorch DDP's bucket_cap_mb); 0: none.
  int64_t bucketBytes = 0;
  /// Stop after planning (no propagation/partitioning): `--emit plan`.
  bool planOnly = false;
  /// Input shapes and bound inputs for the ONNX importer.
  ImportOptions import;
  /// Code generation of the CPU kernels.
  CPUTargetOptions cpu;
  /// Code generation of the CUDA kernels (--target cuda).
  CUDATargetOptions cuda;
  /// Compile a train step instead of the forward pass.
  TrainOptions train;
};

/// Parses `--input-shape` values (`x=1x128`, or several joined by commas) into
/// `options.inputShapes`; on a malformed value returns false and sets `error`.
bool parseInputShapes(const std::vector<std::string> &values,
                      ImportOptions &options, std::string &error);

/// Parses `--sequence-length` values (`name=N`, or several joined by commas)
/// into `options.sequenceLengths` and `--absent` names into
/// `options.absentInputs`; on a malformed value returns false and sets `error`.
bool parseSequenceInputs(const std::vector<std::string> &lengths,
                         const std::vector<std::string> &absent, ImportOptions &options,
                         std::string &error);

/// Reads `--bind` values (`name=value.npy`) into `options.boundInputs`; on a
/// malformed value or an unreadable file returns false and sets `error`.
bool parseBindings(const std::vector<std::string> &values, ImportOptions &options,
                   std::string &error);

/// Hook that may add instrumentation (IR printing, timing) to each pass
/// manager the compiler runs.
using PassManagerConfigurator = llvm::function_ref<mlir::LogicalResult(mlir::PassManager &)>;

/// Parses `--mesh dp=2,tp=2` into `options.mesh`; on a malformed value
/// returns false and sets `error`.
bool parseMesh(const std::string &value, CompileOptions &options, std::string &error);

/// Parses `--shard NAME=DIMS` values (`w_fc=,tp`: dimensions separated by
/// commas, each a `+`-joined list of mesh axes, empty = replicated) into
/// `options.shardings`; on a malformed value returns false and sets `error`.
bool parseShardings(const std::vector<std::string> &values, CompileOptions &options,
                    std::string &error);

/// Checks the mesh and the shardings of `options` as structured values (from
/// Python or parsed from flags): axis names, positive sizes, no axis or
/// tensor twice. On a bad value returns false and sets `error`.
bool checkMeshAndShardings(const CompileOptions &options, std::string &error);

/// True when `options` asks for a partitioned program (several devices, or a
/// mesh or shardings given explicitly).
bool isMultiDevice(const CompileOptions &options);

/// The mesh a compilation uses: `options.mesh`, with `pp=stages` prepended
/// when `options.stages` > 1 and the mesh lacks it, or `pp=K,dp=devices/K`
/// (dp omitted when 1) when stages are given without a mesh.
std::vector<std::pair<std::string, int64_t>> effectiveMesh(const CompileOptions &options);

/// Plans and partitions `module` for `options` in one pass manager: the plan
/// source (pmc-auto-sharding, pmc-default-sharding, pmc-apply-shardings
/// with pmc-annotate-pipeline for --stages, or pmc-random-plan), then
/// pmc-partition-program. A no-op for one device, and for a module that
/// already has a `pmc.mesh` when no mesh or shardings are given (pmc-dialect
/// input that is partitioned already: SPMD, local shapes) unless it is a
/// planned, unpartitioned pipeline.
mlir::LogicalResult partitionModule(mlir::ModuleOp module, const CompileOptions &options,
                                    PassManagerConfigurator configure = nullptr);


/// Fails with a diagnostic at `loc` when `options` asks for something this
/// version cannot do (another target, several devices).
mlir::LogicalResult checkCompileOptions(mlir::Location loc,
                                        const CompileOptions &options);

/// Loads `path`: `.onnx` through the ONNX importer, `.mlir` parsed as a module
/// in the pmc dialect. Diagnostics go to the context; null on failure.
mlir::OwningOpRef<mlir::ModuleOp> loadModel(mlir::MLIRContext &context,
                                            const std::string &path,
                                            const ImportOptions &options);

/// With `options.train.enabled`, rewrites @main into one optimizer step
/// (pmc-train-step) once; a no-op otherwise. Runs first, before precision
/// conversion and partitioning, so that the whole step is planned.
mlir::LogicalResult buildTrainStep(mlir::ModuleOp module, const CompileOptions &options,
                                   PassManagerConfigurator configure = nullptr);

/// Runs pmc-convert-precision for `options.dtype` (nothing for fp32). It runs
/// before partitioning, so that collectives move the narrow type.
mlir::LogicalResult convertPrecision(mlir::ModuleOp module, const CompileOptions &options,
                                     PassManagerConfigurator configure = nullptr);

/// Combines independent all-reduces into buckets of `bucketBytes`
/// (pmc-combine-all-reduces), splits @main into kernels (pmc-outline-kernels),
/// starts every reduction where its input is ready (pmc-hoist-collectives)
/// and, when `lowerKernels`, lowers the kernels to linalg
/// (pmc-convert-to-linalg): the module `pmc-opt compile --emit mlir` prints.
/// `target` ("cpu", "cuda") decides which matmul epilogues are folded (erf
/// GELU on cpu only).
mlir::LogicalResult outlineAndLower(mlir::ModuleOp module, bool lowerKernels,
                                    PassManagerConfigurator configure = nullptr,
                                    llvm::StringRef target = "cpu",
                                    int64_t bucketBytes = 0);

/// Compiles a pmc-dialect module (@main) into the bundle at `bundlePath`:
/// outlining, kernel code generation, manifest and program. Diagnostics go to
/// the module's context.
mlir::LogicalResult compileModuleToBundle(mlir::ModuleOp module,
                                          const CompileOptions &options,
                                          const std::string &bundlePath,
                                          PassManagerConfigurator configure = nullptr);

/// Everything from a model file to a bundle file in a fresh context, with
/// the diagnostics collected as `file:line:col: error: ...` text (for Python).
/// Example: `compileModelFile("mlp.onnx", "mlp.pmc", {}, diagnostics)`.
bool compileModelFile(const std::string &modelPath, const std::string &bundlePath,
                      const CompileOptions &options, std::string &diagnostics);

/// Imports a model file and runs only the planner (pmc-auto-sharding for
/// options.devices and options.deviceSpec); `planJSON` receives the plan
/// JSON (docs/design/planner.md). Diagnostics are collected as text.
bool planModelFile(const std::string &modelPath, const CompileOptions &options,
                   std::string &planJSON, std::string &diagnostics);

/// Imports a model file and prints it in the pmc dialect into `text`; the
/// diagnostics are collected as text.
bool importModelToText(const std::string &modelPath, const ImportOptions &options,
                       std::string &text, std::string &diagnostics);

} // namespace pmc

#endif // PMC_DRIVER_COMPILER_H
