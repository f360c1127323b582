//===- CudaPipelineTest.cpp - pipeline bundles on CUDA, without a GPU ------===//
//
// What of running a pipeline on the GPU can be checked here: the cuda rank
// programs of a 2-stage pipeline load (step shapes, outputs of the other
// stage, wire tags), their transfers pair up in program order (NCCL has no
// tags), and the outputs of the steps are stacked like on the CPU.
//
#include "CudaTestBundles.h"
#include "pmc/Bundle/Bundle.h"
#include "pmc/Runtime/CUDA/CudaProgram.h"
#include "pmc/Runtime/RankProgram.h"
#include "pmc/Schedule/PipelineSchedule.h"

#include <gtest/gtest.h>

#include <cstring>

using namespace pmc;
using namespace pmc::test;
using namespace pmc::runtime;
using namespace pmc::runtime::cuda;

namespace {

/// A 2-stage pipeline on mesh pp=2 of x[8, 4] -> y[8, 4] with M = 2: stage 0
/// sends its step input (a copy of it) on the edges `tags`, stage 1
/// receives them in the order `recvTags` (the first into `recvRows` rows)
/// and outputs the last.
struct TwoStages {
  std::vector<int> tags = {0, 1}, recvTags = {0, 1};
  int64_t recvRows = 4;

  json manifest() const {
    json m = cudaManifest(spec("x", "float32", {8, 4}), spec("y", "float32", {8, 4}), 2, false);
    m["mesh"] = {{"axes", {{{"name", "pp"}, {"size", 2}}}}};
    m["outputs"][0]["stage"] = 1;
    m["pipeline"] = {{"axis", "pp"},          {"stages", 2},
                     {"microbatches", 2},     {"schedule", "gpipe"},
                     {"microbatched_inputs", {"x"}}, {"microbatched_outputs", {"y"}}};
    return m;
  }
  json stage0() const {
    json buffers = {{{"id", 0}, {"dtype", "float32"}, {"shape", {4, 4}}, {"kind", "input"}, {"input", 0}},
                    {{"id", 1}, {"dtype", "float32"}, {"shape", {4, 4}}, {"kind", "temp"}}};
    json commands = {{{"op", "copy"}, {"from", 0}, {"to", 1}}};
    for (int t : tags)
      commands.push_back({{"op", "send"}, {"in", 1}, {"to_stage", 1}, {"tag", t}});
    return {{"rank", 0}, {"buffers", buffers}, {"commands", commands}, {"outputs", {-1}}};
  }
  json stage1() const {
    json buffers = json::array(), commands = json::array();
    for (size_t i = 0; i < recvTags.size(); ++i) {
      int64_t rows = i == 0 ? recvRows : 4;
      buffers.push_back({{"id", i}, {"dtype", "float32"}, {"shape", {rows, 4}}, {"kind", "temp"}});
      commands.push_back({{"op", "recv"}, {"out", i}, {"from_stage", 0}, {"tag", recvTags[i]}});
    }
    int last = static_cast<int>(recvTags.size()) - 1;
    return {{"rank", 1}, {"buffers", buffers}, {"commands", commands}, {"outputs", {last}}};
  }
  std::string write(const TempDir &dir, const std::string &name, json s0, json s1) const {
    return writeBundle(dir, name, manifest(), s0, "", {{"rank1.program", s1.dump()}});
  }
  std::string write(const TempDir &dir, const std::string &name) const {
    return write(dir, name, stage0(), stage1());
  }
};

struct Loaded {
  std::unique_ptr<bundle::BundleReader> reader;
  Manifest manifest;
  std::unique_ptr<CudaProgram> programs[2];
};

Loaded load(const std::string &path) {
  Loaded l;
  l.reader = bundle::BundleReader::open(path);
  l.manifest = Manifest::parse(l.reader->section("manifest"));
  for (int r = 0; r < 2; ++r)
    l.programs[r] = CudaProgram::load(l.manifest, *l.reader, r);
  return l;
}

std::string orderError(const TwoStages &t) {
  TempDir dir;
  Loaded l = load(t.write(dir, "p.pmc"));
  try {
    checkTransferOrder(l.manifest, {l.programs[0].get(), l.programs[1].get()});
  } catch (const RuntimeError &e) {
    return e.what();
  }
  return "";
}

} // namespace

TEST(CudaPipeline, StagesLoadWithStepShapesAndOtherStagesOutputs) {
  TempDir dir;
  Loaded l = load(TwoStages().write(dir, "p.pmc"));
  const CudaProgram &first = *l.programs[0], &second = *l.programs[1];
  // Step shape [4, 4] = one microbatch of x[8, 4].
  EXPECT_EQ(first.buffers()[0].shape, (std::vector<int64_t>{4, 4}));
  EXPECT_TRUE(first.readsInput(0));
  EXPECT_FALSE(second.readsInput(0));
  EXPECT_EQ(first.outputs(), std::vector<int>{-1}); // stage 1 computes y
  EXPECT_EQ(second.outputs(), std::vector<int>{1});
  EXPECT_EQ(first.pipelineMicrobatches(), 2);
  ASSERT_EQ(first.transfers().size(), 2u);
  EXPECT_EQ(first.transfers()[1]->tag, 1);
  EXPECT_EQ(first.transfers()[1]->peer, 1);
  EXPECT_EQ(second.transfers()[0]->peer, 0);
  EXPECT_EQ(second.transfers()[0]->otherStage, 0);
  EXPECT_NO_THROW(checkTransferOrder(l.manifest, {&first, &second}));
  // Only one end loaded (another process runs the other): nothing to compare.
  EXPECT_NO_THROW(checkTransferOrder(l.manifest, {&first, nullptr}));
}

