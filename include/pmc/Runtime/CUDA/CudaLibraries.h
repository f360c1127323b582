//===- CudaLibraries.h - the CUDA driver, cuBLASLt and cuDNN via dlopen -*- C++ -*-===//
//
// DESIGN.md contract 3: the runtime links none of libcuda, libcublasLt or
// libcudnn. Each is dlopen'ed the first time a command needs it and every
// function is resolved by name; the toolkit headers give the types only.
//
//   const DriverApi &cu = CudaLibraries::driver();   // throws if no libcuda.so.1
//   checkCu(cu, cu.init(0), "cuInit");
//   const CublasLtApi &lt = CudaLibraries::cublasLt("matmul");
//
// A missing library is reported when a command needs it:
// "matmul needs cuBLASLt: libcublasLt.so.13 not found (also tried
// libcublasLt.so.12, libcublasLt.so)".
//
#ifndef PMC_RUNTIME_CUDA_CUDALIBRARIES_H
#define PMC_RUNTIME_CUDA_CUDALIBRARIES_H

#include "pmc/Runtime/CUDA/VendorLibrary.h"
#include "pmc/Runtime/Error.h"

#include <cublasLt.h>
#include <cuda.h>
#include <cudnn.h>

#include <string>
#include <vector>

namespace pmc::runtime::cuda {

/// A CUDA library is missing or lacks a symbol; the message names both.
class CudaUnavailableError : public RuntimeError {
public:
  using RuntimeError::RuntimeError;
};

/// dlopen's the first of `candidates` that loads (RTLD_NOW | RTLD_LOCAL).
/// Throws CudaUnavailableError("<purpose>: <first> not found (also tried
/// ...): <dlerror>") when none does.
void *openLibrary(const std::vector<std::string> &candidates, const std::string &purpose);
/// dlsym(handle, symbol); throws CudaUnavailableError naming `library` and
/// `symbol` when it is absent.
void *resolveSymbol(void *handle, const char *symbol, const std::string &library);

// X-macros: (member, exported symbol). The symbols are the versioned names
// that cuda.h's #defines select (cuMemAlloc -> cuMemAlloc_v2), so the
// pointer types, taken with decltype from the declarations, match them.
#define PMC_CUDA_DRIVER_FUNCTIONS(X)                                                      \
  X(init, cuInit)                                                                        \
  X(driverGetVersion, cuDriverGetVersion)                                                \
  X(deviceGetCount, cuDeviceGetCount)                                                    \
  X(deviceGet, cuDeviceGet)                                                              \
  X(deviceGetName, cuDeviceGetName)                                                      \
  X(deviceGetAttribute, cuDeviceGetAttribute)                                            \
  X(deviceTotalMem, cuDeviceTotalMem_v2)                                                 \
  X(primaryCtxRetain, cuDevicePrimaryCtxRetain)                                          \
  X(primaryCtxRelease, cuDevicePrimaryCtxRelease_v2)                                     \
  X(ctxSetCurrent, cuCtxSetCurrent)                                                      \
  X(ctxSynchronize, cuCtxSynchronize)                                                    \
  X(moduleLoadDataEx, cuModuleLoadDataEx)                                                \
  X(moduleUnload, cuModuleUnload)                                                        \
  X(moduleGetFunction, cuModuleGetFunction)                                              \
  X(funcSetAttribute, cuFuncSetAttribute)                                                \
  X(launchKernel, cuLaunchKernel)                                                        \
  X(memAlloc, cuMemAlloc_v2)                                                             \
  X(memFree, cuMemFree_v2)                                                               \
  X(memGetInfo, cuMemGetInfo_v2)                                                         \
  X(memAllocHost, cuMemAllocHost_v2)                                                     \
  X(memFreeHost, cuMemFreeHost)                                                          \
  X(memcpyHtoDAsync, cuMemcpyHtoDAsync_v2)                                               \
  X(memcpyDtoHAsync, cuMemcpyDtoHAsync_v2)                                               \
  X(memcpyDtoDAsync, cuMemcpyDtoDAsync_v2)                                               \
  X(memcpy2DAsync, cuMemcpy2DAsync_v2)                                                   \
  X(memsetD8Async, cuMemsetD8Async)                                                      \
  X(streamCreate, cuStreamCreate)                                                        \
  X(streamDestroy, cuStreamDestroy_v2)                                                   \
  X(streamSynchronize, cuStreamSynchronize)                                              \
  X(streamWaitEvent, cuStreamWaitEvent)                                                  \
  X(eventCreate, cuEventCreate)                                                          \
  X(eventDestroy, cuEventDestroy_v2)                                                     \
  X(eventRecord, cuEventRecord)                                                          \
  X(streamBeginCapture, cuStreamBeginCapture_v2)                                         \
  X(streamEndCapture, cuStreamEndCapture)                                                \
  X(graphInstantiate, cuGraphInstantiateWithFlags)                                       \
  X(graphLaunch, cuGraphLaunch)                                                          \
  X(graphExecDestroy, cuGraphExecDestroy)                                                \
  X(graphDestroy, cuGraphDestroy)                                                        \
  X(getErrorName, cuGetErrorName)                                                        \
  X(getErrorString, cuGetErrorString)

#define PMC_CUBLASLT_FUNCTIONS(X)                                                         \
  X(create, cublasLtCreate)                                                              \
  X(destroy, cublasLtDestroy)                                                            \
  X(getVersion, cublasLtGetVersion)                                                      \
  X(getStatusName, cublasLtGetStatusName)                                                \
  X(matmul, cublasLtMatmul)                                                              \
  X(matmulDescCreate, cublasLtMatmulDescCreate)                                          \
  X(matmulDescDestroy, cublasLtMatmulDescDestroy)                                        \
  X(matmulDescSetAttribute, cublasLtMatmulDescSetAttribute)                              \
  X(layoutCreate, cublasLtMatrixLayoutCreate)                                            \
  X(layoutDestroy, cublasLtMatrixLayoutDestroy)                                          \
  X(layoutSetAttribute, cublasLtMatrixLayoutSetAttribute)                                \
  X(preferenceCreate, cublasLtMatmulPreferenceCreate)                                    \
  X(preferenceDestroy, cublasLtMatmulPreferenceDestroy)                                  \
  X(preferenceSetAttribute, cublasLtMatmulPreferenceSetAttribute)                        \
  X(algoGetHeuristic, cublasLtMatmulAlgoGetHeuristic)

#define PMC_CUDNN_FUNCTIONS(X)                                                            \
  X(create, cudnnCreate)                                                                 \
  X(destroy, cudnnDestroy)                                                               \
  X(getVersion, cudnnGetVersion)                                                         \
  X(getErrorString, cudnnGetErrorString)                                                 \
  X(setStream, cudnnSetStream)                                                           \
  X(createTensorDescriptor, cudnnCreateTensorDescriptor)                                 \
  X(setTensorNdDescriptor, cudnnSetTensorNdDescriptor)                                   \
  X(destroyTensorDescriptor, cudnnDestroyTensorDescriptor)                               \
  X(createFilterDescriptor, cudnnCreateFilterDescriptor)                                 \
  X(setFilterNdDescriptor, cudnnSetFilterNdDescriptor)                                   \
  X(destroyFilterDescriptor, cudnnDestroyFilterDescriptor)                               \
  X(createConvolutionDescriptor, cudnnCreateConvolutionDescriptor)                       \
  X(setConvolutionNdDescriptor, cudnnSetConvolutionNdDescriptor)                         \
  X(setConvolutionGroupCount, cudnnSetConvolutionGroupCount)                             \
  X(setConvolutionMathType, cudnnSetConvolutionMathType)                                 \
  X(destroyConvolutionDescriptor, cudnnDestroyConvolutionDescriptor)                     \
  X(getConvolutionForwardAlgorithm, cudnnGetConvolutionForwardAlgorithm_v7)              \
  X(getConvolutionForwardWorkspaceSize, cudnnGetConvolutionForwardWorkspaceSize)         \
  X(convolutionForward, cudnnConvolutionForward)                                         \
  X(addTensor, cudnnAddTensor)

#define PMC_CUDA_DECLARE_POINTER(member, symbol) decltype(&::symbol) member = nullptr;

/// The driver API (libcuda.so.1).
struct DriverApi {
  PMC_CUDA_DRIVER_FUNCTIONS(PMC_CUDA_DECLARE_POINTER)
};
/// cuBLASLt (libcublasLt.so.13, .12).
struct CublasLtApi {
  PMC_CUBLASLT_FUNCTIONS(PMC_CUDA_DECLARE_POINTER)
};
/// cuDNN 9 (libcudnn.so.9).
struct CudnnApi {
  PMC_CUDNN_FUNCTIONS(PMC_CUDA_DECLARE_POINTER)
};

/// Process-wide, lazily loaded libraries (thread-safe; loaded once, never
/// unloaded). A failed load is remembered and reported again.
class CudaLibraries {
public:
  /// The driver, with cuInit(0) done. Throws CudaUnavailableError
  /// ("no CUDA driver was found (libcuda.so.1 could not be loaded: ...)").
  static const DriverApi &driver();
  /// cuBLASLt; `user` names who needs it ("matmul (command 3)").
  static const CublasLtApi &cublasLt(const std::string &user);
  /// cuDNN; `user` names who needs it ("conv (command 5)").
  static const CudnnApi &cudnn(const std::string &user);
  /// Sonames tried, in order.
  static const std::vector<std::string> &driverNames();
  static const std::vector<std::string> &cublasLtNames();
  static const std::vector<std::string> &cudnnNames();
};

/// Throws RuntimeError("<what>: <CUDA_ERROR_NAME> (<description>)") unless
/// `result` is CUDA_SUCCESS.
void checkCu(const DriverApi &cu, CUresult result, const std::string &what);
/// The same for cuBLASLt and cuDNN statuses.
void checkCublas(const CublasLtApi &lt, cublasStatus_t status, const std::string &what);
void checkCudnn(const CudnnApi &dnn, cudnnStatus_t status, const std::string &what);

} // namespace pmc::runtime::cuda

#endif // PMC_RUNTIME_CUDA_CUDALIBRARIES_H
