//===- Buffer.cpp - buffer table entries -------------------------------------===//

#include "pmc/Runtime/Buffer.h"

namespace pmc::runtime {

const char *bufferKindName(BufferKind kind) {
  switch (kind) {
  case BufferKind::Input: return "input";
  case BufferKind::Weight: return "weight";
  case BufferKind::Temp: return "temp";
  case BufferKind::View: return "view";
  }
  return "?";
}

int64_t BufferDesc::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

std::string BufferDesc::describe() const {
  return "buffer " + std::to_string(id) + " (" + (scratch ? "scratch" : bufferKindName(kind)) + " " +
         std::string(dtypeName(dtype)) + shapeToString(shape) + ")";
}

} // namespace pmc::runtime
