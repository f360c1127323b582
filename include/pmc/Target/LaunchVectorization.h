//===- LaunchVectorization.h - vector memory access in parallel loops -*- C++ -*-===//
#ifndef PMC_TARGET_LAUNCHVECTORIZATION_H
#define PMC_TARGET_LAUNCHVECTORIZATION_H

#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace pmc {

/// Vectorizes the elementwise top-level scf.parallel loops of `func` (after
/// convert-linalg-to-parallel-loops, before launch outlining): the innermost
/// loop's step becomes the vector width W and its body reads and writes W
/// elements with aligned `vector.load`/`vector.store` (16 bytes at most:
/// 4 x f32, 8 x f16/bf16), so that NVPTX emits `ld.global.v4.f32`. Operands
/// that do not vary along the innermost loop (broadcasts) stay scalar loads
/// and are splatted. A loop qualifies only when, for some W in
/// `maxBytes / largest element size`, halved down to 2: the innermost trip
/// count and lower bound are multiples of W, every varying access indexes the
/// innermost dimension with the innermost induction variable (unit stride),
/// its memref has a static strided layout whose offset and outer strides are
/// multiples of W, and its root is a parameter of `func` (which the runtime
/// places at a 64-byte aligned address). The body must be pure elementwise
/// arithmetic between loads and stores, without nested regions; reductions
/// (loops with scf.for inside) and anything else are left unchanged.
/// Returns the number of loops vectorized. `maxBytes` 0 disables it.
/// Target-independent (scf/memref/vector only): the CUDA target runs it before
/// GPU mapping, and the test pass pmc-test-launch-vectorization executes the
/// transformation on CPU kernels (test/python/test_launch_vectorization_cpu.py).
unsigned vectorizeParallelLoops(mlir::func::FuncOp func, int64_t maxBytes);

} // namespace pmc

#endif // PMC_TARGET_LAUNCHVECTORIZATION_H
