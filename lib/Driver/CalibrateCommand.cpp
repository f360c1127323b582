//===- CalibrateCommand.cpp - `pmc-opt calibrate`: measure a device spec ---===//
//
// Measures this machine and writes a device spec (DeviceSpec.h) that the cost
// model reads: GEMM FLOP/s per dtype (BLAS, or cuBLASLt on a GPU), element-wise
// FLOP/s, memory bandwidth, per-op dispatch overhead, and link levels fitted
// from collectives through a communicator (CollectiveBench.h): local thread
// ranks in process, or MPI / TCP ranks of spawned pmc-run processes, merged
// with links files measured elsewhere. docs/design/cost-model.md#calibration.
// Compiled with exceptions: the runtime reports errors as such.
//
#include "Commands.h"

#include "pmc/Parallel/DeviceSpec.h"
#include "pmc/Runtime/CUDA/CudaCalibrate.h"
#include "pmc/Runtime/CollectiveBench.h"

#include "mlir/Support/FileUtilities.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

#include <arpa/inet.h>
#include <cblas.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

extern char **environ;

namespace cl = llvm::cl;
using mlir::pmc::DeviceSpec;
using mlir::pmc::PeakDType;

namespace {
using Clock = std::chrono::steady_clock;

/// Best seconds per call of `fn`, repeating until `budget` seconds passed
/// (at least 3 calls after one warm-up).
double bestTime(const std::function<void()> &fn, double budget) {
  fn();
  double best = 1e30;
  auto start = Clock::now();
  for (int i = 0;; ++i) {
    auto t0 = Clock::now();
    fn();
    double t = std::chrono::duration<double>(Clock::now() - t0).count();
    best = std::min(best, t);
    double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    if (i >= 2 && elapsed > budget)
      return best;
  }
}

struct GemmResult {
  double flops = 0;
  int64_t size = 0;
};

template <typename T>
GemmResult measureGemm(llvm::ArrayRef<int64_t> sizes, double budget, llvm::raw_ostream &os,
                       const char *name) {
  GemmResult best;
  for (int64_t n : sizes) {
    std::vector<T> a(n * n, T(0.5)), b(n * n, T(0.25)), c(n * n, T(0));
    double t = bestTime(
        [&] {
          if constexpr (std::is_same_v<T, float>)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(),
                        n, b.data(), n, 0.0f, c.data(), n);
          else
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, a.data(),
                        n, b.data(), n, 0.0, c.data(), n);
        },
        budget);
    double flops = 2.0 * n * n * n / t;
    os << llvm::format("  %-6s gemm %5lld^3  %10.2f GFLOP/s\n", name, (long long)n,
                       flops / 1e9);
    if (flops > best.flops)
      best = {flops, n};
  }
  return best;
}

/// a = b + s * c over three arrays of `n` doubles; bytes/s of the best pass.
double measureTriad(int64_t n, double budget) {
  std::vector<double> a(n), b(n, 1.0), c(n, 2.0);
  double s = 3.0;
  double t = bestTime(
      [&] {
        double *pa = a.data();
        const double *pb = b.data(), *pc = c.data();
        for (int64_t i = 0; i < n; ++i)
          pa[i] = pb[i] + s * pc[i];
      },
      budget);
  if (a[n / 2] != 7.0) // Keeps the loop from being optimized away.
    return 0;
  return 3.0 * n * sizeof(double) / t;
}

/// FLOP/s of an in-cache element-wise multiply-add (2 FLOPs per element),
/// single thread times the hardware threads (element-wise kernels run on all
/// cores).
double measureVector(double budget) {
  constexpr int64_t n = 4096, reps = 256;
  std::vector<float> x(n, 1.0f);
  volatile float scale = 0.999f, shift = 0.001f;
  float a = scale, b = shift;
  double t = bestTime(
      [&] {
        float *px = x.data();
        for (int64_t r = 0; r < reps; ++r)
          for (int64_t i = 0; i < n; ++i)
            px[i] = px[i] * a + b;
      },
      budget);
  if (x[0] != x[0])
    return 0;
  return 2.0 * n * reps / t * std::max(1u, std::thread::hardware_concurrency());
}

/// Seconds of one tiny BLAS call: the fixed cost of dispatching a kernel.
double measureDispatch(double budget) {
  float a = 1, b = 1, c = 0;
  constexpr int calls = 1000;
  return bestTime(
             [&] {
               for (int i = 0; i < calls; ++i)
                 cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 1, 1, 1, 1.0f, &a,
                             1, &b, 1, 0.0f, &c, 1);
             },
             budget) /
         calls;
}

