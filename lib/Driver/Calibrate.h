//===- Calibrate.h - the parts of `pmc-opt calibrate` -----------*- C++ -*-===//
//
// Internal to lib/Driver: CalibrateCommand.cpp (the command, CPU compute)
// uses CalibrateLinks.cpp (collectives through a communicator, links files,
// merging levels) and CalibrateCuda.cpp (a GPU through the CUDA runtime).
// All of them are compiled with exceptions and throw CalibrateError.
//
#ifndef PMC_LIB_DRIVER_CALIBRATE_H
#define PMC_LIB_DRIVER_CALIBRATE_H

#include "pmc/Parallel/DeviceSpec.h"
#include "pmc/Runtime/Comm/CollectiveBench.h"

#include <stdexcept>
#include <string>
#include <vector>

namespace pmc::calibrate {

/// A calibrate failure the user can act on; main prints "error: <what>".
struct CalibrateError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Where the tools calibrate spawns live: given, beside pmc-opt, or on PATH.
struct Tools {
  std::string self; // this pmc-opt
  std::string pmcRun, mpirun;
};

/// One link level to merge, with where it came from (for messages).
struct MeasuredLevel {
  pmc::runtime::LinksFile links;
  std::string from;
};

/// Measures collectives through `communicator` ("local", "mpi" or "tcp")
/// over `ranks` ranks; `levelName` names the level (empty: a default).
MeasuredLevel measureCollectives(const std::string &communicator, int ranks,
                                 const std::string &levelName, bool quick,
                                 const Tools &tools);

/// Reads a links file written by pmc-run --calibrate-collectives.
MeasuredLevel readLinks(const std::string &path);

/// The link levels of `measured` (fastest first): a later source with the
/// name of an earlier one replaces it; every level but the slowest serves
/// groups of its "devices", else of the ranks it was measured over; the
/// slowest spans every device.
std::vector<mlir::pmc::LinkLevel> mergeLevels(std::vector<MeasuredLevel> measured);

/// Measures GPU `device` into `spec` (peaks, vector FLOP/s, memory, launch
/// overhead); the levels come from `base` (or the GPU's built-in) unless
/// links were given.
void measureCuda(mlir::pmc::DeviceSpec &spec, int device, bool quick, std::string base,
                 bool haveLinks);

} // namespace pmc::calibrate

#endif // PMC_LIB_DRIVER_CALIBRATE_H
