//===- CPUFeatures.h - the CPU a kernel library needs (no LLVM) -*- C++ -*-===//
//
// A CPU kernel library is generated for one LLVM CPU (`pmc-opt compile --cpu`,
// by default this machine) and may use every ISA extension of it. The compiler
// writes what it used into the library itself, as the string symbol
// `pmc_kernel_target`:
//
//   cpu=sapphirerapids;features=avx,avx2,avx512bw,avx512f,...
//
// and the runtime checks it against the CPU it runs on (CPUID) before it calls
// any kernel. The record lives in the library rather than in the manifest so
// that it cannot disagree with the code it describes.
//
#ifndef PMC_SUPPORT_CPUFEATURES_H
#define PMC_SUPPORT_CPUFEATURES_H

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pmc {

/// The symbol of the kernel library's record (a NUL-terminated char array).
inline constexpr const char *kKernelTargetSymbol = "pmc_kernel_target";

/// What a kernel library was generated for.
struct KernelTarget {
  /// The LLVM CPU name ("sapphirerapids", "x86-64-v2").
  std::string cpu;
  /// The ISA extensions (LLVM names, sorted) the code may use.
  std::vector<std::string> features;
};

/// The record's text: `cpu=NAME;features=A,B,C`.
std::string formatKernelTarget(const KernelTarget &target);
/// Parses formatKernelTarget's text; nullopt when it is malformed.
std::optional<KernelTarget> parseKernelTarget(std::string_view text);

/// The x86 extensions whose presence the runtime can check
/// (X86Features.def), by LLVM name.
const std::vector<std::string_view> &checkableX86Features();
/// Whether this CPU (CPUID) and its OS (XCR0) support the x86 extension
/// `name`; false for a name outside checkableX86Features() and off x86.
bool hostHasX86Feature(std::string_view name);

/// The features of `target` that `hostHas` rejects, in the record's order.
std::vector<std::string>
missingFeatures(const KernelTarget &target,
                const std::function<bool(std::string_view)> &hostHas = hostHasX86Feature);

} // namespace pmc

#endif // PMC_SUPPORT_CPUFEATURES_H
