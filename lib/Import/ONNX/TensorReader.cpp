//===- TensorReader.cpp - ONNX TensorProto to MLIR elements attributes ----===//
//
// Small tensors become DenseElementsAttr (foldable), large ones dense resource
// blobs that take over the protobuf's raw_data string or a mapping of the
// external data file, so a large model is not copied again.
//
#include "ImporterImpl.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Alignment.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <cstring>
#include <iterator>

using namespace mlir;
using namespace ::pmc::onnx_import;
namespace onnx_import = ::pmc::onnx_import;
using onnx::TensorProto;

Type onnx_import::convertElementType(MLIRContext &context, int32_t onnxType) {
  Builder b(&context);
  switch (onnxType) {
  case TensorProto::FLOAT: return b.getF32Type();
  case TensorProto::DOUBLE: return b.getF64Type();
  case TensorProto::FLOAT16: return b.getF16Type();
  case TensorProto::BFLOAT16: return b.getBF16Type();
  case TensorProto::INT8: return b.getIntegerType(8);
  case TensorProto::INT16: return b.getIntegerType(16);
  case TensorProto::INT32: return b.getIntegerType(32);
  case TensorProto::INT64: return b.getIntegerType(64);
  case TensorProto::UINT8: return b.getIntegerType(8, /*isSigned=*/false);
  case TensorProto::UINT16: return b.getIntegerType(16, false);
  case TensorProto::UINT32: return b.getIntegerType(32, false);
  case TensorProto::UINT64: return b.getIntegerType(64, false);
  case TensorProto::BOOL: return b.getI1Type();
  default: return {};
  }
}

std::string onnx_import::onnxTypeName(int32_t onnxType) {
  if (TensorProto::DataType_IsValid(onnxType))
    return TensorProto::DataType_Name(static_cast<TensorProto::DataType>(onnxType));
  // The types of onnx 1.14 and later, which Debian's onnx.proto (1.12) lacks.
  static const char *const kLater[] = {
      "FLOAT8E4M3FN", "FLOAT8E4M3FNUZ", "FLOAT8E5M2", "FLOAT8E5M2FNUZ", "UINT4", "INT4",
      "FLOAT4E2M1", "FLOAT8E8M0", "UINT2", "INT2", "FLOAT6E2M3", "FLOAT6E3M2"};
  if (onnxType >= 17 && onnxType < 17 + (int32_t)std::size(kLater))
    return kLater[onnxType - 17];
  return "type " + std::to_string(onnxType);
}

/// Bytes per element in pmc's storage (bool takes one byte).
static size_t storageBytes(int32_t onnxType) {
  switch (onnxType) {
  case TensorProto::DOUBLE: case TensorProto::INT64: case TensorProto::UINT64:
    return 8;
  case TensorProto::FLOAT: case TensorProto::INT32: case TensorProto::UINT32:
    return 4;
  case TensorProto::FLOAT16: case TensorProto::BFLOAT16: case TensorProto::INT16:
  case TensorProto::UINT16:
    return 2;
  default:
    return 1;
  }
}

