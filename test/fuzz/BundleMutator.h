//===- BundleMutator.h - structure-aware mutations of a pmc bundle ---------===//
//
// The bundle fuzzer's custom mutator (test/fuzz/README.md): the container is
// split into its sections, one section is changed (the JSON of the manifest
// or of a rank program structurally or as text, a weight's bytes, a section's
// name, presence or order) and the container is written again with a valid
// layout and checksums, so that the mutation reaches the manifest and program
// validation instead of stopping at a checksum. Kernel libraries (ELF) are
// never changed. A few mutations change the raw bytes (with or without the
// table checksum fixed) to exercise the container checks themselves.
//
#ifndef PMC_TEST_FUZZ_BUNDLEMUTATOR_H
#define PMC_TEST_FUZZ_BUNDLEMUTATOR_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace pmc::fuzz {

/// The sections of a container, in table order.
using Sections = std::vector<std::pair<std::string, std::string>>;

/// Splits `data` into its sections (lenient: checksums and padding are not
/// checked); false when the header or the table do not hold together.
bool splitBundle(const uint8_t *data, size_t size, Sections &sections);

/// A valid container of `sections` (format version 1, docs/design/bundle.md).
std::string joinBundle(const Sections &sections);

/// Mutates the bundle in `data` (`size` bytes, room for `maxSize`) in place;
/// returns the new size.
size_t mutateBundle(uint8_t *data, size_t size, size_t maxSize, unsigned seed);

} // namespace pmc::fuzz

#endif // PMC_TEST_FUZZ_BUNDLEMUTATOR_H
