//===- NcclCommunicatorTest.cpp - NCCL loading and bootstrap without a GPU --===//
//
// What can be checked on a machine without a GPU: libnccl.so.2 (when
// installed) loads and every symbol pmc uses resolves; without a CUDA driver
// every rank fails with a message naming the rank and the missing library;
// option parsing and LOCAL_RANK.
//
#include "pmc/Runtime/CUDA/NcclCommunicator.h"
#include "pmc/Runtime/Comm/TcpRendezvous.h"

#include "../../lib/Runtime/CUDA/NcclLibrary.h"

#include <gtest/gtest.h>

#include <dlfcn.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <regex>
#include <thread>

using namespace pmc::runtime;
using namespace pmc::runtime::cuda;

namespace {

bool loadable(const char *library) {
  void *h = dlopen(library, RTLD_NOW | RTLD_LOCAL);
  if (h)
    dlclose(h);
  return h != nullptr;
}

int freePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

} // namespace

TEST(Nccl, LoadsTheLibraryAndResolvesEverySymbol) {
  if (getenv("PMC_NCCL_LIBRARY") || !loadable("libnccl.so.2"))
    GTEST_SKIP() << "libnccl.so.2 is not installed";
  const nccl::NcclApi &api = nccl::ncclApi();
  EXPECT_TRUE(std::regex_match(api.versionText, std::regex(R"(2\.\d+\.\d+)")))
      << api.versionText;
  EXPECT_STRNE(api.getErrorString(nccl::InProgress), "");
  nccl::Config c = nccl::makeConfig(false);
  EXPECT_EQ(c.blocking, 0);
  EXPECT_EQ(c.magic, 0xcafebeefu);
}

TEST(Nccl, WithoutADriverTheRankSaysSo) {
  if (loadable("libcuda.so.1"))
    GTEST_SKIP() << "this machine has a CUDA driver";
  try {
    createNcclCollectives({});
    FAIL() << "created NCCL without a driver";
  } catch (const RuntimeError &e) {
    std::string m = e.what();
    EXPECT_EQ(m.rfind("rank 0: rank 0 cannot use NCCL: ", 0), 0u) << m;
    EXPECT_TRUE(m.find("libcuda.so.1") != std::string::npos ||
                m.find("libnccl.so.2") != std::string::npos)
        << m;
  }
}

// Two ranks over the TCP rendezvous: both learn that rank 0 cannot use NCCL.
TEST(Nccl, EveryRankLearnsWhoCannotUseNccl) {
  if (loadable("libcuda.so.1"))
    GTEST_SKIP() << "this machine has a CUDA driver";
  int port = freePort();
  std::string errors[2];
  std::thread ranks[2];
  for (int r = 0; r < 2; ++r)
    ranks[r] = std::thread([&, r] {
      try {
        RendezvousConfig c;
        c.rank = r;
        c.worldSize = 2;
        c.masterPort = port;
        c.timeoutSeconds = 10;
        NcclCommunicator::create(TcpRendezvous::connect(c), 5, "bundle-a");
      } catch (const RuntimeError &e) {
        errors[r] = e.what();
      }
    });
  for (std::thread &t : ranks)
    t.join();
  EXPECT_EQ(errors[0].rfind("rank 0: rank 0 cannot use NCCL: ", 0), 0u) << errors[0];
  EXPECT_EQ(errors[1].rfind("rank 1: rank 0 cannot use NCCL: ", 0), 0u) << errors[1];
}

TEST(Nccl, Options) {
  EXPECT_EQ(parseNcclBootstrap("mpi"), NcclBootstrap::Mpi);
  EXPECT_EQ(parseNcclBootstrap("tcp"), NcclBootstrap::Tcp);
  EXPECT_EQ(parseNcclBootstrap("auto"), NcclBootstrap::Auto);
  EXPECT_FALSE(parseNcclBootstrap("nccl"));
  NcclOptions o;
  o.bootstrap = NcclBootstrap::Mpi;
  try {
    createNcclCollectives(o);
    FAIL();
  } catch (const RuntimeError &e) {
    EXPECT_NE(std::string(e.what()).find("--bootstrap mpi: no MPI communicator"),
              std::string::npos);
  }
}

TEST(Nccl, LocalDevice) {
  unsetenv("OMPI_COMM_WORLD_LOCAL_RANK");
  unsetenv("LOCAL_RANK");
  EXPECT_EQ(ncclLocalDevice(), 0);
  setenv("OMPI_COMM_WORLD_LOCAL_RANK", "3", 1);
  EXPECT_EQ(ncclLocalDevice(), 3);
  setenv("LOCAL_RANK", "1", 1);
  EXPECT_EQ(ncclLocalDevice(), 1);
  setenv("LOCAL_RANK", "one", 1);
  EXPECT_THROW(ncclLocalDevice(), RuntimeError);
  unsetenv("LOCAL_RANK");
  unsetenv("OMPI_COMM_WORLD_LOCAL_RANK");
}
