//===- RankExecutors.cpp - the host and the CUDA rank executors ------------===//
#include "pmc/Runtime/RankExecutor.h"
#include "pmc/Runtime/BufferPlan.h"
#include "pmc/Runtime/CUDA/CudaRanks.h"
#include "pmc/Runtime/RankProgram.h"

namespace pmc::runtime {

RankExecutor::~RankExecutor() = default;

namespace {
class HostRankExecutor : public RankExecutor {
public:
  HostRankExecutor(std::unique_ptr<RankProgram> program, Communicator &comm)
      : program(std::move(program)), comm(comm) {}
  std::vector<HostTensor> run(const std::vector<const void *> &inputs,
                              int64_t microbatch) override {
    return program->run(inputs, comm, microbatch);
  }
  bool readsInput(size_t input) const override { return program->readsInput(input); }
  size_t arenaBytes() const override { return program->arenaBytes(); }
  size_t tempBytes() const override { return tempBytesWithoutReuse(program->buffers()); }
  const RankProgram *hostProgram() const override { return program.get(); }

private:
  std::unique_ptr<RankProgram> program;
  Communicator &comm;
};

class CudaRankExecutor : public RankExecutor {
public:
  CudaRankExecutor(std::shared_ptr<cuda::CudaRanks> ranks, int rank)
      : ranks(std::move(ranks)), rank(rank) {}
  std::vector<HostTensor> run(const std::vector<const void *> &inputs,
                              int64_t microbatch) override {
    return ranks->run(rank, inputs, microbatch);
  }
  bool readsInput(size_t input) const override { return ranks->readsInput(rank, input); }
  size_t arenaBytes() const override { return ranks->arenaBytes(rank); }
  size_t tempBytes() const override { return ranks->tempBytes(rank); }

private:
  std::shared_ptr<cuda::CudaRanks> ranks;
  int rank;
};
} // namespace

std::unique_ptr<RankExecutor> makeHostExecutor(std::unique_ptr<RankProgram> program,
                                               Communicator &comm) {
  return std::make_unique<HostRankExecutor>(std::move(program), comm);
}

std::unique_ptr<RankExecutor> makeCudaExecutor(std::shared_ptr<cuda::CudaRanks> ranks,
                                               int rank) {
  return std::make_unique<CudaRankExecutor>(std::move(ranks), rank);
}

} // namespace pmc::runtime
