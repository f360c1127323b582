//===- Bundle.h - reading and writing bundle files (no MLIR) ----*- C++ -*-===//
//
// The container layer of docs/design/bundle.md: header, section table, CRC-32
// checksums, 64-byte aligned sections. What the sections mean (manifest, rank
// programs) is the business of the compiler and the runtime.
//
#ifndef PMC_BUNDLE_BUNDLE_H
#define PMC_BUNDLE_BUNDLE_H

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace pmc::bundle {

inline constexpr uint32_t kFormatVersion = 1;
/// The first 8 bytes of every bundle, "PMCBNDL" and a NUL.
inline constexpr char kMagic[8] = {'P', 'M', 'C', 'B', 'N', 'D', 'L', '\0'};
/// Header bytes before the section table.
inline constexpr size_t kHeaderSize = 24;
/// Bytes per section table entry.
inline constexpr size_t kEntrySize = 80;
/// Bytes of the name field of an entry; a name holds at most kNameField - 1.
inline constexpr size_t kNameField = 56;
/// Every section starts at a multiple of this.
inline constexpr size_t kSectionAlignment = 64;

/// CRC-32 as zlib computes it (the checksum of the table and the sections).
/// Pass a previous result as `seed` to continue a running checksum.
///
///   uint32_t c = pmc::bundle::crc32(bytes.data(), bytes.size());
uint32_t crc32(const void *data, size_t size, uint32_t seed = 0);

/// Every bundle problem (I/O, corruption, version) is reported as this, with a
/// message naming the file and the section at fault.
class BundleError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// Collects sections, then writes them in one pass. Sections added by
/// reference are not copied: the caller keeps their bytes alive until write().
class BundleWriter {
public:
  /// Adds a section that owns its bytes (manifest, programs, the kernel library).
  void addSection(std::string name, std::string bytes);
  /// Adds a section whose bytes stay owned by the caller (weights).
  void addSectionRef(std::string name, const void *data, size_t size);
  /// Writes the bundle to `path` (atomically: a temporary file, then rename).
  /// Throws BundleError.
  void write(const std::string &path) const;

private:
  struct Pending {
    std::string name;
    std::string owned;
    const void *data = nullptr;
    size_t size = 0;
  };
  std::vector<Pending> sections;
};

/// A bundle opened for reading: the file is memory-mapped; the header and the
/// table are validated on open; section checksums when a section is read.
class BundleReader {
public:
  /// Opens and validates header, table, layout and padding. Throws BundleError.
  static std::unique_ptr<BundleReader> open(const std::string &path);
  ~BundleReader();

  bool hasSection(std::string_view name) const;
  /// The bytes of a section after checking its CRC-32 (once). Throws
  /// BundleError naming the section when it is missing or corrupt.
  std::string_view section(std::string_view name) const;
  std::vector<std::string> sectionNames() const;
  /// Where a section lies in the file, as the table records it.
  struct SectionInfo {
    std::string name;
    uint64_t offset, size;
    uint32_t crc32;
  };
  /// The table's entries, in table order (nothing read or verified).
  std::vector<SectionInfo> sections() const;
  /// The byte range of the section table: [kHeaderSize, kHeaderSize + size).
  uint64_t tableSize() const { return kEntrySize * entries.size(); }
  /// The byte size of a section (without reading or verifying it). Throws
  /// BundleError when it is missing.
  uint64_t sectionSize(std::string_view name) const;
  /// The size of the whole file in bytes.
  size_t size() const { return fileSize; }
  const std::string &path() const { return filePath; }

private:
  BundleReader() = default;
  struct Entry {
    std::string name;
    uint64_t offset, size;
    uint32_t crc32;
    mutable bool verified = false;
  };
  const Entry &find(std::string_view name) const;
  std::string filePath;
  const uint8_t *base = nullptr;
  size_t fileSize = 0;
  std::vector<Entry> entries;
  /// Guards `Entry::verified`: ranks may read sections from several threads.
  mutable std::mutex verifyMutex;
};

} // namespace pmc::bundle

#endif // PMC_BUNDLE_BUNDLE_H
