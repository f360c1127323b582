//===- BundleTest.cpp - bundle container round trip and corruption ---------===//

#include "TestUtil.h"

#include <gtest/gtest.h>

using namespace pmc;
using namespace pmc::test;
using bundle::BundleError;
using bundle::BundleReader;
using bundle::BundleWriter;

namespace {

const std::vector<std::pair<std::string, std::string>> kSections = {
    {"manifest", "{\"a\": 1}"},
    {"empty", ""},
    {"w/0", std::string(63, '\x07')},
    {"w/1", std::string(64, '\x08')},
    {"w/2", std::string(1000, '\x09')},
    {"last", "x"}};

std::string goodBundle(const TempDir &dir) {
  BundleWriter w;
  for (const auto &[name, bytes] : kSections)
    w.addSection(name, bytes);
  std::string path = dir.file("good.pmc");
  w.write(path);
  return readBytes(path);
}

uint64_t le(const std::string &b, size_t at, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i)
    v = (v << 8) | static_cast<unsigned char>(b[at + i]);
  return v;
}
void setLe(std::string &b, size_t at, uint64_t v, int n) {
  for (int i = 0; i < n; ++i)
    b[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
/// Recomputes the table checksum after editing the table.
void fixTableCrc(std::string &b) {
  size_t count = le(b, 12, 4);
  setLe(b, 16, bundle::crc32(b.data() + 24, 80 * count), 4);
}
size_t entryAt(size_t i) { return 24 + 80 * i; }

/// Opens `bytes` as a bundle and expects a BundleError containing `needle`,
/// either on open or on reading every section.
void expectCorrupt(const TempDir &dir, const std::string &bytes, const std::string &needle) {
  std::string path = dir.file("bad.pmc");
  writeBytes(path, bytes);
  try {
    auto r = BundleReader::open(path);
    for (const std::string &n : r->sectionNames())
      r->section(n);
    FAIL() << "expected a BundleError containing '" << needle << "'";
  } catch (const BundleError &e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
        << "message: " << e.what() << "\nexpected to contain: " << needle;
    EXPECT_EQ(std::string(e.what()).rfind(path, 0), 0u) << "names the file: " << e.what();
  }
}

} // namespace

TEST(Bundle, WriteReadRoundTrip) {
  TempDir dir;
  std::string bytes = goodBundle(dir);
  EXPECT_EQ(bytes.substr(0, 8), std::string("PMCBNDL\0", 8));
  EXPECT_EQ(le(bytes, 8, 4), 1u);
  EXPECT_EQ(le(bytes, 12, 4), kSections.size());
  auto r = BundleReader::open(dir.file("good.pmc"));
  EXPECT_EQ(r->size(), bytes.size());
  std::vector<std::string> names;
  for (const auto &[name, data] : kSections) {
    names.push_back(name);
    ASSERT_TRUE(r->hasSection(name));
    EXPECT_EQ(std::string(r->section(name)), data);
    EXPECT_EQ(r->sectionSize(name), data.size());
    // 64-byte aligned in the file and therefore in the mapping.
    EXPECT_EQ(reinterpret_cast<uintptr_t>(r->section(name).data()) % 64, 0u) << name;
  }
  EXPECT_EQ(r->sectionNames(), names);
  EXPECT_FALSE(r->hasSection("nope"));
  try {
    r->section("nope");
    FAIL();
  } catch (const BundleError &e) {
    EXPECT_NE(std::string(e.what()).find("missing section 'nope'"), std::string::npos);
  }
  // The file ends exactly with the last section.
  EXPECT_EQ(bytes.back(), 'x');
}

TEST(Bundle, WriterRejectsBadNames) {
  TempDir dir;
  for (const auto &[names, needle] :
       std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"a", "a"}, "duplicate section 'a'"},
           {{""}, "empty name"},
           {{std::string(56, 'n')}, "longer than 55 bytes"}}) {
    BundleWriter w;
    for (const std::string &n : names)
      w.addSection(n, "data");
    try {
      w.write(dir.file("w.pmc"));
      FAIL() << needle;
    } catch (const BundleError &e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  }
  // A 55-byte name is fine; sections added by reference are written too.
  BundleWriter w;
  static const char ref[] = "referenced";
  w.addSection(std::string(55, 'n'), "ok");
  w.addSectionRef("ref", ref, sizeof(ref));
  w.write(dir.file("w.pmc"));
  auto r = BundleReader::open(dir.file("w.pmc"));
  EXPECT_EQ(std::string(r->section("ref")), std::string(ref, sizeof(ref)));
}

