//===- NcclLibrary.h - NCCL and the few CUDA driver calls it needs, by dlopen -===//
//
// Private to NcclCommunicator. The types below restate the C ABI of nccl.h
// (NCCL 2.28) and cuda.h (CUDA 13) so that the runtime builds without the
// toolkit; NcclLibrary.cpp checks each of them against the real headers with
// static_assert when they are present at build time.
//
// The driver calls are resolved here rather than through the CUDA executor's
// dlopen layer so that this file stands alone; dlopen of libcuda.so.1 returns
// the same handle to both.
//
#ifndef PMC_LIB_RUNTIME_CUDA_NCCLLIBRARY_H
#define PMC_LIB_RUNTIME_CUDA_NCCLLIBRARY_H

#include <cstddef>
#include <cstdint>
#include <string>

// The opaque handle types of nccl.h and cuda.h, declared where they are.
struct ncclComm;
struct CUstream_st;
struct CUctx_st;
struct CUevent_st;

namespace pmc::runtime::cuda::nccl {

//===----------------------------------------------------------------------===//
// nccl.h
//===----------------------------------------------------------------------===//

using Comm = ::ncclComm *;
using Stream = ::CUstream_st *;

enum Result : int {
  Success = 0,
  UnhandledCudaError = 1,
  SystemError = 2,
  InternalError = 3,
  InvalidArgument = 4,
  InvalidUsage = 5,
  RemoteError = 6,
  InProgress = 7,
};

enum DataType : int {
  Int8 = 0, Uint8 = 1, Int32 = 2, Uint32 = 3, Int64 = 4, Uint64 = 5,
  Float16 = 6, Float32 = 7, Float64 = 8, Bfloat16 = 9,
};

enum RedOp : int { OpSum = 0, OpProd = 1, OpMax = 2, OpMin = 3 };

struct UniqueId {
  char internal[128];
};

/// ncclConfig_t of NCCL 2.28 (ncclConfig_v22800).
struct Config {
  size_t size;
  unsigned int magic;
  unsigned int version;
  int blocking;
  int cgaClusterSize;
  int minCTAs;
  int maxCTAs;
  const char *netName;
  int splitShare;
  int trafficClass;
  const char *commName;
  int collnetEnable;
  int CTAPolicy;
  int shrinkShare;
  int nvlsCTAs;
  int nChannelsPerNetPeer;
  int nvlinkCentricSched;
};

/// NCCL_CONFIG_INITIALIZER with `blocking` set.
Config makeConfig(bool blocking);

/// The NCCL entry points pmc uses.
struct NcclApi {
  Result (*getVersion)(int *version);
  Result (*getUniqueId)(UniqueId *id);
  Result (*commInitRankConfig)(Comm *comm, int nranks, UniqueId id, int rank, Config *config);
  Result (*commSplit)(Comm comm, int color, int key, Comm *newcomm, Config *config);
  Result (*commFinalize)(Comm comm);
  Result (*commDestroy)(Comm comm);
  Result (*commAbort)(Comm comm);
  Result (*commGetAsyncError)(Comm comm, Result *asyncError);
  const char *(*getErrorString)(Result result);
  const char *(*getLastError)(Comm comm);
  Result (*allReduce)(const void *sendbuff, void *recvbuff, size_t count, DataType datatype,
                      RedOp op, Comm comm, Stream stream);
  Result (*allGather)(const void *sendbuff, void *recvbuff, size_t sendcount,
                      DataType datatype, Comm comm, Stream stream);
  Result (*reduceScatter)(const void *sendbuff, void *recvbuff, size_t recvcount,
                          DataType datatype, RedOp op, Comm comm, Stream stream);
  Result (*send)(const void *sendbuff, size_t count, DataType datatype, int peer, Comm comm,
                 Stream stream);
  Result (*recv)(void *recvbuff, size_t count, DataType datatype, int peer, Comm comm,
                 Stream stream);
  Result (*groupStart)();
  Result (*groupEnd)();
  /// NCCL's version as "2.28.9".
  std::string versionText;
};

/// Loads $PMC_NCCL_LIBRARY, else libnccl.so.2, once per process. Throws
/// RuntimeError naming the library (and dlerror) or the missing symbol.
const NcclApi &ncclApi();

//===----------------------------------------------------------------------===//
// cuda.h (driver API)
//===----------------------------------------------------------------------===//

using CuResult = int;
constexpr CuResult kCudaSuccess = 0;
constexpr CuResult kCudaErrorNotReady = 600;
using CuContext = ::CUctx_st *;
using CuEvent = ::CUevent_st *;
using CuDevicePtr = unsigned long long;
/// CU_EVENT_DISABLE_TIMING.
constexpr unsigned kEventDisableTiming = 0x2;
/// CU_MEMORYTYPE_DEVICE.
constexpr int kMemoryTypeDevice = 2;

/// CUDA_MEMCPY2D (the _v2 layout).
struct Memcpy2D {
  size_t srcXInBytes;
  size_t srcY;
  int srcMemoryType;
  const void *srcHost;
  CuDevicePtr srcDevice;
  void *srcArray;
  size_t srcPitch;
  size_t dstXInBytes;
  size_t dstY;
  int dstMemoryType;
  void *dstHost;
  CuDevicePtr dstDevice;
  void *dstArray;
  size_t dstPitch;
  size_t WidthInBytes;
  size_t Height;
};

struct DriverApi {
  CuResult (*ctxGetCurrent)(CuContext *ctx);
  CuResult (*ctxSetCurrent)(CuContext ctx);
  CuResult (*streamQuery)(Stream stream);
  CuResult (*eventCreate)(CuEvent *event, unsigned flags);
  CuResult (*eventRecord)(CuEvent event, Stream stream);
  CuResult (*eventQuery)(CuEvent event);
  CuResult (*eventDestroy)(CuEvent event);
  CuResult (*memAllocAsync)(CuDevicePtr *ptr, size_t bytes, Stream stream);
  CuResult (*memFreeAsync)(CuDevicePtr ptr, Stream stream);
  CuResult (*memcpyDtoDAsync)(CuDevicePtr dst, CuDevicePtr src, size_t bytes, Stream stream);
  CuResult (*memcpy2DAsync)(const Memcpy2D *copy, Stream stream);
  CuResult (*getErrorString)(CuResult error, const char **text);
};

/// Loads libcuda.so.1 once per process. Throws RuntimeError naming the
/// library or the missing symbol.
const DriverApi &driverApi();

/// "CUDA_ERROR_...: text" for `rc`, for messages.
std::string driverErrorText(CuResult rc);

} // namespace pmc::runtime::cuda::nccl

#endif // PMC_LIB_RUNTIME_CUDA_NCCLLIBRARY_H
