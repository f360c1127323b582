//===- KernelPipelines.cpp - the named pipelines of kernel code generation -===//
//
//   pmc-opt kernels.mlir --pmc-cpu-kernels          # outlined module -> LLVM dialect
//   pmc-opt kernels.mlir --pmc-bufferize-kernels    # kernels on memrefs (CPU and CUDA)
//
// Built from passes (not parsed from text), registered for pmc-opt, and run
// by compileKernelsToSharedLibrary / compileKernelsToPTX.
//
#include "pmc/Target/Passes.h"

#include "pmc/Conversion/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

void mlir::pmc::buildKernelBufferizationPipeline(OpPassManager &pm) {
  pm.addPass(createConvertPMCToLinalg());
  pm.addPass(createLinalgElementwiseOpFusionPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addPass(bufferization::createEmptyTensorEliminationPass());
  // After empty-tensor elimination, which would write the copy in place.
  pm.addPass(createPMCDistinctKernelResults());
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  bufferization::BufferResultsToOutParamsPassOptions outParams;
  outParams.hoistStaticAllocs = true;
  outParams.modifyPublicFunctions = true;
  pm.addPass(bufferization::createBufferResultsToOutParamsPass(outParams));
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createPMCCopiesToLinalg());
}

/// Loops and views to the LLVM dialect with bare-pointer calls; `vectors`
/// also lowers vector ops (the launch vectorization test).
static void addLoopsToLLVM(OpPassManager &pm, bool vectors) {
  pm.addPass(createConvertLinalgToLoopsPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  if (vectors)
    pm.addPass(createConvertVectorToLLVMPass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createConvertMathToLibmPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  ConvertFuncToLLVMPassOptions funcs;
  funcs.useBarePtrCallConv = true;
  pm.addPass(createConvertFuncToLLVMPass(funcs));
  pm.addPass(createReconcileUnrealizedCastsPass());
}

void mlir::pmc::buildCPUKernelPipeline(OpPassManager &pm) {
  pm.addPass(createPMCPrepareKernels());
  buildKernelBufferizationPipeline(pm);
  pm.addPass(createPMCExpandBFloat16Conversions());
  bufferization::buildBufferDeallocationPipeline(pm);
  addLoopsToLLVM(pm, /*vectors=*/false);
  pm.addPass(createPMCAddKernelWrappers());
}

void mlir::pmc::buildTestVectorizedKernelPipeline(OpPassManager &pm,
                                                  const TestVectorizedKernelsOptions &options) {
  pm.addPass(createPMCPrepareKernels());
  buildKernelBufferizationPipeline(pm);
  // As the CUDA target does before GPU mapping: linalg -> scf.parallel.
  bufferization::buildBufferDeallocationPipeline(pm);
  pm.addNestedPass<func::FuncOp>(createConvertLinalgToParallelLoopsPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  PMCTestLaunchVectorizationOptions vectorize;
  vectorize.bytes = options.bytes;
  pm.addPass(createPMCTestLaunchVectorization(vectorize));
  // After the vectorization, so that its vector bf16 conversions are expanded too.
  pm.addPass(createPMCExpandBFloat16Conversions());
  addLoopsToLLVM(pm, /*vectors=*/true);
  pm.addPass(createPMCAddKernelWrappers());
}

