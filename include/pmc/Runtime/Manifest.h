//===- Manifest.h - the bundle manifest, parsed and checked -----*- C++ -*-===//
#ifndef PMC_RUNTIME_MANIFEST_H
#define PMC_RUNTIME_MANIFEST_H

#include "pmc/Runtime/Mesh.h"
#include "pmc/Support/HostTensor.h"

#include <string>
#include <string_view>
#include <vector>

namespace pmc::runtime {

/// A graph input or output as the manifest declares it.
struct TensorSpec {
  std::string name;
  DType dtype = DType::Float32;
  /// The full (global) shape.
  std::vector<int64_t> shape;
  /// How the ranks' local tensors tile it (empty: replicated).
  Sharding sharding;

  /// The shape of one rank's local shard.
  std::vector<int64_t> localShape(const Mesh &mesh) const;
  /// Dense byte size of the tensor.
  size_t numBytes() const;
  /// "x: float32[1x4]", for messages and `pmc-run --info`.
  std::string toString() const;
};

/// The `manifest` section (docs/design/bundle.md), validated.
struct Manifest {
  std::string producer;
  std::string target;
  int64_t devices = 1;
  /// The mesh object, as compact JSON text.
  std::string meshJson;
  /// The mesh, parsed (its size equals `devices`).
  Mesh mesh;
  /// The section holding the host kernel library; empty when there is none.
  std::string kernelLibrary;
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
  /// For rank r, the name of its program section (ranks[r]).
  std::vector<std::string> rankPrograms;

  /// Parses and checks the JSON text of the manifest. Throws RuntimeError
  /// whose message starts with "manifest: ".
  static Manifest parse(std::string_view json);
};

} // namespace pmc::runtime

#endif // PMC_RUNTIME_MANIFEST_H
