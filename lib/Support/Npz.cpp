//===- Npz.cpp - .npz archives: a zip of .npy members -----------------------===//
//
// Reads what numpy.savez and numpy.savez_compressed write (stored or deflate
// members, zip64 extras included) and writes stored archives.
//
#include "pmc/Support/Npy.h"
#include "FileIO.h"

#include <set>
#include <zlib.h>

namespace pmc::npy {

namespace {

constexpr uint32_t kLocalSig = 0x04034b50;
constexpr uint32_t kCentralSig = 0x02014b50;
constexpr uint32_t kEndSig = 0x06054b50;
constexpr uint32_t kZip64EndSig = 0x06064b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;

/// Bounds-checked little-endian reads from the archive bytes.
class Cursor {
public:
  Cursor(std::string_view bytes, const std::string &path) : bytes(bytes), path(path) {}
  uint64_t read(uint64_t offset, int n) const {
    if (offset > bytes.size() || bytes.size() - offset < static_cast<uint64_t>(n))
      throw NpyError(path + ": truncated zip archive (a record at offset " +
                     std::to_string(offset) + " runs past the end)");
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i)
      v = (v << 8) | static_cast<unsigned char>(bytes[offset + i]);
    return v;
  }
  std::string_view slice(uint64_t offset, uint64_t size, const std::string &what) const {
    if (offset > bytes.size() || bytes.size() - offset < size)
      throw NpyError(path + ": truncated zip archive (" + what +
                     " runs past the end of the file)");
    return bytes.substr(offset, size);
  }
  std::string_view bytes;
  const std::string &path;
};

struct Member {
  std::string name;
  uint16_t method;
  uint16_t flags;
  uint32_t crc;
  uint64_t compressedSize, size, localOffset;
};

std::string inflateRaw(std::string_view in, uint64_t size, const std::string &what) {
  std::string out(size, '\0');
  z_stream zs{};
  if (inflateInit2(&zs, -MAX_WBITS) != Z_OK)
    throw NpyError(what + ": cannot initialise zlib");
  zs.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef *>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int rc = inflate(&zs, Z_FINISH);
  uint64_t produced = zs.total_out;
  inflateEnd(&zs);
  if (rc != Z_STREAM_END || produced != size)
    throw NpyError(what + ": corrupt deflate data (zlib status " +
                   std::to_string(rc) + ", " + std::to_string(produced) + " of " +
                   std::to_string(size) + " bytes)");
  return out;
}

/// Applies the zip64 extended-information extra field of a central record.
void applyZip64Extra(const Cursor &c, uint64_t extra, uint64_t extraLen, Member &m,
                     bool sizeMax, bool csizeMax, bool offsetMax) {
  uint64_t p = extra, end = extra + extraLen;
  while (p + 4 <= end) {
    uint64_t id = c.read(p, 2), len = c.read(p + 2, 2);
    if (id == 1) {
      uint64_t q = p + 4;
      if (sizeMax) { m.size = c.read(q, 8); q += 8; }
      if (csizeMax) { m.compressedSize = c.read(q, 8); q += 8; }
      if (offsetMax) { m.localOffset = c.read(q, 8); }
      return;
    }
    p += 4 + len;
  }
}

std::vector<Member> readCentralDirectory(const Cursor &c) {
  const std::string &path = c.path;
  std::string_view b = c.bytes;
  if (b.size() < 22)
    throw NpyError(path + ": not a zip (.npz) archive (too short)");
  // The end record is the last 22 bytes plus a comment of up to 64 KiB.
  uint64_t end = std::string::npos;
  uint64_t lowest = b.size() > 22 + 65535 ? b.size() - 22 - 65535 : 0;
  for (uint64_t p = b.size() - 22 + 1; p-- > lowest;)
    if (c.read(p, 4) == kEndSig) {
      end = p;
      break;
    }
  if (end == std::string::npos)
    throw NpyError(path + ": not a zip (.npz) archive (no end of central directory)");
  uint64_t count = c.read(end + 10, 2);
  uint64_t cdOffset = c.read(end + 16, 4);
  if (count == 0xffff || cdOffset == 0xffffffff) {
    if (end < 20 || c.read(end - 20, 4) != kZip64LocatorSig)
      throw NpyError(path + ": zip64 archive without a zip64 locator");
    uint64_t z64 = c.read(end - 20 + 8, 8);
    if (c.read(z64, 4) != kZip64EndSig)
      throw NpyError(path + ": bad zip64 end of central directory record");
    count = c.read(z64 + 32, 8);
    cdOffset = c.read(z64 + 48, 8);
  }
  std::vector<Member> members;
  uint64_t p = cdOffset;
  for (uint64_t i = 0; i < count; ++i) {
    if (c.read(p, 4) != kCentralSig)
      throw NpyError(path + ": corrupt zip central directory (entry " +
                     std::to_string(i) + ")");
    Member m;
    m.flags = c.read(p + 8, 2);
    m.method = c.read(p + 10, 2);
    m.crc = c.read(p + 16, 4);
    m.compressedSize = c.read(p + 20, 4);
    m.size = c.read(p + 24, 4);
    uint64_t nameLen = c.read(p + 28, 2), extraLen = c.read(p + 30, 2),
             commentLen = c.read(p + 32, 2);
    m.localOffset = c.read(p + 42, 4);
    m.name = std::string(c.slice(p + 46, nameLen, "a member name"));
    applyZip64Extra(c, p + 46 + nameLen, extraLen, m, m.size == 0xffffffff,
                    m.compressedSize == 0xffffffff, m.localOffset == 0xffffffff);
    members.push_back(m);
    p += 46 + nameLen + extraLen + commentLen;
  }
  return members;
}

void put(std::string &out, uint64_t v, int n) {
  for (int i = 0; i < n; ++i)
    out += static_cast<char>((v >> (8 * i)) & 0xff);
}

} // namespace

