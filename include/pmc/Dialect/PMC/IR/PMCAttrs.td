//===- PMCAttrs.td - meshes and shardings -----------------------*- tablegen -*-===//
//
// The vocabulary of docs/design/parallel.md: a mesh of named axes, and the
// sharding of a tensor over it.
//
#ifndef PMC_ATTRS_TD
#define PMC_ATTRS_TD

include "pmc/Dialect/PMC/IR/PMCBase.td"
include "mlir/IR/AttrTypeBase.td"

class PMC_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<PMC_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

def PMC_MeshAttr : PMC_Attr<"Mesh", "mesh"> {
  let summary = "named device axes; ranks are numbered row-major over them";
  let description = [{
    ```mlir
    module attributes {pmc.mesh = #pmc.mesh<["dp"=2, "tp"=4]>} { ... }
    ```
    The product of the sizes is the device count. Rank = dp_index * 4 + tp_index:
    the last axis joins neighbouring ranks (the fastest links).
  }];
  let parameters = (ins ArrayRefParameter<"::mlir::StringAttr">:$names,
                        ArrayRefParameter<"int64_t">:$sizes);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Number of devices: the product of the axis sizes.
    int64_t getNumDevices() const;
    /// Index of the axis called `name`, or nullopt.
    std::optional<unsigned> findAxis(::llvm::StringRef name) const;
    /// Size of the axis called `name` (which must exist).
    int64_t getAxisSize(::llvm::StringRef name) const;
    /// The coordinate of `rank` on every axis.
    ::llvm::SmallVector<int64_t> getCoordinates(int64_t rank) const;
  }];
}

def PMC_ShardingAttr : PMC_Attr<"Sharding", "sharding"> {
  let summary = "how a tensor is split (and partially reduced) over mesh axes";
  // (A plain string: the examples contain "}]", which ends a [{ }] block.)
  let description =
    "For each tensor dimension, the mesh axes it is split over (the first axis "
    "is major); axes not mentioned replicate. `partial_sum`/`partial_max` name "
    "axes along which each rank holds a part whose sum (max) is the value.\n\n"
    "```mlir\n"
    "#pmc.sharding<[{\"dp\"}, {}]>                       // rows split over dp\n"
    "#pmc.sharding<[{}, {\"tp\"}]>                       // columns split over tp\n"
    "#pmc.sharding<[{\"dp\", \"tp\"}, {}]>                 // rows split over dp*tp\n"
    "#pmc.sharding<[{\"dp\"}, {}], partial_sum = {\"tp\"}> // pending sum over tp\n"
    "```";
  let parameters = (ins
      ArrayRefParameter<"::mlir::ArrayAttr", "axes per dimension">:$dims,
      ArrayRefParameter<"::mlir::StringAttr">:$partial_axes,
      DefaultValuedParameter<"::mlir::pmc::PartialKind",
                             "::mlir::pmc::PartialKind::Sum">:$partial_kind);
  let hasCustomAssemblyFormat = 1;
  let extraClassDeclaration = [{
    /// A sharding of `rank` dimensions that replicates everything.
    static ShardingAttr getReplicated(::mlir::MLIRContext *context, int64_t rank);
    /// From per-dimension axis names (and optional partial axes).
    static ShardingAttr get(::mlir::MLIRContext *context,
        ::llvm::ArrayRef<::llvm::SmallVector<::llvm::StringRef>> dimAxes,
        ::llvm::ArrayRef<::llvm::StringRef> partialAxes = {},
        PartialKind kind = PartialKind::Sum);
    int64_t getRank() const { return getDims().size(); }
    /// The axis names dimension `dim` is split over, major first.
    ::llvm::SmallVector<::llvm::StringRef> getDimAxes(int64_t dim) const;
    /// True when no dimension is split and nothing is partial.
    bool isReplicated() const;
    bool isPartial() const { return !getPartialAxes().empty(); }
    /// Every axis that appears in a dimension or as partial.
    ::llvm::SmallVector<::llvm::StringRef> getUsedAxes() const;
    /// The same dimension split without the partial axes.
    ShardingAttr withoutPartial() const;
    /// The local (per-rank) shape of a tensor of `globalShape`, or failure
    /// when a dimension is not divisible by its axes' product.
    ::mlir::FailureOr<::llvm::SmallVector<int64_t>>
    getLocalShape(MeshAttr mesh, ::llvm::ArrayRef<int64_t> globalShape) const;
    /// Checks axes exist, appear once, and that dimensions divide; the
    /// message names the dimension, the axes and the sizes.
    ::mlir::LogicalResult verifyFor(MeshAttr mesh, ::llvm::ArrayRef<int64_t> shape,
        ::llvm::function_ref<::mlir::InFlightDiagnostic()> emitError) const;
  }];
}

#endif // PMC_ATTRS_TD
