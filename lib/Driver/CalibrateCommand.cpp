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
#include "Calibrate.h"
#include "Commands.h"

#include "pmc/Parallel/DeviceSpec.h"
#include "pmc/Runtime/CUDA/CudaCalibrate.h"
#include "pmc/Runtime/Comm/CollectiveBench.h"

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

using namespace pmc::calibrate;

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
