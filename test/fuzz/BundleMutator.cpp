//===- BundleMutator.cpp - structure-aware mutations of a pmc bundle -------===//
#include "BundleMutator.h"

#include "pmc/Bundle/Bundle.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <limits>
#include <random>
#include <set>

extern "C" size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t maxSize);

namespace pmc::fuzz {
namespace {

using Rng = std::minstd_rand;
using nlohmann::json;
namespace b = pmc::bundle;

uint64_t getLE(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i)
    v = (v << 8) | p[i];
  return v;
}

void putLE(uint8_t *p, uint64_t v, int n) {
  for (int i = 0; i < n; ++i)
    p[i] = static_cast<uint8_t>(v >> (8 * i));
}

bool isElf(const std::string &bytes) { return bytes.compare(0, 4, "\x7f" "ELF") == 0; }

/// Strings worth trying where the bundle has a string.
const char *const kStrings[] = {
    "", "float32", "float64", "float16", "bfloat16", "int64", "int32", "int8", "uint8", "bool",
    "uint16", "input", "weight", "temp", "view", "scratch", "kernel", "matmul", "conv", "copy",
    "send", "recv", "all_reduce", "all_gather", "reduce_scatter", "all_to_all", "launch",
    "relu", "gelu", "gelu_tanh", "none", "cpu", "cuda", "pmc-bundle", "dp", "tp", "pp", "mb",
    "gpipe", "1f1b", "kernels.cpu", "manifest", "rank0.program", "rank1.program", "w/0",
    "kernel_0", "bare-pointer", "sum", "max"};

const char *const kKeys[] = {"bias", "activation", "sharding", "stage", "microbatched", "of",
                             "section", "input", "pipeline", "kernel_library", "trans_a",
                             "trans_b", "axis", "axes", "group", "tag", "to_stage",
                             "from_stage", "scratch", "dim", "reduction", "cuda", "ptx"};

json interestingNumber(Rng &rng, const json &old) {
  static const int64_t values[] = {0, 1, -1, 2, -2, 3, 4, 7, 8, 63, 64, 65, 255, 256, 4096,
                                   std::numeric_limits<int32_t>::max(),
                                   std::numeric_limits<int32_t>::min(),
                                   int64_t(1) << 32, int64_t(1) << 40, int64_t(1) << 62,
                                   std::numeric_limits<int64_t>::max(),
                                   std::numeric_limits<int64_t>::min()};
  switch (rng() % 6) {
  case 0:
    if (old.is_number_integer()) // wraps around, as unsigned arithmetic does
      return static_cast<int64_t>(static_cast<uint64_t>(old.get<int64_t>()) +
                                  (rng() % 2 ? 1 : ~uint64_t(0)));
    return 1;
  case 1:
    return std::numeric_limits<uint64_t>::max();
  case 2:
    return 1.5;
  default:
    return values[rng() % (sizeof(values) / sizeof(values[0]))];
  }
}

void collect(json &j, std::vector<json *> &all) {
  all.push_back(&j);
  if (j.is_array() || j.is_object())
    for (json &child : j)
      collect(child, all);
}

void collectStrings(const json &j, std::vector<std::string> &out) {
  if (j.is_string())
    out.push_back(j.get<std::string>());
  if (j.is_array() || j.is_object())
    for (const json &child : j)
      collectStrings(child, out);
  if (j.is_object())
    for (auto it = j.begin(); it != j.end(); ++it)
      out.push_back(it.key());
}

/// One structural change somewhere in `doc`.
void mutateJson(json &doc, Rng &rng, const std::vector<std::string> &sectionNames) {
  std::vector<json *> all;
  collect(doc, all);
  json &v = *all[rng() % all.size()];
  std::vector<std::string> strings;
  collectStrings(doc, strings);
  strings.insert(strings.end(), sectionNames.begin(), sectionNames.end());
  auto someString = [&]() -> std::string {
    if (rng() % 2 && !strings.empty())
      return strings[rng() % strings.size()];
    return kStrings[rng() % (sizeof(kStrings) / sizeof(kStrings[0]))];
  };
  auto someValue = [&]() -> json {
    if (rng() % 3 == 0)
      return *all[rng() % all.size()]; // a copy of another part of the document
    switch (rng() % 6) {
    case 0:
      return someString();
    case 1:
      return json::array({rng() % 4, rng() % 4});
    case 2:
      return nullptr;
    case 3:
      return rng() % 2 == 0;
    default:
      return interestingNumber(rng, json());
    }
  };
  if (v.is_number()) {
    v = rng() % 8 ? interestingNumber(rng, v) : someValue();
  } else if (v.is_string()) {
    v = rng() % 6 ? json(someString()) : someValue();
  } else if (v.is_array()) {
    switch (rng() % 5) {
    case 0:
      if (!v.empty())
        v.erase(v.begin() + rng() % v.size());
      break;
    case 1:
      if (!v.empty())
        v.push_back(json(v[rng() % v.size()]));
      break;
    case 2:
      if (v.size() > 1)
        std::swap(v[rng() % v.size()], v[rng() % v.size()]);
      break;
    case 3:
      v.push_back(someValue());
      break;
    default:
      if (!v.empty())
        v.insert(v.begin() + rng() % v.size(), json(v[rng() % v.size()]));
      break;
    }
  } else if (v.is_object()) {
    if (!v.empty() && rng() % 2) {
      auto it = v.begin();
      std::advance(it, rng() % v.size());
      if (rng() % 2)
        v.erase(it);
      else
        *it = someValue();
    } else {
      std::string key = rng() % 2 ? kKeys[rng() % (sizeof(kKeys) / sizeof(kKeys[0]))]
                                  : someString();
      v[key] = someValue();
    }
  } else {
    v = someValue();
  }
}

/// `s` through libFuzzer's byte mutations, at most doubled.
void mutateBytes(std::string &s) {
  size_t size = s.size(), maxSize = std::max<size_t>(size * 2, 64);
  s.resize(maxSize);
  s.resize(LLVMFuzzerMutate(reinterpret_cast<uint8_t *>(s.data()), size, maxSize));
}

void mutateSection(Sections &sections, size_t i, Rng &rng) {
  std::string &bytes = sections[i].second;
  std::vector<std::string> names;
  for (const auto &s : sections)
    names.push_back(s.first);
  if (!bytes.empty() && bytes[0] == '{' && rng() % 3) {
    json doc = json::parse(bytes, nullptr, /*allow_exceptions=*/false);
    if (!doc.is_discarded()) {
      try {
        for (unsigned k = 1 + rng() % 2; k; --k)
          mutateJson(doc, rng, names);
        // Section names may hold any bytes: invalid UTF-8 is replaced.
        bytes = doc.dump(-1, ' ', false, json::error_handler_t::replace);
        return;
      } catch (const json::exception &) {
        // Fall back to byte mutations below.
      }
    }
  }
  if (rng() % 4 == 0) {
    bytes.resize(rng() % (bytes.size() + 64)); // a weight of the wrong size, say
    return;
  }
  mutateBytes(bytes);
}

} // namespace