std::vector<std::pair<std::string, std::string>> readZip(const std::string &path) {
  std::string bytes = readFile<NpyError>(path);
  Cursor c(bytes, path);
  std::vector<std::pair<std::string, std::string>> result;
  for (const Member &m : readCentralDirectory(c)) {
    std::string what = path + "[" + m.name + "]";
    if (m.flags & 1)
      throw NpyError(what + ": encrypted members are not supported");
    if (c.read(m.localOffset, 4) != kLocalSig)
      throw NpyError(what + ": corrupt zip local header");
    uint64_t dataStart = m.localOffset + 30 + c.read(m.localOffset + 26, 2) +
                         c.read(m.localOffset + 28, 2);
    std::string_view raw = c.slice(dataStart, m.compressedSize, "member '" + m.name + "'");
    std::string inflated;
    std::string_view data;
    if (m.method == 0) {
      if (m.compressedSize != m.size)
        throw NpyError(what + ": stored member sizes disagree");
      data = raw;
    } else if (m.method == 8) {
      // Deflate expands at most ~1032:1; a larger claim is a corrupt header.
      if (m.size / 1032 > m.compressedSize + 1024)
        throw NpyError(what + ": implausible uncompressed size " + std::to_string(m.size) +
                       " for " + std::to_string(m.compressedSize) + " compressed bytes");
      inflated = inflateRaw(raw, m.size, what);
      data = inflated;
    } else {
      throw NpyError(what + ": unsupported zip compression method " +
                     std::to_string(m.method) + " (supported: stored, deflate)");
    }
    uint32_t crc = ::crc32(0L, Z_NULL, 0);
    for (size_t off = 0; off < data.size();) {
      uInt chunk = static_cast<uInt>(std::min<size_t>(data.size() - off, 1u << 30));
      crc = ::crc32(crc, reinterpret_cast<const Bytef *>(data.data() + off), chunk);
      off += chunk;
    }
    if (crc != m.crc)
      throw NpyError(what + ": CRC-32 mismatch (the archive is corrupt)");
    result.emplace_back(m.name, std::string(data));
  }
  return result;
}

NamedTensors readNpz(const std::string &path) {
  NamedTensors result;
  for (auto &[member, data] : readZip(path)) {
    std::string name = member;
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".npy") == 0)
      name.resize(name.size() - 4);
    result.emplace_back(name, parseNpy(data, path + "[" + member + "]"));
  }
  return result;
}

void writeNpz(const std::string &path, const NamedTensors &tensors) {
  std::vector<std::pair<std::string, std::string>> members;
  std::set<std::string> seen;
  for (const auto &[name, tensor] : tensors) {
    if (name.empty())
      throw NpyError(path + ": cannot write a member with an empty name");
    if (!seen.insert(name).second)
      throw NpyError(path + ": duplicate member name '" + name + "'");
    std::string member = name + ".npy";
    try {
      members.emplace_back(member, serializeNpy(tensor));
    } catch (const NpyError &e) {
      throw NpyError(path + "[" + member + "]: " + e.what());
    }
  }
  writeZip(path, members);
}

void writeZip(const std::string &path,
              const std::vector<std::pair<std::string, std::string>> &members) {
  std::string out, central;
  std::set<std::string> seen;
  for (const auto &[member, data] : members) {
    if (member.empty())
      throw NpyError(path + ": cannot write a member with an empty name");
    if (!seen.insert(member).second)
      throw NpyError(path + ": duplicate member name '" + member + "'");
    if (data.size() >= 0xffffffffu || out.size() >= 0xffffffffu)
      throw NpyError(path + ": member '" + member +
                     "' is too large for a non-zip64 archive (4 GiB limit)");
    uint32_t crc = ::crc32(0L, reinterpret_cast<const Bytef *>(data.data()),
                           static_cast<uInt>(data.size()));
    uint64_t localOffset = out.size();
    // Local file header: version 2.0, no flags, stored, DOS date 1980-01-01.
    put(out, kLocalSig, 4);
    put(out, 20, 2);
    put(out, 0, 2);
    put(out, 0, 2);
    put(out, 0, 2);
    put(out, 0x21, 2);
    put(out, crc, 4);
    put(out, data.size(), 4);
    put(out, data.size(), 4);
    put(out, member.size(), 2);
    put(out, 0, 2);
    out += member;
    out += data;
    put(central, kCentralSig, 4);
    put(central, 20, 2);
    put(central, 20, 2);
    put(central, 0, 2);
    put(central, 0, 2);
    put(central, 0, 2);
    put(central, 0x21, 2);
    put(central, crc, 4);
    put(central, data.size(), 4);
    put(central, data.size(), 4);
    put(central, member.size(), 2);
    put(central, 0, 2);  // extra
    put(central, 0, 2);  // comment
    put(central, 0, 2);  // disk
    put(central, 0, 2);  // internal attributes
    put(central, 0, 4);  // external attributes
    put(central, localOffset, 4);
    central += member;
  }
  if (members.size() >= 0xffff || out.size() >= 0xffffffffu)
    throw NpyError(path + ": too many or too large members for a non-zip64 archive");
  uint64_t cdOffset = out.size();
  out += central;
  put(out, kEndSig, 4);
  put(out, 0, 2);
  put(out, 0, 2);
  put(out, members.size(), 2);
  put(out, members.size(), 2);
  put(out, central.size(), 4);
  put(out, cdOffset, 4);
  put(out, 0, 2);
  writeFile<NpyError>(path, out);
}

} // namespace pmc::npy
