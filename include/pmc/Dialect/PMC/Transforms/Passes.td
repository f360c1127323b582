//===- Passes.td - passes over the pmc dialect ------------------*- tablegen -*-===//
#ifndef PMC_DIALECT_PMC_TRANSFORMS_PASSES_TD
#define PMC_DIALECT_PMC_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def PMCOutlineKernels : Pass<"pmc-outline-kernels", "ModuleOp"> {
  let summary = "Splits the program into kernels and the commands the runtime runs itself";
  let description = [{
    Walks the entry function in program order. Operators the runtime executes as
    library calls (`pmc.matmul` on float types, `pmc.conv`) and constants stay in
    the entry function; every maximal run of other operators between them is
    outlined into a private function `@kernel_N`, called with `func.call`. Splat
    constants are cloned into the kernel that uses them; other constants are
    passed as arguments (they are weights).

    Before:
    ```mlir
    func.func @main(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
      %w = pmc.constant dense_resource<w> : tensor<8x8xf32>
      %y = pmc.matmul %x, %w : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
      %r = pmc.relu %y : tensor<4x8xf32>
      %e = pmc.exp %r : tensor<4x8xf32>
      return %e : tensor<4x8xf32>
    }
    ```
    After:
    ```mlir
    func.func @main(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
      %w = pmc.constant dense_resource<w> : tensor<8x8xf32>
      %y = pmc.matmul %x, %w : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
      %e = call @kernel_0(%y) : (tensor<4x8xf32>) -> tensor<4x8xf32>
      return %e : tensor<4x8xf32>
    }
    func.func private @kernel_0(%a: tensor<4x8xf32>) -> tensor<4x8xf32> {
      %r = pmc.relu %a : tensor<4x8xf32>
      %e = pmc.exp %r : tensor<4x8xf32>
      return %e : tensor<4x8xf32>
    }
    ```
  }];
  let dependentDialects = ["::mlir::func::FuncDialect"];
}

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

def PMCTestShardingRules : Pass<"pmc-test-sharding-rules", "ModuleOp"> {
  let summary = "Test only: gives matmul, elementwise, softmax and reduce_sum a sharding rule";
  let description = [{
    For tests of sharding-rule consumers (pmc-partition) in builds where the
    ops have no rules yet: attaches minimal ShardingRuleOpInterface models to
    `pmc.matmul`, the elementwise unary and binary ops, `pmc.softmax` and
    `pmc.reduce_sum`. An op that already has a rule keeps it.
  }];
}

#endif // PMC_DIALECT_PMC_TRANSFORMS_PASSES_TD
