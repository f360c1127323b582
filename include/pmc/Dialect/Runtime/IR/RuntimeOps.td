//===- RuntimeOps.td - the program a rank of the runtime runs ---*- tablegen -*-===//
//
// What pmc-lower-to-runtime-program makes of the outlined @main, and what the
// bundle writer serializes (docs/design/bundle.md, `rank<R>.program`): one
// `pmcrt.program` per pipeline stage (one in all without a pipeline), holding
// buffers and the commands that read and write them, in order.
//
#ifndef PMC_RUNTIME_OPS_TD
#define PMC_RUNTIME_OPS_TD

include "mlir/IR/OpBase.td"
include "pmc/Dialect/PMC/IR/PMCAttrs.td"

def PMCRT_Dialect : Dialect {
  let name = "pmcrt";
  let cppNamespace = "::mlir::pmcrt";
  let summary = "The rank programs of pmc's runtime: buffers and commands";
  let description = [{
    A rank program in IR form: the runtime (lib/Runtime, no MLIR) executes the
    same program after the bundle writer has serialized it to JSON. Buffers are
    static memrefs defined once (inputs, weights, temps, views); commands name
    the buffers they read and write, and run in order. Each command is one
    runtime step: a generated kernel, a library call (matmul with its
    epilogue, conv), a collective over mesh axes, a send or receive between
    pipeline stages.

    ```mlir
    pmcrt.program stage 0 ranks [0] {
      %x = pmcrt.input 0 : memref<2x4xf32>
      %w = pmcrt.weight 0 = dense<...> : tensor<4x4xf32> -> memref<4x4xf32>
      %b = pmcrt.weight 1 = dense<...> : tensor<4xf32> -> memref<4xf32>
      %y = pmcrt.temp : memref<2x4xf32>
      pmcrt.matmul %x, %w bias %b -> %y {activation = "relu"}
          : memref<2x4xf32>, memref<4x4xf32>, memref<4xf32> -> memref<2x4xf32>
      %z = pmcrt.temp : memref<2x4xf32>
      pmcrt.kernel @kernel_0 ins(%y : memref<2x4xf32>) outs(%z : memref<2x4xf32>)
      pmcrt.outputs %z at [0] : memref<2x4xf32>
    }
    ```
  }];
  let dependentDialects = ["::mlir::pmc::PMCDialect"];
}

class PMCRT_Op<string mnemonic, list<Trait> traits = []>
    : Op<PMCRT_Dialect, mnemonic, traits>;

def PMCRT_Buffer : StaticShapeMemRefOf<[AnyType]>;

//===----------------------------------------------------------------------===//
// The program
//===----------------------------------------------------------------------===//

def PMCRT_ProgramOp : PMCRT_Op<"program", [IsolatedFromAbove, SingleBlock]> {
  let summary = "the program of the ranks of one pipeline stage";
  let description = [{
    Every rank of `ranks` runs the body; they differ only in the blocks of
    sharded weights they hold. Without a pipeline there is one program, of
    stage 0 and all ranks. The body ends with `pmcrt.outputs`.
  }];
  let arguments = (ins I64Attr:$stage, DenseI64ArrayAttr:$ranks);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = "`stage` $stage `ranks` $ranks attr-dict-with-keyword $body";
  let extraClassDeclaration = [{
    /// The body's terminator.
    OutputsOp getOutputs();
  }];
}

