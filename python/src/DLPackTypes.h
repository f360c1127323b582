//===- DLPackTypes.h - pmc dtypes <-> DLPack dtypes, for both modules -----===//
//
// The one mapping between pmc's element types and DLPack's, shared by
// pmc._runtime (feeds and results) and pmc._compiler (bound inputs).
//
#ifndef PMC_PYTHON_DLPACKTYPES_H
#define PMC_PYTHON_DLPACKTYPES_H

#include "pmc/Support/HostTensor.h"

#include <nanobind/ndarray.h>

#include <optional>

namespace pmc::python {

namespace nb = nanobind;

/// The pmc dtype of a DLPack dtype, if pmc has one.
inline std::optional<DType> fromDlpack(nb::dlpack::dtype t) {
  using Code = nb::dlpack::dtype_code;
  if (t.lanes != 1)
    return std::nullopt;
  switch (static_cast<Code>(t.code)) {
  case Code::Bool:
    return t.bits == 8 ? std::optional(DType::Bool) : std::nullopt;
  case Code::Int:
    switch (t.bits) {
    case 8: return DType::Int8;
    case 16: return DType::Int16;
    case 32: return DType::Int32;
    case 64: return DType::Int64;
    }
    return std::nullopt;
  case Code::UInt:
    switch (t.bits) {
    case 8: return DType::UInt8;
    case 16: return DType::UInt16;
    case 32: return DType::UInt32;
    case 64: return DType::UInt64;
    }
    return std::nullopt;
  case Code::Float:
    switch (t.bits) {
    case 16: return DType::Float16;
    case 32: return DType::Float32;
    case 64: return DType::Float64;
    }
    return std::nullopt;
  case Code::Bfloat:
    return t.bits == 16 ? std::optional(DType::BFloat16) : std::nullopt;
  default:
    return std::nullopt;
  }
}

inline nb::dlpack::dtype toDlpack(DType d) {
  using Code = nb::dlpack::dtype_code;
  auto make = [](Code c, int bits) {
    nb::dlpack::dtype t;
    t.code = static_cast<uint8_t>(c);
    t.bits = static_cast<uint8_t>(bits);
    t.lanes = 1;
    return t;
  };
  switch (d) {
  case DType::Bool: return make(Code::Bool, 8);
  case DType::Int8: return make(Code::Int, 8);
  case DType::Int16: return make(Code::Int, 16);
  case DType::Int32: return make(Code::Int, 32);
  case DType::Int64: return make(Code::Int, 64);
  case DType::UInt8: return make(Code::UInt, 8);
  case DType::UInt16: return make(Code::UInt, 16);
  case DType::UInt32: return make(Code::UInt, 32);
  case DType::UInt64: return make(Code::UInt, 64);
  case DType::Float16: return make(Code::Float, 16);
  case DType::BFloat16: return make(Code::Bfloat, 16);
  case DType::Float32: return make(Code::Float, 32);
  case DType::Float64: return make(Code::Float, 64);
  }
  return make(Code::Float, 32);
}

} // namespace pmc::python

#endif // PMC_PYTHON_DLPACKTYPES_H
