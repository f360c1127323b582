//===- PMCInterfaces.td - interfaces of pmc ops -----------------*- tablegen -*-===//
#ifndef PMC_INTERFACES_TD
#define PMC_INTERFACES_TD

include "mlir/IR/OpBase.td"

def PMC_ShardingRuleOpInterface : OpInterface<"ShardingRuleOpInterface"> {
  let cppNamespace = "::mlir::pmc";
  let description = [{
    An op's factor-based sharding rule (see ShardingRule.h). Propagation,
    partitioning and the cost model read only this: an op is parallelized by
    declaring its rule once. Rules are attached as external models in
    lib/Dialect/PMC/IR/ShardingRules.cpp.
  }];
  let methods = [
    InterfaceMethod<"Returns the op's sharding rule.",
                    "::mlir::pmc::ShardingRule", "getShardingRule", (ins)>,
  ];
}

def PMC_CostOpInterface : OpInterface<"CostOpInterface"> {
  let cppNamespace = "::mlir::pmc";
  let description = [{
    The work of an op, one formula for every reader: the cost model prices
    plans with it on per-rank shapes, the stage splitter cuts pipelines by it
    on whole shapes. Declared next to the sharding rules, as external models
    (lib/Dialect/PMC/IR/OpCosts.cpp); an op without one costs one FLOP per
    result element (`mlir::pmc::opFlops`).

    ```c++
    double f = mlir::pmc::opFlops(matmul, {{64, 32}, {32, 16}}, {{64, 16}});  // 65536
    ```
  }];
  let methods = [
    InterfaceMethod<[{FLOPs of the op on these operand and result shapes (the
                      op's own types, or per-rank shapes of a partitioned op).}],
                    "double", "getFlops",
                    (ins "::llvm::ArrayRef<::llvm::SmallVector<int64_t>>":$operandShapes,
                         "::llvm::ArrayRef<::llvm::SmallVector<int64_t>>":$resultShapes)>,
    InterfaceMethod<[{True for ops that run on the matrix units (GEMM,
                      convolution): priced at the dtype's peak, not the vector rate.}],
                    "bool", "usesMatrixUnits", (ins), [{}], [{ return false; }]>,
    InterfaceMethod<[{True for ops that move no data and compute nothing at run
                      time (a constant, a reshape of contiguous data).}],
                    "bool", "isFree", (ins), [{}], [{ return false; }]>,
  ];
}

def PMC_CollectiveOpInterface : OpInterface<"CollectiveOpInterface"> {
  let cppNamespace = "::mlir::pmc";
  let description = [{
    An op whose result depends on the rank's place in the mesh: a collective
    over mesh axes (all_reduce, all_gather, reduce_scatter, all_to_all) or
    pmc.shard (the rank's slice of a replicated value). Such ops are written
    by the partitioner only, are never fused into kernels (the runtime runs
    each as a command) and are never partitioned again.
  }];
  let methods = [
    InterfaceMethod<"The mesh axes that form the op's groups.",
                    "::llvm::SmallVector<::llvm::StringRef>", "getMeshAxes", (ins), [{}],
                    [{
      ::llvm::SmallVector<::llvm::StringRef> axes;
      for (::mlir::Attribute axis : $_op.getAxes())
        axes.push_back(::llvm::cast<::mlir::StringAttr>(axis).getValue());
      return axes;
    }]>,
  ];
}

def PMC_LibraryCallOpInterface : OpInterface<"LibraryCallOpInterface"> {
  let cppNamespace = "::mlir::pmc";
  let description = [{
    An op the runtime may execute as a call into a library (BLAS or cuBLASLt
    for pmc.matmul, im2col + GEMM or cuDNN for pmc.conv) instead of a
    generated kernel. pmc-outline-kernels keeps such an op in @main when
    `isLibraryCall()` holds; pmc-lower-to-runtime-program makes it the pmcrt
    command of the same kind (docs/design/bundle.md).
  }];
  let methods = [
    InterfaceMethod<[{True when the libraries take this op: its element type is
                      f32, f64, f16 or bf16.}],
                    "bool", "isLibraryCall", (ins), [{}], [{
      ::mlir::Type element =
          ::llvm::cast<::mlir::ShapedType>($_op->getResult(0).getType()).getElementType();
      return element.isF32() || element.isF64() || element.isBF16() || element.isF16();
    }]>,
  ];
}

// Ops whose numerics need f32 whatever the program's dtype: they accumulate
// many terms (reductions, LayerNorm statistics, cumulative sums) or
// exponentiate and normalize (Softmax). pmc-convert-precision runs them on f32
// operands.
def PMC_KeepsF32 : NativeOpTrait<"KeepsF32"> {
  let cppNamespace = "::mlir::pmc";
}

#endif // PMC_INTERFACES_TD
