//===- CalibrateCommand.cpp - `pmc-opt calibrate`: measure a device spec ---===//
//
// Measures this machine and writes a device spec (DeviceSpec.h) that the cost
// model reads: GEMM FLOP/s per dtype (BLAS, best over a few sizes), element-wise
// FLOP/s, memory bandwidth (a triad), per-op dispatch overhead, and the
// bandwidth and latency of collectives through the local (threads)
// communicator. Compiled with exceptions: the runtime reports errors as such.
//
#include "Commands.h"

#include "pmc/Parallel/DeviceSpec.h"
#include "pmc/Runtime/LocalCommunicator.h"

#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

#include <cblas.h>
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

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

/// Seconds of one all_reduce of `elements` float32 over `ranks` thread ranks
/// (the slowest rank's time, best of the repetitions).
double measureLocalAllReduce(int ranks, int64_t elements, int reps) {
  using namespace pmc::runtime;
  auto world = std::make_shared<LocalWorld>(ranks);
  std::vector<int> group(ranks);
  for (int r = 0; r < ranks; ++r)
    group[r] = r;
  std::vector<double> best(ranks, 1e30);
  std::vector<std::thread> threads;
  std::string failure;
  std::mutex failureMutex;
  for (int r = 0; r < ranks; ++r)
    threads.emplace_back([&, r] {
      try {
        LocalCommunicator comm(world, r);
        std::vector<float> in(elements, 1.0f), out(elements);
        CollectiveSite site{"all_reduce", -1, {"calibrate"}};
        for (int i = 0; i < reps + 1; ++i) {
          comm.allReduce(in.data(), out.data(), pmc::DType::Float32, {1}, Reduction::Sum, group,
                         site); // Aligns the ranks before timing.
          auto t0 = Clock::now();
          comm.allReduce(in.data(), out.data(), pmc::DType::Float32, {elements}, Reduction::Sum,
                         group, site);
          double t = std::chrono::duration<double>(Clock::now() - t0).count();
          if (i > 0)
            best[r] = std::min(best[r], t);
        }
      } catch (const std::exception &e) {
        std::lock_guard<std::mutex> lock(failureMutex);
        failure = e.what();
      }
    });
  for (std::thread &t : threads)
    t.join();
  if (!failure.empty())
    throw std::runtime_error("local all_reduce: " + failure);
  return *std::max_element(best.begin(), best.end());
}

/// Fails clearly when no CUDA driver or device is present.
int calibrateCuda() {
  void *driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!driver) {
    llvm::errs() << "error: --target cuda: no CUDA driver found (libcuda.so.1 cannot "
                    "be loaded: "
                 << dlerror() << "); run calibrate on a machine with an NVIDIA GPU and "
                 << "its driver, or use a built-in spec (h100-sxm, h100-pcie, h200, a100)\n";
    return 1;
  }
  using InitFn = int (*)(unsigned);
  using CountFn = int (*)(int *);
  auto init = reinterpret_cast<InitFn>(dlsym(driver, "cuInit"));
  auto count = reinterpret_cast<CountFn>(dlsym(driver, "cuDeviceGetCount"));
  int devices = 0;
  int status = init && count ? init(0) : -1;
  if (status == 0)
    status = count(&devices);
  if (status != 0 || devices == 0) {
    llvm::errs() << "error: --target cuda: no CUDA device found (the driver loaded, "
                 << "but cuInit/cuDeviceGetCount reported "
                 << (status != 0 ? "error " + std::to_string(status)
                                 : std::string("0 devices"))
                 << ")\n";
    return 1;
  }
  llvm::errs() << "error: --target cuda: found " << devices
               << " CUDA device(s), but measuring them needs the CUDA target of pmc, "
               << "which this build does not have; use a built-in spec (h100-sxm, "
               << "h100-pcie, h200, a100) meanwhile\n";
  return 1;
}
} // namespace

