//===- Bundle.cpp - bundle container: layout, checksums, validation --------===//

#include "pmc/Bundle/Bundle.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <set>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

namespace pmc::bundle {

namespace {

uint64_t alignUp(uint64_t v) {
  return (v + kSectionAlignment - 1) / kSectionAlignment * kSectionAlignment;
}

void putLE(uint8_t *p, uint64_t v, int n) {
  for (int i = 0; i < n; ++i)
    p[i] = static_cast<uint8_t>(v >> (8 * i));
}

uint64_t getLE(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i)
    v = (v << 8) | p[i];
  return v;
}

bool allZero(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (p[i])
      return false;
  return true;
}

/// Writes all of `data` to `fd` or throws.
void writeAll(int fd, const void *data, size_t size, const std::string &path) {
  const auto *p = static_cast<const char *>(data);
  while (size) {
    ssize_t n = ::write(fd, p, std::min<size_t>(size, 1u << 30));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      throw BundleError(path + ": write error: " + std::strerror(errno));
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
}

} // namespace

uint32_t crc32(const void *data, size_t size, uint32_t seed) {
  uLong crc = seed;
  const auto *p = static_cast<const Bytef *>(data);
  while (size) {
    uInt chunk = static_cast<uInt>(std::min<size_t>(size, 1u << 30));
    crc = ::crc32(crc, p, chunk);
    p += chunk;
    size -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

//===----------------------------------------------------------------------===//
// BundleWriter
//===----------------------------------------------------------------------===//

void BundleWriter::addSection(std::string name, std::string bytes) {
  Pending p;
  p.name = std::move(name);
  p.owned = std::move(bytes);
  sections.push_back(std::move(p));
}

void BundleWriter::addSectionRef(std::string name, const void *data, size_t size) {
  Pending p;
  p.name = std::move(name);
  p.data = data;
  p.size = size;
  sections.push_back(std::move(p));
}

void BundleWriter::write(const std::string &path) const {
  std::set<std::string_view> names;
  for (const Pending &s : sections) {
    if (s.name.empty())
      throw BundleError(path + ": a section has an empty name");
    if (s.name.size() >= kNameField)
      throw BundleError(path + ": section name '" + s.name + "' is longer than " +
                        std::to_string(kNameField - 1) + " bytes");
    if (s.name.find('\0') != std::string::npos)
      throw BundleError(path + ": section name '" + s.name + "' contains a NUL");
    if (!names.insert(s.name).second)
      throw BundleError(path + ": duplicate section '" + s.name + "'");
    if (!s.data && s.size)
      throw BundleError(path + ": section '" + s.name + "' has no data");
  }

  // Header and table.
  std::vector<uint8_t> head(kHeaderSize + kEntrySize * sections.size(), 0);
  std::memcpy(head.data(), kMagic, 8);
  putLE(head.data() + 8, kFormatVersion, 4);
  putLE(head.data() + 12, sections.size(), 4);
  uint64_t cursor = head.size();
  std::vector<uint64_t> offsets;
  for (size_t i = 0; i < sections.size(); ++i) {
    const Pending &s = sections[i];
    const void *data = s.data ? s.data : s.owned.data();
    size_t size = s.data ? s.size : s.owned.size();
    uint64_t offset = alignUp(cursor);
    uint8_t *e = head.data() + kHeaderSize + kEntrySize * i;
    std::memcpy(e, s.name.data(), s.name.size());
    putLE(e + 56, offset, 8);
    putLE(e + 64, size, 8);
    putLE(e + 72, crc32(data, size), 4);
    offsets.push_back(offset);
    cursor = offset + size;
  }
  putLE(head.data() + 16,
        crc32(head.data() + kHeaderSize, head.size() - kHeaderSize), 4);

  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    throw BundleError(path + ": cannot create '" + tmp + "': " + std::strerror(errno));
  try {
    writeAll(fd, head.data(), head.size(), path);
    uint64_t written = head.size();
    static const uint8_t zeros[kSectionAlignment] = {};
    for (size_t i = 0; i < sections.size(); ++i) {
      const Pending &s = sections[i];
      writeAll(fd, zeros, offsets[i] - written, path);
      const void *data = s.data ? s.data : s.owned.data();
      size_t size = s.data ? s.size : s.owned.size();
      writeAll(fd, data, size, path);
      written = offsets[i] + size;
    }
    if (::fsync(fd) != 0 && errno != EINVAL)
      throw BundleError(path + ": fsync failed: " + std::strerror(errno));
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  if (::close(fd) != 0) {
    ::unlink(tmp.c_str());
    throw BundleError(path + ": close failed: " + std::strerror(errno));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw BundleError(path + ": cannot rename '" + tmp + "' into place: " +
                      std::strerror(err));
  }
}

//===----------------------------------------------------------------------===//
// BundleReader
//===----------------------------------------------------------------------===//

std::unique_ptr<BundleReader> BundleReader::open(const std::string &path) {
  std::unique_ptr<BundleReader> r(new BundleReader());
  r->filePath = path;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw BundleError(path + ": cannot open bundle: " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    throw BundleError(path + ": cannot stat bundle: " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw BundleError(path + ": not a regular file");
  }
  size_t size = static_cast<size_t>(st.st_size);
  if (size < kHeaderSize) {
    ::close(fd);
    throw BundleError(path + ": not a pmc bundle: the file is " + std::to_string(size) +
                      " bytes, smaller than the " + std::to_string(kHeaderSize) +
                      "-byte header");
  }
  void *m = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  int err = errno;
  ::close(fd);
  if (m == MAP_FAILED)
    throw BundleError(path + ": cannot map bundle: " + std::strerror(err));
  r->base = static_cast<const uint8_t *>(m);
  r->fileSize = size;

  const uint8_t *b = r->base;
  auto fail = [&](const std::string &msg) { throw BundleError(path + ": " + msg); };
  if (std::memcmp(b, kMagic, 8) != 0)
    fail("not a pmc bundle (bad magic)");
  uint32_t version = getLE(b + 8, 4);
  if (version != kFormatVersion)
    fail("unsupported bundle format version " + std::to_string(version) +
         " (this runtime reads version " + std::to_string(kFormatVersion) + ")");
  uint64_t count = getLE(b + 12, 4);
  uint32_t tableCrc = getLE(b + 16, 4);
  if (getLE(b + 20, 4) != 0)
    fail("header reserved field is not zero");
  uint64_t tableEnd = kHeaderSize + kEntrySize * count;
  if (tableEnd > size)
    fail("section table of " + std::to_string(count) + " entries runs past the end of "
         "the file (" + std::to_string(size) + " bytes): truncated or corrupt header");
  if (crc32(b + kHeaderSize, tableEnd - kHeaderSize) != tableCrc)
    fail("section table checksum mismatch (the table is corrupt)");

  std::set<std::string> seen;
  for (uint64_t i = 0; i < count; ++i) {
    const uint8_t *e = b + kHeaderSize + kEntrySize * i;
    std::string where = "section table entry " + std::to_string(i);
    const uint8_t *nul = static_cast<const uint8_t *>(std::memchr(e, 0, kNameField));
    if (!nul)
      fail(where + ": name is not NUL-terminated");
    if (!allZero(nul, kNameField - (nul - e)))
      fail(where + ": name padding is not zero");
    Entry entry;
    entry.name.assign(reinterpret_cast<const char *>(e), nul - e);
    if (entry.name.empty())
      fail(where + ": empty section name");
    where = "section '" + entry.name + "'";
    if (!seen.insert(entry.name).second)
      fail("duplicate section '" + entry.name + "'");
    entry.offset = getLE(e + 56, 8);
    entry.size = getLE(e + 64, 8);
    entry.crc32 = getLE(e + 72, 4);
    if (getLE(e + 76, 4) != 0)
      fail(where + ": reserved field is not zero");
    if (entry.offset % kSectionAlignment)
      fail(where + ": offset " + std::to_string(entry.offset) +
           " is not a multiple of " + std::to_string(kSectionAlignment));
    if (entry.offset > size || size - entry.offset < entry.size)
      fail(where + " (offset " + std::to_string(entry.offset) + ", size " +
           std::to_string(entry.size) + ") runs past the end of the file (" +
           std::to_string(size) + " bytes): the bundle is truncated");
    r->entries.push_back(std::move(entry));
  }

  // Layout: in offset order, each section starts at the next 64-byte boundary
  // after the previous one; the padding is zero; nothing trails the last.
  std::vector<const Entry *> order;
  for (const Entry &e : r->entries)
    order.push_back(&e);
  std::stable_sort(order.begin(), order.end(), [](const Entry *a, const Entry *b) {
    // Empty sections sort before a section starting at the same offset.
    return a->offset != b->offset ? a->offset < b->offset : a->size < b->size;
  });
  uint64_t cursor = tableEnd;
  std::string previous = "the section table";
  for (const Entry *e : order) {
    if (e->offset < cursor)
      fail("section '" + e->name + "' (offset " + std::to_string(e->offset) +
           ") overlaps " + previous + " (which ends at " + std::to_string(cursor) + ")");
    if (e->offset != alignUp(cursor))
      fail("gap before section '" + e->name + "': it starts at " +
           std::to_string(e->offset) + ", expected " + std::to_string(alignUp(cursor)) +
           " (the next 64-byte boundary after " + previous + ")");
    if (!allZero(b + cursor, e->offset - cursor))
      fail("non-zero padding bytes between " + previous + " and section '" + e->name +
           "' (offsets " + std::to_string(cursor) + ".." +
           std::to_string(e->offset) + ")");
    cursor = e->offset + e->size;
    previous = "section '" + e->name + "'";
  }
  if (cursor != size)
    fail(std::to_string(size - cursor) + " trailing bytes after " + previous +
         " (which ends at " + std::to_string(cursor) + ")");
  return r;
}

BundleReader::~BundleReader() {
  if (base)
    ::munmap(const_cast<uint8_t *>(base), fileSize);
}

const BundleReader::Entry &BundleReader::find(std::string_view name) const {
  for (const Entry &e : entries)
    if (e.name == name)
      return e;
  throw BundleError(filePath + ": missing section '" + std::string(name) + "'");
}

bool BundleReader::hasSection(std::string_view name) const {
  for (const Entry &e : entries)
    if (e.name == name)
      return true;
  return false;
}

std::string_view BundleReader::section(std::string_view name) const {
  const Entry &e = find(name);
  const char *p = reinterpret_cast<const char *>(base) + e.offset;
  std::lock_guard<std::mutex> lock(verifyMutex);
  if (!e.verified) {
    if (crc32(p, e.size) != e.crc32)
      throw BundleError(filePath + ": section '" + e.name +
                        "' checksum mismatch (the section is corrupt)");
    e.verified = true;
  }
  return std::string_view(p, e.size);
}

std::vector<BundleReader::SectionInfo> BundleReader::sections() const {
  std::vector<SectionInfo> out;
  for (const Entry &e : entries)
    out.push_back({e.name, e.offset, e.size, e.crc32});
  return out;
}

std::vector<std::string> BundleReader::sectionNames() const {
  std::vector<std::string> names;
  for (const Entry &e : entries)
    names.push_back(e.name);
  return names;
}

uint64_t BundleReader::sectionSize(std::string_view name) const {
  return find(name).size;
}

} // namespace pmc::bundle