//===----------------------------------------------------------------------===//
// Collectives: in process (local) or through pmc-run (mpi, tcp).
//===----------------------------------------------------------------------===//

/// A calibrate failure the user can act on; main prints "error: <what>".
struct CalibrateError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Where the tools calibrate spawns live: given, beside pmc-opt, or on PATH.
struct Tools {
  std::string self; // this pmc-opt
  std::string pmcRun, mpirun;
};

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

/// One link level to merge, with where it came from (for messages).
struct MeasuredLevel {
  pmc::runtime::LinksFile links;
  std::string from;
};

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

//===----------------------------------------------------------------------===//
// CUDA.
//===----------------------------------------------------------------------===//

/// Fails clearly when no CUDA driver or device is present; returns the
/// number of devices.
int findCudaDevices() {
  void *driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!driver)
    throw CalibrateError(std::string("--target cuda: no CUDA driver found (libcuda.so.1 cannot "
                                     "be loaded: ") +
                         dlerror() +
                         "); run calibrate on a machine with an NVIDIA GPU and its driver, or "
                         "use a built-in spec (h100-sxm, h100-pcie, h200, a100)");
  using InitFn = int (*)(unsigned);
  using CountFn = int (*)(int *);
  auto init = reinterpret_cast<InitFn>(dlsym(driver, "cuInit"));
  auto count = reinterpret_cast<CountFn>(dlsym(driver, "cuDeviceGetCount"));
  int devices = 0;
  int status = init && count ? init(0) : -1;
  if (status == 0)
    status = count(&devices);
  if (status != 0 || devices == 0)
    throw CalibrateError("--target cuda: no CUDA device found (the driver loaded, but "
                         "cuInit/cuDeviceGetCount reported " +
                         (status != 0 ? "error " + std::to_string(status)
                                      : std::string("0 devices")) +
                         ")");
  return devices;
}

/// The built-in spec whose link levels a measured GPU gets by default.
std::string baseSpecFor(llvm::StringRef deviceName) {
  if (deviceName.contains("H200"))
    return "h200";
  if (deviceName.contains("H100"))
    return deviceName.contains("PCIe") ? "h100-pcie" : "h100-sxm";
  if (deviceName.contains("A100"))
    return "a100";
  return "";
}

/// Measures GPU `device` into `spec` (peaks, vector FLOP/s, memory, launch
/// overhead); the levels come from `base` (or the GPU's built-in) unless
/// links were given.
void measureCuda(DeviceSpec &spec, int device, bool quick, std::string base,
                 bool haveLinks) {
  int devices = findCudaDevices();
  if (device >= devices)
    throw CalibrateError("--device " + std::to_string(device) + ": this machine has " +
                         std::to_string(devices) + " CUDA device(s)");
  pmc::runtime::cuda::CudaDeviceCalibration c =
      pmc::runtime::cuda::calibrateCudaDevice(device, quick);
  llvm::errs() << "  " << c.deviceName << " (device " << device << ")\n";
  if (base.empty())
    base = baseSpecFor(c.deviceName);
  if (base.empty() && !haveLinks)
    throw CalibrateError("--target cuda: no built-in spec matches '" + c.deviceName +
                         "' for the link levels; give --base h100-sxm|h100-pcie|h200|a100 "
                         "or --links FILE");
  if (!base.empty()) {
    llvm::Expected<DeviceSpec> b = mlir::pmc::getBuiltinDeviceSpec(base);
    if (!b)
      throw CalibrateError("--base: " + llvm::toString(b.takeError()));
    spec.levels = b->levels;
    if (!haveLinks)
      llvm::errs() << "  link levels from the built-in '" << base << "' (NCCL links are not "
                   << "measured; give --links to replace them)\n";
  }
  spec.peakFlops = {};
  for (const pmc::runtime::cuda::CudaGemmPeak &g : c.gemms) {
    llvm::errs() << llvm::format("  %-5s gemm peak %10.2f TFLOP/s (at %lld^3)", g.dtype.c_str(),
                                 g.flops / 1e12, (long long)g.size)
                 << (g.note.empty() ? "" : "  " + g.note) << "\n";
    for (unsigned i = 0; i < mlir::pmc::kNumPeakDTypes; ++i)
      if (mlir::pmc::peakDTypeName(PeakDType(i)) == g.dtype)
        spec.peakFlops[i] = g.flops;
  }
  spec.vectorFlops = spec.peak(PeakDType::F32);
  spec.memoryBandwidth = c.memoryBandwidth;
  spec.memoryBytes = c.memoryBytes;
  spec.launchOverhead = c.launchOverhead;
  llvm::errs() << llvm::format("  memory (d2d)    %10.2f GB/s, %.1f GB\n",
                               c.memoryBandwidth / 1e9, c.memoryBytes / 1e9)
               << llvm::format("  launch          %10.3f us\n", c.launchOverhead * 1e6);
}