TEST(CudaPipeline, RejectsBadPipelinePrograms) {
  TempDir dir;
  TwoStages t;
  auto error = [&](json s0, json s1, int rank) -> std::string {
    static int n = 0;
    std::string path = t.write(dir, "bad" + std::to_string(n++) + ".pmc", s0, s1);
    auto reader = bundle::BundleReader::open(path);
    Manifest m = Manifest::parse(reader->section("manifest"));
    try {
      CudaProgram::load(m, *reader, rank);
    } catch (const RuntimeError &e) {
      return e.what();
    }
    return "";
  };
  json s1 = t.stage1();
  s1["outputs"] = {-1};
  json s0 = t.stage0();
  s0["outputs"] = {1};
  EXPECT_NE(error(s0, t.stage1(), 0).find("rank0.program: outputs[0]: output 'y' is computed by "
                                          "stage 1, not by this rank's stage 0; expected -1"),
            std::string::npos);
  EXPECT_NE(error(t.stage0(), s1, 1).find("rank1.program: outputs[0]: buffer -1 does not exist"),
            std::string::npos);
  s0 = t.stage0();
  s0["buffers"][0]["shape"] = {8, 4}; // the full input, not one microbatch
  EXPECT_NE(error(s0, t.stage1(), 0).find("buffer 0 (input float32[8x4]): does not match manifest input 'x: "
                                          "float32[8x4]' (step shape [4x4])"),
            std::string::npos);
  s0 = t.stage0();
  s0["commands"][2]["tag"] = 0;
  EXPECT_NE(error(s0, t.stage1(), 0).find("command 2 (send): tag 0 is already used by command 1"),
            std::string::npos);
  s0 = t.stage0();
  s0["commands"][2]["tag"] = 20000; // 16384 + 2 * 20000 + 1 does not fit a wire tag
  EXPECT_NE(error(s0, t.stage1(), 0).find("command 2 (send): field 'tag': "), std::string::npos);
}

TEST(CudaPipeline, TransfersMustPairUpInProgramOrder) {
  TwoStages swapped;
  swapped.recvTags = {1, 0};
  std::string msg = orderError(swapped);
  EXPECT_NE(msg.find("rank0.program: command 1 (send) (tag 0): the sends of rank0.program to "
                     "rank 1 come in tag order [0, 1] but the receives of rank1.program in "
                     "[1, 0]; NCCL matches the messages of a pair in program order"),
            std::string::npos)
      << msg;
  TwoStages missing;
  missing.recvTags = {0};
  msg = orderError(missing);
  EXPECT_NE(msg.find("rank0.program: command 2 (send) (tag 1): rank1.program (stage 1) has no "
                     "recv with tag 1 from stage 0"),
            std::string::npos)
      << msg;
  TwoStages sizes;
  sizes.recvRows = 2;
  msg = orderError(sizes);
  EXPECT_NE(msg.find("rank0.program: command 1 (send) (tag 0): sends 64 bytes but "
                     "rank1.program: command 0 (recv) receives 32"),
            std::string::npos)
      << msg;
}

TEST(CudaPipeline, StackedOutputsPlaceEachMicrobatch) {
  auto order = schedule::PipelineSchedule::create(schedule::ScheduleKind::GPipe, 2, 3, 1,
                                                 /*training=*/false);
  // Output 0 is microbatched (stacked), 1 is not (last step wins), 2 is
  // another stage's (stays empty).
  StackedOutputs stacked({true, false, true}, order.computeActions(1), "rank1.program");
  EXPECT_EQ(stacked.microbatches(), 3);
  for (const schedule::Action &s : order.computeActions(1)) {
    float step[2] = {float(10 * s.microbatch), float(10 * s.microbatch + 1)};
    stacked.place(0, s.microbatch, DType::Float32, {1, 2}, step);
    stacked.place(1, s.microbatch, DType::Float32, {2}, step);
  }
  std::vector<HostTensor> out = stacked.take();
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].shape, (std::vector<int64_t>{3, 2}));
  std::vector<float> rows(6);
  std::memcpy(rows.data(), out[0].data.data(), 24);
  EXPECT_EQ(rows, (std::vector<float>{0, 1, 10, 11, 20, 21}));
  EXPECT_EQ(out[1].shape, (std::vector<int64_t>{2}));
  float last[2];
  std::memcpy(last, out[1].data.data(), 8);
  EXPECT_EQ(last[0], 20.0f);
  EXPECT_TRUE(out[2].data.empty());

  // Backward steps: this runtime runs forward programs only.
  auto training = schedule::PipelineSchedule::create(schedule::ScheduleKind::OneFOneB, 2, 2);
  try {
    StackedOutputs bad({true}, training.computeActions(0), "rank0.program");
    FAIL() << "expected an error";
  } catch (const RuntimeError &e) {
    EXPECT_NE(std::string(e.what()).find("rank0.program: schedule step B0 is a backward step"),
              std::string::npos)
        << e.what();
  }
}
