//===- CalibrateLinks.cpp - collectives and link levels for calibrate ------===//
//
// Link levels of a device spec, fitted from collectives through a
// communicator (CollectiveBench.h): local thread ranks in process, or MPI /
// TCP ranks of spawned `pmc-run --calibrate-collectives` processes; links
// files measured elsewhere merge into the levels. docs/design/cost-model.md.
//
#include "Calibrate.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <thread>

extern char **environ;

namespace pmc::calibrate {
namespace {
//===----------------------------------------------------------------------===//
// Collectives: in process (local) or through pmc-run (mpi, tcp).
//===----------------------------------------------------------------------===//



std::string findPmcRun(const Tools &tools, llvm::StringRef why) {
  if (!tools.pmcRun.empty()) {
    if (!llvm::sys::fs::can_execute(tools.pmcRun))
      throw CalibrateError(why.str() + ": --pmc-run " + tools.pmcRun +
                           " is not an executable file");
    return tools.pmcRun;
  }
  llvm::SmallString<256> beside(llvm::sys::path::parent_path(tools.self));
  llvm::sys::path::append(beside, "pmc-run");
  if (!tools.self.empty() && llvm::sys::fs::can_execute(beside))
    return std::string(beside);
  if (llvm::ErrorOr<std::string> found = llvm::sys::findProgramByName("pmc-run"))
    return *found;
  throw CalibrateError(why.str() + ": pmc-run not found (looked beside pmc-opt, at " +
                       std::string(beside) + ", and on PATH); build it or give --pmc-run PATH");
}

std::string findMpirun(const Tools &tools) {
  if (!tools.mpirun.empty()) {
    if (!llvm::sys::fs::can_execute(tools.mpirun))
      throw CalibrateError("--communicator mpi: --mpirun " + tools.mpirun +
                           " is not an executable file");
    return tools.mpirun;
  }
  if (llvm::ErrorOr<std::string> found = llvm::sys::findProgramByName("mpirun"))
    return *found;
  throw CalibrateError("--communicator mpi: mpirun not found on PATH; install OpenMPI (or "
                       "give --mpirun PATH), or use --communicator local or tcp");
}

/// A temporary file removed when this goes out of scope.
struct TempFile {
  llvm::SmallString<128> path;
  explicit TempFile(llvm::StringRef suffix) {
    if (std::error_code ec = llvm::sys::fs::createTemporaryFile("pmc-calibrate", suffix, path))
      throw CalibrateError("cannot create a temporary file: " + ec.message());
  }
  ~TempFile() { llvm::sys::fs::remove(path); }
  std::string read() const {
    auto buffer = llvm::MemoryBuffer::getFile(path);
    return buffer ? (*buffer)->getBuffer().str() : std::string();
  }
};

std::string commandLine(llvm::ArrayRef<std::string> args) {
  std::string line;
  for (const std::string &a : args)
    line += (line.empty() ? "" : " ") + a;
  return line;
}

/// The last `lines` lines of `text`, indented, for error messages.
std::string tail(llvm::StringRef text, int lines = 12) {
  text = text.rtrim();
  size_t at = text.size();
  for (int i = 0; i < lines && at != llvm::StringRef::npos && at > 0; ++i)
    at = text.rfind('\n', at - 1);
  llvm::StringRef kept = at == llvm::StringRef::npos ? text : text.drop_front(at + 1);
  if (kept.empty())
    return "  (nothing on stderr)";
  std::string out;
  llvm::SmallVector<llvm::StringRef> parts;
  kept.split(parts, '\n');
  for (llvm::StringRef p : parts)
    out += "  | " + p.str() + "\n";
  return llvm::StringRef(out).rtrim().str();
}

std::vector<llvm::StringRef> refs(const std::vector<std::string> &args) {
  return std::vector<llvm::StringRef>(args.begin(), args.end());
}

/// pmc-run --calibrate-collectives arguments after the program name.
std::vector<std::string> benchArgs(const std::string &pmcRun, const std::string &output,
                                   const std::string &levelName, bool quick) {
  std::vector<std::string> args = {pmcRun, "--calibrate-collectives", "-o", output};
  if (!levelName.empty())
    args.insert(args.end(), {"--name", levelName});
  if (quick)
    args.push_back("--quick");
  return args;
}

/// The seconds calibrate waits for spawned ranks before killing them.
constexpr unsigned kSpawnTimeout = 600;

/// `mpirun --allow-run-as-root --oversubscribe -np N pmc-run --calibrate-collectives`.
std::string spawnMpi(const Tools &tools, int ranks, const std::string &levelName, bool quick) {
  std::string mpirun = findMpirun(tools);
  std::string pmcRun = findPmcRun(tools, "--communicator mpi");
  TempFile output("json"), errors("txt");
  std::vector<std::string> args = {mpirun, "--allow-run-as-root", "--oversubscribe", "-np",
                                   std::to_string(ranks)};
  for (const std::string &a : benchArgs(pmcRun, std::string(output.path), levelName, quick))
    args.push_back(a);
  std::string errPath(errors.path);
  std::optional<llvm::StringRef> redirects[] = {llvm::StringRef(""), std::nullopt,
                                                llvm::StringRef(errPath)};
  std::string spawnError;
  auto argRefs = refs(args);
  int status = llvm::sys::ExecuteAndWait(mpirun, argRefs, std::nullopt, redirects,
                                         kSpawnTimeout, 0, &spawnError);
  std::string text = output.read();
  if (status != 0 || text.empty())
    throw CalibrateError(
        "--communicator mpi: `" + commandLine(args) + "` " +
        (status == -1   ? "could not be started (" + spawnError + ")"
         : status == -2 ? "crashed or ran past " + std::to_string(kSpawnTimeout) + " s" +
                              (spawnError.empty() ? "" : " (" + spawnError + ")")
         : status != 0  ? "failed with exit status " + std::to_string(status)
                        : "wrote no result") +
        "; its stderr ends:\n" + tail(errors.read()));
  llvm::errs() << tail(errors.read(), 8) << "\n";
  return text;
}

/// A free TCP port on the loopback interface (for MASTER_PORT).
int freeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len) != 0) {
    if (fd >= 0)
      close(fd);
    throw CalibrateError("--communicator tcp: cannot find a free port on 127.0.0.1");
  }
  close(fd);
  return ntohs(addr.sin_port);
}

