//===- CudaProgramTest.cpp - loading cuda rank programs, without a GPU -----===//

#include "CudaTestBundles.h"
#include "pmc/Bundle/Bundle.h"
#include "pmc/Runtime/CUDA/CudaProgram.h"
#include "pmc/Runtime/Session.h"

#include <gtest/gtest.h>

#include <dlfcn.h>

#include <functional>

using namespace pmc;
using namespace pmc::test;
using namespace pmc::runtime;
using namespace pmc::runtime::cuda;

namespace {

HostTensor weight() { return randomTensor(DType::Float32, {8, 16}, 7); }

std::unique_ptr<CudaProgram> loadProgram(const std::string &path) {
  auto reader = bundle::BundleReader::open(path);
  Manifest m = Manifest::parse(reader->section("manifest"));
  return CudaProgram::load(m, *reader, 0);
}

/// The error of loading cudaProgram() after `edit` (of program and manifest).
std::string loadError(const std::function<void(json &, json &)> &edit) {
  TempDir dir;
  json program = cudaProgram();
  json man = cudaManifest(spec("x", "float32", {4, 8}), spec("y", "float32", {4, 16}));
  edit(program, man);
  std::string path = writeCudaBundle(dir, "bad.pmc", weight(), program, man);
  try {
    loadProgram(path);
  } catch (const RuntimeError &e) {
    return e.what();
  }
  return "";
}

TEST(CudaProgram, LoadsLaunchesScratchAndLibraryCommands) {
  TempDir dir;
  std::string path = writeCudaBundle(dir, "ok.pmc", weight());
  std::unique_ptr<CudaProgram> p = loadProgram(path);
  ASSERT_EQ(p->steps().size(), 3u);
  EXPECT_EQ(p->steps()[0].kind, CudaStepKind::Matmul);
  EXPECT_EQ(p->steps()[1].kind, CudaStepKind::Launch);
  EXPECT_EQ(p->steps()[1].launch.function, "row_max");
  EXPECT_EQ(p->steps()[2].launch.block[0], 64u);
  // A launch reads its args that it does not write.
  EXPECT_EQ(p->steps()[2].reads, (std::vector<int>{2, 3}));
  EXPECT_EQ(p->steps()[2].writes, (std::vector<int>{4}));
  EXPECT_TRUE(p->isScratch(3));
  EXPECT_FALSE(p->isScratch(2));
  ASSERT_EQ(p->ptx().size(), 1u);
  EXPECT_EQ(p->ptx()[0].chip, "sm_80");
  // h (0..2), s (1..2) and y (2..3) are live together at command 2.
  const ArenaPlan &plan = p->plan();
  std::vector<int> live = {2, 3, 4};
  for (int a : live)
    for (int b : live)
      if (a < b) {
        int64_t ea = plan.offsets[a] + p->buffers()[a].bytes;
        int64_t eb = plan.offsets[b] + p->buffers()[b].bytes;
        EXPECT_TRUE(ea <= plan.offsets[b] || eb <= plan.offsets[a]) << a << " and " << b;
      }
  for (int id : live)
    EXPECT_EQ(plan.offsets[id] % 64, 0);
  // Device memory ranges for the stream plan: the arena is space -1.
  std::vector<CommandAccess> access = p->accesses();
  EXPECT_EQ(access[0].reads[1].space, 1); // the weight
  EXPECT_EQ(access[0].writes[0].space, -1);
  EXPECT_EQ(p->collectiveCount(), 0u);
}

TEST(CudaProgram, RejectsBadPrograms) {
  struct Case {
    const char *expect;
    std::function<void(json &, json &)> edit;
  };
  std::vector<Case> cases = {
      {"command 3 (launch): uses buffer 3 (scratch float32[4]), the scratch of the kernel "
       "launched by command 1 (scratch belongs to one kernel)",
       [](json &p, json &) {
         p["commands"].push_back({{"op", "launch"}, {"kernel", "kernel_1"}, {"function", "scale"},
                                  {"grid", {1, 1, 1}}, {"block", {1, 1, 1}},
                                  {"args", {2, 3, 4}}, {"writes", {3}}});
       }},
      {"command 1 (launch): field 'writes' lists buffer 4, which is not one of its 'args'",
       [](json &p, json &) { p["commands"][1]["writes"] = {3, 4}; }},
      {"command 2 (launch): writes buffer 4 (temp float32[4x16]), already written by command 1",
       [](json &p, json &) {
         p["commands"][1]["args"] = {2, 3, 4};
         p["commands"][1]["writes"] = {3, 4};
         p["commands"][2]["kernel"] = "kernel_9";
         p["buffers"][3]["kind"] = "temp";
       }},
      {"command 1 (launch): field 'block' has more than 1024 threads",
       [](json &p, json &) { p["commands"][1]["block"] = {64, 32, 1}; }},
      {"command 1 (launch): field 'grid' [0, 1, 1]: entry 0 must be in [1, 2147483647]",
       [](json &p, json &) { p["commands"][1]["grid"] = {0, 1, 1}; }},
      {"command 1 (kernel): host kernels cannot run in a cuda bundle",
       [](json &p, json &) { p["commands"][1] = {{"op", "kernel"}, {"symbol", "k"}}; }},
      // The host command's meaning of a matmul comes first.
      {"command 0 (matmul): dtype int32 is not supported (float32, float64, float16 and "
       "bfloat16 only)",
       [](json &p, json &m) {
         for (int id : {0, 1, 2})
           p["buffers"][id]["dtype"] = "int32";
         m["inputs"][0]["dtype"] = "int32";
       }},
      {"command 0 (matmul): contraction sizes differ",
       [](json &p, json &) { p["commands"][0]["trans_b"] = true; }},
      {"manifest: field 'cuda': ptx[0]: section 'kernels.ptx.sm_70' does not exist",
       [](json &, json &m) { m["cuda"]["ptx"][0]["section"] = "kernels.ptx.sm_70"; }},
      {"kernel_abi 'memref' is not supported",
       [](json &, json &m) { m["cuda"]["kernel_abi"] = "memref"; }},
      {"PTX chip 'compute_80' is not of the form",
       [](json &, json &m) { m["cuda"]["ptx"][0]["chip"] = "compute_80"; }},
      {"it launches kernels but the manifest lists no PTX module",
       [](json &, json &m) { m["cuda"]["ptx"] = json::array(); }},
      {"buffer 3: unknown kind 'shared' (expected input, weight, temp, scratch or view)",
       [](json &p, json &) { p["buffers"][3]["kind"] = "shared"; }},
      {"outputs[0]: buffer 3 (scratch float32[4]) is a scratch buffer",
       [](json &p, json &m) {
         p["outputs"] = {3};
         m["outputs"][0]["shape"] = {4};
       }},
      {"command 0 (launch): reads buffer 2 (temp float32[4x16]) before any command writes it",
       [](json &p, json &) { p["commands"].erase(0); }},
  };
  for (const Case &c : cases) {
    std::string msg = loadError(c.edit);
    EXPECT_NE(msg.find(c.expect), std::string::npos) << "expected: " << c.expect << "\ngot: " << msg;
    EXPECT_EQ(msg.rfind("rank0.program: ", 0) == 0 || msg.rfind("manifest: ", 0) == 0 ||
                  msg.rfind("rank0.program", 0) == 0,
              true)
        << msg;
  }
}

TEST(CudaProgram, ConvNeedsSymmetricPadsForCudnn) {
  TempDir dir;
  json program = {
      {"rank", 0},
      {"buffers",
       {{{"id", 0}, {"dtype", "float32"}, {"shape", {1, 2, 5, 5}}, {"kind", "input"}, {"input", 0}},
        {{"id", 1}, {"dtype", "float32"}, {"shape", {4, 1, 3, 3}}, {"kind", "weight"}, {"section", "w/0"}},
        {{"id", 2}, {"dtype", "float32"}, {"shape", {1, 4, 4, 4}}, {"kind", "temp"}}}},
      {"commands",
       {{{"op", "conv"}, {"x", 0}, {"w", 1}, {"bias", -1}, {"y", 2}, {"strides", {1, 1}},
         {"pads", {1, 1, 0, 0}}, {"dilations", {1, 1}}, {"group", 2}}}},
      {"outputs", {2}}};
  json man = cudaManifest(spec("x", "float32", {1, 2, 5, 5}), spec("y", "float32", {1, 4, 4, 4}),
                          1, false);
  HostTensor w = randomTensor(DType::Float32, {4, 1, 3, 3}, 1);
  std::string path = writeBundle(dir, "conv.pmc", man, program, "", {{"w/0", bytesOf(w)}});
  try {
    loadProgram(path);
    FAIL() << "expected an error";
  } catch (const RuntimeError &e) {
    EXPECT_NE(std::string(e.what()).find("command 0 (conv): 'pads' [1, 1, 0, 0]: spatial dim 0 "
                                         "pads 1 before and 0 after; cuDNN supports only "
                                         "symmetric padding"),
              std::string::npos)
        << e.what();
  }
  // Symmetric pads and y of the right shape: accepted, with the group.
  program["commands"][0]["pads"] = {1, 1, 1, 1};
  program["buffers"][2]["shape"] = {1, 4, 5, 5};
  man["outputs"][0]["shape"] = {1, 4, 5, 5};
  path = writeBundle(dir, "conv2.pmc", man, program, "", {{"w/0", bytesOf(w)}});
  std::unique_ptr<CudaProgram> p = loadProgram(path);
  EXPECT_EQ(p->steps()[0].kind, CudaStepKind::Conv);
  EXPECT_EQ(p->steps()[0].conv.group, 2);
  EXPECT_TRUE(p->ptx().empty());
}

TEST(CudaProgram, CollectivesGetTheirGroups) {
  TempDir dir;
  auto rankProgram = [](int r) {
    return json{{"rank", r},
                {"buffers",
                 {{{"id", 0}, {"dtype", "float32"}, {"shape", {4}}, {"kind", "input"}, {"input", 0}},
                  {{"id", 1}, {"dtype", "float32"}, {"shape", {8}}, {"kind", "temp"}}}},
                {"commands", {{{"op", "all_gather"}, {"in", 0}, {"out", 1}, {"axes", {"tp"}}, {"dim", 0}}}},
                {"outputs", {1}}};
  };
  json man = cudaManifest(spec("x", "float32", {4}), spec("y", "float32", {8}), 2, false);
  std::string path = writeBundle(dir, "ag.pmc", man, rankProgram(0), "",
                                 {{"rank1.program", rankProgram(1).dump()}});
  auto reader = bundle::BundleReader::open(path);
  Manifest m = Manifest::parse(reader->section("manifest"));
  std::unique_ptr<CudaProgram> p = CudaProgram::load(m, *reader, 1);
  ASSERT_EQ(p->steps().size(), 1u);
  const CollectiveCall &call = p->steps()[0].call;
  EXPECT_EQ(call.kind, CollectiveKind::AllGather);
  EXPECT_EQ(call.group, (std::vector<int>{0, 1}));
  EXPECT_EQ(call.position, 1);
  EXPECT_EQ(call.outShape, (std::vector<int64_t>{8}));
  EXPECT_EQ(p->collectiveCount(), 1u);
}

TEST(CudaProgram, SendAndRecvFindTheirPeerStage) {
  TempDir dir;
  // Mesh pp=2, tp=2: rank 1 is (stage 0, tp 1), its peer in stage 1 is rank 3.
  auto program = [](int r) {
    bool first = r < 2;
    json buffers = {{{"id", 0}, {"dtype", "float32"}, {"shape", {4}}, {"kind", "input"}, {"input", 0}},
                    {{"id", 1}, {"dtype", "float32"}, {"shape", {4}}, {"kind", "temp"}}};
    json command = first ? json{{"op", "send"}, {"in", 0}, {"to_stage", 1}, {"tag", 7}}
                         : json{{"op", "recv"}, {"out", 1}, {"from_stage", 0}, {"tag", 7}};
    json outputs = {first ? 0 : -1};
    return json{{"rank", r}, {"buffers", buffers}, {"commands", {command}}, {"outputs", outputs}};
  };
  json man = cudaManifest(spec("x", "float32", {4}), spec("y", "float32", {4}), 4, false);
  man["mesh"] = {{"axes", {{{"name", "pp"}, {"size", 2}}, {{"name", "tp"}, {"size", 2}}}}};
  man["outputs"][0]["stage"] = 0;
  man["pipeline"] = {{"axis", "pp"}, {"stages", 2}, {"microbatches", 1}, {"schedule", "gpipe"},
                     {"microbatched_inputs", json::array()},
                     {"microbatched_outputs", json::array()}};
  std::vector<std::pair<std::string, std::string>> extra;
  for (int r = 1; r < 4; ++r)
    extra.emplace_back("rank" + std::to_string(r) + ".program", program(r).dump());
  std::string path = writeBundle(dir, "pp.pmc", man, program(0), "", extra);
  auto reader = bundle::BundleReader::open(path);
  Manifest m = Manifest::parse(reader->section("manifest"));
  std::unique_ptr<CudaProgram> sender = CudaProgram::load(m, *reader, 1);
  EXPECT_EQ(sender->steps()[0].kind, CudaStepKind::Send);
  EXPECT_EQ(sender->steps()[0].peer, 3);
  EXPECT_EQ(sender->steps()[0].tag, 7);
  EXPECT_EQ(sender->steps()[0].bytes, 16u);
  EXPECT_TRUE(sender->steps()[0].communicates());
  std::unique_ptr<CudaProgram> receiver = CudaProgram::load(m, *reader, 2);
  EXPECT_EQ(receiver->steps()[0].kind, CudaStepKind::Recv);
  EXPECT_EQ(receiver->steps()[0].peer, 0);
  EXPECT_EQ(receiver->steps()[0].writes, std::vector<int>{1});
  EXPECT_EQ(receiver->collectiveCount(), 1u);
  // Sending to its own stage is an error naming the command.
  json bad = program(1);
  bad["commands"][0]["to_stage"] = 0;
  std::string badPath = writeBundle(dir, "pp-bad.pmc", man, program(0), "",
                                    {{"rank1.program", bad.dump()}});
  auto badReader = bundle::BundleReader::open(badPath);
  try {
    CudaProgram::load(m, *badReader, 1);
    FAIL() << "expected an error";
  } catch (const RuntimeError &e) {
    EXPECT_NE(std::string(e.what()).find("rank1.program: command 0 (send): field 'to_stage' is 0, "
                                         "this rank's own stage"),
              std::string::npos)
        << e.what();
  }
}

TEST(CudaProgram, SessionWithoutDriverSaysSo) {
  if (void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL)) {
    dlclose(h);
    GTEST_SKIP() << "libcuda.so.1 is installed here";
  }
  TempDir dir;
  std::string path = writeCudaBundle(dir, "ok.pmc", weight());
  try {
    Session::open(path);
    FAIL() << "expected an error";
  } catch (const RuntimeError &e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(path + ": this bundle targets CUDA; no CUDA driver was found "
                       "(libcuda.so.1 could not be loaded): libcuda.so.1"),
              std::string::npos)
        << msg;
  }
  // A bad program is reported as such, with or without a driver.
  json program = cudaProgram();
  program["commands"][1]["writes"] = {3, 4};
  path = writeCudaBundle(dir, "bad.pmc", weight(), program);
  try {
    Session::open(path);
    FAIL() << "expected an error";
  } catch (const RuntimeError &e) {
    EXPECT_NE(std::string(e.what()).find("rank0.program: command 1 (launch): field 'writes'"),
              std::string::npos)
        << e.what();
  }
}

} // namespace
