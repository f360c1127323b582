//===- pmc-run.cpp - run a pmc bundle on .npy/.npz inputs ------------------===//
//
//   pmc-run model.pmc --input x=x.npy --output out.npz --print
//   pmc-run model.pmc --inputs all.npz --output out.npz   # N ranks as threads
//   mpirun -np 4 pmc-run model.pmc --inputs all.npz --output out.npz
//   pmc-run train.pmc --train --inputs batches.npz --steps 100 --save ckpt.pmct
//   pmc-run model.pmc --info
//   mpirun -np 2 pmc-run --calibrate-collectives -o links.json
//   pmc-run --calibrate-device -o gpu.json
//
#include "TrainLoop.h"
#include "pmc/Bundle/Bundle.h"
#include "pmc/Runtime/CUDA/CudaCalibrate.h"
#include "pmc/Runtime/CUDA/CudaRanks.h"
#include "pmc/Runtime/CUDA/NcclCommunicator.h"
#include "pmc/Runtime/Comm/CollectiveBench.h"
#include "pmc/Runtime/Comm/Communicator.h"
#include "pmc/Runtime/RankProgram.h"
#include "pmc/Runtime/Session.h"
#include "pmc/Runtime/Comm/TcpCommunicator.h"
#include "pmc/Support/Npy.h"
#ifdef PMC_HAVE_MPI
#include "pmc/Runtime/Comm/MPICommunicator.h"
#endif

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

using namespace pmc;

