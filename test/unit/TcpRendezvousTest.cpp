//===- TcpRendezvousTest.cpp - torchrun variables and the in-process star ---===//

#include "pmc/Runtime/Comm/TcpRendezvous.h"

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

using namespace pmc::runtime;

namespace {

/// Sets the torchrun variables for one test and restores them after.
struct Env {
  std::vector<std::string> names = {"RANK",        "WORLD_SIZE", "LOCAL_RANK",
                                    "MASTER_ADDR", "MASTER_PORT", "PMC_RENDEZVOUS_TIMEOUT"};
  Env() {
    for (const std::string &n : names)
      unsetenv(n.c_str());
  }
  ~Env() {
    for (const std::string &n : names)
      unsetenv(n.c_str());
  }
  void set(const char *name, const char *value) { setenv(name, value, 1); }
};

std::string errorOf(void (*f)()) {
  try {
    f();
  } catch (const RuntimeError &e) {
    return e.what();
  }
  return "";
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

void parse() { RendezvousConfig::fromEnvironment(); }

} // namespace

TEST(TcpRendezvous, ParsesTheTorchrunVariables) {
  Env env;
  EXPECT_FALSE(RendezvousConfig::environmentPresent());
  env.set("RANK", "2");
  env.set("WORLD_SIZE", "4");
  env.set("LOCAL_RANK", "1");
  env.set("MASTER_ADDR", "node0");
  env.set("MASTER_PORT", "1234");
  env.set("PMC_RENDEZVOUS_TIMEOUT", "2.5");
  ASSERT_TRUE(RendezvousConfig::environmentPresent());
  RendezvousConfig c = RendezvousConfig::fromEnvironment();
  EXPECT_EQ(c.rank, 2);
  EXPECT_EQ(c.worldSize, 4);
  EXPECT_EQ(c.localRank, 1);
  EXPECT_EQ(c.endpoint(), "node0:1234");
  EXPECT_DOUBLE_EQ(c.timeoutSeconds, 2.5);
}

TEST(TcpRendezvous, DefaultsAddressPortAndLocalRank) {
  Env env;
  env.set("RANK", "0");
  env.set("WORLD_SIZE", "1");
  RendezvousConfig c = RendezvousConfig::fromEnvironment();
  EXPECT_EQ(c.endpoint(), "127.0.0.1:29500");
  EXPECT_EQ(c.localRank, 0);
}

TEST(TcpRendezvous, BadVariablesAreNamed) {
  Env env;
  env.set("WORLD_SIZE", "4");
  EXPECT_NE(errorOf(parse).find("RANK is not set"), std::string::npos) << errorOf(parse);
  env.set("RANK", "7");
  EXPECT_EQ(errorOf(parse), "RANK must be an integer in [0, WORLD_SIZE=4), got '7'");
  env.set("RANK", "x1");
  EXPECT_EQ(errorOf(parse), "RANK must be an integer in [0, WORLD_SIZE=4), got 'x1'");
  env.set("RANK", "1");
  env.set("WORLD_SIZE", "0");
  EXPECT_EQ(errorOf(parse), "WORLD_SIZE must be an integer in [1, 65536], got '0'");
  env.set("WORLD_SIZE", "4");
  env.set("MASTER_PORT", "70000");
  EXPECT_EQ(errorOf(parse), "MASTER_PORT must be an integer in [1, 65535], got '70000'");
  env.set("MASTER_PORT", "29500");
  env.set("LOCAL_RANK", "-1");
  EXPECT_EQ(errorOf(parse), "LOCAL_RANK must be an integer in [0, WORLD_SIZE=4), got '-1'");
  env.set("LOCAL_RANK", "0");
  env.set("MASTER_ADDR", "");
  EXPECT_NE(errorOf(parse).find("MASTER_ADDR is set but empty"), std::string::npos);
  env.set("MASTER_ADDR", "localhost");
  env.set("PMC_RENDEZVOUS_TIMEOUT", "soon");
  EXPECT_EQ(errorOf(parse),
            "PMC_RENDEZVOUS_TIMEOUT must be a positive number of seconds, got 'soon'");
}

// Three ranks as threads: every rank sees every blob, in rank order.
TEST(TcpRendezvous, AllGatherInThreads) {
  const int n = 3, port = freePort();
  std::vector<std::vector<std::string>> got(n);
  std::vector<std::string> errors(n);
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r)
    threads.emplace_back([&, r] {
      try {
        RendezvousConfig c;
        c.rank = r;
        c.worldSize = n;
        c.masterPort = port;
        c.timeoutSeconds = 10;
        auto boot = TcpRendezvous::connect(c);
        got[r] = boot->allGather(std::string(r * 1000, static_cast<char>('0' + r)), "test");
        boot->barrier("end");
      } catch (const std::exception &e) {
        errors[r] = e.what();
      }
    });
  for (std::thread &t : threads)
    t.join();
  for (int r = 0; r < n; ++r) {
    EXPECT_EQ(errors[r], "") << "rank " << r;
    ASSERT_EQ(got[r].size(), static_cast<size_t>(n));
    for (int j = 0; j < n; ++j)
      EXPECT_EQ(got[r][j], std::string(j * 1000, static_cast<char>('0' + j)));
  }
}

// Rank 2 of 3 never starts: ranks 0 and 1 both fail, naming it.
TEST(TcpRendezvous, MissingRankFailsEveryRank) {
  const int n = 3, port = freePort();
  std::vector<std::string> errors(2);
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r)
    threads.emplace_back([&, r] {
      try {
        RendezvousConfig c;
        c.rank = r;
        c.worldSize = n;
        c.masterPort = port;
        c.timeoutSeconds = 0.5;
        TcpRendezvous::connect(c);
      } catch (const std::exception &e) {
        errors[r] = e.what();
      }
    });
  for (std::thread &t : threads)
    t.join();
  std::string expected = "rendezvous at 127.0.0.1:" + std::to_string(port) +
                         ": rank 2 of 3 did not connect within 0.5 s";
  EXPECT_EQ(errors[0], expected);
  EXPECT_EQ(errors[1], expected);
}

// Nobody listens: a rank > 0 gives up at its deadline, saying why.
TEST(TcpRendezvous, NoRankZero) {
  RendezvousConfig c;
  c.rank = 1;
  c.worldSize = 2;
  c.masterPort = freePort();
  c.timeoutSeconds = 0.3;
  try {
    TcpRendezvous::connect(c);
    FAIL() << "connected to nobody";
  } catch (const RuntimeError &e) {
    EXPECT_NE(std::string(e.what()).find("rank 1 of 2 could not connect to rank 0 within 0.3 s"),
              std::string::npos)
        << e.what();
  }
}
