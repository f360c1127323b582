//===- CUDAPasses.cpp - pmc-allocs-to-scratch, pmc-outline-launches, ... --===//
//
// The passes of the CUDA kernel pipeline (include/pmc/Target/Passes.td) and
// pmc-cuda-kernels itself.
//
#include "pmc/Target/Passes.h"

#include "LaunchOutlining.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/IR/Builders.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"

namespace mlir::pmc {
#define GEN_PASS_DEF_PMCALLOCSTOSCRATCH
#define GEN_PASS_DEF_PMCOUTLINELAUNCHES
#include "pmc/Target/Passes.h.inc"
} // namespace mlir::pmc

using namespace mlir;

namespace {
struct AllocsToScratch : public mlir::pmc::impl::PMCAllocsToScratchBase<AllocsToScratch> {
  void runOnOperation() override {
    for (func::FuncOp func : getOperation().getOps<func::FuncOp>())
      if (!func.isExternal() && failed(::pmc::allocsToScratch(func)))
        return signalPassFailure();
  }
};

struct OutlineLaunches : public mlir::pmc::impl::PMCOutlineLaunchesBase<OutlineLaunches> {
  using PMCOutlineLaunchesBase::PMCOutlineLaunchesBase;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (blockSize < 1 || blockSize > 1024) {
      module.emitError() << "cuda block size " << blockSize.getValue() << " is out of range (1-1024)";
      return signalPassFailure();
    }
    OpBuilder builder(&getContext());
    builder.setInsertionPointToEnd(module.getBody());
    auto gpuModule = gpu::GPUModuleOp::create(builder, module.getLoc(), ::pmc::kGPUModuleName);
    module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(), builder.getUnitAttr());
    for (func::FuncOp func : llvm::to_vector(module.getOps<func::FuncOp>()))
      if (failed(::pmc::outlineLaunches(func, gpuModule, blockSize)))
        return signalPassFailure();
  }
};
} // namespace

void mlir::pmc::buildCUDAKernelPipeline(OpPassManager &pm, const CUDAKernelsOptions &options) {
  PMCPrepareKernelsOptions prepare;
  prepare.target = "cuda";
  pm.addPass(createPMCPrepareKernels(prepare));
  buildKernelBufferizationPipeline(pm);
  pm.addPass(createPMCAllocsToScratch());
  // Each linalg op becomes an scf.parallel over its parallel dimensions with
  // its reduction dimensions as scf.for loops inside.
  pm.addNestedPass<func::FuncOp>(createConvertLinalgToParallelLoopsPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  PMCVectorizeParallelLoopsOptions vectorize;
  vectorize.bytes = options.vectorBytes;
  pm.addPass(createPMCVectorizeParallelLoops(vectorize));
  PMCOutlineLaunchesOptions outline;
  outline.blockSize = options.blockSize;
  pm.addPass(createPMCOutlineLaunches(outline));
}
