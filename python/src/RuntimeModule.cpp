//===- RuntimeModule.cpp - pmc._runtime: run bundles from Python -----------===//
//
//   from pmc._runtime import Session
//   s = Session("model.pmc")            # all ranks, as threads
//   s.inputs                            # [("x", "float32", (1, 4))]
//   out = s.run({"x": x})               # {"y": numpy.ndarray}
//
// Links the runtime only (no LLVM/MLIR, DESIGN.md contract 3).
//
#include "pmc/Runtime/Session.h"

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>

#include <map>

namespace nb = nanobind;
using namespace nb::literals;
using namespace pmc;
using namespace pmc::runtime;

namespace {

using FeedArray = nb::ndarray<nb::ro, nb::c_contig, nb::device::cpu>;

/// The pmc dtype of a DLPack dtype, if pmc has one.
std::optional<DType> fromDlpack(nb::dlpack::dtype t) {
  using Code = nb::dlpack::dtype_code;
  if (t.lanes != 1)
    return std::nullopt;
  switch (static_cast<Code>(t.code)) {
  case Code::Bool:
    return t.bits == 8 ? std::optional(DType::Bool) : std::nullopt;
  case Code::Int:
    switch (t.bits) {
    case 8: return DType::Int8;
    case 16: return DType::Int16;
    case 32: return DType::Int32;
    case 64: return DType::Int64;
    }
    return std::nullopt;
  case Code::UInt:
    switch (t.bits) {
    case 8: return DType::UInt8;
    case 16: return DType::UInt16;
    case 32: return DType::UInt32;
    case 64: return DType::UInt64;
    }
    return std::nullopt;
  case Code::Float:
    switch (t.bits) {
    case 16: return DType::Float16;
    case 32: return DType::Float32;
    case 64: return DType::Float64;
    }
    return std::nullopt;
  case Code::Bfloat:
    return t.bits == 16 ? std::optional(DType::BFloat16) : std::nullopt;
  default:
    return std::nullopt;
  }
}

nb::dlpack::dtype toDlpack(DType d) {
  using Code = nb::dlpack::dtype_code;
  auto make = [](Code c, int bits) {
    nb::dlpack::dtype t;
    t.code = static_cast<uint8_t>(c);
    t.bits = static_cast<uint8_t>(bits);
    t.lanes = 1;
    return t;
  };
  switch (d) {
  case DType::Bool: return make(Code::Bool, 8);
  case DType::Int8: return make(Code::Int, 8);
  case DType::Int16: return make(Code::Int, 16);
  case DType::Int32: return make(Code::Int, 32);
  case DType::Int64: return make(Code::Int, 64);
  case DType::UInt8: return make(Code::UInt, 8);
  case DType::UInt16: return make(Code::UInt, 16);
  case DType::UInt32: return make(Code::UInt, 32);
  case DType::UInt64: return make(Code::UInt, 64);
  case DType::Float16: return make(Code::Float, 16);
  case DType::BFloat16: return make(Code::Bfloat, 16);
  case DType::Float32: return make(Code::Float, 32);
  case DType::Float64: return make(Code::Float, 64);
  }
  return make(Code::Float, 32);
}

nb::list specList(const std::vector<TensorSpec> &specs) {
  nb::list out;
  for (const TensorSpec &s : specs) {
    nb::list dims;
    for (int64_t d : s.shape)
      dims.append(d);
    out.append(nb::make_tuple(s.name, std::string(dtypeName(s.dtype)), nb::tuple(dims)));
  }
  return out;
}

/// A numpy array that owns `tensor`'s bytes (moved, not copied).
nb::object toNumpy(HostTensor &&tensor) {
  auto *owned = new HostTensor(std::move(tensor));
  nb::capsule owner(owned, [](void *p) noexcept { delete static_cast<HostTensor *>(p); });
  std::vector<size_t> shape(owned->shape.begin(), owned->shape.end());
  nb::ndarray<nb::numpy> arr(owned->data.data(), shape.size(), shape.data(), owner,
                             nullptr,
                             // numpy has no bfloat16: results are uint16 bit patterns.
                             toDlpack(owned->dtype == DType::BFloat16 ? DType::UInt16
                                                                      : owned->dtype));
  return arr.cast();
}

/// Python face of runtime::Session.
class PySession {
public:
  PySession(const std::string &path, int rank, double collectiveTimeout, bool virtualRanks,
            int device, bool cudaGraphs) {
    SessionOptions options;
    options.rank = rank;
    options.collectiveTimeout = collectiveTimeout;
    options.virtualRanks = virtualRanks;
    options.device = device;
    options.cudaGraphs = cudaGraphs;
    session = Session::open(path, options);
  }

