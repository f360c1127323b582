//===- CPUFeatures.cpp - kernel library records and CPUID checks ----------===//

#include "pmc/Support/CPUFeatures.h"

#include <algorithm>
#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define PMC_HOST_X86 1
#endif

namespace pmc {

namespace {

enum class Register { Eax, Ebx, Ecx, Edx };
/// The register state an extension needs the OS to save (XCR0 bits).
enum class State : uint64_t {
  None = 0,
  Avx = 0x6,      // SSE | AVX
  Avx512 = 0xe6,  // SSE | AVX | opmask | ZMM_Hi256 | Hi16_ZMM
  Amx = 0x60006,  // SSE | AVX | XTILECFG | XTILEDATA
  Apx = 0x80000,  // APX extended GPRs
};

/// One row of X86Features.def: the CPUID bit; for AVX10, also the version.
struct X86Feature {
  std::string_view name;
  uint32_t leaf, subleaf;
  Register reg;
  unsigned bit;
  State state;
  unsigned avx10Version = 0;
};

constexpr X86Feature kX86Features[] = {
#define PMC_X86_FEATURE(NAME, LEAF, SUBLEAF, REG, BIT, STATE)                        \
  {NAME, LEAF, SUBLEAF, Register::REG, BIT, State::STATE},
#define PMC_X86_AVX10(NAME, VERSION)                                                 \
  {NAME, 0x7, 1, Register::Edx, 19, State::Avx512, VERSION},
#include "pmc/Support/X86Features.def"
};

#ifdef PMC_HOST_X86
/// One CPUID register, or 0 when the leaf is beyond the CPU's maximum.
uint32_t cpuidRegister(uint32_t leaf, uint32_t subleaf, Register reg) {
  unsigned regs[4] = {0, 0, 0, 0};
  if (!__get_cpuid_count(leaf, subleaf, &regs[0], &regs[1], &regs[2], &regs[3]))
    return 0;
  return regs[static_cast<int>(reg)];
}

/// XCR0: the register state the OS saves (0 without OSXSAVE).
uint64_t enabledState() {
  if (!(cpuidRegister(1, 0, Register::Ecx) & (1u << 27)))
    return 0;
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}
#endif

} // namespace

std::string formatKernelTarget(const KernelTarget &target) {
  std::string text = "cpu=" + target.cpu + ";features=";
  for (size_t i = 0; i < target.features.size(); ++i)
    text += (i ? "," : "") + target.features[i];
  return text;
}

std::optional<KernelTarget> parseKernelTarget(std::string_view text) {
  constexpr std::string_view cpuKey = "cpu=", featuresKey = ";features=";
  if (text.substr(0, cpuKey.size()) != cpuKey)
    return std::nullopt;
  size_t split = text.find(featuresKey);
  if (split == std::string_view::npos)
    return std::nullopt;
  KernelTarget target;
  target.cpu = std::string(text.substr(cpuKey.size(), split - cpuKey.size()));
  if (target.cpu.empty() || target.cpu.find_first_of(";,=") != std::string::npos)
    return std::nullopt;
  std::string_view list = text.substr(split + featuresKey.size());
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view name = list.substr(0, comma);
    if (name.empty() || name.find_first_of(";=") != std::string_view::npos)
      return std::nullopt;
    target.features.emplace_back(name);
    if (comma == std::string_view::npos)
      break;
    list.remove_prefix(comma + 1);
    if (list.empty())
      return std::nullopt; // a trailing comma
  }
  return target;
}

const std::vector<std::string_view> &checkableX86Features() {
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> result;
    for (const X86Feature &feature : kX86Features)
      result.push_back(feature.name);
    return result;
  }();
  return names;
}

bool hostHasX86Feature(std::string_view name) {
#ifdef PMC_HOST_X86
  auto it = std::find_if(std::begin(kX86Features), std::end(kX86Features),
                         [&](const X86Feature &f) { return f.name == name; });
  if (it == std::end(kX86Features))
    return false;
  if (!(cpuidRegister(it->leaf, it->subleaf, it->reg) & (1u << it->bit)))
    return false;
  if (it->avx10Version && (cpuidRegister(0x24, 0, Register::Ebx) & 0xff) < it->avx10Version)
    return false;
  uint64_t needed = static_cast<uint64_t>(it->state);
  return (enabledState() & needed) == needed;
#else
  (void)name;
  return false;
#endif
}

std::vector<std::string>
missingFeatures(const KernelTarget &target,
                const std::function<bool(std::string_view)> &hostHas) {
  std::vector<std::string> missing;
  for (const std::string &feature : target.features)
    if (!hostHas(feature))
      missing.push_back(feature);
  return missing;
}

} // namespace pmc
