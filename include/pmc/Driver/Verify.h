//===- Verify.h - compare a partitioned bundle with one device --*- C++ -*-===//
#ifndef PMC_DRIVER_VERIFY_H
#define PMC_DRIVER_VERIFY_H

#include <string>

namespace pmc {

/// What `verifyBundles` found.
struct VerifyReport {
  /// The largest |a - b| and |a - b| / |b| over all outputs.
  double maxAbs = 0, maxRel = 0;
  /// One line per output (or the reason the bundles could not be compared).
  std::string text;
  /// Set when a bundle could not be run (then nothing was compared).
  bool runFailed = false;
};

/// Runs the bundles `partitioned` (N devices, ranks as threads) and
/// `reference` (1 device) on the same random inputs and compares every
/// output. Returns true when all elements satisfy
/// |a - b| <= tolerance * (1 + |b|). Uses PMCRuntime only (no MLIR).
///
///   pmc::VerifyReport report;
///   bool same = pmc::verifyBundles("m4.pmc", "m1.pmc", 1e-4, report);
bool verifyBundles(const std::string &partitioned, const std::string &reference,
                   double tolerance, VerifyReport &report);

} // namespace pmc

#endif // PMC_DRIVER_VERIFY_H
