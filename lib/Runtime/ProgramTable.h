//===- ProgramTable.h - the buffer table and outputs of a rank program ---===//
//
// The parts of a rank program's JSON (docs/design/bundle.md) that every
// executor reads the same way: the `rank` field, the buffer table with its
// views, and the `outputs` list. The host program (RankProgram) and the CUDA
// program (CudaProgram) differ where a target allows more (`scratch` buffers
// on CUDA) and in the fields of each kind (`input`, `section`, `of`), which
// each reads and checks with its own messages; those parts come in through
// BufferTableOptions and ProgramOutputOptions.
//
//===----------------------------------------------------------------------===//

#ifndef PMC_LIB_RUNTIME_PROGRAMTABLE_H
#define PMC_LIB_RUNTIME_PROGRAMTABLE_H

#include "Json.h"
#include "pmc/Runtime/Buffer.h"
#include "pmc/Runtime/Manifest.h"

#include <functional>
#include <string>
#include <vector>

namespace pmc::runtime {

/// Dense byte size of `dtype[shape]`, rejecting overflow ("<where>: shape
/// [..] is too large").
size_t denseByteSize(DType dtype, const std::vector<int64_t> &shape, const std::string &where);

/// The section holding rank `rank`'s program; rejects a rank the bundle does
/// not have ("rank 3 is out of range: the bundle has 2 rank(s)").
const std::string &rankProgramSection(const Manifest &manifest, int rank);

/// Checks that the program's field `rank` is `rank`.
void checkProgramRank(const json::json &root, int rank);

/// Checks that input buffer `b` matches manifest input `spec` (its step shape
/// in pipeline bundles): "<where>: does not match manifest input '...'".
void checkInputBuffer(const BufferDesc &b, const TensorSpec &spec, const Manifest &manifest,
                      const std::string &where);

/// What a target adds to the parsing of the buffer table.
struct BufferTableOptions {
  /// Accept kind `scratch`: a temp (BufferKind::Temp) flagged in
  /// BufferTable::scratch, which no view may alias.
  bool allowScratch = false;
  /// Reads the fields of the buffer's kind from its JSON object `o` (`input`
  /// for inputs, `section` for weights, `of` for views) and checks them; called
  /// for each buffer once id, dtype, shape, kind and bytes are set, before the
  /// next buffer is read and before views are resolved. Required.
  std::function<void(BufferDesc &b, const json::json &o)> readKindFields;
};

/// A parsed buffer table: ids 0..n-1 in order, views resolved to their roots.
struct BufferTable {
  std::vector<BufferDesc> buffers;
  /// True for `scratch` buffers (only with BufferTableOptions::allowScratch).
  std::vector<bool> scratch;
};

/// Parses and validates the program's field `buffers`: ids in order, dtype,
/// shape, kind, byte sizes and (through the options) the kind's fields, then
/// resolves every view to its root, rejecting dangling references, cycles,
/// size mismatches and views of scratch buffers.
BufferTable parseBufferTable(const json::json &root, const BufferTableOptions &options);

/// What a target adds to the checks of the program's outputs.
struct ProgramOutputOptions {
  /// Append "(output 'y' is computed by this rank's stage s)" to the error for
  /// a missing output buffer of a pipeline bundle.
  bool nameStageOfMissing = true;
  /// Called for each output buffer this program computes, after its dtype
  /// and shape are checked; `where` is "outputs[i]".
  std::function<void(const std::string &where, const BufferDesc &)> check;
};

/// The program's field `outputs`, one buffer id per manifest output: -1 for
/// the outputs of other pipeline stages, else a buffer matching the output's
/// dtype and step shape that some command writes (`writer[root] >= 0` for a
/// temp root).
std::vector<int> parseProgramOutputs(const json::json &root, const Manifest &manifest, int rank,
                                     const std::vector<BufferDesc> &buffers,
                                     const std::vector<int> &writer,
                                     const ProgramOutputOptions &options);

} // namespace pmc::runtime

#endif // PMC_LIB_RUNTIME_PROGRAMTABLE_H
