//===- BundleWriteUnavailable.cpp - writeBundleImage without PMCBundle -----===//
#include "pmc/Target/BundleEmitter.h"

bool pmc::writeBundleImage(const BundleImage &, const std::string &path,
                           std::string &error) {
  error = "cannot write '" + path +
          "': this build of pmc has no bundle writer (PMCBundle, lib/Bundle)";
  return false;
}