namespace {

const char *kUsage =
    "usage: pmc-run BUNDLE [options]\n"
    "\n"
    "Runs a pmc bundle (model.pmc) on inputs from .npy/.npz files.\n"
    "\n"
    "options:\n"
    "  --input NAME=FILE.npy  feed graph input NAME from an .npy file (repeatable)\n"
    "  --inputs FILE.npz      feed every graph input from one .npz (keys = names)\n"
    "  --output FILE.npz      write the outputs to an .npz keyed by output name\n"
    "  --rank R               the rank whose program --info describes (default 0)\n"
    "  --communicator KIND    local: all ranks as threads of this process (the\n"
    "                         default); mpi: one rank per process, under mpirun\n"
    "                         (the default when OMPI_COMM_WORLD_SIZE is set);\n"
    "                         tcp: one rank per process from RANK, WORLD_SIZE,\n"
    "                         MASTER_ADDR, MASTER_PORT (the default when they are\n"
    "                         set with WORLD_SIZE > 1, as torchrun does)\n"
    "  --bootstrap KIND       how a CUDA bundle's NCCL ranks find each other: mpi\n"
    "                         (under mpirun), tcp (RANK, WORLD_SIZE, MASTER_ADDR,\n"
    "                         MASTER_PORT as torchrun sets them) or auto (the\n"
    "                         default: mpi under mpirun, else tcp when RANK is set)\n"
    "  --collective-timeout S seconds a collective waits for the other ranks\n"
    "                         (default $PMC_COLLECTIVE_TIMEOUT, else 60)\n"
    "  --device N             cuda bundles: the GPU of rank 0 (threads: rank r on\n"
    "                         N + r); default LOCAL_RANK or rank % GPUs under\n"
    "                         mpirun, else 0\n"
    "  --virtual-ranks        cuda bundles: run all ranks as threads on one GPU\n"
    "                         (collectives staged through host memory)\n"
    "  --no-cuda-graphs       cuda bundles: do not capture the program as a CUDA\n"
    "                         graph for repeated runs\n"
    "  --print                print each output's name, dtype, shape, first values\n"
    "  --train                run a train step's bundle (pmc-opt compile --train) for\n"
    "                         --steps steps, printing step, loss and samples/s; its\n"
    "                         parameters stay on the ranks. A feed of an input's\n"
    "                         shape is every step's batch; with an extra leading\n"
    "                         dimension K it holds K batches, used in turn\n"
    "  --steps N              --train: steps to run (default 1)\n"
    "  --lr X                 --train: the learning rate (default: the bundle's)\n"
    "  --save FILE.pmct       --train: write a training checkpoint (parameters,\n"
    "                         buffers, optimizer state, step) after the last step\n"
    "  --resume FILE.pmct     --train: start from a checkpoint of --save or\n"
    "                         Trainer.save (at any device count: full tensors)\n"
    "  --info                 print the bundle's manifest summary and exit\n"
    "  -h, --help             show this help\n"
    "\n"
    "calibration (no bundle; docs/design/cost-model.md):\n"
    "  --calibrate-collectives  time all_reduce, all_gather, reduce_scatter and\n"
    "                         all_to_all through this run's communicator and write\n"
    "                         their alpha-beta fits and the link level (JSON, rank 0,\n"
    "                         to -o FILE or stdout) for pmc-opt calibrate --links\n"
    "  --ranks N              local communicator: N thread ranks (default 2)\n"
    "  --name LEVEL           the level's name (default: shared-memory for local,\n"
    "                         else the communicator: mpi, tcp)\n"
    "  --calibrate-device     measure GPU --device (default 0): GEMM FLOP/s per dtype\n"
    "                         (cuBLASLt), memory bandwidth; writes device-spec JSON\n"
    "  --quick                fewer sizes and repetitions (a few seconds)\n"
    "\n"
    "A bundle of N devices runs its N ranks; under mpirun each process runs one\n"
    "rank and rank 0 writes --output and --print.\n"
    "\n"
    "examples:\n"
    "  pmc-run model.pmc --input x=x.npy --output out.npz --print\n"
    "  mpirun -np 4 pmc-run model.pmc --inputs in.npz --output out.npz\n";

struct Options {
  std::string bundle;
  std::vector<std::pair<std::string, std::string>> inputs;
  std::vector<std::string> npzInputs;
  std::string output;
  int rank = 0;
  std::string communicator; // "", "local" or "mpi"
  std::string bootstrap = "auto"; // NCCL: "auto", "mpi" or "tcp"
  double timeout = 0;       // 0: the default
  bool print = false, info = false, help = false;
  int device = -1;
  bool virtualRanks = false, cudaGraphs = true;
  // Calibration (no bundle).
  bool calibrateCollectives = false, calibrateDevice = false, quick = false;
  int ranks = 0; // 0: not given
  std::string levelName;
  // Training (TrainLoop.h).
  bool train = false;
  bool trainFlags = false; // any of --steps, --lr, --save, --resume
  pmc::run::TrainLoopOptions training;
};

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The calibration flags go with no bundle and with each other only so far as
/// they make sense.
void checkCalibrateArgs(const Options &o) {
  if (o.calibrateCollectives && o.calibrateDevice)
    throw UsageError("--calibrate-collectives and --calibrate-device are separate runs; "
                     "give one");
  bool calibrating = o.calibrateCollectives || o.calibrateDevice;
  if (calibrating && !o.bundle.empty())
    throw UsageError("--calibrate-" + std::string(o.calibrateDevice ? "device" : "collectives") +
                     " runs no bundle, but '" + o.bundle + "' was given");
  if (o.ranks && !o.calibrateCollectives)
    throw UsageError("--ranks goes with --calibrate-collectives (a bundle fixes its ranks)");
  if (!o.levelName.empty() && !o.calibrateCollectives)
    throw UsageError("--name goes with --calibrate-collectives");
  if (o.quick && !calibrating)
    throw UsageError("--quick goes with --calibrate-collectives or --calibrate-device");
}

Options parseArgs(int argc, char **argv) {
  Options o;
  auto value = [&](int &i, const std::string &flag) -> std::string {
    if (i + 1 >= argc)
      throw UsageError(flag + " needs a value");
    return argv[++i];
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string inlineValue;
    bool hasInline = false;
    if (a.rfind("--", 0) == 0 && a.find('=') != std::string::npos &&
        a.rfind("--input=", 0) != 0) {
      // --output=out.npz style.
      inlineValue = a.substr(a.find('=') + 1);
      a = a.substr(0, a.find('='));
      hasInline = true;
    } else if (a.rfind("--input=", 0) == 0) {
      inlineValue = a.substr(8);
      a = "--input";
      hasInline = true;
    }
    auto next = [&]() { return hasInline ? inlineValue : value(i, a); };
    if (a == "-h" || a == "--help") {
      o.help = true;
    } else if (a == "--input") {
      std::string spec = next();
      size_t eq = spec.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
        throw UsageError("--input expects NAME=FILE.npy, got '" + spec + "'");
      o.inputs.emplace_back(spec.substr(0, eq), spec.substr(eq + 1));
    } else if (a == "--inputs") {
      o.npzInputs.push_back(next());
    } else if (a == "--output" || a == "-o") {
      o.output = next();
    } else if (a == "--rank") {
      std::string v = next();
      char *end = nullptr;
      long r = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end || r < 0 || r > 1 << 20)
        throw UsageError("--rank expects a non-negative integer, got '" + v + "'");
      o.rank = static_cast<int>(r);
    } else if (a == "--communicator") {
      o.communicator = next();
      if (o.communicator != "local" && o.communicator != "mpi" && o.communicator != "tcp")
        throw UsageError("--communicator expects 'local', 'mpi' or 'tcp', got '" +
                         o.communicator + "'");
    } else if (a == "--bootstrap") {
      o.bootstrap = next();
      if (!runtime::cuda::parseNcclBootstrap(o.bootstrap))
        throw UsageError("--bootstrap expects 'auto', 'mpi' or 'tcp', got '" + o.bootstrap +
                         "'");
    } else if (a == "--collective-timeout") {
      std::string v = next();
      char *end = nullptr;
      double t = std::strtod(v.c_str(), &end);
      if (v.empty() || *end || !(t > 0) || !std::isfinite(t))
        throw UsageError("--collective-timeout expects a positive number of seconds, got '" +
                         v + "'");
      o.timeout = t;
    } else if (a == "--device") {
      std::string v = next();
      char *end = nullptr;
      long d = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end || d < 0 || d > 1 << 16)
        throw UsageError("--device expects a non-negative integer, got '" + v + "'");
      o.device = static_cast<int>(d);
    } else if (a == "--virtual-ranks") {
      o.virtualRanks = true;
    } else if (a == "--no-cuda-graphs") {
      o.cudaGraphs = false;
    } else if (a == "--calibrate-collectives") {
      o.calibrateCollectives = true;
    } else if (a == "--calibrate-device") {
      o.calibrateDevice = true;
    } else if (a == "--quick") {
      o.quick = true;
    } else if (a == "--ranks") {
      std::string v = next();
      char *end = nullptr;
      long r = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end || r < 2 || r > 1024)
        throw UsageError("--ranks expects an integer from 2 to 1024, got '" + v + "'");
      o.ranks = static_cast<int>(r);
    } else if (a == "--name") {
      o.levelName = next();
      if (o.levelName.empty())
        throw UsageError("--name expects a non-empty level name");
    } else if (a == "--train") {
      o.train = true;
    } else if (a == "--steps") {
      std::string v = next();
      char *end = nullptr;
      long long n = std::strtoll(v.c_str(), &end, 10);
      if (v.empty() || *end || n < 1)
        throw UsageError("--steps expects a positive integer, got '" + v + "'");
      o.training.steps = n;
      o.trainFlags = true;
    } else if (a == "--lr") {
      std::string v = next();
      char *end = nullptr;
      double lr = std::strtod(v.c_str(), &end);
      if (v.empty() || *end || !(lr > 0) || !std::isfinite(lr))
        throw UsageError("--lr expects a positive number, got '" + v + "'");
      o.training.lr = lr;
      o.trainFlags = true;
    } else if (a == "--save") {
      o.training.save = next();
      o.trainFlags = true;
    } else if (a == "--resume") {
      o.training.resume = next();
      o.trainFlags = true;
    } else if (a == "--print") {
      o.print = true;
    } else if (a == "--info") {
      o.info = true;
    } else if (a.rfind("-", 0) == 0 && a.size() > 1) {
      throw UsageError("unknown option '" + a + "' (see --help)");
    } else if (o.bundle.empty()) {
      o.bundle = a;
    } else {
      throw UsageError("unexpected argument '" + a + "' (one bundle only)");
    }
  }
  checkCalibrateArgs(o);
  if (o.trainFlags && !o.train)
    throw UsageError("--steps, --lr, --save and --resume go with --train");
  if (!o.help && o.bundle.empty() && !o.calibrateCollectives && !o.calibrateDevice)
    throw UsageError("no bundle given (see --help)");
  return o;
}