bool splitBundle(const uint8_t *data, size_t size, Sections &sections) {
  sections.clear();
  if (size < b::kHeaderSize || std::memcmp(data, b::kMagic, 8) != 0)
    return false;
  uint64_t count = getLE(data + 12, 4);
  if (count > (size - b::kHeaderSize) / b::kEntrySize)
    return false;
  for (uint64_t i = 0; i < count; ++i) {
    const uint8_t *e = data + b::kHeaderSize + b::kEntrySize * i;
    const void *nul = std::memchr(e, 0, b::kNameField);
    if (!nul)
      return false;
    uint64_t offset = getLE(e + 56, 8), length = getLE(e + 64, 8);
    if (offset > size || size - offset < length)
      return false;
    sections.emplace_back(
        std::string(reinterpret_cast<const char *>(e),
                    static_cast<const uint8_t *>(nul) - e),
        std::string(reinterpret_cast<const char *>(data + offset), length));
  }
  return true;
}

std::string joinBundle(const Sections &sections) {
  auto alignUp = [](uint64_t v) {
    return (v + b::kSectionAlignment - 1) / b::kSectionAlignment * b::kSectionAlignment;
  };
  std::string out(b::kHeaderSize + b::kEntrySize * sections.size(), '\0');
  uint64_t cursor = out.size();
  std::vector<uint64_t> offsets;
  for (const auto &[name, bytes] : sections) {
    offsets.push_back(alignUp(cursor));
    cursor = offsets.back() + bytes.size();
  }
  auto *head = reinterpret_cast<uint8_t *>(out.data());
  std::memcpy(head, b::kMagic, 8);
  putLE(head + 8, b::kFormatVersion, 4);
  putLE(head + 12, sections.size(), 4);
  for (size_t i = 0; i < sections.size(); ++i) {
    uint8_t *e = head + b::kHeaderSize + b::kEntrySize * i;
    const std::string &name = sections[i].first;
    std::memcpy(e, name.data(), std::min(name.size(), b::kNameField - 1));
    putLE(e + 56, offsets[i], 8);
    putLE(e + 64, sections[i].second.size(), 8);
    putLE(e + 72, b::crc32(sections[i].second.data(), sections[i].second.size()), 4);
  }
  putLE(head + 16, b::crc32(head + b::kHeaderSize, out.size() - b::kHeaderSize), 4);
  for (size_t i = 0; i < sections.size(); ++i) {
    out.resize(offsets[i], '\0');
    out += sections[i].second;
  }
  return out;
}

