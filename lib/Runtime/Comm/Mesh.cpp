//===- Mesh.cpp - mesh parsing, rank groups, shard geometry ----------------===//

#include "pmc/Runtime/Comm/Mesh.h"
#include "../Json.h"

#include <cstring>
#include <limits>
#include <set>

namespace pmc::runtime {

std::string shardingToString(const Sharding &sharding) {
  std::string s = "[";
  for (size_t d = 0; d < sharding.size(); ++d) {
    s += d ? ", {" : "{";
    for (size_t a = 0; a < sharding[d].size(); ++a)
      s += (a ? ", " : "") + sharding[d][a];
    s += "}";
  }
  return s + "]";
}

Mesh Mesh::parse(std::string_view text, int64_t devices) {
  json::json root = json::parse(text, "manifest: mesh");
  Mesh mesh;
  if (root.is_object() && root.contains("axes")) {
    const json::json &axes = root["axes"];
    if (!axes.is_array())
      throw RuntimeError("manifest: mesh: field 'axes' must be a list");
    std::set<std::string> names;
    int64_t product = 1;
    for (size_t i = 0; i < axes.size(); ++i) {
      std::string where = "manifest: mesh: axes[" + std::to_string(i) + "]";
      MeshAxis axis;
      axis.name = json::getString(axes[i], "name", where);
      axis.size = json::getInt(axes[i], "size", where);
      if (axis.name.empty())
        throw RuntimeError(where + ": empty name");
      if (axis.size < 1)
        throw RuntimeError(where + " '" + axis.name + "': size must be at least 1, got " +
                           std::to_string(axis.size));
      if (!names.insert(axis.name).second)
        throw RuntimeError("manifest: mesh: axis '" + axis.name + "' is listed twice");
      // size() multiplies the sizes: the product must fit (it is then
      // checked against `devices` below).
      if (axis.size > std::numeric_limits<int64_t>::max() / product)
        throw RuntimeError(where + " '" + axis.name + "': size " + std::to_string(axis.size) +
                           " makes the mesh's rank count overflow (the bundle has " +
                           std::to_string(devices) + " devices)");
      product *= axis.size;
      mesh.axes.push_back(std::move(axis));
    }
  } else if (!root.is_object() && !root.is_null()) {
    throw RuntimeError("manifest: mesh must be an object");
  }
  if (mesh.size() != devices)
    throw RuntimeError("manifest: mesh " + mesh.toString() + " has " +
                       std::to_string(mesh.size()) + " ranks but 'devices' is " +
                       std::to_string(devices));
  return mesh;
}

int64_t Mesh::size() const {
  int64_t n = 1;
  for (const MeshAxis &a : axes)
    n *= a.size;
  return n;
}

int Mesh::axisIndex(const std::string &name) const {
  for (size_t i = 0; i < axes.size(); ++i)
    if (axes[i].name == name)
      return static_cast<int>(i);
  return -1;
}

std::vector<int64_t> Mesh::coordinates(int rank) const {
  std::vector<int64_t> c(axes.size());
  int64_t r = rank;
  for (size_t i = axes.size(); i-- > 0;) {
    c[i] = r % axes[i].size;
    r /= axes[i].size;
  }
  return c;
}

namespace {
int64_t linearize(const std::vector<int64_t> &coords, const std::vector<MeshAxis> &axes) {
  int64_t r = 0;
  for (size_t i = 0; i < axes.size(); ++i)
    r = r * axes[i].size + coords[i];
  return r;
}

/// Indices of `names` in `mesh`, checked.
std::vector<int> axisIndices(const Mesh &mesh, const std::vector<std::string> &names) {
  std::vector<int> idx;
  for (const std::string &n : names) {
    int i = mesh.axisIndex(n);
    if (i < 0)
      throw RuntimeError("axis '" + n + "' is not an axis of the mesh " + mesh.toString());
    for (int j : idx)
      if (j == i)
        throw RuntimeError("axis '" + n + "' is named twice");
    idx.push_back(i);
  }
  return idx;
}
} // namespace

std::vector<int> Mesh::group(int rank, const std::vector<std::string> &names) const {
  std::vector<int> idx = axisIndices(*this, names);
  std::vector<int64_t> base = coordinates(rank);
  int64_t n = groupSize(names);
  std::vector<int> ranks;
  for (int64_t pos = 0; pos < n; ++pos) {
    std::vector<int64_t> c = base;
    int64_t p = pos;
    for (size_t k = idx.size(); k-- > 0;) {
      c[idx[k]] = p % axes[idx[k]].size;
      p /= axes[idx[k]].size;
    }
    ranks.push_back(static_cast<int>(linearize(c, axes)));
  }
  return ranks;
}

int64_t Mesh::positionInGroup(int rank, const std::vector<std::string> &names) const {
  std::vector<int> idx = axisIndices(*this, names);
  std::vector<int64_t> c = coordinates(rank);
  int64_t pos = 0;
  for (int i : idx)
    pos = pos * axes[i].size + c[i];
  return pos;
}

int64_t Mesh::groupSize(const std::vector<std::string> &names) const {
  int64_t n = 1;
  for (int i : axisIndices(*this, names))
    n *= axes[i].size;
  return n;
}

std::string Mesh::toString() const {
  std::string s = "[";
  for (size_t i = 0; i < axes.size(); ++i)
    s += (i ? ", " : "") + axes[i].name + "=" + std::to_string(axes[i].size);
  return s + "]";
}

void checkSharding(const Sharding &sharding, const std::vector<int64_t> &shape,
                   const Mesh &mesh, const std::string &where) {
  if (sharding.empty())
    return;
  if (sharding.size() != shape.size())
    throw RuntimeError(where + ": sharding " + shardingToString(sharding) + " has " +
                       std::to_string(sharding.size()) + " entries for a tensor of rank " +
                       std::to_string(shape.size()));
  std::set<std::string> used;
  for (size_t d = 0; d < shape.size(); ++d) {
    for (const std::string &a : sharding[d]) {
      if (mesh.axisIndex(a) < 0)
        throw RuntimeError(where + ": sharding " + shardingToString(sharding) +
                           " names axis '" + a + "', which is not in the mesh " +
                           mesh.toString());
      if (!used.insert(a).second)
        throw RuntimeError(where + ": sharding " + shardingToString(sharding) +
                           " uses axis '" + a + "' twice");
    }
    int64_t parts = mesh.groupSize(sharding[d]);
    if (shape[d] % parts != 0)
      throw RuntimeError(where + ": dimension " + std::to_string(d) + " of size " +
                         std::to_string(shape[d]) + " cannot be split into " +
                         std::to_string(parts) + " shards (sharding " +
                         shardingToString(sharding) + ")");
  }
}

std::vector<int64_t> localShape(const std::vector<int64_t> &shape, const Sharding &sharding,
                                const Mesh &mesh) {
  std::vector<int64_t> local = shape;
  for (size_t d = 0; d < sharding.size() && d < shape.size(); ++d)
    local[d] /= mesh.groupSize(sharding[d]);
  return local;
}

std::vector<int64_t> shardOffsets(const std::vector<int64_t> &shape, const Sharding &sharding,
                                  const Mesh &mesh, int rank) {
  std::vector<int64_t> local = localShape(shape, sharding, mesh);
  std::vector<int64_t> offsets(shape.size(), 0);
  for (size_t d = 0; d < sharding.size() && d < shape.size(); ++d)
    offsets[d] = mesh.positionInGroup(rank, sharding[d]) * local[d];
  return offsets;
}

bool isAssemblySource(const Sharding &sharding, const Mesh &mesh, int rank) {
  std::vector<int64_t> c = mesh.coordinates(rank);
  for (size_t i = 0; i < mesh.axes.size(); ++i) {
    bool named = false;
    for (const auto &dim : sharding)
      for (const std::string &a : dim)
        named = named || a == mesh.axes[i].name;
    if (!named && c[i] != 0)
      return false;
  }
  return true;
}

void copyBlock(const void *src, const std::vector<int64_t> &srcShape,
               const std::vector<int64_t> &srcOffsets, void *dst,
               const std::vector<int64_t> &dstShape, const std::vector<int64_t> &dstOffsets,
               const std::vector<int64_t> &block, size_t elementSize) {
  size_t rank = block.size();
  for (int64_t b : block)
    if (b == 0)
      return;
  // Merge the trailing dimensions that are whole in both tensors into one run.
  size_t inner = rank; // dims [inner, rank) are copied as one contiguous run
  size_t run = elementSize;
  while (inner > 0) {
    size_t d = inner - 1;
    run *= static_cast<size_t>(block[d]);
    inner = d;
    if (block[d] != srcShape[d] || block[d] != dstShape[d])
      break;
  }
  // Strides in bytes.
  std::vector<size_t> srcStride(rank, elementSize), dstStride(rank, elementSize);
  for (size_t d = rank; d-- > 1;) {
    srcStride[d - 1] = srcStride[d] * static_cast<size_t>(srcShape[d]);
    dstStride[d - 1] = dstStride[d] * static_cast<size_t>(dstShape[d]);
  }
  auto *s = static_cast<const uint8_t *>(src);
  auto *t = static_cast<uint8_t *>(dst);
  std::vector<int64_t> idx(inner, 0);
  while (true) {
    size_t so = 0, to = 0;
    for (size_t d = 0; d < rank; ++d) {
      int64_t i = d < inner ? idx[d] : 0;
      so += static_cast<size_t>(srcOffsets[d] + i) * srcStride[d];
      to += static_cast<size_t>(dstOffsets[d] + i) * dstStride[d];
    }
    std::memcpy(t + to, s + so, run);
    if (inner == 0)
      return;
    size_t d = inner;
    while (true) {
      --d;
      if (++idx[d] < block[d])
        break;
      idx[d] = 0;
      if (d == 0)
        return;
    }
  }
}

} // namespace pmc::runtime
