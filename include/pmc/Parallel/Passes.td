//===- Passes.td - automatic parallelization passes ------*- tablegen -*-===//
#ifndef PMC_PARALLEL_PASSES_TD
#define PMC_PARALLEL_PASSES_TD

include "mlir/Pass/PassBase.td"

def PMCAutoSharding : Pass<"pmc-auto-sharding", "ModuleOp"> {
  let summary = "Chooses the mesh and the shardings of weights and inputs for N devices";
  let description = [{
    For a module without `pmc.mesh`: searches every mesh `dp x tp = devices`
    and, per mesh, a sharding of every weight (a `pmc.constant` of rank >= 2
    feeding a matmul or conv: replicated, or one of its two contracting /
    output dimensions split over `tp`), with the graph inputs' batch dimension
    split over `dp`. Each candidate is completed by sharding propagation on a
    clone and scored by the cost model (docs/design/cost-model.md) for the
    device spec; plans whose memory per device exceeds the spec's are
    rejected. With `pipeline` (default), plans with `pp` stages are searched
    too: the layers of `@main` are cut into K contiguous stages by dynamic
    programming, each stage on a sub-mesh of devices / K, with M
    microbatches and the `gpipe` or `1f1b` schedule; such a plan also sets
    `pmc.pipeline` and `pmc.stage` on every op (docs/design/pipeline.md).
    The best is annotated on the module exactly as `--mesh/--shard`
    would (`pmc.mesh`, `pmc.sharding` on arguments, `pmc.shardings` on
    weights); run `pmc-sharding-propagation` and `pmc-partition` afterwards.

    The plan is recorded in module attributes: `pmc.plan` (one line),
    `pmc.plan_source = "auto"`, `pmc.plan_json` (the plan JSON of
    docs/design/planner.md) and `pmc.plan_explain` (what `--explain` prints).

    ```
    pmc-opt model.mlir --pmc-auto-sharding="devices=8 spec=h100-sxm"
    ```
  }];
  let options = [
    Option<"devices", "devices", "int64_t", /*default=*/"1", "Number of devices">,
    Option<"spec", "spec", "std::string", /*default=*/"\"h100-sxm\"",
           "Built-in device spec name or a spec JSON file">,
    Option<"search", "search", "std::string", /*default=*/"\"auto\"",
           "auto (exact when small, else coordinate descent over layer classes) "
           "or exhaustive (every per-weight combination; for tests)">,
    Option<"pipeline", "pipeline", "bool", /*default=*/"true",
           "Also search pipelines: stage cuts over the layers, microbatches "
           "and schedules (docs/design/planner.md)">,
    Option<"maxMicrobatches", "max-microbatches", "int64_t", /*default=*/"16",
           "The largest number of microbatches a pipeline plan may use">,
    Option<"bucketBytes", "bucket-bytes", "int64_t", /*default=*/"0",
           "The gradient buckets the program will have (pmc-combine-all-reduces), "
           "for the memory estimate">,
    Option<"allowTF32", "allow-tf32", "bool", /*default=*/"false",
           "Score f32 matmuls at the TF32 peak">,
    Option<"zero", "zero", "int64_t", /*default=*/"-1",
           "A train step's ZeRO stage (0-3: optimizer state, + gradients, + "
           "parameters split over dp); -1: every stage is scored">,
  ];
  let dependentDialects = ["::mlir::pmc::PMCDialect"];
}

def PMCApplyShardings : Pass<"pmc-apply-shardings", "ModuleOp"> {
  let summary = "Applies a plan given by hand: the mesh and the shardings of named inputs and weights";
  let description = [{
    What `pmc-opt compile --mesh ... --shard ...` and `pmc.compile(mesh=,
    shardings=)` do (include/pmc/Parallel/UserPlan.h): sets `pmc.mesh`, the
    `pmc.sharding` of the named graph inputs (`pmc.name`) and `pmc.shardings`
    of the named weights (the `pmc.constant` named after its initializer),
    `pmc.plan` and `pmc.plan_source = "user"`. Propagation completes the rest.
    ```
    pmc-opt model.mlir --pmc-apply-shardings="mesh=dp=2,tp=2 shard={w_fc=,tp},x=dp"
    ```
    After it the module reads
    `module attributes {pmc.mesh = #pmc.mesh<["dp"=2, "tp"=2]>, pmc.plan =
    "mesh dp=2,tp=2; w_fc=,tp; x=dp", pmc.plan_source = "user"}` and `%x`
    carries `pmc.sharding` with `"dp"` on its first dimension
    (test/Parallel/apply-shardings.mlir).
  }];
  let options = [
    Option<"mesh", "mesh", "std::string", /*default=*/"\"\"",
           "The mesh, AXIS=SIZE,... (empty: nothing to apply)">,
    ListOption<"shard", "shard", "std::string",
               "NAME=DIMS entries, each in braces when it has commas: {w=,tp},x=dp">,
    Option<"zero", "zero", "int64_t", /*default=*/"0",
           "A train step's ZeRO stage over dp (include/pmc/Parallel/TrainingState.h)">,
  ];
  let dependentDialects = ["::mlir::pmc::PMCDialect"];
}