/// The CPU's compute numbers into `spec`.
void measureCpu(DeviceSpec &spec, bool quick) {
  llvm::raw_ostream &os = llvm::errs();
  double budget = quick ? 0.05 : 0.25;
  std::vector<int64_t> sizes = quick ? std::vector<int64_t>{128, 256, 512}
                                     : std::vector<int64_t>{256, 512, 1024, 2048};
  GemmResult f32 = measureGemm<float>(sizes, budget, os, "f32");
  GemmResult f64 = measureGemm<double>(sizes, budget, os, "f64");
  spec.peakFlops = {};
  spec.peakFlops[unsigned(PeakDType::F32)] = f32.flops;
  spec.peakFlops[unsigned(PeakDType::F64)] = f64.flops;
  spec.vectorFlops = measureVector(budget);
  spec.memoryBandwidth = measureTriad(quick ? (4 << 20) : (16 << 20), budget * 2);
  spec.launchOverhead = measureDispatch(budget);
  os << llvm::format("  f32 gemm peak   %10.2f GFLOP/s (at %lld^3)\n", f32.flops / 1e9,
                     (long long)f32.size)
     << llvm::format("  f64 gemm peak   %10.2f GFLOP/s (at %lld^3)\n", f64.flops / 1e9,
                     (long long)f64.size)
     << llvm::format("  vector          %10.2f GFLOP/s\n", spec.vectorFlops / 1e9)
     << llvm::format("  memory (triad)  %10.2f GB/s\n", spec.memoryBandwidth / 1e9)
     << llvm::format("  dispatch        %10.3f us\n", spec.launchOverhead * 1e6);
}
} // namespace

