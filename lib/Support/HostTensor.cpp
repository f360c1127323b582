//===- HostTensor.cpp - dtype names and sizes, tensor helpers --------------===//

#include "pmc/Support/HostTensor.h"

#include <array>
#include <cmath>
#include <cstring>

namespace pmc {

namespace {
struct DTypeInfo {
  DType dtype;
  std::string_view name;
  size_t size;
};
constexpr std::array<DTypeInfo, 13> kDTypes = {{
    {DType::Bool, "bool", 1},
    {DType::Int8, "int8", 1},
    {DType::Int16, "int16", 2},
    {DType::Int32, "int32", 4},
    {DType::Int64, "int64", 8},
    {DType::UInt8, "uint8", 1},
    {DType::UInt16, "uint16", 2},
    {DType::UInt32, "uint32", 4},
    {DType::UInt64, "uint64", 8},
    {DType::Float16, "float16", 2},
    {DType::BFloat16, "bfloat16", 2},
    {DType::Float32, "float32", 4},
    {DType::Float64, "float64", 8},
}};
} // namespace

std::string_view dtypeName(DType dtype) {
  return kDTypes[static_cast<size_t>(dtype)].name;
}

std::optional<DType> dtypeFromName(std::string_view name) {
  for (const DTypeInfo &info : kDTypes)
    if (info.name == name)
      return info.dtype;
  return std::nullopt;
}

size_t dtypeSize(DType dtype) {
  return kDTypes[static_cast<size_t>(dtype)].size;
}

float halfToFloat(uint16_t h) {
  int exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  float sign = (h & 0x8000) ? -1.0f : 1.0f;
  if (exponent == 0)
    return sign * std::ldexp(static_cast<float>(mantissa), -24);
  if (exponent == 31)
    return mantissa ? NAN : sign * INFINITY;
  return sign * std::ldexp(static_cast<float>(mantissa + 1024), exponent - 25);
}

uint16_t floatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  uint32_t absx = x & 0x7fffffff;
  if (absx >= 0x7f800000) // inf or nan
    return sign | 0x7c00 | (absx > 0x7f800000 ? 0x200 : 0);
  if (absx >= 0x477ff000) // rounds to >= 65520: overflow
    return sign | 0x7c00;
  if (absx < 0x38800000) { // subnormal half (or zero)
    float a;
    std::memcpy(&a, &absx, 4);
    // Scale so the half's subnormal unit is 1, round to nearest even.
    return sign | static_cast<uint16_t>(std::nearbyint(a * 16777216.0f));
  }
  uint32_t mant = absx & 0x7fffff;
  int32_t exp = static_cast<int32_t>(absx >> 23) - 127 + 15;
  uint32_t half = (static_cast<uint32_t>(exp) << 10) | (mant >> 13);
  uint32_t rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (half & 1)))
    ++half; // may carry into the exponent, which is still correct
  return sign | static_cast<uint16_t>(half);
}

float bfloat16ToFloat(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t floatToBFloat16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffff) > 0x7f800000)
    return static_cast<uint16_t>((x >> 16) | 0x40); // quiet nan
  x += 0x7fff + ((x >> 16) & 1);                   // round to nearest even
  return static_cast<uint16_t>(x >> 16);
}

void toFloat32(DType dtype, const void *in, float *out, size_t count) {
  const auto *bits = static_cast<const uint16_t *>(in);
  if (dtype == DType::Float16)
    for (size_t i = 0; i < count; ++i)
      out[i] = halfToFloat(bits[i]);
  else if (dtype == DType::BFloat16)
    for (size_t i = 0; i < count; ++i)
      out[i] = bfloat16ToFloat(bits[i]);
  else
    std::memcpy(out, in, count * sizeof(float));
}

void fromFloat32(DType dtype, const float *in, void *out, size_t count) {
  auto *bits = static_cast<uint16_t *>(out);
  if (dtype == DType::Float16)
    for (size_t i = 0; i < count; ++i)
      bits[i] = floatToHalf(in[i]);
  else if (dtype == DType::BFloat16)
    for (size_t i = 0; i < count; ++i)
      bits[i] = floatToBFloat16(in[i]);
  else
    std::memcpy(out, in, count * sizeof(float));
}

int64_t HostTensor::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

std::string shapeToString(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      s += "x";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

std::string listToString(const std::vector<int64_t> &values) {
  std::string s = "[";
  for (size_t i = 0; i < values.size(); ++i)
    s += (i ? ", " : "") + std::to_string(values[i]);
  return s + "]";
}

} // namespace pmc
