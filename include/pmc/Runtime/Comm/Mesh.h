//===- Mesh.h - the device mesh and the shard geometry it implies -*- C++ -*-===//
//
// docs/design/parallel.md: named mesh axes, row-major rank numbering, groups
// of ranks along axes, and how a sharding tiles a global tensor into local
// shards. Used by the Session (slicing feeds, assembling outputs) and the
// collective commands (groups).
//
//   Mesh mesh = Mesh::parse(R"({"axes": [{"name": "dp", "size": 2},
//                                        {"name": "tp", "size": 2}]})", 4);
//   mesh.coordinates(3);         // {1, 1}
//   mesh.group(1, {"dp"});       // {1, 3}: the ranks sharing rank 1's tp index
//   Sharding s = {{"dp"}, {}};   // dim 0 split over dp, dim 1 replicated
//   localShape({8, 4}, s, mesh); // {4, 4}
//
#ifndef PMC_RUNTIME_MESH_H
#define PMC_RUNTIME_MESH_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pmc::runtime {

/// Per tensor dimension, the mesh axes it is split over (first axis major);
/// an empty list (or an empty Sharding) means replicated.
using Sharding = std::vector<std::vector<std::string>>;

/// "[{dp}, {}]", for messages.
std::string shardingToString(const Sharding &sharding);

struct MeshAxis {
  std::string name;
  int64_t size = 1;
};

/// Named axes in order; rank = row-major linearization of the coordinates.
struct Mesh {
  std::vector<MeshAxis> axes;

  /// Parses the manifest's `mesh` object ({"axes": [{"name", "size"}...]}) and
  /// checks that the sizes multiply to `devices` (an empty mesh fits 1 device).
  /// Throws RuntimeError starting with "manifest: mesh".
  static Mesh parse(std::string_view json, int64_t devices);

  /// Product of the axis sizes (1 for no axes).
  int64_t size() const;
  /// Index of axis `name`, or -1.
  int axisIndex(const std::string &name) const;
  /// The coordinates of `rank`, one per axis.
  std::vector<int64_t> coordinates(int rank) const;
  /// The ranks sharing `rank`'s coordinates on every axis but `axes`, ordered
  /// by their linearized coordinate over `axes` (first axis major). Throws
  /// RuntimeError for an unknown or repeated axis.
  std::vector<int> group(int rank, const std::vector<std::string> &axes) const;
  /// `rank`'s position inside group(rank, axes).
  int64_t positionInGroup(int rank, const std::vector<std::string> &axes) const;
  /// Product of the sizes of `axes`.
  int64_t groupSize(const std::vector<std::string> &axes) const;
  /// "[dp=2, tp=2]", for messages.
  std::string toString() const;
};

/// Checks `sharding` against a tensor of global `shape` on `mesh`: one entry
/// per dimension (or none), known axes, no axis used twice, every dimension
/// divisible by its shard count. Throws RuntimeError("<where>: ...").
void checkSharding(const Sharding &sharding, const std::vector<int64_t> &shape,
                   const Mesh &mesh, const std::string &where);
/// The local shape of a rank's shard of a tensor of global `shape`.
std::vector<int64_t> localShape(const std::vector<int64_t> &shape, const Sharding &sharding,
                                const Mesh &mesh);
/// Element offsets, per dimension, of `rank`'s shard inside the global tensor.
std::vector<int64_t> shardOffsets(const std::vector<int64_t> &shape, const Sharding &sharding,
                                  const Mesh &mesh, int rank);
/// Whether `rank` is the one whose shard is taken when assembling: it has
/// coordinate 0 on every axis the sharding does not name.
bool isAssemblySource(const Sharding &sharding, const Mesh &mesh, int rank);

/// Copies a block of `block` elements (each `elementSize` bytes) from `src`
/// (a dense tensor of `srcShape`, block starting at `srcOffsets`) into `dst`
/// (dense, `dstShape`, block at `dstOffsets`). Contiguous inner runs are
/// copied with one memcpy each. Ranks of all shapes and offsets must match.
///
///   // the second row of a 2x3 matrix into a 1x3 one
///   copyBlock(src, {2, 3}, {1, 0}, dst, {1, 3}, {0, 0}, {1, 3}, 4);
void copyBlock(const void *src, const std::vector<int64_t> &srcShape,
               const std::vector<int64_t> &srcOffsets, void *dst,
               const std::vector<int64_t> &dstShape, const std::vector<int64_t> &dstOffsets,
               const std::vector<int64_t> &block, size_t elementSize);

} // namespace pmc::runtime

#endif // PMC_RUNTIME_MESH_H