void printInfo(const runtime::Session &s) {
  const runtime::Manifest &m = s.manifest();
  std::cout << "bundle:   " << s.devices() << " rank(s); rank " << s.rank() << ": "
            << s.program().buffers().size() << " buffers, "
            << s.program().commands().size() << " commands\n"
            << "producer: " << m.producer << "\n"
            << "target:   " << m.target << "\n";
  if (const KernelTarget *cpu = s.kernelTarget()) {
    std::cout << "kernels:  CPU " << cpu->cpu << " (";
    for (size_t i = 0; i < cpu->features.size(); ++i)
      std::cout << (i ? " " : "") << cpu->features[i];
    std::cout << (cpu->features.empty() ? "no ISA extensions recorded" : "") << ")\n";
  }
  std::cout << "devices:  " << m.devices << "\n"
            << "mesh:     " << m.meshJson << "\n";
  if (m.pipeline)
    std::cout << "pipeline: " << m.pipeline->stages << " stage(s) over axis '"
              << m.pipeline->axis << "', " << m.pipeline->microbatches << " microbatch(es), "
              << schedule::scheduleKindName(m.pipeline->schedule) << "; rank " << s.rank()
              << " is stage " << m.stageOf(s.rank()) << "\n";
  std::cout << "arena:    " << s.arenaBytes() << " bytes (temps without reuse: "
            << s.tempBytes() << " bytes)\n"
            << "inputs:\n";
  for (const runtime::TensorSpec &t : m.inputs)
    std::cout << "  " << t.toString() << (t.microbatched ? " (microbatched)" : "") << "\n";
  std::cout << "outputs:\n";
  for (const runtime::TensorSpec &t : m.outputs) {
    std::cout << "  " << t.toString();
    if (m.pipeline)
      std::cout << " (stage " << t.stage << (t.microbatched ? ", microbatched" : "") << ")";
    std::cout << "\n";
  }
}

