//===- NpyTest.cpp - .npy/.npz round trips and rejections ------------------===//

#include "TestUtil.h"
#include "pmc/Support/Npy.h"

#include <gtest/gtest.h>
#include <zlib.h>

using namespace pmc;
using namespace pmc::test;

namespace {

const DType kAllDTypes[] = {DType::Bool,    DType::Int8,    DType::Int16,   DType::Int32,
                            DType::Int64,   DType::UInt8,   DType::UInt16,  DType::UInt32,
                            DType::UInt64,  DType::Float16, DType::BFloat16, DType::Float32,
                            DType::Float64};

HostTensor patterned(DType dtype, std::vector<int64_t> shape) {
  HostTensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.data.resize(t.numBytes());
  for (size_t i = 0; i < t.data.size(); ++i)
    t.data[i] = dtype == DType::Bool ? (i % 3 == 0) : static_cast<uint8_t>(i * 37 + 11);
  return t;
}

/// An .npy file with a hand-written header (for versions and odd headers).
std::string npyWithHeader(int major, const std::string &dict, const std::string &data) {
  std::string header = dict;
  size_t prefix = major == 1 ? 10 : 12;
  while ((prefix + header.size() + 1) % 64)
    header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  if (major == 1) {
    out += static_cast<char>(header.size() & 0xff);
    out += static_cast<char>(header.size() >> 8);
  } else {
    for (int i = 0; i < 4; ++i)
      out += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  }
  return out + header + data;
}

void expectNpyError(const std::function<void()> &fn, const std::string &needle) {
  try {
    fn();
    FAIL() << "expected an NpyError containing '" << needle << "'";
  } catch (const npy::NpyError &e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
        << "message: " << e.what() << "\nexpected to contain: " << needle;
  }
}

/// A zip with one deflate-compressed member, as numpy.savez_compressed writes.
std::string deflatedZip(const std::string &member, const std::string &data) {
  std::string packed(compressBound(data.size()) + 64, '\0');
  z_stream zs{};
  deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  zs.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(data.data()));
  zs.avail_in = data.size();
  zs.next_out = reinterpret_cast<Bytef *>(packed.data());
  zs.avail_out = packed.size();
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  packed.resize(zs.total_out);
  deflateEnd(&zs);
  uint32_t crc = ::crc32(0, reinterpret_cast<const Bytef *>(data.data()), data.size());
  auto put = [](std::string &s, uint64_t v, int n) {
    for (int i = 0; i < n; ++i)
      s += static_cast<char>((v >> (8 * i)) & 0xff);
  };
  std::string out, cd;
  put(out, 0x04034b50, 4);
  put(out, 20, 2);
  put(out, 0, 2);
  put(out, 8, 2);
  put(out, 0, 4);
  put(out, crc, 4);
  put(out, packed.size(), 4);
  put(out, data.size(), 4);
  put(out, member.size(), 2);
  put(out, 0, 2);
  out += member + packed;
  put(cd, 0x02014b50, 4);
  put(cd, 20, 2);
  put(cd, 20, 2);
  put(cd, 0, 2);
  put(cd, 8, 2);
  put(cd, 0, 4);
  put(cd, crc, 4);
  put(cd, packed.size(), 4);
  put(cd, data.size(), 4);
  put(cd, member.size(), 2);
  put(cd, 0, 2);
  put(cd, 0, 2);
  put(cd, 0, 2);
  put(cd, 0, 2);
  put(cd, 0, 4);
  put(cd, 0, 4);
  cd += member;
  uint64_t cdOffset = out.size();
  out += cd;
  put(out, 0x06054b50, 4);
  put(out, 0, 4);
  put(out, 1, 2);
  put(out, 1, 2);
  put(out, cd.size(), 4);
  put(out, cdOffset, 4);
  put(out, 0, 2);
  return out;
}

} // namespace

TEST(Npy, RoundTripsEveryDTypeAndShape) {
  TempDir dir;
  for (DType dtype : kAllDTypes) {
    for (const std::vector<int64_t> &shape :
         {std::vector<int64_t>{}, {5}, {2, 3}, {0, 4}, {2, 1, 3, 2}}) {
      HostTensor t = patterned(dtype, shape);
      std::string path = dir.file("t.npy");
      npy::writeNpy(path, t);
      HostTensor back = npy::readNpy(path);
      EXPECT_EQ(back.dtype, dtype) << dtypeName(dtype);
      EXPECT_EQ(back.shape, shape) << dtypeName(dtype);
      EXPECT_EQ(back.data, t.data) << dtypeName(dtype);
      // Data starts at a multiple of 64, as numpy writes it.
      std::string bytes = readBytes(path);
      EXPECT_EQ((bytes.size() - t.data.size()) % 64, 0u);
    }
  }
}

TEST(Npy, WritesNumpyDescriptorsAndTuples) {
  std::string s = npy::serializeNpy(patterned(DType::Float32, {4}));
  EXPECT_NE(s.find("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }"),
            std::string::npos);
  s = npy::serializeNpy(patterned(DType::Bool, {2, 3}));
  EXPECT_NE(s.find("'descr': '|b1'"), std::string::npos);
  EXPECT_NE(s.find("'shape': (2, 3)"), std::string::npos);
  s = npy::serializeNpy(patterned(DType::Int64, {}));
  EXPECT_NE(s.find("'shape': ()"), std::string::npos);
  EXPECT_EQ(npy::npyDescr(DType::UInt16), "<u2");
  EXPECT_EQ(npy::npyDescr(DType::Float16), "<f2");
}

