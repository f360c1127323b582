//===- Npy.cpp - numpy .npy headers and payloads ----------------------------===//

#include "pmc/Support/Npy.h"
#include "FileIO.h"

#include <cctype>
#include <cstring>
#include <limits>
#include <optional>

namespace pmc::npy {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;

[[noreturn]] void fail(const std::string &what, const std::string &msg) {
  throw NpyError(what + ": " + msg);
}

/// The dtype of a numpy descriptor such as "<f4"; nullopt when unsupported.
std::optional<DType> dtypeFromDescr(const std::string &descr) {
  if (descr.size() < 3)
    return std::nullopt;
  char order = descr[0];
  std::string code = descr.substr(1);
  bool singleByte = code == "b1" || code == "i1" || code == "u1";
  // '|' means "no byte order" (single bytes); '<' little-endian; '=' native,
  // which is little-endian on every host pmc runs on.
  if (!(order == '<' || order == '=' || (order == '|' && (singleByte || code == "V2"))))
    return std::nullopt;
  static const std::pair<const char *, DType> kCodes[] = {
      {"b1", DType::Bool},    {"i1", DType::Int8},     {"i2", DType::Int16},
      {"i4", DType::Int32},   {"i8", DType::Int64},    {"u1", DType::UInt8},
      {"u2", DType::UInt16},  {"u4", DType::UInt32},   {"u8", DType::UInt64},
      {"f2", DType::Float16}, {"V2", DType::BFloat16}, {"f4", DType::Float32},
      {"f8", DType::Float64}};
  for (const auto &[c, dtype] : kCodes)
    if (code == c)
      return dtype;
  return std::nullopt;
}

/// A tiny reader of the Python dict literal in an .npy header:
/// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
class HeaderParser {
public:
  HeaderParser(std::string_view text, const std::string &what)
      : text(text), what(what) {}

  void parse(std::string &descr, bool &fortran, std::vector<int64_t> &shape) {
    bool haveDescr = false, haveFortran = false, haveShape = false;
    expect('{');
    while (true) {
      skipSpace();
      if (peek() == '}') {
        ++pos;
        break;
      }
      std::string key = parseString();
      expect(':');
      if (key == "descr") {
        skipSpace();
        if (peek() != '\'' && peek() != '"')
          fail(what, "structured dtypes are not supported (descr is not a "
                     "simple type string)");
        descr = parseString();
        haveDescr = true;
      } else if (key == "fortran_order") {
        fortran = parseBool();
        haveFortran = true;
      } else if (key == "shape") {
        shape = parseShape();
        haveShape = true;
      } else {
        fail(what, "unexpected key '" + key + "' in the .npy header");
      }
      skipSpace();
      if (peek() == ',')
        ++pos;
    }
    if (!haveDescr || !haveFortran || !haveShape)
      fail(what, "the .npy header lacks one of 'descr', 'fortran_order', "
                 "'shape'");
  }

private:
  char peek() {
    if (pos >= text.size())
      fail(what, "the .npy header ends unexpectedly");
    return text[pos];
  }
  void skipSpace() {
    while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos])))
      ++pos;
  }
  void expect(char c) {
    skipSpace();
    if (peek() != c)
      fail(what, std::string("malformed .npy header: expected '") + c +
                     "' at character " + std::to_string(pos));
    ++pos;
  }
  std::string parseString() {
    skipSpace();
    char quote = peek();
    if (quote != '\'' && quote != '"')
      fail(what, "malformed .npy header: expected a string at character " +
                     std::to_string(pos));
    size_t end = text.find(quote, pos + 1);
    if (end == std::string_view::npos)
      fail(what, "malformed .npy header: unterminated string");
    std::string s(text.substr(pos + 1, end - pos - 1));
    pos = end + 1;
    return s;
  }
  bool parseBool() {
    skipSpace();
    if (text.substr(pos, 4) == "True") {
      pos += 4;
      return true;
    }
    if (text.substr(pos, 5) == "False") {
      pos += 5;
      return false;
    }
    fail(what, "malformed .npy header: 'fortran_order' is not True or False");
  }
  std::vector<int64_t> parseShape() {
    std::vector<int64_t> shape;
    expect('(');
    while (true) {
      skipSpace();
      if (peek() == ')') {
        ++pos;
        return shape;
      }
      if (!std::isdigit(static_cast<unsigned char>(peek())))
        fail(what, "malformed .npy header: bad 'shape' entry at character " +
                       std::to_string(pos));
      int64_t v = 0;
      while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
        if (v > (std::numeric_limits<int64_t>::max() - 9) / 10)
          fail(what, "a dimension in 'shape' is too large");
        v = v * 10 + (text[pos++] - '0');
      }
      // Python 2 era files may write 3L.
      if (pos < text.size() && text[pos] == 'L')
        ++pos;
      shape.push_back(v);
      skipSpace();
      if (peek() == ',')
        ++pos;
    }
  }

  std::string_view text;
  const std::string &what;
  size_t pos = 0;
};

uint32_t readLE(const unsigned char *p, int n) {
  uint32_t v = 0;
  for (int i = n - 1; i >= 0; --i)
    v = (v << 8) | p[i];
  return v;
}

} // namespace