/// --info of a cuda bundle: validated and described (by the leader) without
/// a GPU. Returns false for other targets.
bool printCudaInfo(const Options &o, bool leader) {
  std::unique_ptr<bundle::BundleReader> reader;
  runtime::Manifest m;
  std::string program;
  try {
    reader = bundle::BundleReader::open(o.bundle);
    m = runtime::Manifest::parse(reader->section("manifest"));
    if (m.target != "cuda")
      return false;
    program = runtime::cuda::describeCudaProgram(m, *reader, o.rank);
    if (!leader)
      return true;
  } catch (const bundle::BundleError &e) {
    throw runtime::RuntimeError(e.what());
  } catch (const runtime::RuntimeError &e) {
    throw runtime::RuntimeError(o.bundle + ": " + e.what());
  }
  std::cout << "bundle:   " << m.devices << " rank(s); " << program
            << "producer: " << m.producer << "\n"
            << "target:   " << m.target << "\n"
            << "devices:  " << m.devices << "\n"
            << "mesh:     " << m.meshJson << "\n"
            << "inputs:\n";
  for (const runtime::TensorSpec &t : m.inputs)
    std::cout << "  " << t.toString() << "\n";
  std::cout << "outputs:\n";
  for (const runtime::TensorSpec &t : m.outputs)
    std::cout << "  " << t.toString() << "\n";
  return true;
}

