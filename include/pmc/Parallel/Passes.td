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
    Option<"allowTF32", "allow-tf32", "bool", /*default=*/"false",
           "Score f32 matmuls at the TF32 peak">,
  ];
  let dependentDialects = ["::mlir::pmc::PMCDialect"];
}

#endif // PMC_PARALLEL_PASSES_TD