size_t mutateBundle(uint8_t *data, size_t size, size_t maxSize, unsigned seed) {
  Rng rng(seed);
  Sections sections;
  unsigned what = rng() % 16;
  if (what == 0 || !splitBundle(data, size, sections))
    return LLVMFuzzerMutate(data, size, maxSize);
  if (what == 1 && size >= b::kHeaderSize) {
    // The header and table bytes only, with the table checksum fixed: the
    // container's own checks (offsets, sizes, names, layout).
    size_t tableEnd = std::min<size_t>(size, b::kHeaderSize + b::kEntrySize * sections.size());
    std::string mutated(reinterpret_cast<const char *>(data), tableEnd);
    size_t n = LLVMFuzzerMutate(reinterpret_cast<uint8_t *>(mutated.data()) + 8,
                                tableEnd - 8, tableEnd - 8);
    mutated.resize(8 + n);
    if (mutated.size() < b::kHeaderSize || n + 8 != tableEnd)
      return LLVMFuzzerMutate(data, size, maxSize);
    uint64_t count = getLE(reinterpret_cast<const uint8_t *>(mutated.data()) + 12, 4);
    size_t end = std::min<size_t>(tableEnd, b::kHeaderSize + b::kEntrySize * count);
    putLE(reinterpret_cast<uint8_t *>(mutated.data()) + 16,
          b::crc32(mutated.data() + b::kHeaderSize, end - b::kHeaderSize), 4);
    std::memcpy(data, mutated.data(), tableEnd);
    return size;
  }
  // Sections that may change: everything but kernel libraries.
  std::vector<size_t> editable;
  for (size_t i = 0; i < sections.size(); ++i)
    if (!isElf(sections[i].second))
      editable.push_back(i);
  switch (what) {
  case 2: // drop a section
    if (!editable.empty())
      sections.erase(sections.begin() + editable[rng() % editable.size()]);
    break;
  case 3: // a section under another (possibly existing) name
    if (!editable.empty()) {
      size_t i = editable[rng() % editable.size()];
      sections[i].first = rng() % 2 ? sections[rng() % sections.size()].first
                                    : kStrings[rng() % (sizeof(kStrings) / sizeof(kStrings[0]))];
    }
    break;
  case 4: // two sections swap places in the table
    if (sections.size() > 1)
      std::swap(sections[rng() % sections.size()], sections[rng() % sections.size()]);
    break;
  case 5: // a copy of a section under a new name
    if (!editable.empty()) {
      auto copy = sections[editable[rng() % editable.size()]];
      copy.first += "x";
      sections.push_back(copy);
    }
    break;
  default: { // change the contents of one section, most often a JSON one
    if (editable.empty())
      break;
    std::vector<size_t> jsonSections;
    for (size_t i : editable)
      if (!sections[i].second.empty() && sections[i].second[0] == '{')
        jsonSections.push_back(i);
    size_t i = !jsonSections.empty() && rng() % 4
                   ? jsonSections[rng() % jsonSections.size()]
                   : editable[rng() % editable.size()];
    mutateSection(sections, i, rng);
    break;
  }
  }
  std::string out = joinBundle(sections);
  if (out.size() > maxSize)
    return LLVMFuzzerMutate(data, size, maxSize);
  std::memcpy(data, out.data(), out.size());
  return out.size();
}

} // namespace pmc::fuzz
