//===- FileIO.h - whole-file reads and writes for lib/Support (internal) ---===//
#ifndef PMC_LIB_SUPPORT_FILEIO_H
#define PMC_LIB_SUPPORT_FILEIO_H

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

namespace pmc::npy {

/// The bytes of `path`; failures throw `Error` naming the file and the cause.
template <typename Error> std::string readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw Error(path + ": cannot open for reading: " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad())
    throw Error(path + ": read error");
  return ss.str();
}

/// Replaces `path` with `bytes`; failures throw `Error`.
template <typename Error>
void writeFile(const std::string &path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out)
    throw Error(path + ": cannot open for writing: " + std::strerror(errno));
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out)
    throw Error(path + ": write error");
}

} // namespace pmc::npy

#endif // PMC_LIB_SUPPORT_FILEIO_H
