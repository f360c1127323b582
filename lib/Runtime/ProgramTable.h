//===- ProgramTable.h - the buffer table and outputs of a rank program ---===//
//
// The parts of a rank program (docs/design/bundle.md) that every executor
// reads and checks the same way: the `rank` field, the buffer table with its
// views, the access rules of the commands (ProgramRules) and the `outputs`
// list. The host program (RankProgram) and the CUDA program (CudaProgram)
// differ only where a target allows more (`scratch` buffers and `launch`
// commands on CUDA); the commands themselves are the host runtime's
// Commands on both.
//
//===----------------------------------------------------------------------===//

#ifndef PMC_LIB_RUNTIME_PROGRAMTABLE_H
#define PMC_LIB_RUNTIME_PROGRAMTABLE_H

#include "Json.h"
#include "pmc/Runtime/Buffer.h"
#include "pmc/Runtime/Manifest.h"

namespace pmc::bundle {
class BundleReader;
}

#include <functional>
#include <map>
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

/// A parsed buffer table: ids 0..n-1 in order, views resolved to their roots
/// (`scratch` buffers, where allowed, are temps with BufferDesc::scratch set).
struct BufferTable {
  std::vector<BufferDesc> buffers;
};

/// Parses and validates the program's field `buffers`: ids in order, dtype,
/// shape, kind, byte sizes and each kind's fields (an input names a manifest
/// input it matches, in its step shape for pipelines; a weight a section of
/// `reader` of its byte size; a view its base), then resolves every view to
/// its root, rejecting dangling references, cycles, size mismatches and views
/// of scratch buffers. Kind `scratch` only with `allowScratch` (cuda).
BufferTable parseBufferTable(const json::json &root, const Manifest &manifest,
                             const bundle::BundleReader &reader, bool allowScratch);

/// The rules every rank program obeys, checked command by command in program
/// order (docs/design/bundle.md): a command reads a temp only after some
/// command wrote it (scratch buffers excepted), writes only temps, each once
/// and never one it also reads; a transfer tag names one edge. The host and
/// the CUDA program loaders both check their commands with it.
class ProgramRules {
public:
  explicit ProgramRules(const std::vector<BufferDesc> &buffers)
      : buffers(buffers), writer(buffers.size(), -1) {}
  /// Checks the accesses of command `index`, `where` naming it ("command 3
  /// (matmul)"). A cuda launch passes `kernelRunStart`, the index of the
  /// first of the consecutive launches of its kernel: those may write a temp
  /// several times and read what they write. Throws RuntimeError.
  void checkAccesses(const std::string &where, int index, const std::vector<int> &reads,
                     const std::vector<int> &writes, int kernelRunStart = -1);
  /// Checks that `tag`, the tag of transfer command `index`, is new.
  void checkTransferTag(const std::string &where, int index, int64_t tag);
  /// Command index of the last write of each buffer (-1: never written).
  const std::vector<int> &writers() const { return writer; }

private:
  const std::vector<BufferDesc> &buffers;
  std::vector<int> writer;
  std::map<int64_t, int> tagUser;
};

/// The program's field `outputs`, one buffer id per manifest output: -1 for
/// the outputs of other pipeline stages, else a buffer matching the output's
/// dtype and step shape that some command writes (`writer[root] >= 0` for a
/// temp root) and that is not a scratch buffer.
std::vector<int> parseProgramOutputs(const json::json &root, const Manifest &manifest, int rank,
                                     const std::vector<BufferDesc> &buffers,
                                     const std::vector<int> &writer);

} // namespace pmc::runtime

#endif // PMC_LIB_RUNTIME_PROGRAMTABLE_H