template <typename T> double at(const HostTensor &t, int64_t i) {
  T v;
  std::memcpy(&v, t.data.data() + i * sizeof(T), sizeof(T));
  return static_cast<double>(v);
}

/// IEEE half bits to double.
double halfToDouble(uint16_t h) {
  int exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  double sign = (h & 0x8000) ? -1.0 : 1.0;
  if (exponent == 0)
    return sign * std::ldexp(mantissa, -24);
  if (exponent == 31)
    return mantissa ? NAN : sign * INFINITY;
  return sign * std::ldexp(mantissa + 1024, exponent - 25);
}

/// bfloat16 bits to double (the upper half of a float32).
double bfloat16ToDouble(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

/// Element i of `t` as a double.
bool valueAt(const HostTensor &t, int64_t i, double &out) {
  switch (t.dtype) {
  case DType::Bool: out = t.data[i] != 0; return true;
  case DType::Int8: out = at<int8_t>(t, i); return true;
  case DType::Int16: out = at<int16_t>(t, i); return true;
  case DType::Int32: out = at<int32_t>(t, i); return true;
  case DType::Int64: out = at<int64_t>(t, i); return true;
  case DType::UInt8: out = at<uint8_t>(t, i); return true;
  case DType::UInt16: out = at<uint16_t>(t, i); return true;
  case DType::UInt32: out = at<uint32_t>(t, i); return true;
  case DType::UInt64: out = at<uint64_t>(t, i); return true;
  case DType::Float32: out = at<float>(t, i); return true;
  case DType::Float64: out = at<double>(t, i); return true;
  case DType::Float16: out = halfToDouble(static_cast<uint16_t>(at<uint16_t>(t, i))); return true;
  case DType::BFloat16:
    out = bfloat16ToDouble(static_cast<uint16_t>(at<uint16_t>(t, i)));
    return true;
  }
  return false;
}

void printOutput(const std::string &name, const HostTensor &t) {
  std::cout << name << ": " << dtypeName(t.dtype) << shapeToString(t.shape) << " [";
  int64_t n = t.numElements(), shown = std::min<int64_t>(n, 8);
  for (int64_t i = 0; i < shown; ++i) {
    double v;
    if (i)
      std::cout << ", ";
    if (valueAt(t, i, v))
      std::cout << v;
    else
      std::cout << "?";
  }
  std::cout << (n > shown ? ", ...]" : "]") << "\n";
}

/// The communicator of this process: MPI when asked or under mpirun, TCP
/// when asked or under torchrun-style variables, else none (the Session runs
/// every rank as a thread).
std::shared_ptr<runtime::Communicator> makeCommunicator(const Options &o, int *argc,
                                                        char ***argv) {
  bool underMpirun = false;
#ifdef PMC_HAVE_MPI
  underMpirun = runtime::MPICommunicator::launchedByMpirun();
#endif
  bool tcp = o.communicator == "tcp";
  if (!tcp && o.communicator.empty() && o.bootstrap != "mpi" && !underMpirun &&
      runtime::RendezvousConfig::environmentPresent()) {
    runtime::RendezvousConfig config = runtime::RendezvousConfig::fromEnvironment();
    tcp = config.worldSize > 1 || o.bootstrap == "tcp";
  }
  if (tcp) {
    runtime::RendezvousConfig config = runtime::RendezvousConfig::fromEnvironment();
    if (o.timeout > 0)
      config.timeoutSeconds = o.timeout;
    return runtime::TcpCommunicator::create(config);
  }
#ifdef PMC_HAVE_MPI
  bool mpi = o.communicator == "mpi" || o.bootstrap == "mpi" ||
             (o.communicator.empty() && runtime::MPICommunicator::launchedByMpirun());
  if (mpi)
    return runtime::MPICommunicator::create(argc, argv);
#else
  if (o.communicator == "mpi")
    throw std::runtime_error("--communicator mpi: this pmc-run was built without MPI");
  if (o.bootstrap == "mpi")
    throw std::runtime_error("--bootstrap mpi: this pmc-run was built without MPI");
#endif
  return nullptr;
}

/// Writes `text` to `path` ("" = stdout).
void writeText(const std::string &path, const std::string &text) {
  if (path.empty()) {
    std::cout << text;
    return;
  }
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out.flush())
    throw std::runtime_error("cannot write '" + path + "'");
}

