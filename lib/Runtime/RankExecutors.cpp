//===- RankExecutors.cpp - the host and the CUDA rank executors ------------===//
#include "pmc/Runtime/RankExecutor.h"
#include "pmc/Runtime/BufferPlan.h"
#include "pmc/Runtime/CUDA/CudaRanks.h"
#include "pmc/Runtime/Error.h"
#include "pmc/Runtime/RankProgram.h"

#include <cstring>

namespace pmc::runtime {

RankExecutor::~RankExecutor() = default;

namespace {
class HostRankExecutor : public RankExecutor {
public:
  HostRankExecutor(std::unique_ptr<RankProgram> program, Communicator &comm)
      : program(std::move(program)), comm(comm) {}
  std::vector<HostTensor> run(const std::vector<const void *> &inputs, int64_t microbatch,
                              const std::vector<bool> &keep) override {
    return program->run(inputs, comm, microbatch, keep);
  }
  void copyOutput(size_t o, void *to, size_t bytes) override {
    program->copyOutput(o, to, bytes);
  }
  bool readsInput(size_t input) const override { return program->readsInput(input); }
  size_t arenaBytes() const override { return program->arenaBytes(); }
  size_t tempBytes() const override { return tempBytesWithoutReuse(program->buffers()); }
  size_t otherBytes() const override {
    return program->weightBytes() + program->scratchBytes();
  }
  size_t inputBytes(const std::vector<bool> &skip) const override {
    return program->inputBytes(skip);
  }
  const RankProgram *hostProgram() const override { return program.get(); }

private:
  std::unique_ptr<RankProgram> program;
  Communicator &comm;
};

class CudaRankExecutor : public RankExecutor {
public:
  CudaRankExecutor(std::shared_ptr<cuda::CudaRanks> ranks, int rank)
      : ranks(std::move(ranks)), rank(rank) {}
  std::vector<HostTensor> run(const std::vector<const void *> &inputs, int64_t microbatch,
                              const std::vector<bool> &keep) override {
    // The outputs come back to the host; the kept ones wait here.
    std::vector<HostTensor> results = ranks->run(rank, inputs, microbatch);
    kept.assign(results.size(), HostTensor());
    for (size_t o = 0; o < results.size() && o < keep.size(); ++o)
      if (keep[o])
        std::swap(kept[o], results[o]);
    return results;
  }
  void copyOutput(size_t o, void *to, size_t bytes) override {
    if (o >= kept.size() || kept[o].data.size() != bytes)
      throw RuntimeError("rank " + std::to_string(rank) + ": output " + std::to_string(o) +
                         " was not kept by the last run with " + std::to_string(bytes) +
                         " bytes");
    std::memcpy(to, kept[o].data.data(), bytes);
  }
  bool readsInput(size_t input) const override { return ranks->readsInput(rank, input); }
  size_t arenaBytes() const override { return ranks->arenaBytes(rank); }
  size_t tempBytes() const override { return ranks->tempBytes(rank); }
  size_t otherBytes() const override { return 0; }
  size_t inputBytes(const std::vector<bool> &) const override { return 0; }

private:
  std::shared_ptr<cuda::CudaRanks> ranks;
  int rank;
  std::vector<HostTensor> kept;
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
