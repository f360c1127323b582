//===- Error.h - runtime errors (no MLIR) -----------------------*- C++ -*-===//
#ifndef PMC_RUNTIME_ERROR_H
#define PMC_RUNTIME_ERROR_H

#include <stdexcept>

namespace pmc::runtime {

/// A bad bundle or a failure while running one. The message names the section,
/// buffer or command at fault, e.g.
/// "model.pmc: rank0.program: command 2 (matmul): operand 'b' (buffer 1) ...".
class RuntimeError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// A bad feed: unknown name, missing input, wrong dtype or shape. The message
/// names the input and what was expected. (Python maps it to ValueError.)
class FeedError : public RuntimeError {
public:
  using RuntimeError::RuntimeError;
};

} // namespace pmc::runtime

#endif // PMC_RUNTIME_ERROR_H