def PMCRT_OutputsOp : PMCRT_Op<"outputs", [Terminator, HasParent<"ProgramOp">]> {
  let summary = "the buffers holding the graph outputs this program computes";
  let description = [{
    `values[i]` holds manifest output `positions[i]`; the outputs of other
    pipeline stages are not listed.

    ```mlir
    pmcrt.outputs %z at [0] : memref<2x4xf32>
    ```
  }];
  let arguments = (ins Variadic<PMCRT_Buffer>:$values, DenseI64ArrayAttr:$positions);
  let assemblyFormat = "($values^)? `at` $positions attr-dict (`:` type($values)^)?";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Buffers
//===----------------------------------------------------------------------===//

def PMCRT_InputOp : PMCRT_Op<"input"> {
  let summary = "the feed of manifest input `index`";
  let arguments = (ins I64Attr:$index);
  let results = (outs PMCRT_Buffer:$buffer);
  let assemblyFormat = "$index attr-dict `:` type($buffer)";
}

def PMCRT_WeightOp : PMCRT_Op<"weight"> {
  let summary = "read-only bytes of weight section `w/<index>`";
  let description = [{
    `value` is the whole constant. With `sharding`, the buffer is one rank's
    block of it (its local shape): the bundle writer stores the block of each
    rank as `w/<index>/r<R>`, R being the first rank holding that block.

    ```mlir
    %w = pmcrt.weight 0 = dense<...> : tensor<8x16xf32>
        {sharding = #pmc.sharding<[{}, {"tp"} ]>} -> memref<8x4xf32>
    ```
  }];
  let arguments = (ins I64Attr:$index, ElementsAttr:$value,
                       OptionalAttr<PMC_ShardingAttr>:$sharding);
  let results = (outs PMCRT_Buffer:$buffer);
  let assemblyFormat =
      "$index `=` $value attr-dict `->` type($buffer)";
  let hasVerifier = 1;
}

def PMCRT_TempOp : PMCRT_Op<"temp"> {
  let summary = "a buffer one command writes before others read it";
  let description = [{
    The runtime places temps in one arena by liveness.
  }];
  let results = (outs PMCRT_Buffer:$buffer);
  let assemblyFormat = "attr-dict `:` type($buffer)";
}

def PMCRT_ViewOp : PMCRT_Op<"view"> {
  let summary = "the bytes of a buffer seen with another shape";
  let description = [{
    What `pmc.reshape` becomes; never written through. The source is never a
    view itself.

    ```mlir
    %v = pmcrt.view %t : memref<2x8xf32> to memref<16xf32>
    ```
  }];
  let arguments = (ins PMCRT_Buffer:$source);
  let results = (outs PMCRT_Buffer:$buffer);
  let assemblyFormat = "$source attr-dict `:` type($source) `to` type($buffer)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Commands
//===----------------------------------------------------------------------===//

def PMCRT_KernelOp : PMCRT_Op<"kernel", [AttrSizedOperandSegments]> {
  let summary = "a generated kernel of the bundle's kernel code";
  let description = [{
    Calls the kernel function `callee` (one of pmc-outline-kernels), whose
    parameters are `inputs` then `outputs`. On the cuda target the bundle
    writer expands it into the kernel's launches.

    ```mlir
    pmcrt.kernel @kernel_0 ins(%y : memref<2x4xf32>) outs(%z : memref<2x4xf32>)
    ```
  }];
  let arguments = (ins FlatSymbolRefAttr:$callee, Variadic<PMCRT_Buffer>:$inputs,
                       Variadic<PMCRT_Buffer>:$outputs);
  let assemblyFormat = [{
    $callee (`ins` `(` $inputs^ `:` type($inputs) `)`)?
    `outs` `(` ($outputs^ `:` type($outputs))? `)` attr-dict
  }];
}

def PMCRT_MatmulOp : PMCRT_Op<"matmul"> {
  let summary = "c = activation(op(a) · op(b) + bias), a library call";
  let description = [{
    `op` swaps the last two dimensions when `trans_*` is set; leading
    dimensions broadcast. The epilogue is part of the command: `bias` (shape
    `[n]` or `[1, ..., 1, n]`) is added to every row, then `activation`
    ("none", "relu", "gelu" or "gelu_tanh") is applied.

    ```mlir
    pmcrt.matmul %x, %w bias %b -> %y {activation = "gelu"}
        : memref<2x4xf32>, memref<4x4xf32>, memref<4xf32> -> memref<2x4xf32>
    ```
  }];
  let arguments = (ins PMCRT_Buffer:$a, PMCRT_Buffer:$b, Optional<PMCRT_Buffer>:$bias,
                       PMCRT_Buffer:$c, DefaultValuedAttr<BoolAttr, "false">:$trans_a,
                       DefaultValuedAttr<BoolAttr, "false">:$trans_b,
                       DefaultValuedStrAttr<StrAttr, "none">:$activation);
  let assemblyFormat = [{
    $a `,` $b (`bias` $bias^)? `->` $c attr-dict `:` type($a) `,` type($b)
    (`,` type($bias)^)? `->` type($c)
  }];
  let hasVerifier = 1;
}

def PMCRT_ConvOp : PMCRT_Op<"conv"> {
  let summary = "N-d grouped convolution (ONNX Conv), a library call";
  let description = [{
    ```mlir
    pmcrt.conv %x, %w bias %b -> %y {strides = [1, 1], pads = [1, 1, 1, 1],
        dilations = [1, 1], group = 1 : i64} : ...
    ```
  }];
  let arguments = (ins PMCRT_Buffer:$x, PMCRT_Buffer:$w, Optional<PMCRT_Buffer>:$bias,
                       PMCRT_Buffer:$y, DenseI64ArrayAttr:$strides,
                       DenseI64ArrayAttr:$pads, DenseI64ArrayAttr:$dilations,
                       I64Attr:$group);
  let assemblyFormat = [{
    $x `,` $w (`bias` $bias^)? `->` $y attr-dict `:` type($x) `,` type($w)
    (`,` type($bias)^)? `->` type($y)
  }];
}

class PMCRT_CollectiveOp<string mnemonic> : PMCRT_Op<mnemonic> {
  let assemblyFormat =
      "$input `->` $output attr-dict `:` type($input) `->` type($output)";
}

def PMCRT_AllReduceOp : PMCRT_CollectiveOp<"all_reduce"> {
  let summary = "pmc.all_reduce: sum (or max) over the group of `axes`";
  let arguments = (ins PMCRT_Buffer:$input, PMCRT_Buffer:$output, StrArrayAttr:$axes,
                       StrAttr:$reduction);
}

def PMCRT_AllGatherOp : PMCRT_CollectiveOp<"all_gather"> {
  let summary = "pmc.all_gather: the group's buffers concatenated along `dim`";
  let arguments = (ins PMCRT_Buffer:$input, PMCRT_Buffer:$output, StrArrayAttr:$axes,
                       I64Attr:$dim);
}

def PMCRT_ReduceScatterOp : PMCRT_CollectiveOp<"reduce_scatter"> {
  let summary = "pmc.reduce_scatter: reduced over the group, this rank's slice of `dim`";
  let arguments = (ins PMCRT_Buffer:$input, PMCRT_Buffer:$output, StrArrayAttr:$axes,
                       I64Attr:$dim, StrAttr:$reduction);
}

def PMCRT_AllToAllOp : PMCRT_CollectiveOp<"all_to_all"> {
  let summary = "pmc.all_to_all: a split moved from `concat_dim` to `split_dim`";
  let arguments = (ins PMCRT_Buffer:$input, PMCRT_Buffer:$output, StrArrayAttr:$axes,
                       I64Attr:$split_dim, I64Attr:$concat_dim);
}

def PMCRT_ShardOp : PMCRT_CollectiveOp<"shard"> {
  let summary = "pmc.shard: this rank's block of a replicated buffer (no communication)";
  let arguments = (ins PMCRT_Buffer:$input, PMCRT_Buffer:$output,
                       PMC_ShardingAttr:$sharding);
}

def PMCRT_SendOp : PMCRT_Op<"send"> {
  let summary = "sends a buffer to this rank's peer in a later pipeline stage";
  let description = [{
    ```mlir
    pmcrt.send %h to_stage 1 tag 0 : memref<4x16xf32>
    ```
  }];
  let arguments = (ins PMCRT_Buffer:$input, I64Attr:$to_stage, I64Attr:$tag);
  let assemblyFormat = "$input `to_stage` $to_stage `tag` $tag attr-dict `:` type($input)";
}

def PMCRT_RecvOp : PMCRT_Op<"recv"> {
  let summary = "writes a temp with what the peer in an earlier stage sent under `tag`";
  let description = [{
    ```mlir
    pmcrt.recv %h from_stage 0 tag 0 : memref<4x16xf32>
    ```
  }];
  let arguments = (ins PMCRT_Buffer:$output, I64Attr:$from_stage, I64Attr:$tag);
  let assemblyFormat =
      "$output `from_stage` $from_stage `tag` $tag attr-dict `:` type($output)";
}

#endif // PMC_RUNTIME_OPS_TD