/// --calibrate-collectives: the collective bench through `comm` (MPI or TCP
/// processes), or through --ranks thread ranks of the local communicator.
int runCalibrateCollectives(const Options &o, const std::shared_ptr<runtime::Communicator> &comm) {
  runtime::CollectiveBenchOptions options =
      o.quick ? runtime::CollectiveBenchOptions::quick() : runtime::CollectiveBenchOptions();
  std::string kind = "local";
  runtime::CollectiveBenchResult result;
  if (comm) {
    kind = dynamic_cast<runtime::TcpCommunicator *>(comm.get()) ? "tcp" : "mpi";
    if (o.ranks && o.ranks != comm->size())
      throw std::runtime_error("--ranks " + std::to_string(o.ranks) + " differs from the " +
                               std::to_string(comm->size()) + " " + kind +
                               " processes (--ranks is for the local communicator)");
    if (comm->size() < 2)
      throw std::runtime_error("--calibrate-collectives: the " + kind +
                               " communicator has 1 rank; start 2 or more (mpirun -np 2 "
                               "pmc-run ..., or WORLD_SIZE=2 for tcp)");
    if (o.timeout > 0)
      comm->setTimeout(o.timeout);
    result = runtime::runCollectiveBench(*comm, options);
  } else {
    result = runtime::runLocalCollectiveBench(o.ranks ? o.ranks : 2, options);
  }
  if (comm && comm->rank() != 0)
    return 0;
  std::string level = !o.levelName.empty() ? o.levelName
                      : kind == "local"    ? std::string("shared-memory")
                                           : kind;
  char line[160];
  for (const runtime::CollectiveFit &fit : result.collectives) {
    std::snprintf(line, sizeof line, "  %-15s %10.3f GB/s bus, %9.3f us per step\n",
                  runtime::collectiveKindName(fit.kind), fit.fit.bandwidth / 1e9,
                  fit.fit.alpha * 1e6);
    std::cerr << line;
  }
  std::snprintf(line, sizeof line, "  level '%s' (%s, %d ranks): %.3f GB/s, %.3f us\n",
                level.c_str(), kind.c_str(), result.ranks, result.level.bandwidth / 1e9,
                result.level.alpha * 1e6);
  std::cerr << line;
  writeText(o.output, runtime::collectiveBenchJson(result, kind, level));
  return 0;
}

/// --calibrate-device: GEMM peaks and memory bandwidth of one GPU.
int runCalibrateDevice(const Options &o) {
  runtime::cuda::CudaDeviceCalibration c =
      runtime::cuda::calibrateCudaDevice(o.device < 0 ? 0 : o.device, o.quick);
  char line[160];
  std::snprintf(line, sizeof line, "  %s (device %d): %.1f GB/s memory, %.2f us per op\n",
                c.deviceName.c_str(), c.device, c.memoryBandwidth / 1e9,
                c.launchOverhead * 1e6);
  std::cerr << line;
  for (const runtime::cuda::CudaGemmPeak &g : c.gemms) {
    std::snprintf(line, sizeof line, "  %-5s gemm %8.1f TFLOP/s (at %lld^3)%s%s\n",
                  g.dtype.c_str(), g.flops / 1e12, static_cast<long long>(g.size),
                  g.note.empty() ? "" : " ", g.note.c_str());
    std::cerr << line;
  }
  writeText(o.output, runtime::cuda::cudaCalibrationJson(c));
  return 0;
}