/// Copies the typed repeated field that holds `tensor`'s values into `out`
/// (little-endian storage of `bytes` per element), per the rules of onnx.proto.
static LogicalResult readTypedField(const TensorProto &t, size_t bytes,
                                    int64_t count, std::vector<char> &out,
                                    std::string &why) {
  out.assign(count * bytes, 0);
  auto store = [&](int64_t i, uint64_t bits) {
    std::memcpy(out.data() + i * bytes, &bits, bytes); // little-endian host
  };
  auto check = [&](int64_t have, const char *field) {
    if (have == count)
      return true;
    why = std::string(field) + " holds " + std::to_string(have) +
          " values, the shape needs " + std::to_string(count);
    return false;
  };
  switch (t.data_type()) {
  case TensorProto::FLOAT:
    if (!check(t.float_data_size(), "float_data")) return failure();
    for (int64_t i = 0; i < count; ++i) {
      float v = t.float_data(i);
      std::memcpy(out.data() + i * 4, &v, 4);
    }
    return success();
  case TensorProto::DOUBLE:
    if (!check(t.double_data_size(), "double_data")) return failure();
    for (int64_t i = 0; i < count; ++i) {
      double v = t.double_data(i);
      std::memcpy(out.data() + i * 8, &v, 8);
    }
    return success();
  case TensorProto::INT64:
    if (!check(t.int64_data_size(), "int64_data")) return failure();
    for (int64_t i = 0; i < count; ++i)
      store(i, static_cast<uint64_t>(t.int64_data(i)));
    return success();
  case TensorProto::UINT32: case TensorProto::UINT64:
    if (!check(t.uint64_data_size(), "uint64_data")) return failure();
    for (int64_t i = 0; i < count; ++i)
      store(i, t.uint64_data(i));
    return success();
  case TensorProto::INT32: case TensorProto::INT16: case TensorProto::INT8:
  case TensorProto::UINT16: case TensorProto::UINT8: case TensorProto::BOOL:
  case TensorProto::FLOAT16: case TensorProto::BFLOAT16:
    // int32_data holds these widened to 32 bits (16-bit floats as their bits).
    if (!check(t.int32_data_size(), "int32_data")) return failure();
    for (int64_t i = 0; i < count; ++i) {
      uint64_t v = static_cast<uint32_t>(t.int32_data(i));
      if (t.data_type() == TensorProto::BOOL)
        v = v != 0;
      store(i, v);
    }
    return success();
  default:
    why = "no typed field for " + onnxTypeName(t.data_type());
    return failure();
  }
}

/// Resolves an external data location inside `modelDir`; fails with `why` when
/// it is absolute or leaves the folder (also through symlinks).
static FailureOr<std::string> confinePath(StringRef modelDir, StringRef location,
                                          std::string &why) {
  if (location.empty() || llvm::sys::path::is_absolute(location)) {
    why = "external data location '" + location.str() +
          "' must be a path relative to the model's folder";
    return failure();
  }
  for (StringRef part : llvm::make_range(llvm::sys::path::begin(location),
                                         llvm::sys::path::end(location)))
    if (part == "..") {
      why = "external data location '" + location.str() +
            "' leaves the model's folder";
      return failure();
    }
  SmallString<256> path(modelDir);
  llvm::sys::path::append(path, location);
  SmallString<256> realDir, realPath;
  if (llvm::sys::fs::real_path(modelDir, realDir) ||
      llvm::sys::fs::real_path(path, realPath)) {
    why = "external data file '" + path.str().str() + "' cannot be opened";
    return failure();
  }
  StringRef dir = realDir.str(), file = realPath.str();
  if (!file.starts_with(dir) || file.size() <= dir.size() ||
      !llvm::sys::path::is_separator(file[dir.size()])) {
    why = "external data location '" + location.str() + "' resolves to '" +
          file.str() + "', outside the model's folder '" + dir.str() + "'";
    return failure();
  }
  return path.str().str();
}

/// A resource name the printer accepts as a bare identifier.
static std::string blobName(StringRef tensorName) {
  std::string s;
  for (char c : tensorName)
    s += (llvm::isAlnum(c) || c == '_' || c == '.') ? c : '_';
  if (s.empty() || llvm::isDigit(s[0]))
    s = "t_" + s;
  return s;
}

