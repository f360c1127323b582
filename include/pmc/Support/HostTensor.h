//===- HostTensor.h - a dense tensor in host memory (no MLIR) ---*- C++ -*-===//
//
// Shared by the runtime, pmc-run, the Python modules and the compiler driver:
// the element types pmc exchanges with users and their numpy names.
//
#ifndef PMC_SUPPORT_HOSTTENSOR_H
#define PMC_SUPPORT_HOSTTENSOR_H

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pmc {

/// Element types, named as numpy names them ("float32", "bool", ...).
enum class DType : uint8_t {
  Bool, Int8, Int16, Int32, Int64, UInt8, UInt16, UInt32, UInt64,
  Float16, BFloat16, Float32, Float64,
};

/// "float32" for DType::Float32; "bfloat16" for the type numpy lacks.
std::string_view dtypeName(DType dtype);
/// The dtype of a numpy name, or nullopt.
std::optional<DType> dtypeFromName(std::string_view name);
/// Bytes per element (bool takes one byte, as in numpy).
size_t dtypeSize(DType dtype);

/// A dense row-major tensor owning its bytes.
struct HostTensor {
  DType dtype = DType::Float32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;

  int64_t numElements() const;
  size_t numBytes() const { return numElements() * dtypeSize(dtype); }
};

/// "[2x3]" for a 2x3 shape; used in error messages everywhere.
std::string shapeToString(const std::vector<int64_t> &shape);

} // namespace pmc

#endif // PMC_SUPPORT_HOSTTENSOR_H