/// N pmc-run processes that meet through the TCP rendezvous on this host
/// (RANK, WORLD_SIZE, MASTER_ADDR=127.0.0.1, MASTER_PORT as torchrun sets).
std::string spawnTcp(const Tools &tools, int ranks, const std::string &levelName, bool quick) {
  std::string pmcRun = findPmcRun(tools, "--communicator tcp");
  TempFile output("json");
  std::vector<std::unique_ptr<TempFile>> errors;
  std::vector<std::string> args = benchArgs(pmcRun, std::string(output.path), levelName, quick);
  args.insert(args.begin() + 1, {"--communicator", "tcp"});
  std::vector<std::string> base;
  for (char **e = environ; *e; ++e) {
    llvm::StringRef var(*e);
    llvm::StringRef key = var.split('=').first;
    if (key != "RANK" && key != "WORLD_SIZE" && key != "LOCAL_RANK" && key != "MASTER_ADDR" &&
        key != "MASTER_PORT" && key != "LOCAL_WORLD_SIZE")
      base.push_back(var.str());
  }
  std::string port = std::to_string(freeLoopbackPort());
  std::vector<llvm::sys::ProcessInfo> processes;
  auto argRefs = refs(args);
  for (int r = 0; r < ranks; ++r) {
    std::vector<std::string> env = base;
    for (std::string v : {"RANK=" + std::to_string(r), "LOCAL_RANK=" + std::to_string(r),
                          "WORLD_SIZE=" + std::to_string(ranks),
                          std::string("MASTER_ADDR=127.0.0.1"), "MASTER_PORT=" + port})
      env.push_back(v);
    errors.push_back(std::make_unique<TempFile>("txt"));
    std::string errPath(errors.back()->path);
    std::optional<llvm::StringRef> redirects[] = {llvm::StringRef(""), std::nullopt,
                                                  llvm::StringRef(errPath)};
    std::string spawnError;
    bool failed = false;
    auto envRefs = refs(env);
    processes.push_back(llvm::sys::ExecuteNoWait(pmcRun, argRefs, envRefs, redirects, 0,
                                                 &spawnError, &failed));
    if (failed) {
      for (llvm::sys::ProcessInfo &p : processes)
        if (p.Pid > 0)
          llvm::sys::Wait(p, 1); // kills it after a second
      throw CalibrateError("--communicator tcp: cannot start `" + commandLine(args) +
                           "`: " + spawnError);
    }
  }
  std::string failure;
  for (int r = 0; r < ranks; ++r) {
    std::string waitError;
    llvm::sys::ProcessInfo done = llvm::sys::Wait(processes[r], kSpawnTimeout, &waitError);
    if (done.ReturnCode != 0 && failure.empty())
      failure = "--communicator tcp: rank " + std::to_string(r) + " of `RANK=" +
                std::to_string(r) + " WORLD_SIZE=" + std::to_string(ranks) +
                " MASTER_ADDR=127.0.0.1 MASTER_PORT=" + port + " " + commandLine(args) +
                "` failed (" +
                (done.ReturnCode == -2 ? "crashed or timed out" + (waitError.empty() ? "" : ": " + waitError)
                                       : "exit status " + std::to_string(done.ReturnCode)) +
                "); its stderr ends:\n" + tail(errors[r]->read());
  }
  std::string text = output.read();
  if (!failure.empty() || text.empty())
    throw CalibrateError(!failure.empty() ? failure
                                          : "--communicator tcp: rank 0 wrote no result; its "
                                            "stderr ends:\n" +
                                                tail(errors[0]->read()));
  llvm::errs() << tail(errors[0]->read(), 8) << "\n";
  return text;
}


} // namespace

