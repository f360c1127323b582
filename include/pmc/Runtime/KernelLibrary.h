//===- KernelLibrary.h - the bundle's host kernel library -------*- C++ -*-===//
#ifndef PMC_RUNTIME_KERNELLIBRARY_H
#define PMC_RUNTIME_KERNELLIBRARY_H

#include "pmc/Support/CPUFeatures.h"

#include <memory>
#include <string>
#include <string_view>

namespace pmc::runtime {

/// Signature of every generated kernel: data pointers of inputs then outputs.
using KernelFn = void (*)(void **args);

/// A shared library loaded from the bytes of a bundle section, without a file
/// on disk: the bytes go to a memfd (or an unlinked private temp file) that is
/// dlopen'ed through /proc/self/fd. Unloaded on destruction.
class KernelLibrary {
public:
  /// Loads `bytes` and checks that this CPU has every ISA extension the
  /// library's record (pmc/Support/CPUFeatures.h) names, before any kernel
  /// can run; `section` names the source in errors. Throws RuntimeError.
  static std::unique_ptr<KernelLibrary> load(std::string_view bytes,
                                             const std::string &section);
  ~KernelLibrary();
  KernelLibrary(const KernelLibrary &) = delete;
  KernelLibrary &operator=(const KernelLibrary &) = delete;

  /// The kernel named `symbol`, or null when the library lacks it.
  KernelFn lookup(const std::string &symbol) const;
  const std::string &section() const { return sectionName; }
  /// The CPU the kernels were compiled for.
  const KernelTarget &cpuTarget() const { return target; }

private:
  KernelLibrary() = default;
  void checkTarget();
  void *handle = nullptr;
  int fd = -1;
  std::string sectionName;
  KernelTarget target;
};

} // namespace pmc::runtime

#endif // PMC_RUNTIME_KERNELLIBRARY_H
