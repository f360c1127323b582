//===- KernelLibrary.cpp - dlopen a shared library held in memory ----------===//

#include "pmc/Runtime/KernelLibrary.h"
#include "pmc/Runtime/Error.h"

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
  return lib;
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