TEST(Npy, ReadsVersions2And3AndOddHeaders) {
  std::string data(24, '\x01');
  for (int major : {1, 2, 3}) {
    HostTensor t = npy::parseNpy(
        npyWithHeader(major, "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }",
                      data),
        "v.npy");
    EXPECT_EQ(t.dtype, DType::Int64);
    EXPECT_EQ(t.shape, std::vector<int64_t>{3});
  }
  // Key order, double quotes, '=' byte order, no trailing comma.
  HostTensor t = npy::parseNpy(
      npyWithHeader(1, "{\"shape\": (2, 2), \"fortran_order\": False, \"descr\": \"=f4\"}",
                    std::string(16, '\0')),
      "o.npy");
  EXPECT_EQ(t.dtype, DType::Float32);
  EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 2}));
}

TEST(Npy, RejectsBadFilesWithClearMessages) {
  auto hdr = [](const std::string &descr, const std::string &fortran,
                const std::string &shape) {
    return "{'descr': '" + descr + "', 'fortran_order': " + fortran +
           ", 'shape': " + shape + ", }";
  };
  expectNpyError(
      [&] { npy::parseNpy(npyWithHeader(1, hdr("<f4", "True", "(2, 2)"), std::string(16, 0)), "f.npy"); },
      "f.npy: Fortran-order arrays are not supported");
  expectNpyError(
      [&] { npy::parseNpy(npyWithHeader(1, hdr(">f4", "False", "(2,)"), std::string(8, 0)), "b.npy"); },
      "b.npy: big-endian dtype '>f4' is not supported");
  expectNpyError(
      [&] { npy::parseNpy(npyWithHeader(1, hdr("<c8", "False", "(2,)"), std::string(16, 0)), "c.npy"); },
      "c.npy: unsupported dtype '<c8'");
  expectNpyError(
      [&] { npy::parseNpy(npyWithHeader(1, hdr("<f4", "False", "(3,)"), std::string(8, 0)), "s.npy"); },
      "s.npy: data size mismatch: shape [3] of float32 needs 12 bytes, the file holds 8");
  expectNpyError([&] { npy::parseNpy("not numpy at all", "m.npy"); },
                 "m.npy: not an .npy file (bad magic)");
  expectNpyError(
      [&] { npy::parseNpy(npyWithHeader(7, hdr("<f4", "False", "(1,)"), std::string(4, 0)), "v.npy"); },
      "v.npy: unsupported .npy format version 7");
  expectNpyError(
      [&] {
        npy::parseNpy(npyWithHeader(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }",
                                    std::string(4, 0)),
                      "r.npy");
      },
      "r.npy: structured dtypes are not supported");
  std::string good = npy::serializeNpy(patterned(DType::Float32, {8}));
  expectNpyError([&] { npy::parseNpy(good.substr(0, 40), "t.npy"); }, "t.npy: truncated");
  expectNpyError([&] { npy::readNpy("/nonexistent/dir/x.npy"); },
                 "/nonexistent/dir/x.npy: cannot open for reading");
}

TEST(Npz, RoundTripsStoredArchives) {
  TempDir dir;
  npy::NamedTensors in;
  for (DType dtype : kAllDTypes)
    in.emplace_back(std::string("t_") + std::string(dtypeName(dtype)),
                    patterned(dtype, {2, 3}));
  in.emplace_back("scalar", patterned(DType::Float64, {}));
  std::string path = dir.file("all.npz");
  npy::writeNpz(path, in);
  npy::NamedTensors out = npy::readNpz(path);
  ASSERT_EQ(out.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(out[i].first, in[i].first);
    EXPECT_EQ(out[i].second.dtype, in[i].second.dtype);
    EXPECT_EQ(out[i].second.shape, in[i].second.shape);
    EXPECT_EQ(out[i].second.data, in[i].second.data);
  }
}

TEST(Npz, ReadsDeflatedMembersAndChecksCrc) {
  TempDir dir;
  HostTensor t = patterned(DType::Float32, {16, 16});
  std::string zip = deflatedZip("x.npy", npy::serializeNpy(t));
  std::string path = dir.file("c.npz");
  writeBytes(path, zip);
  npy::NamedTensors out = npy::readNpz(path);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].first, "x");
  EXPECT_EQ(out[0].second.data, t.data);

  // Corrupt the stored CRC of the central directory: reading must fail.
  size_t cd = zip.find("PK\x01\x02");
  ASSERT_NE(cd, std::string::npos);
  zip[cd + 16] ^= 0x55;
  writeBytes(path, zip);
  expectNpyError([&] { npy::readNpz(path); }, "[x.npy]: CRC-32 mismatch");
}

TEST(Npz, RejectsNonZipAndDuplicates) {
  TempDir dir;
  std::string path = dir.file("bad.npz");
  writeBytes(path, std::string(100, 'z'));
  expectNpyError([&] { npy::readNpz(path); }, "not a zip (.npz) archive");
  npy::NamedTensors dup = {{"a", patterned(DType::Int8, {1})},
                           {"a", patterned(DType::Int8, {1})}};
  expectNpyError([&] { npy::writeNpz(path, dup); }, "duplicate member name 'a'");
}

TEST(HostTensor, NamesSizesAndShapes) {
  for (DType dtype : kAllDTypes)
    EXPECT_EQ(dtypeFromName(dtypeName(dtype)), dtype);
  EXPECT_FALSE(dtypeFromName("float128").has_value());
  EXPECT_EQ(dtypeSize(DType::Bool), 1u);
  EXPECT_EQ(dtypeSize(DType::BFloat16), 2u);
  EXPECT_EQ(dtypeSize(DType::UInt64), 8u);
  EXPECT_EQ(shapeToString({2, 3}), "[2x3]");
  EXPECT_EQ(shapeToString({}), "[]");
}