FailureOr<ElementsAttr>
onnx_import::readTensor(TensorProto &t, StringRef modelDir, MLIRContext &context,
                             function_ref<InFlightDiagnostic()> emitError) {
  auto fail = [&](const Twine &why) -> FailureOr<ElementsAttr> {
    emitError() << "tensor '" << t.name() << "': " << why;
    return failure();
  };
  Type elementType = convertElementType(context, t.data_type());
  if (!elementType)
    return fail("unsupported element type " + onnxTypeName(t.data_type()));
  SmallVector<int64_t> shape;
  int64_t count = 1;
  for (int64_t d : t.dims()) {
    if (d < 0)
      return fail("negative dimension " + Twine(d));
    if (d != 0 && count > (int64_t(1) << 40) / d)
      return fail("too many elements");
    shape.push_back(d);
    count *= d;
  }
  auto type = RankedTensorType::get(shape, elementType);
  size_t bytes = storageBytes(t.data_type());
  size_t size = count * bytes;

  // Gather the bytes: external file, raw_data, or a typed field.
  std::unique_ptr<llvm::MemoryBuffer> mapped;
  std::vector<char> typed;
  ArrayRef<char> data;
  bool fromRaw = false;
  if (t.data_location() == TensorProto::EXTERNAL) {
    std::string location;
    int64_t offset = 0, length = -1;
    for (const auto &kv : t.external_data()) {
      if (kv.key() == "location")
        location = kv.value();
      else if (kv.key() == "offset" || kv.key() == "length") {
        int64_t v;
        if (StringRef(kv.value()).getAsInteger(10, v) || v < 0)
          return fail("external data " + kv.key() + " '" + kv.value() +
                      "' is not a non-negative integer");
        (kv.key() == "offset" ? offset : length) = v;
      }
    }
    std::string why;
    auto path = confinePath(modelDir, location, why);
    if (failed(path))
      return fail(why);
    if (length < 0)
      length = size;
    if ((size_t)length != size)
      return fail("external data length " + Twine(length) + " differs from the " +
                  Twine(size) + " bytes of its shape");
    uint64_t fileSize = 0;
    if (llvm::sys::fs::file_size(*path, fileSize) ||
        (uint64_t)offset + length > fileSize)
      return fail("external data file '" + *path + "' holds " + Twine(fileSize) +
                  " bytes, fewer than offset " + Twine(offset) + " + length " +
                  Twine(length));
    auto buffer = llvm::MemoryBuffer::getFileSlice(*path, length, offset,
                                                   /*IsVolatile=*/false);
    if (!buffer)
      return fail("cannot read external data file '" + *path +
                  "': " + buffer.getError().message());
    mapped = std::move(*buffer);
    data = ArrayRef<char>(mapped->getBufferStart(), mapped->getBufferSize());
  } else if (t.has_raw_data()) {
    if (t.raw_data().size() != size)
      return fail("raw_data holds " + Twine(t.raw_data().size()) +
                  " bytes, the shape needs " + Twine(size));
    data = ArrayRef<char>(t.raw_data().data(), t.raw_data().size());
    fromRaw = true;
  } else {
    std::string why;
    if (failed(readTypedField(t, bytes, count, typed, why)))
      return fail(why);
    data = typed;
  }

  if (count <= kMaxDenseElements) {
    if (t.data_type() == TensorProto::BOOL) {
      SmallVector<bool> values;
      for (char c : data)
        values.push_back(c != 0);
      return ElementsAttr(DenseElementsAttr::get(type, values));
    }
    bool splat = false;
    if (!DenseElementsAttr::isValidRawBuffer(type, data, splat))
      return fail("its data does not match type " + Twine(onnxTypeName(t.data_type())));
    return ElementsAttr(DenseElementsAttr::getFromRawBuffer(type, data));
  }

  // Large: a resource blob that owns the bytes without copying them.
  if (t.data_type() == TensorProto::BOOL)
    for (char c : data)
      if (c != 0 && c != 1)
        return fail("bool data holds a byte that is neither 0 nor 1");
  size_t align = bytes;
  AsmResourceBlob blob;
  bool aligned = llvm::isAddrAligned(llvm::Align(align), data.data());
  if (mapped && aligned) {
    std::shared_ptr<llvm::MemoryBuffer> owner = std::move(mapped);
    blob = AsmResourceBlob(data, align,
                           [owner](void *, size_t, size_t) mutable { owner.reset(); },
                           /*dataIsMutable=*/false);
  } else if (fromRaw && aligned) {
    std::string *raw = t.release_raw_data();
    blob = AsmResourceBlob(ArrayRef<char>(raw->data(), raw->size()), align,
                           [raw](void *, size_t, size_t) { delete raw; },
                           /*dataIsMutable=*/false);
  } else {
    blob = HeapAsmResourceBlob::allocateAndCopyWithAlign(data, align);
  }
  return ElementsAttr(DenseResourceElementsAttr::get(type, blobName(t.name()),
                                                     std::move(blob)));
}
