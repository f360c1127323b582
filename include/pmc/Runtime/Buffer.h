//===- Buffer.h - the buffer table of a rank program ------------*- C++ -*-===//
#ifndef PMC_RUNTIME_BUFFER_H
#define PMC_RUNTIME_BUFFER_H

#include "pmc/Support/HostTensor.h"

#include <string>
#include <vector>

namespace pmc::runtime {

/// How a buffer gets its bytes (docs/design/bundle.md, "Buffers").
enum class BufferKind { Input, Weight, Temp, View };

/// "input", "weight", "temp", "view".
const char *bufferKindName(BufferKind kind);

/// One entry of a rank program's buffer table.
struct BufferDesc {
  int id = 0;
  DType dtype = DType::Float32;
  std::vector<int64_t> shape;
  BufferKind kind = BufferKind::Temp;
  /// Input: the manifest input index.
  int input = -1;
  /// Weight: the section holding the bytes.
  std::string section;
  /// View: the buffer it reinterprets.
  int of = -1;
  /// The non-view buffer whose bytes this one uses (itself unless a view).
  int root = 0;
  /// Dense byte size.
  size_t bytes = 0;
  /// A temp that belongs to one kernel while it runs (cuda bundles' kind
  /// `scratch`): placed by liveness like any temp, never a view's base, never
  /// an output, and readable before a command writes it.
  bool scratch = false;

  int64_t numElements() const;
  /// "buffer 3 (temp float32[2x2])", for messages.
  std::string describe() const;
};

} // namespace pmc::runtime

#endif // PMC_RUNTIME_BUFFER_H