int runMain(const Options &o, const std::shared_ptr<runtime::Communicator> &comm) {
  if (o.calibrateCollectives)
    return runCalibrateCollectives(o, comm);
  if (o.calibrateDevice)
    return runCalibrateDevice(o);
  if (o.info && printCudaInfo(o, !comm || comm->rank() == 0))
    return 0;
  runtime::SessionOptions options;
  options.communicator = comm;
  options.collectiveTimeout = o.timeout;
  options.bootstrap = o.bootstrap;
  options.rank = comm && o.rank == 0 ? comm->rank() : o.rank;
  options.device = o.device;
  options.virtualRanks = o.virtualRanks;
  options.cudaGraphs = o.cudaGraphs;
  auto session = runtime::Session::open(o.bundle, options);
  bool leader = !comm || comm->rank() == 0;
  if (o.info) {
    if (leader)
      printInfo(*session);
    return 0;
  }
  std::map<std::string, HostTensor> feeds;
  auto add = [&](const std::string &name, HostTensor t, const std::string &from) {
    if (!feeds.emplace(name, std::move(t)).second)
      throw std::runtime_error("input '" + name + "' is given twice (again in " + from +
                               ")");
  };
  for (const std::string &npz : o.npzInputs)
    for (auto &[name, t] : npy::readNpz(npz))
      add(name, std::move(t), npz);
  for (const auto &[name, file] : o.inputs)
    add(name, npy::readNpy(file), file);
  runtime::NamedOutputs outputs = o.train
                                      ? pmc::run::runTrainSteps(*session, feeds, o.training, leader)
                                      : session->run(feeds);
  if (!leader)
    return 0; // rank 0 holds the assembled outputs
  if (o.print)
    for (const auto &[name, t] : outputs)
      printOutput(name, t);
  if (!o.output.empty())
    npy::writeNpz(o.output, outputs);
  return 0;
}

} // namespace

/// Prints "error: <message>" with one write, so that the lines of several MPI
/// ranks sharing one stderr do not interleave mid-line.
static void printError(const std::string &message) {
  std::string line = "error: " + message + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

int main(int argc, char **argv) {
  Options o;
  try {
    o = parseArgs(argc, argv);
    if (o.help) {
      std::cout << kUsage;
      return 0;
    }
  } catch (const std::exception &e) {
    printError(e.what());
    return 1;
  }
  std::shared_ptr<runtime::Communicator> comm;
  try {
    comm = makeCommunicator(o, &argc, &argv);
    int code = runMain(o, comm);
    // Without MPI's job abort, the processes agree on the outcome: a rank
    // that finished its part still fails when another rank failed.
    if (auto *tcp = dynamic_cast<runtime::TcpCommunicator *>(comm.get());
        tcp && tcp->size() > 1) {
      try {
        // Ranks finish at different times (rank 0 assembles the outputs): wait
        // long, but not forever; a rank that dies is seen at once (EOF).
        if (!std::getenv("PMC_RENDEZVOUS_TIMEOUT"))
          tcp->rendezvous().setTimeout(std::max(300.0, 10 * tcp->timeout()));
        tcp->rendezvous().barrier("the end of the run");
      } catch (const std::exception &e) {
        std::optional<std::string> why = tcp->failure();
        throw std::runtime_error(why ? *why : e.what());
      }
    }
    return code;
  } catch (const std::exception &e) {
    if (comm && comm->size() > 1)
      printError("rank " + std::to_string(comm->rank()) + ": " + e.what());
    else
      printError(e.what());
#ifdef PMC_HAVE_MPI
    // Peers may be blocked in MPI calls that can no longer complete.
    if (auto *mpi = dynamic_cast<runtime::MPICommunicator *>(comm.get());
        mpi && mpi->size() > 1) {
      mpi->abort(e.what());
      mpi->terminate(1);
    }
#endif
    // TCP peers learn of the failure from this frame (or from the EOF).
    if (auto *tcp = dynamic_cast<runtime::TcpCommunicator *>(comm.get());
        tcp && tcp->size() > 1 && !tcp->failure())
      tcp->abort(e.what());
    return 1;
  }
}
