//===- WeightSections.cpp - weight bytes and per-rank weight blocks -------===//
#include "WeightSections.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/DialectResourceBlobManager.h"

#include <cstring>

using namespace mlir;
using mlir::pmc::MeshAttr;
using mlir::pmc::ShardingAttr;

LogicalResult(::pmc::bundle_emitter::weightBytes)(ElementsAttr value, Operation *at,
                                                  ::pmc::BundleImage::Section &weight) {
  auto type = cast<RankedTensorType>(value.getType());
  int64_t count = type.getNumElements();
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(value)) {
    AsmResourceBlob *blob = resource.getRawHandle().getBlob();
    if (!blob)
      return at->emitOpError("refers to a dense resource whose bytes "
                             "are missing (elided?)");
    ArrayRef<char> data = blob->getData();
    weight.data = data.data();
    weight.size = data.size();
  } else if (auto dense = dyn_cast<DenseElementsAttr>(value)) {
    if (type.getElementType().isInteger(1)) {
      // One byte per bool.
      for (bool b : dense.getValues<bool>())
        weight.owned.push_back(b ? 1 : 0);
    } else if (dense.isSplat()) {
      ArrayRef<char> raw = dense.getRawData();
      size_t elementBytes = type.getElementTypeBitWidth() / 8;
      weight.owned.reserve(elementBytes * count);
      for (int64_t i = 0; i < count; ++i)
        weight.owned.append(raw.data(), elementBytes);
    } else {
      ArrayRef<char> raw = dense.getRawData();
      weight.owned.assign(raw.data(), raw.size());
    }
  } else {
    return at->emitOpError() << "has a value the bundle cannot store: " << value;
  }
  size_t expected = (size_t)count * std::max<size_t>(1, type.getElementTypeBitWidth() / 8);
  size_t size = weight.data ? weight.size : weight.owned.size();
  if (size != expected)
    return at->emitOpError() << "holds " << size << " bytes, expected " << expected
                             << " for " << type;
  return success();
}

std::string(::pmc::bundle_emitter::sliceBlock)(const char *bytes, ArrayRef<int64_t> global,
                                               ArrayRef<int64_t> local,
                                               const std::vector<int64_t> &offsets,
                                               size_t elementBytes) {
  int64_t rank = global.size();
  int64_t count = 1;
  for (int64_t d : local)
    count *= d;
  std::string block(count * elementBytes, '\0');
  // Copy rows of the last dimension; `index` walks the local block.
  int64_t row = rank ? local.back() : 1;
  std::vector<int64_t> index(rank, 0);
  for (int64_t done = 0; done < count; done += row) {
    int64_t offset = 0;
    for (int64_t d = 0; d < rank; ++d)
      offset = offset * global[d] + offsets[d] + index[d];
    std::memcpy(&block[done * elementBytes], bytes + offset * elementBytes,
                row * elementBytes);
    for (int64_t d = rank - 2; d >= 0; --d) {
      if (++index[d] < local[d])
        break;
      index[d] = 0;
    }
  }
  return block;
}

std::vector<int64_t>(::pmc::bundle_emitter::blockOffsets)(MeshAttr mesh,
                                                          ShardingAttr sharding,
                                                          ArrayRef<int64_t> local,
                                                          int64_t r) {
  SmallVector<int64_t> coords = mesh.getCoordinates(r);
  std::vector<int64_t> offsets;
  for (int64_t d = 0; d < (int64_t)local.size(); ++d) {
    int64_t index = 0;
    for (StringRef axis : sharding.getDimAxes(d))
      index = index * mesh.getAxisSize(axis) + coords[*mesh.findAxis(axis)];
    offsets.push_back(index * local[d]);
  }
  return offsets;
}
