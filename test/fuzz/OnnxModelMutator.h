//===- OnnxModelMutator.h - structure-aware mutations of an ONNX ModelProto ===//
//
// The importer fuzzer's custom mutator (test/fuzz/README.md): the input bytes
// are parsed as an onnx::ModelProto, one to three fields are changed (node
// inputs and outputs, including empty names, op types, attributes, value
// types and dims, initializers, opsets, the node list) and the model is
// serialized again. Bytes that do not parse get libFuzzer's byte mutations.
//
#ifndef PMC_TEST_FUZZ_ONNXMODELMUTATOR_H
#define PMC_TEST_FUZZ_ONNXMODELMUTATOR_H

#include <cstddef>
#include <cstdint>

namespace pmc::fuzz {

/// Mutates the serialized model in `data` (`size` bytes, room for `maxSize`)
/// in place; returns the new size. `seed` makes the choice reproducible.
size_t mutateOnnxModel(uint8_t *data, size_t size, size_t maxSize, unsigned seed);

/// Writes into `out` (room for `maxOutSize`) the model of `data1` with one
/// node of `data2` (and the initializers and inputs it reads) spliced in;
/// returns the size, or 0 when either does not parse.
size_t crossOverOnnxModels(const uint8_t *data1, size_t size1, const uint8_t *data2,
                           size_t size2, uint8_t *out, size_t maxOutSize, unsigned seed);

} // namespace pmc::fuzz

#endif // PMC_TEST_FUZZ_ONNXMODELMUTATOR_H
