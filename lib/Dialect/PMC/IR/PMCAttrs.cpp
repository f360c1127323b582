//===- PMCAttrs.cpp - meshes and shardings: syntax, queries, checks --------===//
#include "pmc/Dialect/PMC/IR/PMCAttrs.h"
#include "pmc/Dialect/PMC/IR/PMCDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::pmc;

#define GET_ATTRDEF_CLASSES
#include "pmc/Dialect/PMC/IR/PMCAttrs.cpp.inc"

void PMCDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "pmc/Dialect/PMC/IR/PMCAttrs.cpp.inc"
      >();
}

MeshAttr mlir::pmc::getMesh(Operation *op) {
  for (Operation *parent = op; parent; parent = parent->getParentOp())
    if (auto mesh = parent->getAttrOfType<MeshAttr>(kMeshAttrName))
      return mesh;
  return nullptr;
}

//===----------------------------------------------------------------------===//
// MeshAttr: #pmc.mesh<["dp"=2, "tp"=4]>
//===----------------------------------------------------------------------===//

Attribute MeshAttr::parse(AsmParser &parser, Type) {
  SmallVector<StringAttr> names;
  SmallVector<int64_t> sizes;
  auto parseAxis = [&]() -> ParseResult {
    std::string name;
    int64_t size;
    if (parser.parseString(&name) || parser.parseEqual() || parser.parseInteger(size))
      return failure();
    names.push_back(parser.getBuilder().getStringAttr(name));
    sizes.push_back(size);
    return success();
  };
  if (parser.parseLess() ||
      parser.parseCommaSeparatedList(AsmParser::Delimiter::Square, parseAxis) ||
      parser.parseGreater())
    return {};
  return parser.getChecked<MeshAttr>(parser.getContext(), names, sizes);
}

void MeshAttr::print(AsmPrinter &printer) const {
  printer << "<[";
  llvm::interleaveComma(llvm::zip(getNames(), getSizes()), printer, [&](auto axis) {
    printer << "\"" << std::get<0>(axis).getValue() << "\"=" << std::get<1>(axis);
  });
  printer << "]>";
}

LogicalResult MeshAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                               ArrayRef<StringAttr> names, ArrayRef<int64_t> sizes) {
  if (names.size() != sizes.size())
    return emitError() << "mesh needs one size per axis";
  llvm::StringSet<> seen;
  for (auto [name, size] : llvm::zip(names, sizes)) {
    if (name.getValue().empty())
      return emitError() << "mesh axis names must not be empty";
    if (!seen.insert(name.getValue()).second)
      return emitError() << "mesh axis '" << name.getValue() << "' appears twice";
    if (size <= 0)
      return emitError() << "mesh axis '" << name.getValue()
                         << "' must have a positive size, got " << size;
  }
  return success();
}

int64_t MeshAttr::getNumDevices() const {
  int64_t n = 1;
  for (int64_t size : getSizes())
    n *= size;
  return n;
}

std::optional<unsigned> MeshAttr::findAxis(StringRef name) const {
  for (auto [i, axis] : llvm::enumerate(getNames()))
    if (axis.getValue() == name)
      return i;
  return std::nullopt;
}

int64_t MeshAttr::getAxisSize(StringRef name) const {
  return getSizes()[*findAxis(name)];
}

SmallVector<int64_t> MeshAttr::getCoordinates(int64_t rank) const {
  SmallVector<int64_t> coordinates(getSizes().size());
  for (int64_t i = coordinates.size() - 1; i >= 0; --i) {
    coordinates[i] = rank % getSizes()[i];
    rank /= getSizes()[i];
  }
  return coordinates;
}

//===----------------------------------------------------------------------===//
// ShardingAttr: #pmc.sharding<[{"dp"}, {}], partial_sum = {"tp"}>
//===----------------------------------------------------------------------===//

static ParseResult parseAxisSet(AsmParser &parser, SmallVectorImpl<StringAttr> &axes) {
  return parser.parseCommaSeparatedList(AsmParser::Delimiter::Braces, [&]() {
    std::string name;
    if (parser.parseString(&name))
      return failure();
    axes.push_back(parser.getBuilder().getStringAttr(name));
    return success();
  });
}

static void printAxisSet(AsmPrinter &printer, ArrayRef<Attribute> axes) {
  printer << "{";
  llvm::interleaveComma(axes, printer, [&](Attribute axis) {
    printer << "\"" << cast<StringAttr>(axis).getValue() << "\"";
  });
  printer << "}";
}