TEST(Bundle, Crc32MatchesZlib) {
  // The CRC-32 check value of "123456789".
  EXPECT_EQ(bundle::crc32("123456789", 9), 0xCBF43926u);
  EXPECT_EQ(bundle::crc32("56789", 5, bundle::crc32("1234", 4)), 0xCBF43926u);
}

TEST(Bundle, DetectsCorruption) {
  TempDir dir;
  const std::string good = goodBundle(dir);
  auto flip = [&](size_t at) {
    std::string b = good;
    b[at] ^= 0x20;
    return b;
  };
  size_t w2 = le(good, entryAt(4) + 56, 8); // offset of "w/2"
  size_t w0End = le(good, entryAt(2) + 56, 8) + 63; // one padding byte follows

  expectCorrupt(dir, flip(0), "not a pmc bundle (bad magic)");
  expectCorrupt(dir, flip(8), "unsupported bundle format version 33");
  expectCorrupt(dir, flip(20), "header reserved field is not zero");
  expectCorrupt(dir, flip(16), "section table checksum mismatch");
  expectCorrupt(dir, flip(entryAt(1) + 2), "section table checksum mismatch");
  expectCorrupt(dir, flip(w2 + 500), "section 'w/2' checksum mismatch");
  expectCorrupt(dir, flip(w0End), "non-zero padding bytes between section 'w/0' and "
                                  "section 'w/1'");
  expectCorrupt(dir, good.substr(0, good.size() - 1),
                "section 'last' (offset");
  expectCorrupt(dir, good.substr(0, good.size() - 1), "runs past the end of the file");
  expectCorrupt(dir, good + std::string(5, '\0'), "5 trailing bytes after section 'last'");
  expectCorrupt(dir, good.substr(0, 10), "smaller than the 24-byte header");
  expectCorrupt(dir, good.substr(0, 100), "section table of 6 entries runs past the end");

  // Table edits with a recomputed table checksum: layout checks must catch them.
  std::string b = good;
  setLe(b, entryAt(4) + 56, w2 - 64, 8); // w/2 now overlaps w/1
  fixTableCrc(b);
  expectCorrupt(dir, b, "section 'w/2' (offset " + std::to_string(w2 - 64) +
                            ") overlaps section 'w/1'");
  b = good;
  setLe(b, entryAt(4) + 56, w2 + 8, 8);
  fixTableCrc(b);
  expectCorrupt(dir, b, "offset " + std::to_string(w2 + 8) + " is not a multiple of 64");
  b = good;
  setLe(b, entryAt(2) + 72, le(good, entryAt(2) + 72, 4) ^ 1, 4); // w/0's crc
  fixTableCrc(b);
  expectCorrupt(dir, b, "section 'w/0' checksum mismatch");
  b = good;
  b[entryAt(0) + 76] = 1; // entry reserved bytes
  fixTableCrc(b);
  expectCorrupt(dir, b, "section 'manifest': reserved field is not zero");
  b = good;
  std::memcpy(&b[entryAt(1)], "w/0\0", 4); // duplicate name
  b[entryAt(1) + 4] = 0;
  fixTableCrc(b);
  expectCorrupt(dir, b, "duplicate section 'w/0'");
  b = good;
  std::memset(&b[entryAt(0)], 'n', 56); // no NUL in the name
  fixTableCrc(b);
  expectCorrupt(dir, b, "section table entry 0: name is not NUL-terminated");
  b = good;
  setLe(b, 12, 7, 4); // one more entry than written: table runs into data
  fixTableCrc(b);
  expectCorrupt(dir, b, "");
}

TEST(Bundle, RejectsMissingFile) {
  try {
    BundleReader::open("/nonexistent/model.pmc");
    FAIL();
  } catch (const BundleError &e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/model.pmc: cannot open bundle"),
              std::string::npos);
  }
}