  nb::dict run(nb::dict feeds) {
    std::vector<FeedArray> arrays;
    arrays.reserve(feeds.size());
    std::map<std::string, TensorRef> refs;
    for (auto [key, value] : feeds) {
      if (!nb::isinstance<nb::str>(key))
        throw FeedError("feed names must be str, got " +
                        std::string(nb::str(key.type()).c_str()));
      std::string name = nb::cast<std::string>(key);
      FeedArray arr;
      if (!nb::try_cast(value, arr, /*convert=*/true))
        throw FeedError("input '" + name + "': expected a numpy.ndarray, got " +
                        std::string(nb::str(value.type()).c_str()));
      std::optional<DType> dtype = fromDlpack(arr.dtype());
      if (!dtype)
        throw FeedError("input '" + name + "': unsupported dtype " +
                        std::string(nb::str(value.attr("dtype")).c_str()));
      TensorRef ref;
      ref.dtype = *dtype;
      for (size_t d = 0; d < arr.ndim(); ++d)
        ref.shape.push_back(static_cast<int64_t>(arr.shape(d)));
      ref.data = arr.data();
      ref.bytes = arr.size() * dtypeSize(*dtype);
      refs[name] = std::move(ref);
      arrays.push_back(std::move(arr));
    }
    NamedOutputs outputs;
    {
      nb::gil_scoped_release release;
      outputs = session->run(refs);
    }
    nb::dict result;
    for (auto &[name, tensor] : outputs)
      result[nb::str(name.c_str())] = toNumpy(std::move(tensor));
    return result;
  }

  std::unique_ptr<Session> session;
};

} // namespace

NB_MODULE(_runtime, m) {
  m.doc() = "pmc runtime: open a compiled bundle (model.pmc) and run it on numpy "
            "arrays. Links no LLVM/MLIR.";
  // Translators run most recent first: FeedError (a RuntimeError in C++)
  // must be registered after RuntimeError to win.
  nb::exception<RuntimeError>(m, "Error", PyExc_RuntimeError);
  nb::exception<FeedError>(m, "FeedError", PyExc_ValueError);

  nb::class_<PySession>(m, "Session",
                        "An opened, fully validated bundle. run() runs every rank of a\n"
                        "multi-device bundle as a thread, slicing the feeds into shards and\n"
                        "assembling the full outputs.\n\n"
                        "    s = Session('model.pmc')\n"
                        "    out = s.run({'x': x})  # dict of numpy arrays")
      .def(nb::init<const std::string &, int, double, bool, int, bool>(), "path"_a,
           "rank"_a = 0, "collective_timeout"_a = 0.0, "virtual_ranks"_a = false,
           "device"_a = -1, "cuda_graphs"_a = true,
           "Opens and validates `path` (raises pmc._runtime.Error, a RuntimeError, "
           "naming what is wrong). `rank` picks the rank that arena_bytes and temp_bytes "
           "describe; `collective_timeout` (seconds, 0 = $PMC_COLLECTIVE_TIMEOUT or 60) "
           "bounds each collective's wait for the other ranks. cuda bundles "
           "(docs/design/cuda-runtime.md): `virtual_ranks` runs every rank as a thread "
           "on one GPU, `device` is the GPU of rank 0 (-1: device 0), `cuda_graphs` "
           "captures each rank program as a CUDA graph for repeated runs.")
      .def_prop_ro("inputs",
                   [](const PySession &s) { return specList(s.session->inputs()); },
                   "Graph inputs as (name, dtype, shape) tuples.")
      .def_prop_ro("outputs",
                   [](const PySession &s) { return specList(s.session->outputs()); },
                   "Graph outputs as (name, dtype, shape) tuples, in result order.")
      .def_prop_ro("arena_bytes", [](const PySession &s) { return s.session->arenaBytes(); },
                   "Bytes of the temp arena after liveness-based reuse.")
      .def_prop_ro("temp_bytes", [](const PySession &s) { return s.session->tempBytes(); },
                   "Bytes all temps would take without reuse.")
      .def_prop_ro("rank", [](const PySession &s) { return s.session->rank(); })
      .def_prop_ro("producer",
                   [](const PySession &s) { return s.session->manifest().producer; })
      .def_prop_ro("target", [](const PySession &s) { return s.session->manifest().target; })
      .def_prop_ro("devices",
                   [](const PySession &s) { return s.session->manifest().devices; })
      .def("run", &PySession::run, "feeds"_a,
           "Runs with `feeds` (name -> numpy array of the exact dtype and shape) and "
           "returns {output name: numpy array} in manifest order. Bad feeds raise "
           "pmc._runtime.FeedError (a ValueError).");
}
