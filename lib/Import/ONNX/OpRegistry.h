//===- OpRegistry.h - ONNX operator importers by (op type, since opset) -*- C++ -*-===//
//
// Each family file (ElementwiseImporters.cpp, DataMovementImporters.cpp, ...)
// registers its operators: `r.add("Gelu", 20, ...)` says "from opset 20 on,
// Gelu imports this way". A node is imported by the entry with the largest
// since-opset at most the model's; an operator whose semantics change in a
// later opset gets a second entry (ONNX's `onnx.defs.get_schema(op, version)`
// lists the versions).
//
#ifndef PMC_LIB_IMPORT_ONNX_OPREGISTRY_H
#define PMC_LIB_IMPORT_ONNX_OPREGISTRY_H

#include "mlir/Support/LogicalResult.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"

#include <functional>
#include <string>
#include <vector>

namespace pmc::onnx_import {

class NodeImporter;

/// Imports one node; on failure a diagnostic naming the node was emitted.
using OpImportFn = std::function<mlir::LogicalResult(NodeImporter &)>;

/// What an operator's inputs may be. Sequences and optionals exist only while
/// importing (SequenceImporters.cpp); an operator that does not declare
/// `SequencesAndOptionals` is given tensors only (NodeImporter::run checks).
enum class OperandKinds { Tensors, SequencesAndOptionals };

struct OpImporter {
  int64_t sinceOpset;
  OpImportFn fn;
  OperandKinds operands;
};

class OpImporterRegistry {
public:
  /// Registers `fn` for `opType` of the default domain from `sinceOpset` on.
  void add(llvm::StringRef opType, int64_t sinceOpset, OpImportFn fn,
           OperandKinds operands = OperandKinds::Tensors);
  /// The importer of `opType` in a model of `opset`, or null; then
  /// `firstSince` is the oldest opset that has one (0: the operator is
  /// unknown).
  const OpImporter *lookup(llvm::StringRef opType, int64_t opset, int64_t &firstSince) const;
  /// Every registered operator, sorted.
  std::vector<std::string> opTypes() const;

private:
  /// Per op type, its importers sorted by since opset.
  llvm::StringMap<llvm::SmallVector<OpImporter, 1>> entries;
};

/// The importers of every family, registered once.
const OpImporterRegistry &opImporters();

} // namespace pmc::onnx_import

#endif // PMC_LIB_IMPORT_ONNX_OPREGISTRY_H
