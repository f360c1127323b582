//===- TcpRendezvousCheck.cpp - one process of a TCP rendezvous test -------===//
//
// Run N copies with RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT set (as
// test_tcp_rendezvous.py does): connects, all-gathers "blob from rank R"
// twice (the second time of R+1 bytes), checks every rank's blob, passes a
// barrier and prints "rank R of N: ok". PMC_TEST_RENDEZVOUS_EXIT=connected
// makes the process exit with code 3 right after connecting (a rank that
// dies). Errors print "error: <message>" and exit 1.
//
#include "pmc/Runtime/Comm/TcpRendezvous.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

using namespace pmc::runtime;

int main() {
  try {
    RendezvousConfig config = RendezvousConfig::fromEnvironment();
    auto boot = TcpRendezvous::connect(config);
    const char *exitAt = std::getenv("PMC_TEST_RENDEZVOUS_EXIT");
    if (exitAt && std::strcmp(exitAt, "connected") == 0)
      return 3;
    for (int round = 0; round < 2; ++round) {
      std::string mine = "blob from rank " + std::to_string(boot->rank());
      if (round == 1)
        mine = std::string(boot->rank() + 1, static_cast<char>('a' + boot->rank() % 26));
      auto all = boot->allGather(mine, "test exchange " + std::to_string(round));
      if (static_cast<int>(all.size()) != boot->size())
        throw RuntimeError("got " + std::to_string(all.size()) + " blobs");
      for (int r = 0; r < boot->size(); ++r) {
        std::string expected = round == 0 ? "blob from rank " + std::to_string(r)
                                          : std::string(r + 1, static_cast<char>('a' + r % 26));
        if (all[r] != expected)
          throw RuntimeError("blob of rank " + std::to_string(r) + " is '" + all[r] + "'");
      }
    }
    boot->barrier("test barrier");
    std::printf("rank %d of %d: ok (local rank %d)\n", boot->rank(), boot->size(),
                config.localRank);
    return 0;
  } catch (const std::exception &e) {
    std::string line = std::string("error: ") + e.what() + "\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
    return 1;
  }
}