std::string npyDescr(DType dtype) {
  switch (dtype) {
  case DType::Bool: return "|b1";
  case DType::Int8: return "|i1";
  case DType::Int16: return "<i2";
  case DType::Int32: return "<i4";
  case DType::Int64: return "<i8";
  case DType::UInt8: return "|u1";
  case DType::UInt16: return "<u2";
  case DType::UInt32: return "<u4";
  case DType::UInt64: return "<u8";
  case DType::Float16: return "<f2";
  case DType::BFloat16: return "<V2";
  case DType::Float32: return "<f4";
  case DType::Float64: return "<f8";
  }
  return "?";
}

HostTensor parseNpy(std::string_view bytes, const std::string &what) {
  const auto *p = reinterpret_cast<const unsigned char *>(bytes.data());
  if (bytes.size() < 10 || std::memcmp(p, kMagic, kMagicSize) != 0)
    fail(what, "not an .npy file (bad magic)");
  unsigned major = p[6];
  size_t headerLen, headerStart;
  if (major == 1) {
    headerLen = readLE(p + 8, 2);
    headerStart = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12)
      fail(what, "truncated .npy header");
    headerLen = readLE(p + 8, 4);
    headerStart = 12;
  } else {
    fail(what, "unsupported .npy format version " + std::to_string(major) +
                   "." + std::to_string(p[7]) + " (supported: 1, 2, 3)");
  }
  if (headerStart + headerLen > bytes.size())
    fail(what, "truncated .npy header (" + std::to_string(headerLen) +
                   " header bytes declared, file has " +
                   std::to_string(bytes.size()) + ")");
  std::string descr;
  bool fortran = false;
  HostTensor t;
  HeaderParser(bytes.substr(headerStart, headerLen), what)
      .parse(descr, fortran, t.shape);
  if (fortran)
    fail(what, "Fortran-order arrays are not supported (save a C-contiguous "
               "array, e.g. numpy.ascontiguousarray)");
  std::optional<DType> dtype = dtypeFromDescr(descr);
  if (!dtype) {
    if (!descr.empty() && descr[0] == '>')
      fail(what, "big-endian dtype '" + descr + "' is not supported");
    fail(what, "unsupported dtype '" + descr +
                   "' (supported: bool, int8-64, uint8-64, float16, "
                   "bfloat16, float32, float64)");
  }
  t.dtype = *dtype;
  size_t elt = dtypeSize(t.dtype);
  // Overflow-safe element count.
  uint64_t count = 1;
  for (int64_t d : t.shape) {
    if (d != 0 && count > std::numeric_limits<uint64_t>::max() / elt / d)
      fail(what, "shape " + shapeToString(t.shape) + " is too large");
    count *= static_cast<uint64_t>(d);
  }
  size_t dataStart = headerStart + headerLen;
  uint64_t need = count * elt;
  if (bytes.size() - dataStart != need)
    fail(what, "data size mismatch: shape " + shapeToString(t.shape) + " of " +
                   std::string(dtypeName(t.dtype)) + " needs " +
                   std::to_string(need) + " bytes, the file holds " +
                   std::to_string(bytes.size() - dataStart));
  t.data.assign(p + dataStart, p + dataStart + need);
  return t;
}

std::string serializeNpy(const HostTensor &tensor) {
  std::string dict = "{'descr': '" + npyDescr(tensor.dtype) +
                     "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < tensor.shape.size(); ++i)
    dict += (i ? ", " : "") + std::to_string(tensor.shape[i]);
  if (tensor.shape.size() == 1)
    dict += ","; // a 1-tuple is "(4,)" in Python
  dict += "), }";
  // Pad with spaces and a newline so the data starts at a multiple of 64.
  size_t prefix = dict.size() + 64 <= 65535 ? 10 : 12;
  size_t total = (prefix + dict.size() + 1 + 63) / 64 * 64;
  std::string header = dict + std::string(total - prefix - dict.size() - 1, ' ') + "\n";
  std::string out(kMagic, kMagicSize);
  if (prefix == 10) {
    out += '\x01';
    out += '\x00';
    out += static_cast<char>(header.size() & 0xff);
    out += static_cast<char>((header.size() >> 8) & 0xff);
  } else {
    out += '\x02';
    out += '\x00';
    for (int i = 0; i < 4; ++i)
      out += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  }
  out += header;
  if (tensor.data.size() != tensor.numBytes())
    throw NpyError("cannot serialize a tensor of shape " +
                   shapeToString(tensor.shape) + " and dtype " +
                   std::string(dtypeName(tensor.dtype)) + ": it holds " +
                   std::to_string(tensor.data.size()) + " bytes, expected " +
                   std::to_string(tensor.numBytes()));
  out.append(reinterpret_cast<const char *>(tensor.data.data()), tensor.data.size());
  return out;
}

HostTensor readNpy(const std::string &path) {
  return parseNpy(readFile<NpyError>(path), path);
}

void writeNpy(const std::string &path, const HostTensor &tensor) {
  std::string bytes;
  try {
    bytes = serializeNpy(tensor);
  } catch (const NpyError &e) {
    throw NpyError(path + ": " + e.what());
  }
  writeFile<NpyError>(path, bytes);
}

} // namespace pmc::npy