def PMCAnnotatePipeline : Pass<"pmc-annotate-pipeline", "ModuleOp"> {
  let summary = "A pipeline made by hand (--stages): pmc.pipeline and an even cut of @main";
  let description = [{
    Sets `pmc.pipeline = {stages, microbatches, schedule}` and cuts @main
    into `stages` stages of about equal FLOPs (pmc.stage on the ops, as
    pmc-even-stages does); with `data-parallel` the batch dimension of every
    input divisible by the mesh's `dp` is split over it. Runs after the mesh
    (with its `pp` axis) is set; pmc-partition-program partitions the result.
    ```
    pmc-opt model.mlir --pmc-apply-shardings="mesh=pp=2,dp=2" --pmc-annotate-pipeline="stages=2 microbatches=4"
    ```
  }];
  let options = [
    Option<"stages", "stages", "int64_t", /*default=*/"2", "Pipeline stages">,
    Option<"microbatches", "microbatches", "int64_t", /*default=*/"1",
           "Microbatches per step">,
    Option<"schedule", "schedule", "std::string", /*default=*/"\"1f1b\"",
           "gpipe or 1f1b">,
    Option<"dataParallel", "data-parallel", "bool", /*default=*/"true",
           "Split the batch of the inputs over the mesh's dp axis">,
  ];
  let dependentDialects = ["::mlir::pmc::PMCDialect"];
}

def PMCRandomPlan : Pass<"pmc-random-plan", "ModuleOp"> {
  let summary = "Draws a random legal plan (mesh, shardings, pipeline) for differential tests";
  let description = [{
    For a module without `pmc.mesh`: draws a mesh for `devices` (a random
    ordered factorization into axes `a`, `b`, `c`, behind a `pp` axis when it
    draws a pipeline), a random sharding for graph inputs and results, and,
    for a random share of the ops (the density is drawn too), a random split
    of the factors of the op's own sharding rule: Parallel factors (batch,
    channels, heads, groups, compound reshape factors) and Reduction factors
    (matmul contraction, conv input channels, reduced dims, whose results
    are then annotated partial). Every split is checked by the one legality
    check of the partitioner (`ShardingRule::whyIllegal`), so the plan is
    always buildable; sharding propagation completes what is not drawn. A
    pipeline gets 2..4 stages (dividing `devices`) cut before random ops,
    1..4 microbatches dividing the batch and a random schedule.

    Each op's choice is drawn from `seed` and the op's identity (its
    location name, its rank among the ops of that location, its name), not
    from a shared stream, so cutting other ops out of the model (the
    shrinker of test/plans does) leaves the choice unchanged.

    ```
    pmc-opt model.mlir --pmc-random-plan="devices=4 seed=17"
    pmc-opt compile model.onnx --devices 4 --plan random --plan-seed 17 --verify
    ```
    Before (devices=2): `%y = pmc.matmul %x, %w : (tensor<4x8xf32>, tensor<8x16xf32>)
    -> tensor<4x16xf32>`. After, for a seed that splits the contraction: the
    module gets `pmc.mesh = #pmc.mesh<["a"=2]>` and the matmul the annotation
    `pmc.shardings` holding a replicated sharding with `partial_sum = {"a"}`, what
    `--explain` prints as `pmc.matmul: reduction 8 over {a}`.
    The drawn plan is described in `pmc.plan` and `pmc.plan_explain` (what
    `--explain` prints: the mesh, the pipeline, every drawn split).
  }];
  let options = [
    Option<"devices", "devices", "int64_t", /*default=*/"2", "Number of devices">,
    Option<"seed", "seed", "uint64_t", /*default=*/"0", "Seed of the draw">,
    Option<"stages", "stages", "int64_t", /*default=*/"-1",
           "Pipeline stages: -1 draws (a third of the plans get a pipeline), "
           "0 or 1 none, K >= 2 exactly K">,
  ];
  let dependentDialects = ["::mlir::pmc::PMCDialect"];
}

#endif // PMC_PARALLEL_PASSES_TD