/// Measures collectives through `communicator` over `ranks` ranks.
MeasuredLevel measureCollectives(const std::string &communicator, int ranks,
                                 const std::string &levelName, bool quick,
                                 const Tools &tools) {
  using namespace pmc::runtime;
  std::string text;
  if (communicator == "local") {
    CollectiveBenchResult result = runLocalCollectiveBench(
        ranks, quick ? CollectiveBenchOptions::quick() : CollectiveBenchOptions());
    for (const CollectiveFit &fit : result.collectives)
      llvm::errs() << llvm::format("  %-15s %10.2f GB/s bus, %8.3f us per step (local, %d "
                                   "threads)\n",
                                   collectiveKindName(fit.kind), fit.fit.bandwidth / 1e9,
                                   fit.fit.alpha * 1e6, ranks);
    text = collectiveBenchJson(result, "local",
                               levelName.empty() ? "shared-memory" : levelName);
  } else if (communicator == "mpi") {
    text = spawnMpi(tools, ranks, levelName, quick);
  } else {
    text = spawnTcp(tools, ranks, levelName, quick);
  }
  std::string from = "--communicator " + communicator;
  try {
    return {parseLinksJson(text, from), from};
  } catch (const RuntimeError &e) {
    throw CalibrateError(std::string(e.what()));
  }
}

/// Reads a links file written by pmc-run --calibrate-collectives.
MeasuredLevel readLinks(const std::string &path) {
  auto buffer = llvm::MemoryBuffer::getFile(path);
  if (!buffer)
    throw CalibrateError("--links " + path + ": cannot read it: " +
                         buffer.getError().message());
  try {
    return {pmc::runtime::parseLinksJson((*buffer)->getBuffer().str(), "--links " + path),
            "--links " + path};
  } catch (const pmc::runtime::RuntimeError &e) {
    throw CalibrateError(std::string(e.what()) +
                         " (a links file is what pmc-run --calibrate-collectives -o writes)");
  }
}

/// The link levels of `measured` (fastest first): a later source with the
/// name of an earlier one replaces it; every level but the slowest serves
/// groups of its "devices", else of the ranks it was measured over; the
/// slowest spans every device.
std::vector<mlir::pmc::LinkLevel> mergeLevels(std::vector<MeasuredLevel> measured) {
  std::vector<MeasuredLevel> unique;
  for (MeasuredLevel &m : measured) {
    auto same = std::find_if(unique.begin(), unique.end(), [&](const MeasuredLevel &u) {
      return u.links.levelName == m.links.levelName;
    });
    if (same != unique.end()) {
      llvm::errs() << "  note: level '" << m.links.levelName << "' of " << m.from
                   << " replaces the one of " << same->from << "\n";
      *same = std::move(m);
    } else {
      unique.push_back(std::move(m));
    }
  }
  std::stable_sort(unique.begin(), unique.end(), [](const auto &a, const auto &b) {
    return a.links.bandwidth > b.links.bandwidth;
  });
  std::vector<mlir::pmc::LinkLevel> levels;
  for (size_t i = 0; i < unique.size(); ++i) {
    const pmc::runtime::LinksFile &l = unique[i].links;
    bool last = i + 1 == unique.size();
    if (!last && l.devices == 0)
      throw CalibrateError(unique[i].from + ": level '" + l.levelName +
                           "' spans every device (devices 0) but is faster than level '" +
                           unique.back().links.levelName + "' of " + unique.back().from +
                           "; only the slowest level may span every device");
    int64_t devices = last ? 0 : l.devices > 0 ? l.devices : l.ranks;
    if (!last && !levels.empty() && devices <= levels.back().devicesPerGroup)
      throw CalibrateError(unique[i].from + ": level '" + l.levelName + "' serves groups of " +
                           std::to_string(devices) + " ranks, no more than the faster level '" +
                           levels.back().name + "' (" +
                           std::to_string(levels.back().devicesPerGroup) +
                           "); levels must be fastest first with growing groups");
    levels.push_back({l.levelName, devices, l.bandwidth, l.latency});
  }
  return levels;
}

} // namespace pmc::calibrate
