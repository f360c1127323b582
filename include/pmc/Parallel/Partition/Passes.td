//===- Passes.td - sharding propagation and SPMD partitioning ---*- tablegen -*-===//
//
// Where collectives are inserted: propagation completes a plan's shardings,
// the partitioner rewrites the program per rank with the resharding
// collectives, pipelines are split into stages with transfers between them
// (docs/design/parallel.md, docs/design/pipeline.md).
//
#ifndef PMC_PARALLEL_PARTITION_PASSES_TD
#define PMC_PARALLEL_PARTITION_PASSES_TD

include "mlir/Pass/PassBase.td"

def PMCPartition : Pass<"pmc-partition", "ModuleOp"> {
  let summary = "SPMD partitioning: rewrites annotated functions to per-rank local shapes";
  let description = [{
    Input: a module with `pmc.mesh`, function arguments/results annotated with
    `pmc.sharding` and op results with `pmc.shardings` (what sharding
    propagation produces; absent annotations mean replicated). Output: the
    same functions computing one rank's local blocks, with the collectives
    (`pmc.all_reduce`, `pmc.all_gather`, `pmc.reduce_scatter`,
    `pmc.all_to_all`) and local slices (`pmc.shard`) that the shardings imply.
    Argument and result `pmc.sharding` attributes stay (with the local type
    and the mesh they give the global shape); op annotations are removed.

    Per op: its sharding rule (ShardingRuleOpInterface) gives each factor the
    mesh axes of the annotated result (Reduction factors: the result's partial
    axes, or the operands' current split); every operand is resharded to the
    sharding its factors imply (the cheapest plan, see Reshard.h); the op gets
    local result types; a result whose annotation differs from what the op
    produced is resharded right after it. Ops without a rule, and constants,
    compute on replicated operands; a sharded constant becomes
    `pmc.shard(pmc.constant)`, which the bundle writer stores as per-rank
    weights. Function results are resharded to their annotation, which must
    not be partial.

    Megatron MLP on `#pmc.mesh<["tp"=2]>`, before:
    ```mlir
    func.func @main(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
      %w1 = pmc.constant {pmc.shardings = [#pmc.sharding<[{}, {"tp"} ]> ]} dense_resource<w1> : tensor<8x16xf32>
      %w2 = pmc.constant {pmc.shardings = [#pmc.sharding<[{"tp"}, {} ]> ]} dense_resource<w2> : tensor<16x8xf32>
      %h = pmc.matmul %x, %w1 {pmc.shardings = [#pmc.sharding<[{}, {"tp"} ]> ]} : (tensor<4x8xf32>, tensor<8x16xf32>) -> tensor<4x16xf32>
      %r = pmc.relu %h {pmc.shardings = [#pmc.sharding<[{}, {"tp"} ]> ]} : tensor<4x16xf32>
      %y = pmc.matmul %r, %w2 {pmc.shardings = [#pmc.sharding<[{}, {} ], partial_sum = {"tp"}> ]} : (tensor<4x16xf32>, tensor<16x8xf32>) -> tensor<4x8xf32>
      return %y : tensor<4x8xf32>
    }
    ```
    After:
    ```mlir
    func.func @main(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
      %w1 = pmc.constant dense_resource<w1> : tensor<8x16xf32>
      %s1 = pmc.shard %w1 {sharding = #pmc.sharding<[{}, {"tp"} ]>} : tensor<8x16xf32> to tensor<8x8xf32>
      %w2 = pmc.constant dense_resource<w2> : tensor<16x8xf32>
      %s2 = pmc.shard %w2 {sharding = #pmc.sharding<[{"tp"}, {} ]>} : tensor<16x8xf32> to tensor<8x8xf32>
      %h = pmc.matmul %x, %s1 : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
      %r = pmc.relu %h : tensor<4x8xf32>
      %y = pmc.matmul %r, %s2 : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
      %a = pmc.all_reduce %y {axes = ["tp"], reduction = "sum"} : tensor<4x8xf32>
      return %a : tensor<4x8xf32>
    }
    ```
    Errors (a partial function argument or result, a sharding that does not
    divide a dimension, an already partitioned input, a missing mesh) name the
    op or argument and the problem.
  }];
}

//===----------------------------------------------------------------------===//
// Sharding: rules, propagation, the default plan
//===----------------------------------------------------------------------===//

def PMCTestPrintShardingRules : Pass<"pmc-test-print-sharding-rules"> {
  let summary = "Test: annotates every pmc op with its sharding rule";
  let description = [{
    Sets `pmc.sharding_rule` on every op of the pmc dialect to its rule as
    printed by `ShardingRule::print`, or to "none" for an op without one
    (collectives, `pmc.shard`), so FileCheck can check every rule:
    ```mlir
    %y = pmc.matmul %x, %w {pmc.sharding_rule = "([i, j], [j, k]) -> ([i, k]) {i=8, j=16, k=4} reduction={j}"}
    ```
  }];
}

def PMCShardingPropagation : Pass<"pmc-sharding-propagation", "ModuleOp"> {
  let summary = "Completes the user's shardings through every op's sharding rule";
  let description = [{
    Input: a module with `pmc.mesh` and some shardings written by the user:
    `pmc.sharding` on function arguments (and results), `pmc.shardings` on ops
    (one per result, e.g. on a `pmc.constant` weight). Output: every argument,
    every result of every function and every op result annotated.

    First the annotations are checked: the mesh exists, every axis is one of
    its axes and is used once per value, dimensions divide, the rank matches,
    arguments and results are not partial, and a value has no two different
    user shardings (a value returned twice, or annotated on its op and on the
    function result). Each error names the value and the problem.

    Propagation works on factors (see ShardingRule.h). For an op, every known
    operand/result sharding is projected onto the factors (a dimension's axes
    go to its factors major first, while they divide the factor); for each
    factor one candidate axis list is chosen, and the new shardings are built
    back from the factors. Whole factors are never split; Reduction factors
    split by an operand make the results `partial_sum`/`partial_max` on their
    axes (what the op will produce: the partitioner decides where to
    all-reduce).

    Priority, in order:
    1. User annotations are never changed.
    2. Per factor: a replicated dimension says nothing about the factor; a
       candidate from a user-annotated value beats a propagated one;
       compatible candidates (one a prefix of the other) merge into the
       longer one; between conflicting ones the one with more axes wins, then
       the first in operand order (operands before results).
    3. Within one op, an axis goes to one factor: user-sourced factors first,
       then in rule order; later factors are cut before an axis already taken,
       so no value uses an axis twice.
    4. A propagated value is only ever refined (axes appended to dimensions,
       partial axes added); a sharding that conflicts with what it already
       holds is dropped (the partitioner reshards at that op). Each round is a
       forward sweep (ops in program order, results updated from operands)
       then a backward sweep (reverse order, operands updated from results),
       so forward information is placed first; rounds repeat to a fixed point.
    5. Function results take their producer's sharding without partial axes
       (outputs are never partial); values with no information end replicated.
       Ops without a rule (collectives, `pmc.shard`, calls) stop propagation.

    The walk order is fixed, so the same input gives the same output.

    Example (mesh `tp=2`; w1 column-, w2 row-sharded by the user):
    ```mlir
    %h = pmc.matmul %x, %w1 : (tensor<8x16xf32>, tensor<16x32xf32>) -> tensor<8x32xf32>
    %g = pmc.gelu %h : tensor<8x32xf32>
    %y = pmc.matmul %g, %w2 : (tensor<8x32xf32>, tensor<32x16xf32>) -> tensor<8x16xf32>
    ```
    gets `%h` and `%g` split over tp on their columns and `%y` a pending sum
    over tp (`partial_sum = {"tp"}`): Megatron's MLP.

    With `debug-sharding-origins`
    (`pmc-opt --pmc-sharding-propagation="debug-sharding-origins"`), every value
    also records where its sharding came from: `pmc.sharding_origin` on
    arguments and results, `pmc.sharding_origins` (one per result) on ops:
    `"user: argument 0 'x'"`, `"forward through pmc.matmul: tp from
    pmc.constant 'w1'"`, `"backward through pmc.add: tp from pmc.constant
    'w1'"`, `"no information: replicated"`, `"returned pmc.add #8 (...)"`.
    Values are named by `pmc.name` (arguments) or their op's name location,
    else by the op's position in the function.
  }];
  let options = [
    Option<"debugShardingOrigins", "debug-sharding-origins", "bool",
           /*default=*/"false",
           "Annotate every value with the origin of its sharding">,
  ];
  let dependentDialects = ["::mlir::pmc::PMCDialect"];
}

def PMCDefaultSharding : Pass<"pmc-default-sharding", "ModuleOp"> {
  let summary = "The default plan for --devices N: data parallel over the batch";
  let description = [{
    For a module without `pmc.mesh`: sets `pmc.mesh = #pmc.mesh<["dp"=N]>` and
    shards dimension 0 of every function argument of rank >= 1 whose size N
    divides over `dp`; other arguments stay replicated. Records the plan in
    the module attribute `pmc.plan` (shown by the driver in `exe.plan`):
    `"data parallel over the batch dimension (dp=4)"`, or
    `"replicated: no input batch divisible by 4"`. A module that already has a
    mesh is left alone (the user's plan wins); sharding annotations without a
    mesh are an error.
    Run `pmc-sharding-propagation` afterwards to complete the shardings.
  }];
  let options = [
    Option<"devices", "devices", "int64_t", /*default=*/"1",
           "Number of devices (the size of the dp axis)">,
  ];
  let dependentDialects = ["::mlir::pmc::PMCDialect"];
}

def PMCEvenStages : Pass<"pmc-even-stages", "ModuleOp"> {
  let summary = "Cuts @main into pipeline stages of about equal estimated FLOPs";
  let description = [{
    What `pmc-opt compile --stages K` does before partitioning: walks `@main`
    in program order and sets `pmc.stage` on every op but constants and the
    terminator, so that each of the K stages gets a contiguous run of ops with
    about 1/K of the estimated FLOPs (2·m·n·k for a matmul, 2·output·(input
    channels / group)·kernel size for a convolution, one per result element
    otherwise) and at least one op. Program order makes the stages
    non-decreasing along every use-def edge. Fails when @main has fewer ops
    than stages.

    Before (`--pmc-even-stages=stages=2`):
    ```mlir
    %h = pmc.matmul %x, %w1 : (tensor<8x16xf32>, tensor<16x16xf32>) -> tensor<8x16xf32>
    %r = pmc.relu %h : tensor<8x16xf32>
    %y = pmc.matmul %r, %w2 : (tensor<8x16xf32>, tensor<16x16xf32>) -> tensor<8x16xf32>
    ```
    After: the first matmul has `pmc.stage = 0`, the relu and the second matmul
    `pmc.stage = 1` (the FLOPs are 4096, 128 and 4096; the relu's midpoint lies
    past half of the total).
  }];
  let options = [
    Option<"stages", "stages", "int64_t", /*default=*/"2",
           "Number of pipeline stages">,
  ];
}

def PMCPartitionProgram : Pass<"pmc-partition-program", "ModuleOp"> {
  let summary = "Partitions a planned module: pipeline-aware when it has pmc.pipeline";
  let description = [{
    The step after planning (a planner, pmc-default-sharding, the user's
    annotations, pmc-random-plan): a module with `pmc.pipeline` runs the
    nested pipeline `pmc-partition-pipeline,pmc-split-stages`, any other
    `pmc-sharding-propagation,pmc-partition`. The nested passes show in
    `--mlir-print-ir-after-all` like any other.
    ```
    pmc-opt planned.mlir --pmc-partition-program
    ```
  }];
}

def PMCPartitionPipeline : Pass<"pmc-partition-pipeline", "ModuleOp"> {
  let summary = "SPMD partitioning of a pipeline: microbatches as a virtual mesh axis";
  let description = [{
    Runs on a module with `pmc.pipeline = {stages, microbatches, schedule}`,
    a mesh whose first axis is `pp` and `pmc.stage` on the ops of `@main`
    (set by pmc-auto-sharding, pmc-random-plan or `--stages`); a module
    without `pmc.pipeline` is left alone. Then (docs/design/pipeline.md,
    "Compiler"):
    1. the microbatches M become a mesh axis `mb` (after `pp`) splitting dim 0
       of every input of the batch's size;
    2. pmc-sharding-propagation and pmc-partition run as a nested pipeline;
    3. a collective over `mb` means the model mixes the examples of a batch:
       an error naming the op for a user's plan; a planner's or random plan
       is partitioned again with one microbatch (`pmc.plan_explain` says so);
    4. `mb` leaves the mesh and the shardings; batched arguments and results
       get `pmc.microbatched`. pmc-split-stages then inserts the transfers.

    Before (M = 2 on a pp=2 mesh):
    ```mlir
    module attributes {pmc.mesh = #pmc.mesh<["pp" = 2]>,
                       pmc.pipeline = {microbatches = 2 : i64, schedule = "1f1b", stages = 2 : i64}} {
      func.func @main(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
        %a = pmc.relu %x {pmc.stage = 0 : i64} : tensor<4x8xf32>
        %b = pmc.exp %a {pmc.stage = 1 : i64} : tensor<4x8xf32>
        return %b : tensor<4x8xf32>
    ```
    After (one microbatch's local shapes):
    ```mlir
      func.func @main(%x: tensor<2x8xf32> {pmc.microbatched, ...}) -> (tensor<2x8xf32> {pmc.microbatched, ...})
    ```
  }];
}

def PMCSplitStages : Pass<"pmc-split-stages", "ModuleOp"> {
  let summary = "Completes pipeline stages and inserts pmc.transfer between them";
  let description = [{
    Runs after `pmc-partition` on a module whose `@main` ops carry `pmc.stage`
    (docs/design/pipeline.md, "Concrete contract"):
    1. ops without a stage (collectives and slices the partitioner created)
       get the smallest stage of their users, but never less than the largest
       stage of their operands; a value only returned keeps its producer's;
    2. a constant used by several stages is cloned once per stage (each clone
       carries its stage), so weights live only in the stages that read them;
    3. every value computed by stage s and used by a stage t > s is moved by one
       `%y = pmc.transfer %x {from_stage = s, to_stage = t}` (per value and t,
       right after its producer, with `pmc.stage = t`); the users in stage t
       read `%y`.
    It fails, naming the op and the operand, when a use reads a later stage.
    `@main` stays one function; pmc-lower-to-runtime-program splits it into
    the programs of the stages.

    Before:
    ```mlir
    %w = pmc.constant dense<1.0> : tensor<16xf32>
    %a = pmc.add %x, %w {pmc.stage = 0 : i64} : (tensor<16xf32>, tensor<16xf32>) -> tensor<16xf32>
    %g = pmc.all_gather %a {axes = ["tp"], dim = 0 : i64} : tensor<16xf32> to tensor<32xf32>
    %b = pmc.mul %g, %g {pmc.stage = 1 : i64} : (tensor<32xf32>, tensor<32xf32>) -> tensor<32xf32>
    %c = pmc.add %a, %w {pmc.stage = 1 : i64} : (tensor<16xf32>, tensor<16xf32>) -> tensor<16xf32>
    ```
    After:
    ```mlir
    %w0 = pmc.constant {pmc.stage = 0 : i64} dense<1.0> : tensor<16xf32>
    %w1 = pmc.constant {pmc.stage = 1 : i64} dense<1.0> : tensor<16xf32>
    %a = pmc.add %x, %w0 {pmc.stage = 0 : i64} : (tensor<16xf32>, tensor<16xf32>) -> tensor<16xf32>
    %t = pmc.transfer %a {from_stage = 0 : i64, to_stage = 1 : i64, pmc.stage = 1 : i64} : tensor<16xf32>
    %g = pmc.all_gather %t {axes = ["tp"], dim = 0 : i64, pmc.stage = 1 : i64} : tensor<16xf32> to tensor<32xf32>
    %b = pmc.mul %g, %g {pmc.stage = 1 : i64} : (tensor<32xf32>, tensor<32xf32>) -> tensor<32xf32>
    %c = pmc.add %t, %w1 {pmc.stage = 1 : i64} : (tensor<16xf32>, tensor<16xf32>) -> tensor<16xf32>
    ```
  }];
}

def PMCCombineAllReduces : Pass<"pmc-combine-all-reduces", "ModuleOp"> {
  let summary = "Buckets independent all-reduces into one collective per bucket";
  let description = [{
    After partitioning: all-reduces of one block over the same axes, with the
    same reduction and element type, none of whose results is needed before
    the last of their inputs is ready, are packed into buckets of at most
    `bucket-bytes` (PyTorch DDP's `bucket_cap_mb`, 25 MiB): the inputs are
    flattened and concatenated, reduced by one all-reduce placed where the last
    input is ready, and the results are sliced out right before the first use
    of any of them (the runtime waits for a collective only before the first
    reader of its result, so the bucket overlaps the commands in between; the
    bucket's reduction is freed at the slices).
    The data-parallel gradient sync of a train step becomes a few large
    collectives started during the backward pass. `bucket-bytes=0` combines
    nothing.
    Before:
    ```mlir
    %g1 = pmc.matmul %a, %b {transpose_a} : ... -> tensor<4x8xf32>
    %r1 = pmc.all_reduce %g1 {axes = ["dp"]} : tensor<4x8xf32>
    %g2 = pmc.reduce_sum %c ... -> tensor<8xf32>
    %r2 = pmc.all_reduce %g2 {axes = ["dp"]} : tensor<8xf32>
    ... uses of %r1 and %r2
    ```
    After:
    ```mlir
    %f1 = pmc.reshape %g1 : tensor<4x8xf32> to tensor<32xf32>
    %cat = pmc.concat %f1, %g2 {axis = 0 : i64} : (tensor<32xf32>, tensor<8xf32>) -> tensor<40xf32>
    %red = pmc.all_reduce %cat {axes = ["dp"]} : tensor<40xf32>
    ...
    %s1 = pmc.slice %red {starts = array<i64: 0>, steps = array<i64: 1>} : tensor<40xf32> to tensor<32xf32>
    %r1 = pmc.reshape %s1 : tensor<32xf32> to tensor<4x8xf32>
    ... uses of %r1
    %r2 = pmc.slice %red {starts = array<i64: 32>, steps = array<i64: 1>} : tensor<40xf32> to tensor<8xf32>
    ... uses of %r2
    ```
  }];
  let options = [
    Option<"bucketBytes", "bucket-bytes", "int64_t", /*default=*/"26214400",
           "Largest bucket in bytes (a larger all-reduce stays alone); 0: none">,
  ];
  let dependentDialects = ["::mlir::pmc::PMCDialect"];
}

def PMCHoistCollectives : Pass<"pmc-hoist-collectives", "ModuleOp"> {
  let summary = "Starts each all-reduce and reduce-scatter as soon as its input is ready";
  let description = [{
    Moves every `pmc.all_reduce` and `pmc.reduce_scatter` up to right after
    the op that defines its input (the start of the block for an argument).
    The runtime waits for a collective only before the first command that
    reads its result, so a gradient reduced where it is computed overlaps the
    rest of the backward pass instead of waiting at the optimizer. All-gathers
    and all-to-alls stay where they are: hoisting them would hold their
    larger results longer (ZeRO-3 gathers a parameter right before its use).
    Every rank runs the same program, so every rank still enters the
    collectives in the same order.
    ```mlir
    %g = pmc.matmul %a, %b {transpose_a} : ... -> tensor<4x8xf32>
    %y = call @kernel_3(%x) : ...            // unrelated work
    %r = pmc.all_reduce %g {axes = ["dp"]} : tensor<4x8xf32>
    ```
    becomes
    ```mlir
    %g = pmc.matmul %a, %b {transpose_a} : ... -> tensor<4x8xf32>
    %r = pmc.all_reduce %g {axes = ["dp"]} : tensor<4x8xf32>
    %y = call @kernel_3(%x) : ...
    ```
  }];
}

#endif // PMC_PARALLEL_PARTITION_PASSES_TD
