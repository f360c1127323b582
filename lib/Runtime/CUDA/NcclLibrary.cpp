//===- NcclLibrary.cpp - dlopen of libnccl.so.2 and libcuda.so.1 -----------===//

#include "NcclLibrary.h"
#include "pmc/Runtime/CUDA/VendorLibrary.h"

#include "pmc/Runtime/Error.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <type_traits>

#ifdef PMC_CHECK_AGAINST_CUDA_HEADERS
#include <cstddef>
#include <cuda.h>
#include <nccl.h>
#endif

namespace pmc::runtime::cuda::nccl {

Config makeConfig(bool blocking) {
  Config c{};
  c.size = sizeof(Config);
  c.magic = 0xcafebeef;
  c.version = 22809; // NCCL_VERSION(2, 28, 9): the layout above
  const int undef = INT32_MIN;
  c.blocking = blocking ? 1 : 0;
  c.cgaClusterSize = c.minCTAs = c.maxCTAs = undef;
  c.netName = nullptr;
  c.splitShare = c.trafficClass = undef;
  c.commName = nullptr;
  c.collnetEnable = c.CTAPolicy = c.shrinkShare = c.nvlsCTAs = undef;
  c.nChannelsPerNetPeer = c.nvlinkCentricSched = undef;
  return c;
}

namespace {

template <typename T> void resolve(void *lib, const char *library, const char *name, T &fn) {
  dlerror();
  void *sym = dlsym(lib, name);
  if (!sym)
    throw RuntimeError(std::string(library) + " has no symbol '" + name +
                       "' (an NCCL >= 2.18 / CUDA >= 11.2 is needed)");
  fn = reinterpret_cast<T>(sym);
}

} // namespace

const NcclApi &ncclApi() {
  static NcclApi api;
  static std::string error;
  static std::once_flag once;
  std::call_once(once, [] {
    const char *env = std::getenv("PMC_NCCL_LIBRARY");
    std::string library = env && *env ? env : "libnccl.so.2";
    void *lib = openVendorLibrary(library.c_str());
    if (!lib) {
      const char *why = dlerror();
      error = "cannot load NCCL (" + library + "): " + (why ? why : "unknown error") +
              "; install NCCL 2 (libnccl2) or set PMC_NCCL_LIBRARY to its path";
      return;
    }
    try {
      const char *l = library.c_str();
      resolve(lib, l, "ncclGetVersion", api.getVersion);
      resolve(lib, l, "ncclGetUniqueId", api.getUniqueId);
      resolve(lib, l, "ncclCommInitRankConfig", api.commInitRankConfig);
      resolve(lib, l, "ncclCommSplit", api.commSplit);
      resolve(lib, l, "ncclCommFinalize", api.commFinalize);
      resolve(lib, l, "ncclCommDestroy", api.commDestroy);
      resolve(lib, l, "ncclCommAbort", api.commAbort);
      resolve(lib, l, "ncclCommGetAsyncError", api.commGetAsyncError);
      resolve(lib, l, "ncclGetErrorString", api.getErrorString);
      resolve(lib, l, "ncclGetLastError", api.getLastError);
      resolve(lib, l, "ncclAllReduce", api.allReduce);
      resolve(lib, l, "ncclAllGather", api.allGather);
      resolve(lib, l, "ncclReduceScatter", api.reduceScatter);
      resolve(lib, l, "ncclSend", api.send);
      resolve(lib, l, "ncclRecv", api.recv);
      resolve(lib, l, "ncclGroupStart", api.groupStart);
      resolve(lib, l, "ncclGroupEnd", api.groupEnd);
    } catch (const RuntimeError &e) {
      error = e.what();
      return;
    }
    int v = 0;
    api.getVersion(&v);
    // NCCL_VERSION: X*10000 + Y*100 + Z since 2.9 (X*1000 + Y*100 + Z before).
    int major = v >= 10000 ? v / 10000 : v / 1000;
    int minor = v >= 10000 ? (v / 100) % 100 : (v / 100) % 10;
    api.versionText = std::to_string(major) + "." + std::to_string(minor) + "." +
                      std::to_string(v % 100);
    if (v < 21800)
      error = library + " is NCCL " + api.versionText +
              "; pmc needs NCCL >= 2.18 (ncclCommSplit, nonblocking communicators)";
  });
  if (!error.empty())
    throw RuntimeError(error);
  return api;
}

const DriverApi &driverApi() {
  static DriverApi api;
  static std::string error;
  static std::once_flag once;
  std::call_once(once, [] {
    const char *library = "libcuda.so.1";
    void *lib = openVendorLibrary(library);
    if (!lib) {
      const char *why = dlerror();
      error = std::string("no CUDA driver found (cannot load ") + library +
              "): " + (why ? why : "unknown error");
      return;
    }
    try {
      resolve(lib, library, "cuCtxGetCurrent", api.ctxGetCurrent);
      resolve(lib, library, "cuCtxSetCurrent", api.ctxSetCurrent);
      resolve(lib, library, "cuStreamQuery", api.streamQuery);
      resolve(lib, library, "cuEventCreate", api.eventCreate);
      resolve(lib, library, "cuEventRecord", api.eventRecord);
      resolve(lib, library, "cuEventQuery", api.eventQuery);
      resolve(lib, library, "cuEventDestroy_v2", api.eventDestroy);
      resolve(lib, library, "cuMemAllocAsync", api.memAllocAsync);
      resolve(lib, library, "cuMemFreeAsync", api.memFreeAsync);
      resolve(lib, library, "cuMemcpyDtoDAsync_v2", api.memcpyDtoDAsync);
      resolve(lib, library, "cuMemcpy2DAsync_v2", api.memcpy2DAsync);
      resolve(lib, library, "cuGetErrorString", api.getErrorString);
    } catch (const RuntimeError &e) {
      error = e.what();
    }
  });
  if (!error.empty())
    throw RuntimeError(error);
  return api;
}

std::string driverErrorText(CuResult rc) {
  const char *text = nullptr;
  if (driverApi().getErrorString(rc, &text) != kCudaSuccess || !text)
    return "CUDA error " + std::to_string(rc);
  return std::string(text) + " (CUDA error " + std::to_string(rc) + ")";
}

#ifdef PMC_CHECK_AGAINST_CUDA_HEADERS
//===----------------------------------------------------------------------===//
// Compile-time checks of the restated ABI against nccl.h and cuda.h
//===----------------------------------------------------------------------===//

namespace {

/// Same size, same pointer-ness, same floating-ness: the same calling
/// convention slot on every ABI pmc targets.
template <typename A, typename B> constexpr bool sameSlot() {
  return sizeof(A) == sizeof(B) && std::is_pointer_v<A> == std::is_pointer_v<B> &&
         std::is_floating_point_v<A> == std::is_floating_point_v<B> &&
         std::is_class_v<A> == std::is_class_v<B>;
}
template <typename... T> struct Pack {};
template <typename PA, typename PB, typename = void> struct SamePack : std::false_type {};
template <typename... A, typename... B>
struct SamePack<Pack<A...>, Pack<B...>, std::enable_if_t<sizeof...(A) == sizeof...(B)>>
    : std::bool_constant<(sameSlot<A, B>() && ... && true)> {};
template <typename F, typename G> struct SameAbi : std::false_type {};
template <typename RA, typename... A, typename RB, typename... B>
struct SameAbi<RA (*)(A...), RB (*)(B...)>
    : std::bool_constant<sameSlot<RA, RB>() && SamePack<Pack<A...>, Pack<B...>>::value> {};

#define PMC_CHECK_FN(field, real)                                                          \
  static_assert(SameAbi<decltype(NcclApi::field), decltype(&::real)>::value,              \
                "NcclApi::" #field " does not match " #real " in nccl.h")
PMC_CHECK_FN(getVersion, ncclGetVersion);
PMC_CHECK_FN(getUniqueId, ncclGetUniqueId);
PMC_CHECK_FN(commInitRankConfig, ncclCommInitRankConfig);
PMC_CHECK_FN(commSplit, ncclCommSplit);
PMC_CHECK_FN(commFinalize, ncclCommFinalize);
PMC_CHECK_FN(commDestroy, ncclCommDestroy);
PMC_CHECK_FN(commAbort, ncclCommAbort);
PMC_CHECK_FN(commGetAsyncError, ncclCommGetAsyncError);
PMC_CHECK_FN(getErrorString, ncclGetErrorString);
PMC_CHECK_FN(getLastError, ncclGetLastError);
PMC_CHECK_FN(allReduce, ncclAllReduce);
PMC_CHECK_FN(allGather, ncclAllGather);
PMC_CHECK_FN(reduceScatter, ncclReduceScatter);
PMC_CHECK_FN(send, ncclSend);
PMC_CHECK_FN(recv, ncclRecv);
PMC_CHECK_FN(groupStart, ncclGroupStart);
PMC_CHECK_FN(groupEnd, ncclGroupEnd);
#undef PMC_CHECK_FN

#define PMC_CHECK_CU(field, real)                                                          \
  static_assert(SameAbi<decltype(DriverApi::field), decltype(&::real)>::value,            \
                "DriverApi::" #field " does not match " #real " in cuda.h")
PMC_CHECK_CU(ctxGetCurrent, cuCtxGetCurrent);
PMC_CHECK_CU(ctxSetCurrent, cuCtxSetCurrent);
PMC_CHECK_CU(streamQuery, cuStreamQuery);
PMC_CHECK_CU(eventCreate, cuEventCreate);
PMC_CHECK_CU(eventRecord, cuEventRecord);
PMC_CHECK_CU(eventQuery, cuEventQuery);
PMC_CHECK_CU(eventDestroy, cuEventDestroy); // cuEventDestroy_v2 by cuda.h's macro
PMC_CHECK_CU(memAllocAsync, cuMemAllocAsync);
PMC_CHECK_CU(memFreeAsync, cuMemFreeAsync);
PMC_CHECK_CU(memcpyDtoDAsync, cuMemcpyDtoDAsync);
PMC_CHECK_CU(memcpy2DAsync, cuMemcpy2DAsync);
PMC_CHECK_CU(getErrorString, cuGetErrorString);
#undef PMC_CHECK_CU

static_assert(std::is_same_v<Stream, cudaStream_t> && std::is_same_v<Stream, CUstream>);
static_assert(std::is_same_v<Comm, ncclComm_t>);
static_assert(std::is_same_v<CuContext, CUcontext> && std::is_same_v<CuEvent, CUevent>);
static_assert(std::is_same_v<CuDevicePtr, CUdeviceptr>);
static_assert(sizeof(UniqueId) == sizeof(ncclUniqueId) && NCCL_UNIQUE_ID_BYTES == 128);
static_assert(sizeof(Config) == sizeof(ncclConfig_t));
static_assert(offsetof(Config, blocking) == offsetof(ncclConfig_t, blocking));
static_assert(offsetof(Config, nvlinkCentricSched) == offsetof(ncclConfig_t, nvlinkCentricSched));
static_assert(NCCL_VERSION(NCCL_MAJOR, NCCL_MINOR, NCCL_PATCH) >= 22800,
              "Config restates ncclConfig_v22800; update it for this nccl.h");
static_assert(int(Success) == int(ncclSuccess) && int(InProgress) == int(ncclInProgress) &&
              int(RemoteError) == int(ncclRemoteError));
static_assert(int(Int8) == int(ncclInt8) && int(Uint8) == int(ncclUint8) && int(Int32) == int(ncclInt32) &&
              int(Uint32) == int(ncclUint32) && int(Int64) == int(ncclInt64) && int(Uint64) == int(ncclUint64) &&
              int(Float16) == int(ncclFloat16) && int(Float32) == int(ncclFloat32) && int(Float64) == int(ncclFloat64) &&
              int(Bfloat16) == int(ncclBfloat16));
static_assert(int(OpSum) == int(ncclSum) && int(OpMax) == int(ncclMax) && int(OpProd) == int(ncclProd) && int(OpMin) == int(ncclMin));
static_assert(sizeof(Memcpy2D) == sizeof(CUDA_MEMCPY2D));
static_assert(offsetof(Memcpy2D, srcPitch) == offsetof(CUDA_MEMCPY2D, srcPitch));
static_assert(offsetof(Memcpy2D, dstDevice) == offsetof(CUDA_MEMCPY2D, dstDevice));
static_assert(offsetof(Memcpy2D, Height) == offsetof(CUDA_MEMCPY2D, Height));
static_assert(kCudaErrorNotReady == CUDA_ERROR_NOT_READY && kCudaSuccess == CUDA_SUCCESS);
static_assert(kEventDisableTiming == CU_EVENT_DISABLE_TIMING);
static_assert(kMemoryTypeDevice == CU_MEMORYTYPE_DEVICE);

} // namespace
#endif // PMC_CHECK_AGAINST_CUDA_HEADERS

} // namespace pmc::runtime::cuda::nccl