int pmc::runCalibrateCommand(int argc, char **argv) {
  cl::opt<std::string> target("target", cl::desc("Device to measure: cpu or cuda"),
                              cl::init("cpu"));
  cl::opt<std::string> outputPath("o", cl::desc("Output spec file (default: stdout)"),
                                  cl::value_desc("file"), cl::init("-"));
  cl::opt<bool> quick("quick", cl::desc("Fewer sizes and repetitions (a few seconds)"),
                      cl::init(false));
  cl::opt<std::string> name("name", cl::desc("Name of the spec written"),
                            cl::init("cpu-calibrated"));
  cl::ParseCommandLineOptions(
      argc, argv,
      "pmc-opt calibrate: measures this machine and writes a device spec (JSON)\n");
  if (target == "cuda")
    return calibrateCuda();
  if (target != "cpu") {
    llvm::errs() << "error: --target " << target << ": unknown (expected cpu or cuda)\n";
    return 1;
  }

  llvm::raw_ostream &os = llvm::errs();
  double budget = quick ? 0.05 : 0.25;
  std::vector<int64_t> sizes = quick ? std::vector<int64_t>{128, 256, 512}
                                     : std::vector<int64_t>{256, 512, 1024, 2048};
  DeviceSpec spec = llvm::cantFail(mlir::pmc::getBuiltinDeviceSpec("cpu"));
  spec.name = name;
  try {
    os << "pmc-opt calibrate --target cpu" << (quick ? " --quick" : "") << "\n";
    GemmResult f32 = measureGemm<float>(sizes, budget, os, "f32");
    GemmResult f64 = measureGemm<double>(sizes, budget, os, "f64");
    spec.peakFlops = {};
    spec.peakFlops[unsigned(PeakDType::F32)] = f32.flops;
    spec.peakFlops[unsigned(PeakDType::F64)] = f64.flops;
    spec.vectorFlops = measureVector(budget);
    spec.memoryBandwidth = measureTriad(quick ? (4 << 20) : (16 << 20), budget * 2);
    spec.launchOverhead = measureDispatch(budget);

    // Collectives between thread ranks: alpha from a 4-byte all_reduce (a
    // ring over 2 ranks takes 2 steps), bandwidth from a large one.
    int reps = quick ? 5 : 20;
    int64_t large = quick ? (1 << 20) : (8 << 20); // float32 elements
    double small = measureLocalAllReduce(2, 1, reps * 4);
    double big = measureLocalAllReduce(2, large, reps);
    double alpha = small / 2;
    double bandwidth = large * 4.0 / std::max(big - 2 * alpha, big * 0.5);
    spec.levels = {{"shared-memory", 0, bandwidth, alpha}};
    os << llvm::format("  f32 gemm peak   %10.2f GFLOP/s (at %lld^3)\n", f32.flops / 1e9,
                       (long long)f32.size)
       << llvm::format("  f64 gemm peak   %10.2f GFLOP/s (at %lld^3)\n", f64.flops / 1e9,
                       (long long)f64.size)
       << llvm::format("  vector          %10.2f GFLOP/s\n", spec.vectorFlops / 1e9)
       << llvm::format("  memory (triad)  %10.2f GB/s\n", spec.memoryBandwidth / 1e9)
       << llvm::format("  dispatch        %10.3f us\n", spec.launchOverhead * 1e6)
       << llvm::format("  all_reduce x2   %10.2f GB/s bus, %.3f us latency (local "
                       "communicator, threads)\n",
                       bandwidth / 1e9, alpha * 1e6);
    if (std::getenv("OMPI_COMM_WORLD_SIZE"))
      os << "  note: running under mpirun, but pmc-opt does not link MPI; only the "
            "local communicator was measured\n";
  } catch (const std::exception &e) {
    llvm::errs() << "error: calibrate: " << e.what() << "\n";
    return 1;
  }
  if (llvm::Error e = spec.validate()) {
    llvm::errs() << "error: calibrate measured an invalid spec: "
                 << llvm::toString(std::move(e)) << "\n";
    return 1;
  }
  std::string error;
  auto output = mlir::openOutputFile(outputPath, &error);
  if (!output) {
    llvm::errs() << "error: " << error << "\n";
    return 1;
  }
  output->os() << mlir::pmc::printDeviceSpec(spec);
  output->keep();
  return 0;
}
