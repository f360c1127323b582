//===- HostTensor.h - a dense tensor in host memory (no MLIR) ---*- C++ -*-===//
//
// Shared by the runtime, pmc-run, the Python modules and the compiler driver:
// the element types pmc exchanges with users and their numpy names.
//
#ifndef PMC_SUPPORT_HOSTTENSOR_H
#define PMC_SUPPORT_HOSTTENSOR_H

#include <cstddef>
#include <cstdint>
#include <new>
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

/// IEEE binary16 bits to float (exact).
float halfToFloat(uint16_t bits);
/// float to IEEE binary16 bits, rounded to nearest even; overflow gives
/// infinity, NaN stays NaN.
uint16_t floatToHalf(float value);
/// bfloat16 bits to float (exact).
float bfloat16ToFloat(uint16_t bits);
/// float to bfloat16 bits, rounded to nearest even; NaN stays NaN.
uint16_t floatToBFloat16(float value);

/// Widens `count` elements of a Float16, BFloat16 or Float32 buffer to float
/// (the half-precision GEMMs and collectives accumulate in float).
void toFloat32(DType dtype, const void *in, float *out, size_t count);
/// Narrows `count` floats into a Float16, BFloat16 or Float32 buffer.
void fromFloat32(DType dtype, const float *in, void *out, size_t count);

/// Every HostTensor's bytes start at a multiple of this: the runtime reads
/// and writes buffers this aligned in place (kArenaAlignment), so a tensor
/// it keeps across runs (a train step's state) is never staged.
inline constexpr size_t kHostTensorAlignment = 64;

/// std::allocator with kHostTensorAlignment.
template <typename T>
struct AlignedAllocator {
  using value_type = T;
  AlignedAllocator() = default;
  template <typename U>
  AlignedAllocator(const AlignedAllocator<U> &) {}
  T *allocate(size_t n) {
    return static_cast<T *>(::operator new(n * sizeof(T), std::align_val_t(kHostTensorAlignment)));
  }
  void deallocate(T *p, size_t) { ::operator delete(p, std::align_val_t(kHostTensorAlignment)); }
  template <typename U>
  bool operator==(const AlignedAllocator<U> &) const { return true; }
  template <typename U>
  bool operator!=(const AlignedAllocator<U> &) const { return false; }
};

/// Bytes aligned to kHostTensorAlignment.
using AlignedBytes = std::vector<uint8_t, AlignedAllocator<uint8_t>>;

/// A dense row-major tensor owning its bytes.
struct HostTensor {
  DType dtype = DType::Float32;
  std::vector<int64_t> shape;
  AlignedBytes data;

  int64_t numElements() const;
  size_t numBytes() const { return numElements() * dtypeSize(dtype); }
};

/// "[2x3]" for a 2x3 shape; used in error messages everywhere.
std::string shapeToString(const std::vector<int64_t> &shape);
/// "[1, 2, 3]": a list of integers (strides, pads) in error messages.
std::string listToString(const std::vector<int64_t> &values);

} // namespace pmc

#endif // PMC_SUPPORT_HOSTTENSOR_H
