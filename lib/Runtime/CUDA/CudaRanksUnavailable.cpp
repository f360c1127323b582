//===- CudaRanksUnavailable.cpp - CudaRanks when built without CUDA headers -===//
//
// Compiled instead of the CUDA backend when CMake found no cuda.h: a cuda
// bundle is rejected with a message that says why.
//
#include "pmc/Runtime/CUDA/CudaRanks.h"
#include "pmc/Runtime/CUDA/DeviceCollectives.h"
#include "pmc/Runtime/Error.h"

namespace pmc::runtime::cuda {

void setDeviceCollectivesFactory(DeviceCollectivesFactory) {}

void DeviceCollectives::synchronize(void *) {
  throw RuntimeError("this pmc was built without CUDA support");
}

struct CudaRanks::Impl {};

CudaRanks::CudaRanks() = default;
CudaRanks::~CudaRanks() = default;

std::unique_ptr<CudaRanks> CudaRanks::open(const Manifest &, const bundle::BundleReader &,
                                           const SessionOptions &,
                                           const std::vector<std::shared_ptr<Communicator>> &,
                                           const FaultInjection &) {
  throw RuntimeError("this bundle targets CUDA; this pmc was built without CUDA support (the "
                     "CUDA toolkit headers were not found when it was configured)");
}

std::vector<HostTensor> CudaRanks::run(int, const std::vector<const void *> &, int64_t) {
  throw RuntimeError("this pmc was built without CUDA support");
}

bool CudaRanks::readsInput(int, size_t) const { return false; }

std::string CudaRanks::describe() const { return {}; }

size_t CudaRanks::arenaBytes(int) const { return 0; }

size_t CudaRanks::tempBytes(int) const { return 0; }

std::string describeCudaProgram(const Manifest &, const bundle::BundleReader &, int) {
  throw RuntimeError("this bundle targets CUDA; this pmc was built without CUDA support");
}

} // namespace pmc::runtime::cuda
