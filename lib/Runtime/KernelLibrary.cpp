//===- KernelLibrary.cpp - dlopen a shared library held in memory ----------===//

#include "pmc/Runtime/KernelLibrary.h"
#include "pmc/Runtime/Error.h"
#include "pmc/Support/CPUFeatures.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

namespace pmc::runtime {

namespace {

/// An anonymous file: a memfd, or else a private temp file unlinked at once.
int anonymousFile(const std::string &section) {
  int fd = ::memfd_create("pmc-kernels", MFD_CLOEXEC);
  if (fd >= 0)
    return fd;
  const char *dir = std::getenv("TMPDIR");
  std::string tmpl = std::string(dir && *dir ? dir : "/tmp") + "/pmc-kernels-XXXXXX";
  fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
  if (fd < 0)
    throw RuntimeError("section '" + section +
                       "': cannot create a file for the kernel library: " +
                       std::strerror(errno));
  ::unlink(tmpl.c_str());
  return fd;
}

} // namespace

std::unique_ptr<KernelLibrary> KernelLibrary::load(std::string_view bytes,
                                                   const std::string &section) {
  if (bytes.size() < 4 || std::memcmp(bytes.data(), "\x7f"
                                                    "ELF",
                                      4) != 0)
    throw RuntimeError("section '" + section +
                       "': the kernel library is not an ELF shared object");
  std::unique_ptr<KernelLibrary> lib(new KernelLibrary());
  lib->sectionName = section;
  lib->fd = anonymousFile(section);
  const char *p = bytes.data();
  size_t left = bytes.size();
  while (left) {
    ssize_t n = ::write(lib->fd, p, left);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      throw RuntimeError("section '" + section +
                         "': cannot write the kernel library: " + std::strerror(errno));
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  // The fd stays open while the library is loaded: glibc identifies libraries
  // by path, so a /proc/self/fd/N path must not be reused by another library.
  std::string path = "/proc/self/fd/" + std::to_string(lib->fd);
  lib->handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib->handle) {
    const char *err = ::dlerror();
    throw RuntimeError("section '" + section + "': cannot load the kernel library: " +
                       (err ? err : "unknown dlopen error"));
  }
  lib->checkTarget();
  return lib;
}

void KernelLibrary::checkTarget() {
  const std::string where = "section '" + sectionName + "': ";
  const char *record = static_cast<const char *>(::dlsym(handle, kKernelTargetSymbol));
  if (!record)
    throw RuntimeError(where + "the kernel library does not say which CPU it was "
                               "compiled for (no '" +
                       kKernelTargetSymbol +
                       "'; an older pmc made it): compile the model again");
  std::optional<KernelTarget> parsed = parseKernelTarget(record);
  if (!parsed)
    throw RuntimeError(where + "the kernel library's CPU record '" +
                       std::string(record).substr(0, 200) + "' is malformed");
  target = std::move(*parsed);
  std::vector<std::string> missing = missingFeatures(target);
  if (missing.empty())
    return;
  std::string list;
  for (size_t i = 0; i < missing.size(); ++i)
    list += (i ? ", " : "") + missing[i];
  throw RuntimeError(where + "the kernels were compiled for CPU '" + target.cpu +
                     "' and use " + list + ", which this CPU does not support; "
                     "compile the model on this machine, or with --cpu x86-64-v2 "
                     "(or another CPU this one covers) for a portable bundle");
}

KernelLibrary::~KernelLibrary() {
  if (handle)
    ::dlclose(handle);
  if (fd >= 0)
    ::close(fd);
}

KernelFn KernelLibrary::lookup(const std::string &symbol) const {
  ::dlerror();
  void *sym = ::dlsym(handle, symbol.c_str());
  return reinterpret_cast<KernelFn>(sym);
}

} // namespace pmc::runtime
