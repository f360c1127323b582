//===- ProgramBuilder.cpp - buffers, weights and per-rank weight slices ---===//
#include "ProgramBuilder.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"

#include <cstring>

using namespace mlir;
using namespace ::pmc::bundle_emitter;
using mlir::pmc::ConstantOp;
using mlir::pmc::MeshAttr;
using mlir::pmc::ShardingAttr;

/// numpy's name of a pmc element type, or "" when the bundle has none.
std::string(::pmc::bundle_emitter::dtypeName)(Type type) {
  if (type.isF16())
    return "float16";
  if (type.isBF16())
    return "bfloat16";
  if (type.isF32())
    return "float32";
  if (type.isF64())
    return "float64";
  if (auto integer = dyn_cast<IntegerType>(type)) {
    unsigned width = integer.getWidth();
    if (width == 1)
      return "bool";
    if (width != 8 && width != 16 && width != 32 && width != 64)
      return "";
    return (integer.isUnsigned() ? "uint" : "int") + std::to_string(width);
  }
  return "";
}

json::Array(::pmc::bundle_emitter::i64Array)(ArrayRef<int64_t> values) {
  json::Array array;
  for (int64_t v : values)
    array.push_back(v);
  return array;
}

json::Array(::pmc::bundle_emitter::shardingJSON)(ShardingAttr sharding) {
  json::Array dims;
  for (int64_t d = 0; d < sharding.getRank(); ++d) {
    json::Array axes;
    for (StringRef axis : sharding.getDimAxes(d))
      axes.push_back(axis.str());
    dims.push_back(std::move(axes));
  }
  return dims;
}

int64_t ProgramBuilder::addBuffer(Value value, json::Object fields, Operation *at) {
  int64_t id = addBufferOfType(value.getType(), std::move(fields), at);
  if (id >= 0)
    ids[value] = id;
  return id;
}

int64_t ProgramBuilder::addBufferOfType(Type type, json::Object fields, Operation *at) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  std::string dtype = tensor ? dtypeName(tensor.getElementType()) : "";
  if (dtype.empty()) {
    at->emitOpError() << "produces " << type
                      << ", which the bundle cannot hold (no numpy dtype)";
    return -1;
  }
  int64_t id = buffers.size();
  fields["id"] = id;
  fields["dtype"] = dtype;
  fields["shape"] = i64Array(tensor.getShape());
  buffers.push_back(std::move(fields));
  return id;
}

LogicalResult ProgramBuilder::weightBytes(ConstantOp constant,
                                          BundleImage::Section &weight) {
  auto type = cast<RankedTensorType>(constant.getType());
  Attribute value = constant.getValue();
  int64_t count = type.getNumElements();
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(value)) {
    AsmResourceBlob *blob = resource.getRawHandle().getBlob();
    if (!blob)
      return constant.emitOpError("refers to a dense resource whose bytes "
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
    return constant.emitOpError() << "has a value the bundle cannot store: " << value;
  }
  size_t expected = (size_t)count * std::max<size_t>(1, type.getElementTypeBitWidth() / 8);
  size_t size = weight.data ? weight.size : weight.owned.size();
  if (size != expected)
    return constant.emitOpError()
           << "holds " << size << " bytes, expected " << expected << " for " << type;
  return success();
}

LogicalResult ProgramBuilder::addWeight(ConstantOp constant) {
  std::string section = "w/" + std::to_string(nextWeight++);
  BundleImage::Section weight;
  weight.name = section;
  if (failed(weightBytes(constant, weight)))
    return failure();
  image.sections.push_back(std::move(weight));
  json::Object fields{{"kind", "weight"}, {"section", section}};
  return success(addBuffer(constant.getResult(), std::move(fields), constant) >= 0);
}

std::string ProgramBuilder::sliceBlock(const char *bytes, ArrayRef<int64_t> global,
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

LogicalResult ProgramBuilder::addShardedWeight(ConstantOp constant,
                                               mlir::pmc::ShardOp shard) {
  BundleImage::Section whole;
  if (failed(weightBytes(constant, whole)))
    return failure();
  const char *bytes = whole.data ? (const char *)whole.data : whole.owned.data();
  auto globalType = cast<RankedTensorType>(constant.getType());
  auto localType = cast<RankedTensorType>(shard.getType());
  ArrayRef<int64_t> global = globalType.getShape(), local = localType.getShape();
  size_t elementBytes = std::max<size_t>(1, globalType.getElementTypeBitWidth() / 8);
  unsigned weight = nextWeight++;
  std::map<std::vector<int64_t>, std::string> blocks;
  std::map<int64_t, std::string> names;
  for (int64_t r : ranks) {
    std::vector<int64_t> offsets = blockOffsets(mesh, shard.getSharding(), local, r);
    auto [it, inserted] = blocks.try_emplace(offsets, "w/" + std::to_string(weight) + "/r" +
                                                          std::to_string(r));
    names[r] = it->second;
    if (!inserted)
      continue;
    BundleImage::Section section;
    section.name = it->second;
    section.owned = sliceBlock(bytes, global, local, offsets, elementBytes);
    image.sections.push_back(std::move(section));
  }
  json::Object fields{{"kind", "weight"}, {"section", names.begin()->second}};
  int64_t id = addBuffer(shard.getResult(), std::move(fields), shard);
  if (id < 0)
    return failure();
  rankSections[id] = std::move(names);
  return success();
}

std::vector<int64_t> ProgramBuilder::blockOffsets(MeshAttr mesh, ShardingAttr sharding,
                                                  ArrayRef<int64_t> local, int64_t r) {
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

json::Array ProgramBuilder::buffersOfRank(int64_t r) const {
  json::Array copy = buffers;
  for (const auto &[id, names] : rankSections)
    (*copy[id].getAsObject())["section"] = names.at(r);
  return copy;
}
