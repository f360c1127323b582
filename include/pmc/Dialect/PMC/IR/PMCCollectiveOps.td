//===- PMCCollectiveOps.td - collectives over mesh axes ---------*- tablegen -*-===//
//
// Inserted by the SPMD partitioner (docs/design/parallel.md). Shapes are local
// (per rank). The group of a rank is the set of ranks that differ from it only
// on `axes`; its position in the group is its coordinate over `axes`, first
// axis major. Group sizes are checked against the module's `pmc.mesh`.
//
#ifndef PMC_COLLECTIVE_OPS_TD
#define PMC_COLLECTIVE_OPS_TD

include "pmc/Dialect/PMC/IR/PMCBase.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "pmc/Dialect/PMC/IR/PMCAttrs.td"
include "pmc/Dialect/PMC/IR/PMCInterfaces.td"

class PMC_CollectiveOp<string mnemonic, list<Trait> traits = []>
    : PMC_Op<mnemonic, traits # [Pure, PMC_CollectiveOpInterface]> {
  let hasVerifier = 1;
  code extraCollectiveDeclaration = [{
    /// The product of the sizes of `axes` in the module's mesh.
    int64_t getGroupSize();
  }];
  let extraClassDeclaration = extraCollectiveDeclaration;
}

def PMC_AllReduceOp : PMC_CollectiveOp<"all_reduce", [SameOperandsAndResultType]> {
  let summary = "sum (or max) of the group's tensors, on every rank of the group";
  let description = [{
    ```mlir
    %r = pmc.all_reduce %x {axes = ["tp"], reduction = "sum"} : tensor<8x16xf32>
    ```
  }];
  let arguments = (ins PMC_AnyTensor:$input, StrArrayAttr:$axes,
                       DefaultValuedStrAttr<StrAttr, "sum">:$reduction);
  let results = (outs PMC_AnyTensor:$output);
  let assemblyFormat = "$input attr-dict `:` type($output)";
}

def PMC_AllGatherOp : PMC_CollectiveOp<"all_gather"> {
  let summary = "concatenation of the group's tensors along `dim`";
  let description = [{
    ```mlir
    %g = pmc.all_gather %x {axes = ["tp"], dim = 1 : i64} : tensor<8x4xf32> to tensor<8x16xf32>
    ```
  }];
  let arguments = (ins PMC_AnyTensor:$input, StrArrayAttr:$axes, I64Attr:$dim);
  let results = (outs PMC_AnyTensor:$output);
  let assemblyFormat = "$input attr-dict `:` type($input) `to` type($output)";
}

def PMC_ReduceScatterOp : PMC_CollectiveOp<"reduce_scatter"> {
  let summary = "sum (or max) over the group, then this rank's slice of `dim`";
  let description = [{
    ```mlir
    %s = pmc.reduce_scatter %x {axes = ["tp"], dim = 0 : i64} : tensor<8x16xf32> to tensor<2x16xf32>
    ```
  }];
  let arguments = (ins PMC_AnyTensor:$input, StrArrayAttr:$axes, I64Attr:$dim,
                       DefaultValuedStrAttr<StrAttr, "sum">:$reduction);
  let results = (outs PMC_AnyTensor:$output);
  let assemblyFormat = "$input attr-dict `:` type($input) `to` type($output)";
}

def PMC_AllToAllOp : PMC_CollectiveOp<"all_to_all"> {
  let summary = "splits `split_dim` over the group, exchanges, concatenates on `concat_dim`";
  let description = [{
    Moves a split from `concat_dim` to `split_dim`:
    ```mlir
    %t = pmc.all_to_all %x {axes = ["tp"], split_dim = 0 : i64, concat_dim = 1 : i64}
        : tensor<8x4xf32> to tensor<2x16xf32>
    ```
  }];
  let arguments = (ins PMC_AnyTensor:$input, StrArrayAttr:$axes, I64Attr:$split_dim,
                       I64Attr:$concat_dim);
  let results = (outs PMC_AnyTensor:$output);
  let assemblyFormat = "$input attr-dict `:` type($input) `to` type($output)";
}

def PMC_ShardOp : PMC_Op<"shard", [Pure,
    DeclareOpInterfaceMethods<PMC_CollectiveOpInterface, ["getMeshAxes"]>]> {
  let summary = "this rank's block of a tensor every rank holds whole (no communication)";
  // (A plain string: the example contains "}]", which ends a [{ }] block.)
  let description =
    "Converts a replicated tensor into the local block of `sharding` (which must "
    "not be partial). A shard of a `pmc.constant` becomes per-rank weights in the "
    "bundle, so each rank stores and reads only its own slice.\n\n"
    "```mlir\n"
    "%l = pmc.shard %w {sharding = #pmc.sharding<[{}, {\"tp\"}]>} : tensor<16x8xf32> to tensor<16x4xf32>\n"
    "```";
  let arguments = (ins PMC_AnyTensor:$input, PMC_ShardingAttr:$sharding);
  let results = (outs PMC_AnyTensor:$output);
  let assemblyFormat = "$input attr-dict `:` type($input) `to` type($output)";
  let hasVerifier = 1;
}

#endif // PMC_COLLECTIVE_OPS_TD