int pmc::runCalibrateCommand(int argc, char **argv) {
  cl::OptionCategory category("calibrate options");
  cl::opt<std::string> target("target", cl::desc("Device to measure: cpu or cuda"),
                              cl::init("cpu"), cl::cat(category));
  cl::opt<std::string> outputPath("o", cl::desc("Output spec file (default: stdout)"),
                                  cl::value_desc("file"), cl::init("-"), cl::cat(category));
  cl::opt<bool> quick("quick", cl::desc("Fewer sizes and repetitions (a few seconds)"),
                      cl::init(false), cl::cat(category));
  cl::opt<std::string> name("name", cl::desc("Name of the spec written (default "
                                             "cpu-calibrated / cuda-calibrated)"),
                            cl::cat(category));
  cl::opt<std::string> communicator(
      "communicator",
      cl::desc("Measure collectives through: local (thread ranks, in process; the cpu "
               "default), mpi (mpirun -np N pmc-run), tcp (N pmc-run processes on this "
               "host) or none (the cuda default: levels from --links or the built-in)"),
      cl::cat(category));
  cl::opt<int> ranks("ranks", cl::desc("Ranks of the collective measurement (default 2)"),
                     cl::init(2), cl::cat(category));
  cl::opt<std::string> level("level", cl::desc("Name of the measured link level (default "
                                               "shared-memory for local, else mpi / tcp)"),
                             cl::cat(category));
  cl::list<std::string> links(
      "links", cl::desc("Merge a link level measured separately (pmc-run "
                        "--calibrate-collectives -o FILE, e.g. under a multi-node mpirun)"),
      cl::value_desc("file"), cl::cat(category));
  cl::opt<std::string> pmcRun("pmc-run", cl::desc("pmc-run to spawn (default: beside "
                                                   "pmc-opt, else on PATH)"),
                              cl::value_desc("path"), cl::cat(category));
  cl::opt<std::string> mpirun("mpirun", cl::desc("mpirun to spawn (default: on PATH)"),
                              cl::value_desc("path"), cl::cat(category));
  cl::opt<int> device("device", cl::desc("--target cuda: the GPU to measure"), cl::init(0),
                      cl::cat(category));
  cl::opt<std::string> base("base", cl::desc("--target cuda: the built-in spec whose link "
                                             "levels are kept (default: by GPU name)"),
                            cl::cat(category));
  cl::ParseCommandLineOptions(
      argc, argv,
      "pmc-opt calibrate: measures this machine and writes a device spec (JSON)\n\n"
      "  pmc-opt calibrate --target cpu -o spec.json\n"
      "  pmc-opt calibrate --target cpu --communicator mpi --ranks 4 -o spec.json\n"
      "  mpirun -np 16 --host a:8,b:8 pmc-run --calibrate-collectives --name network "
      "-o net.json\n"
      "  pmc-opt calibrate --target cpu --links net.json -o spec.json\n"
      "  pmc-opt calibrate --target cuda -o h100.json\n");

  auto fail = [](const std::string &message) {
    llvm::errs() << "error: " << message << "\n";
    return 1;
  };
  if (target != "cpu" && target != "cuda")
    return fail("--target " + target + ": unknown (expected cpu or cuda)");
  bool cuda = target == "cuda";
  std::string comm = communicator.getNumOccurrences() ? std::string(communicator)
                     : cuda                          ? "none"
                                                     : "local";
  if (comm != "local" && comm != "mpi" && comm != "tcp" && comm != "none")
    return fail("--communicator " + comm + ": unknown (expected local, mpi, tcp or none)");
  if (cuda && comm != "none")
    return fail("--target cuda --communicator " + comm + ": collectives between GPUs run "
                "through NCCL, which calibrate does not measure; measure host links with "
                "--target cpu, or give --links FILE");
  if (ranks < 2 || ranks > 1024)
    return fail("--ranks " + std::to_string(ranks) + ": expected 2 to 1024 ranks");
  if (comm == "none" && (ranks.getNumOccurrences() || level.getNumOccurrences()))
    return fail(std::string(ranks.getNumOccurrences() ? "--ranks" : "--level") +
                " needs a communicator to measure (--communicator local, mpi or tcp)");
  if (device < 0)
    return fail("--device " + std::to_string(device) + ": expected a GPU ordinal (0, 1, ...)");
  if (!cuda && (device.getNumOccurrences() || base.getNumOccurrences()))
    return fail(std::string(device.getNumOccurrences() ? "--device" : "--base") +
                " goes with --target cuda");

  Tools tools{llvm::sys::fs::getMainExecutable(argv[0],
                                               reinterpret_cast<void *>(&runCalibrateCommand)),
              pmcRun, mpirun};
  DeviceSpec spec = llvm::cantFail(mlir::pmc::getBuiltinDeviceSpec("cpu"));
  spec.name = name.getNumOccurrences() ? std::string(name)
                                       : cuda ? "cuda-calibrated" : "cpu-calibrated";
  try {
    std::vector<MeasuredLevel> measured;
    for (const std::string &path : links)
      measured.push_back(readLinks(path)); // Bad files fail before measuring.
    llvm::errs() << "pmc-opt calibrate --target " << target << (quick ? " --quick" : "")
                 << "\n";
    if (cuda)
      measureCuda(spec, device, quick, base, !links.empty());
    else
      measureCpu(spec, quick);
    if (comm != "none") {
      MeasuredLevel m = measureCollectives(comm, ranks, level, quick, tools);
      llvm::errs() << llvm::format("  level %-16s %6.2f GB/s bus, %.3f us latency (%s, "
                                   "%d ranks)\n",
                                   ("'" + m.links.levelName + "'").c_str(), m.links.bandwidth / 1e9,
                                   m.links.latency * 1e6, comm.c_str(), m.links.ranks);
      measured.insert(measured.begin(), std::move(m));
    }
    if (!measured.empty())
      spec.levels = mergeLevels(std::move(measured));
    if (comm == "local" && std::getenv("OMPI_COMM_WORLD_SIZE"))
      llvm::errs() << "  note: running under mpirun; this measured thread ranks of one "
                      "process. For MPI: pmc-opt calibrate --communicator mpi, or "
                      "mpirun ... pmc-run --calibrate-collectives and --links\n";
  } catch (const CalibrateError &e) {
    return fail(e.what());
  } catch (const std::exception &e) {
    return fail(std::string("calibrate: ") + e.what());
  }
  if (llvm::Error e = spec.validate())
    return fail("calibrate measured an invalid spec: " + llvm::toString(std::move(e)));
  std::string error;
  auto output = mlir::openOutputFile(outputPath, &error);
  if (!output)
    return fail(error);
  output->os() << mlir::pmc::printDeviceSpec(spec);
  output->keep();
  return 0;
}
