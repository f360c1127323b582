//===- TestPasses.h - test passes of the cost model -------------*- C++ -*-===//
#ifndef PMC_PARALLEL_TESTPASSES_H
#define PMC_PARALLEL_TESTPASSES_H

namespace mlir::pmc {

/// Registers `--pmc-test-print-costs{spec=h100-sxm activation-multiplier=1}`:
/// estimates every function of a module with a `pmc.mesh` and reports, as
/// remarks, each op's compute and communication time and the function's
/// totals and memory per device (for lit tests and for looking at a plan).
void registerParallelTestPasses();

} // namespace mlir::pmc

#endif // PMC_PARALLEL_TESTPASSES_H
