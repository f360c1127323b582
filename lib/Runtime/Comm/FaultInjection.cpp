//===- FaultInjection.cpp - reading the test hooks from the environment ----===//

#include "pmc/Runtime/Comm/FaultInjection.h"
#include "pmc/Runtime/Error.h"

#include <cstdlib>
#include <string>

namespace pmc::runtime {

namespace {
int readInt(const char *name, int fallback) {
  const char *v = std::getenv(name);
  if (!v || !*v)
    return fallback;
  char *end = nullptr;
  long n = std::strtol(v, &end, 10);
  if (*end || n < 0 || n > (1 << 30))
    throw RuntimeError(std::string(name) + " must be a non-negative integer, got '" + v + "'");
  return static_cast<int>(n);
}
} // namespace

FaultInjection FaultInjection::fromEnvironment() {
  FaultInjection f;
  f.failRank = readInt("PMC_TEST_FAIL_RANK", -1);
  f.failAtCommand = readInt("PMC_TEST_FAIL_AT_COMMAND", 0);
  f.stallRank = readInt("PMC_TEST_STALL_RANK", -1);
  f.stallAtCommand = readInt("PMC_TEST_STALL_AT_COMMAND", 0);
  f.atMicrobatch = readInt("PMC_TEST_AT_MICROBATCH", 0);
  return f;
}

} // namespace pmc::runtime
