//===- RuntimeModule.cpp - pmc._runtime: run bundles from Python -----------===//
//
//   from pmc._runtime import Session
//   s = Session("model.pmc")            # all ranks, as threads
//   s.inputs                            # [("x", "float32", (1, 4))]
//   out = s.run({"x": x})               # {"y": numpy.ndarray}
//   b = Bundle("model.pmc")             # the container, read-only
//   b.sections                          # [("manifest", 128, 913, 0x1c2b...), ...]
//
// Links the runtime only (no LLVM/MLIR, DESIGN.md contract 3).
//
#include "DLPackTypes.h"
#include "pmc/Bundle/Bundle.h"
#include "pmc/Runtime/Command.h"
#include "pmc/Runtime/Session.h"

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <map>

namespace nb = nanobind;
using namespace nb::literals;
using namespace pmc;
using namespace pmc::runtime;
using namespace pmc::python;

namespace {

using FeedArray = nb::ndarray<nb::ro, nb::c_contig, nb::device::cpu>;

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

/// The bytes of `arr`, borrowed (`what` names it in errors).
TensorRef borrow(const FeedArray &arr, const std::string &what) {
  std::optional<DType> dtype = fromDlpack(arr.dtype());
  if (!dtype)
    throw FeedError(what + ": unsupported dtype (DLPack code " +
                    std::to_string(arr.dtype().code) + ", " +
                    std::to_string(arr.dtype().bits) + " bits)");
  TensorRef ref;
  ref.dtype = *dtype;
  for (size_t d = 0; d < arr.ndim(); ++d)
    ref.shape.push_back(static_cast<int64_t>(arr.shape(d)));
  ref.data = arr.data();
  ref.bytes = arr.size() * dtypeSize(*dtype);
  return ref;
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
      refs[name] = borrow(arr, "input '" + name + "'");
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

  void setState(const std::string &name, FeedArray value) {
    TensorRef ref = borrow(value, "state '" + name + "'");
    nb::gil_scoped_release release;
    session->setState(name, ref);
  }

  nb::object getState(const std::string &name) {
    HostTensor value;
    {
      nb::gil_scoped_release release;
      value = session->getState(name);
    }
    return toNumpy(std::move(value));
  }

  std::unique_ptr<Session> session;
};

/// Python face of bundle::BundleReader: the one parser of the container
/// (pmc.BundleInfo is a view over it).
class PyBundle {
public:
  explicit PyBundle(const std::string &path) : reader(bundle::BundleReader::open(path)) {}

  nb::list sections() const {
    nb::list out;
    for (const auto &s : reader->sections())
      out.append(nb::make_tuple(s.name, s.offset, s.size, s.crc32));
    return out;
  }

  /// The bytes of section `name`, after its checksum is checked.
  nb::bytes section(const std::string &name) const {
    std::string_view bytes = reader->section(name);
    return nb::bytes(bytes.data(), bytes.size());
  }

  /// Names of the sections whose CRC-32 does not match, in table order.
  std::vector<std::string> corruptSections() const {
    std::vector<std::string> bad;
    for (const std::string &name : reader->sectionNames()) {
      try {
        (void)reader->section(name);
      } catch (const bundle::BundleError &) {
        bad.push_back(name);
      }
    }
    return bad;
  }

  std::unique_ptr<bundle::BundleReader> reader;
};

} // namespace

NB_MODULE(_runtime, m) {
  m.doc() = "pmc runtime: open a compiled bundle (model.pmc) and run it on numpy "
            "arrays. Links no LLVM/MLIR.";
  // Translators run most recent first: FeedError (a RuntimeError in C++)
  // must be registered after RuntimeError to win.
  nb::exception<RuntimeError>(m, "Error", PyExc_RuntimeError);
  nb::exception<FeedError>(m, "FeedError", PyExc_ValueError);
  nb::exception<bundle::BundleError>(m, "BundleError", PyExc_ValueError);

  m.def("collective_commands", &collectiveCommandOps,
        "The ops of the runtime's collective commands (all_reduce, ..., shard).");

  nb::class_<PyBundle>(m, "Bundle",
                       "A bundle file opened read-only (docs/design/bundle.md): header,\n"
                       "section table and layout validated on open, each section's\n"
                       "checksum when it is read. Raises BundleError (a ValueError)\n"
                       "naming the file and the section at fault.")
      .def(nb::init<const std::string &>(), "path"_a)
      .def_prop_ro("format_version", [](const PyBundle &) { return bundle::kFormatVersion; })
      .def_prop_ro("sections", &PyBundle::sections,
                   "(name, offset, size, crc32) per section, in table order.")
      .def_prop_ro("table_range",
                   [](const PyBundle &b) {
                     return nb::make_tuple(bundle::kHeaderSize, b.reader->tableSize());
                   },
                   "(offset, size) of the section table in the file.")
      .def("section", &PyBundle::section, "name"_a,
           "The bytes of section `name` (its checksum checked).")
      .def("corrupt_sections", &PyBundle::corruptSections,
           "Names of the sections whose checksum does not match.");

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
      .def(
          "memory_use",
          [](const PySession &s, int rank) {
            pmc::runtime::MemoryUse use = s.session->memoryUse(rank);
            nb::dict d;
            d["arena"] = use.arena;
            d["state"] = use.state;
            d["inputs"] = use.inputs;
            d["other"] = use.other;
            d["total"] = use.total();
            return d;
          },
          nb::arg("rank"),
          "Host bytes rank `rank` holds while it runs: {arena, state, inputs, other, total}.")
      .def_prop_ro("rank", [](const PySession &s) { return s.session->rank(); })
      .def_prop_ro("producer",
                   [](const PySession &s) { return s.session->manifest().producer; })
      .def_prop_ro("target", [](const PySession &s) { return s.session->manifest().target; })
      .def_prop_ro("devices",
                   [](const PySession &s) { return s.session->manifest().devices; })
      .def_prop_ro("state_names",
                   [](const PySession &s) { return s.session->stateNames(); },
                   "A train step's state inputs (parameters, optimizer state), which "
                   "the session keeps on the ranks across runs.")
      .def("set_state", &PySession::setState, "name"_a, "value"_a,
           "Slices the full value of state input `name` into the ranks' shards.")
      .def("get_state", &PySession::getState, "name"_a,
           "The full value of state input `name`, assembled from the ranks' shards.")
      .def("run", &PySession::run, "feeds"_a,
           "Runs with `feeds` (name -> numpy array of the exact dtype and shape) and "
           "returns {output name: numpy array} in manifest order. Bad feeds raise "
           "pmc._runtime.FeedError (a ValueError).");
}
