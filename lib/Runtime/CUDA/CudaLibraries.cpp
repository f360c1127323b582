//===- CudaLibraries.cpp - dlopen the CUDA driver, cuBLASLt and cuDNN -----===//

#include "pmc/Runtime/CUDA/CudaLibraries.h"

#include <dlfcn.h>

#include <mutex>

namespace pmc::runtime::cuda {

void *openLibrary(const std::vector<std::string> &candidates, const std::string &purpose) {
  std::string firstError;
  for (const std::string &name : candidates) {
    if (void *handle = openVendorLibrary(name.c_str()))
      return handle;
    if (firstError.empty()) {
      const char *err = dlerror();
      firstError = err ? err : "unknown dlopen error";
    }
  }
  std::string msg = purpose + ": " + (candidates.empty() ? "?" : candidates.front()) +
                    " not found";
  if (candidates.size() > 1) {
    msg += " (also tried ";
    for (size_t i = 1; i < candidates.size(); ++i)
      msg += (i > 1 ? ", " : "") + candidates[i];
    msg += ")";
  }
  throw CudaUnavailableError(msg + ": " + firstError);
}

void *resolveSymbol(void *handle, const char *symbol, const std::string &library) {
  dlerror();
  void *p = dlsym(handle, symbol);
  if (!p)
    throw CudaUnavailableError(library + " lacks the function " + symbol +
                               " (the library is too old or not the expected one)");
  return p;
}

namespace {

/// One library: loaded once; the error of a failed load is kept.
template <typename Api> struct Loaded {
  std::once_flag once;
  Api api;
  std::string error;
};

template <typename Api, typename Fill>
const Api &load(Loaded<Api> &slot, const std::string &purpose, Fill fill) {
  std::call_once(slot.once, [&] {
    try {
      fill(slot.api);
    } catch (const RuntimeError &e) {
      slot.error = e.what();
    }
  });
  if (!slot.error.empty())
    throw CudaUnavailableError(purpose.empty() ? slot.error : purpose + " " + slot.error);
  return slot.api;
}

#define PMC_CUDA_RESOLVE(member, symbol)                                                  \
  api.member = reinterpret_cast<decltype(api.member)>(resolveSymbol(handle, #symbol, name));

} // namespace

const std::vector<std::string> &CudaLibraries::driverNames() {
  static const std::vector<std::string> names = {"libcuda.so.1"};
  return names;
}
const std::vector<std::string> &CudaLibraries::cublasLtNames() {
  static const std::vector<std::string> names = {"libcublasLt.so.13", "libcublasLt.so.12",
                                                 "libcublasLt.so"};
  return names;
}
const std::vector<std::string> &CudaLibraries::cudnnNames() {
  static const std::vector<std::string> names = {"libcudnn.so.9", "libcudnn.so"};
  return names;
}

const DriverApi &CudaLibraries::driver() {
  static Loaded<DriverApi> slot;
  return load(slot, "", [](DriverApi &api) {
    const std::string name = "libcuda.so.1";
    void *handle = openVendorLibrary(name.c_str());
    if (!handle) {
      const char *err = dlerror();
      throw CudaUnavailableError("no CUDA driver was found (libcuda.so.1 could not be loaded): " +
                                 std::string(err ? err : "unknown dlopen error"));
    }
    PMC_CUDA_DRIVER_FUNCTIONS(PMC_CUDA_RESOLVE)
    CUresult r = api.init(0);
    if (r != CUDA_SUCCESS) {
      const char *err = nullptr;
      api.getErrorName(r, &err);
      throw CudaUnavailableError("the CUDA driver failed to initialize: cuInit: " +
                                 std::string(err ? err : "unknown error") +
                                 " (no usable GPU, or the driver does not match the kernel module)");
    }
  });
}

const CublasLtApi &CudaLibraries::cublasLt(const std::string &user) {
  static Loaded<CublasLtApi> slot;
  return load(slot, user, [](CublasLtApi &api) {
    void *handle = openLibrary(cublasLtNames(), "needs cuBLASLt");
    const std::string name = "cuBLASLt";
    PMC_CUBLASLT_FUNCTIONS(PMC_CUDA_RESOLVE)
  });
}

const CudnnApi &CudaLibraries::cudnn(const std::string &user) {
  static Loaded<CudnnApi> slot;
  return load(slot, user, [](CudnnApi &api) {
    void *handle = openLibrary(cudnnNames(), "needs cuDNN");
    const std::string name = "cuDNN";
    PMC_CUDNN_FUNCTIONS(PMC_CUDA_RESOLVE)
  });
}

void checkCu(const DriverApi &cu, CUresult result, const std::string &what) {
  if (result == CUDA_SUCCESS)
    return;
  const char *name = nullptr, *text = nullptr;
  if (cu.getErrorName)
    cu.getErrorName(result, &name);
  if (cu.getErrorString)
    cu.getErrorString(result, &text);
  throw RuntimeError(what + ": " + (name ? name : "CUDA error " + std::to_string(result)) +
                     (text ? std::string(" (") + text + ")" : std::string()));
}

void checkCublas(const CublasLtApi &lt, cublasStatus_t status, const std::string &what) {
  if (status == CUBLAS_STATUS_SUCCESS)
    return;
  const char *name = lt.getStatusName ? lt.getStatusName(status) : nullptr;
  throw RuntimeError(what + ": " +
                     (name ? name : "cuBLAS status " + std::to_string(static_cast<int>(status))));
}

void checkCudnn(const CudnnApi &dnn, cudnnStatus_t status, const std::string &what) {
  if (status == CUDNN_STATUS_SUCCESS)
    return;
  const char *text = dnn.getErrorString ? dnn.getErrorString(status) : nullptr;
  throw RuntimeError(what + ": " +
                     (text ? text : "cuDNN status " + std::to_string(static_cast<int>(status))));
}

} // namespace pmc::runtime::cuda
