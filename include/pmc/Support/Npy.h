//===- Npy.h - numpy .npy and .npz files (no MLIR) --------------*- C++ -*-===//
//
// Reads and writes the files `numpy.save` / `numpy.savez[_compressed]` produce,
// so pmc-run and the tests exchange tensors with numpy users.
//
#ifndef PMC_SUPPORT_NPY_H
#define PMC_SUPPORT_NPY_H

#include "pmc/Support/HostTensor.h"

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pmc::npy {

/// A malformed or unsupported file; the message names the file and the fault,
/// e.g. "x.npy: Fortran-order arrays are not supported".
class NpyError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// Named tensors in file order, as in an .npz (names without ".npy").
using NamedTensors = std::vector<std::pair<std::string, HostTensor>>;

/// The numpy dtype descriptor of `dtype` ("<f4", "|b1", ...). bfloat16, which
/// numpy lacks, is written as "<V2" (2-byte void, what ml_dtypes arrays save as).
std::string npyDescr(DType dtype);

/// Parses the bytes of an .npy file. Accepts format versions 1, 2 and 3,
/// C order, little-endian (or byte-order-free) descriptors of the HostTensor
/// dtypes. `what` names the source in errors (a file or an .npz member).
///
///   HostTensor t = pmc::npy::parseNpy(bytes, "x.npy");
HostTensor parseNpy(std::string_view bytes, const std::string &what);
/// Serializes `tensor` as an .npy file (version 1, or 2 for huge headers).
std::string serializeNpy(const HostTensor &tensor);

/// Reads an .npy file. Throws NpyError.
HostTensor readNpy(const std::string &path);
/// Writes an .npy file. Throws NpyError.
void writeNpy(const std::string &path, const HostTensor &tensor);

/// Reads every member of an .npz (zip) archive, stored or deflate-compressed,
/// checking each member's CRC-32. Throws NpyError.
///
///   for (auto &[name, t] : pmc::npy::readNpz("inputs.npz")) ...
NamedTensors readNpz(const std::string &path);
/// Writes an .npz archive of stored (uncompressed) members "<name>.npy".
/// Throws NpyError (also on duplicate names).
void writeNpz(const std::string &path, const NamedTensors &tensors);

/// Every member of a zip archive as (name, bytes), each CRC-32 checked; the
/// archive readNpz reads. Throws NpyError.
std::vector<std::pair<std::string, std::string>> readZip(const std::string &path);
/// Writes a zip archive of stored members (name, bytes) in order. Throws
/// NpyError (also on duplicate or empty names).
void writeZip(const std::string &path,
              const std::vector<std::pair<std::string, std::string>> &members);

} // namespace pmc::npy

#endif // PMC_SUPPORT_NPY_H