Attribute ShardingAttr::parse(AsmParser &parser, Type) {
  SmallVector<ArrayAttr> dims;
  SmallVector<StringAttr> partial;
  PartialKind kind = PartialKind::Sum;
  Builder &builder = parser.getBuilder();
  if (parser.parseLess() ||
      parser.parseCommaSeparatedList(AsmParser::Delimiter::Square, [&]() {
        SmallVector<StringAttr> axes;
        if (parseAxisSet(parser, axes))
          return failure();
        dims.push_back(builder.getArrayAttr(
            SmallVector<Attribute>(axes.begin(), axes.end())));
        return success();
      }))
    return {};
  if (succeeded(parser.parseOptionalComma())) {
    StringRef keyword;
    if (parser.parseKeyword(&keyword))
      return {};
    if (keyword == "partial_sum")
      kind = PartialKind::Sum;
    else if (keyword == "partial_max")
      kind = PartialKind::Max;
    else {
      parser.emitError(parser.getCurrentLocation())
          << "expected partial_sum or partial_max, got '" << keyword << "'";
      return {};
    }
    if (parser.parseEqual() || parseAxisSet(parser, partial))
      return {};
  }
  if (parser.parseGreater())
    return {};
  return ShardingAttr::get(parser.getContext(), dims, partial, kind);
}

void ShardingAttr::print(AsmPrinter &printer) const {
  printer << "<[";
  llvm::interleaveComma(getDims(), printer,
                        [&](ArrayAttr axes) { printAxisSet(printer, axes.getValue()); });
  printer << "]";
  if (isPartial()) {
    printer << ", " << (getPartialKind() == PartialKind::Max ? "partial_max" : "partial_sum")
            << " = ";
    printAxisSet(printer, SmallVector<Attribute>(getPartialAxes().begin(),
                                                 getPartialAxes().end()));
  }
  printer << ">";
}

ShardingAttr ShardingAttr::getReplicated(MLIRContext *context, int64_t rank) {
  SmallVector<ArrayAttr> dims(rank, ArrayAttr::get(context, {}));
  return ShardingAttr::get(context, dims, {}, PartialKind::Sum);
}

ShardingAttr ShardingAttr::get(MLIRContext *context,
                               ArrayRef<SmallVector<StringRef>> dimAxes,
                               ArrayRef<StringRef> partialAxes, PartialKind kind) {
  Builder builder(context);
  SmallVector<ArrayAttr> dims;
  for (const SmallVector<StringRef> &axes : dimAxes)
    dims.push_back(builder.getStrArrayAttr(axes));
  SmallVector<StringAttr> partial;
  for (StringRef axis : partialAxes)
    partial.push_back(builder.getStringAttr(axis));
  return ShardingAttr::get(context, dims, partial, kind);
}

SmallVector<StringRef> ShardingAttr::getDimAxes(int64_t dim) const {
  SmallVector<StringRef> axes;
  for (Attribute axis : getDims()[dim])
    axes.push_back(cast<StringAttr>(axis).getValue());
  return axes;
}

bool ShardingAttr::isReplicated() const {
  return !isPartial() &&
         llvm::all_of(getDims(), [](ArrayAttr axes) { return axes.empty(); });
}

SmallVector<StringRef> ShardingAttr::getUsedAxes() const {
  SmallVector<StringRef> axes;
  for (int64_t d = 0; d < getRank(); ++d)
    llvm::append_range(axes, getDimAxes(d));
  for (StringAttr axis : getPartialAxes())
    axes.push_back(axis.getValue());
  return axes;
}

ShardingAttr ShardingAttr::withoutPartial() const {
  return ShardingAttr::get(getContext(), getDims(), {}, PartialKind::Sum);
}

FailureOr<SmallVector<int64_t>>
ShardingAttr::getLocalShape(MeshAttr mesh, ArrayRef<int64_t> globalShape) const {
  if ((int64_t)globalShape.size() != getRank())
    return failure();
  SmallVector<int64_t> local(globalShape);
  for (int64_t d = 0; d < getRank(); ++d) {
    int64_t parts = 1;
    for (StringRef axis : getDimAxes(d)) {
      if (!mesh.findAxis(axis))
        return failure();
      parts *= mesh.getAxisSize(axis);
    }
    if (local[d] % parts != 0)
      return failure();
    local[d] /= parts;
  }
  return local;
}

LogicalResult
ShardingAttr::verifyFor(MeshAttr mesh, ArrayRef<int64_t> shape,
                        function_ref<InFlightDiagnostic()> emitError) const {
  if ((int64_t)shape.size() != getRank())
    return emitError() << "sharding " << *this << " has " << getRank()
                       << " dimensions, the tensor has rank " << shape.size();
  llvm::StringSet<> seen;
  for (StringRef axis : getUsedAxes()) {
    if (!mesh.findAxis(axis))
      return emitError() << "sharding " << *this << " names axis '" << axis
                         << "', which the mesh " << mesh << " does not have";
    if (!seen.insert(axis).second)
      return emitError() << "sharding " << *this << " uses axis '" << axis
                         << "' more than once";
  }
  for (int64_t d = 0; d < getRank(); ++d) {
    int64_t parts = 1;
    for (StringRef axis : getDimAxes(d))
      parts *= mesh.getAxisSize(axis);
    if (shape[d] % parts != 0) {
      InFlightDiagnostic diag = emitError();
      diag << "dimension " << d << " of size " << shape[d]
           << " is not divisible by " << parts << " (axes ";
      llvm::interleaveComma(getDimAxes(d), diag,
                            [&](StringRef axis) { diag << "'" << axis << "'"; });
      return diag << ")";
    }
  }
  return success();
}
