//===- FaultInjection.h - test hooks that make a rank fail or stall -*- C++ -*-===//
//
// TEST HOOK, not a feature: lets tests exercise the failure paths of
// multi-rank runs without special commands in bundles. Read from the
// environment when a Session opens:
//
//   PMC_TEST_FAIL_RANK=2 PMC_TEST_FAIL_AT_COMMAND=5
//       rank 2 throws RuntimeError("test hook: ...") before running command 5;
//   PMC_TEST_STALL_RANK=1 [PMC_TEST_STALL_AT_COMMAND=3]
//       rank 1 stops before command 3 (default 0) and never arrives at any
//       later collective: it waits until another rank reports the failure
//       (or twice the collective timeout passes) and then fails itself;
//   PMC_TEST_AT_MICROBATCH=3
//       pipeline bundles: both hooks fire in the step of microbatch 3
//       (default 0) rather than in the first.
//
// Unset variables disable the hook. Malformed values throw RuntimeError
// naming the variable.
//
#ifndef PMC_RUNTIME_FAULTINJECTION_H
#define PMC_RUNTIME_FAULTINJECTION_H

namespace pmc::runtime {

struct FaultInjection {
  int failRank = -1;
  int failAtCommand = 0;
  int stallRank = -1;
  int stallAtCommand = 0;
  /// The microbatch whose step the hooks fire in (pipeline bundles).
  int atMicrobatch = 0;

  bool any() const { return failRank >= 0 || stallRank >= 0; }
  /// The hooks set in the environment (all disabled when none is set).
  static FaultInjection fromEnvironment();
};

} // namespace pmc::runtime

#endif // PMC_RUNTIME_FAULTINJECTION_H
