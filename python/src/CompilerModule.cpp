//===- CompilerModule.cpp - pmc._compiler: compile models from Python ------===//
//
//   from pmc import _compiler
//   o = _compiler.CompileOptions()
//   o.devices = 4
//   o.mesh = [("dp", 2), ("tp", 2)]
//   o.shardings = [("fc1_w_0", [[], ["tp"]]), ("x", [["dp"]])]
//   o.bind("shape", numpy.array([2, 32]))
//   _compiler.compile("mlp.onnx", "mlp4.pmc", o)
//   text = _compiler.import_model("mlp.onnx", _compiler.CompileOptions())
//
// The options are pmc::CompileOptions itself, field for field: an option is
// declared once, in pmc/Driver/Compiler.h, and bound here; pmc.compile() is
// its documented Python face. Failures raise pmc._compiler.CompileError (a
// RuntimeError) whose message is the compiler's diagnostics
// (`file:line:col: error: ...`).
//
#include "DLPackTypes.h"
#include "pmc/Driver/Compiler.h"

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/set.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <cstring>
#include <stdexcept>

/// The diagnostics without their trailing newline, or `fallback`.
static std::string message(std::string diagnostics, const std::string &fallback) {
  while (!diagnostics.empty() && diagnostics.back() == '\n')
    diagnostics.pop_back();
  return diagnostics.empty() ? fallback : diagnostics;
}

namespace nb = nanobind;
using namespace nb::literals;

namespace {
/// Raised to Python as pmc._compiler.CompileError.
class CompileError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

using BoundArray = nb::ndarray<nb::ro, nb::c_contig, nb::device::cpu>;

/// Copies `array` into the options as the constant value of input `name`.
void bindInput(pmc::CompileOptions &options, const std::string &name, BoundArray array) {
  std::optional<pmc::DType> dtype = pmc::python::fromDlpack(array.dtype());
  if (!dtype)
    throw CompileError("bind['" + name + "']: an array of an element type pmc lacks");
  pmc::HostTensor tensor;
  tensor.dtype = *dtype;
  for (size_t d = 0; d < array.ndim(); ++d)
    tensor.shape.push_back(static_cast<int64_t>(array.shape(d)));
  tensor.data.resize(array.size() * pmc::dtypeSize(*dtype));
  if (!tensor.data.empty())
    std::memcpy(tensor.data.data(), array.data(), tensor.data.size());
  options.import.boundInputs[name] = std::move(tensor);
}

/// Fails with CompileError on values no flag parser would have let through.
void checkOptions(const pmc::CompileOptions &options) {
  std::string error;
  if (!pmc::checkMeshAndShardings(options, error))
    throw CompileError(error);
  for (const auto &[name, shape] : options.import.inputShapes)
    for (int64_t d : shape)
      if (d < 0)
        throw CompileError("input_shapes['" + name + "']: dimensions must be non-negative");
}

void compile(const std::string &modelPath, const std::string &bundlePath,
             const pmc::CompileOptions &options) {
  checkOptions(options);
  std::string diagnostics;
  bool ok;
  {
    nb::gil_scoped_release release;
    ok = pmc::compileModelFile(modelPath, bundlePath, options, diagnostics);
  }
  if (!ok)
    throw CompileError(message(diagnostics, "compilation of '" + modelPath + "' failed"));
}

std::string planModel(const std::string &modelPath, const pmc::CompileOptions &options) {
  checkOptions(options);
  std::string json, diagnostics;
  bool ok;
  {
    nb::gil_scoped_release release;
    ok = pmc::planModelFile(modelPath, options, json, diagnostics);
  }
  if (!ok)
    throw CompileError(message(diagnostics, "planning of '" + modelPath + "' failed"));
  return json;
}

std::string importModel(const std::string &modelPath, const pmc::CompileOptions &options) {
  checkOptions(options);
  std::string text, diagnostics;
  bool ok;
  {
    nb::gil_scoped_release release;
    ok = pmc::importModelToText(modelPath, options.import, text, diagnostics);
  }
  if (!ok)
    throw CompileError(message(diagnostics, "import of '" + modelPath + "' failed"));
  return text;
}
} // namespace

NB_MODULE(_compiler, m) {
  using pmc::CompileOptions;
  m.doc() = "pmc's compiler: ONNX or pmc-dialect .mlir models to bundles";
  nb::exception<CompileError>(m, "CompileError", PyExc_RuntimeError);
  // Each field is documented where it is declared (pmc/Driver/Compiler.h)
  // and, for users, in pmc.compile's docstring.
  nb::class_<CompileOptions>(m, "CompileOptions",
                             "pmc::CompileOptions: what pmc-opt compile's flags set.")
      .def(nb::init<>())
      .def_rw("target", &CompileOptions::target)
      .def_rw("devices", &CompileOptions::devices)
      .def_rw("mesh", &CompileOptions::mesh)
      .def_rw("shardings", &CompileOptions::shardings)
      .def_rw("plan", &CompileOptions::plan)
      .def_rw("device_spec", &CompileOptions::deviceSpec)
      .def_rw("dtype", &CompileOptions::dtype)
      .def_rw("stages", &CompileOptions::stages)
      .def_rw("microbatches", &CompileOptions::microbatches)
      .def_rw("bucket_bytes", &CompileOptions::bucketBytes)
      .def_rw("schedule", &CompileOptions::schedule)
      .def_prop_rw(
          "input_shapes", [](const CompileOptions &o) { return o.import.inputShapes; },
          [](CompileOptions &o, const std::map<std::string, std::vector<int64_t>> &shapes) {
            o.import.inputShapes = shapes;
          })
      .def_prop_rw(
          "sequence_lengths",
          [](const CompileOptions &o) { return o.import.sequenceLengths; },
          [](CompileOptions &o, const std::map<std::string, int64_t> &lengths) {
            o.import.sequenceLengths = lengths;
          })
      .def_prop_rw(
          "absent", [](const CompileOptions &o) { return o.import.absentInputs; },
          [](CompileOptions &o, const std::set<std::string> &names) {
            o.import.absentInputs = names;
          })
      .def_prop_rw(
          "cpu", [](const CompileOptions &o) { return o.cpu.cpu; },
          [](CompileOptions &o, const std::string &cpu) { o.cpu.cpu = cpu; })
      .def_prop_rw(
          "parameters", [](const CompileOptions &o) { return o.import.parameters; },
          [](CompileOptions &o, const std::set<std::string> &names) {
            o.import.parameters = names;
          })
      .def_prop_rw(
          "loss",
          [](const CompileOptions &o) {
            return o.import.loss ? ::pmc::formatLossSpec(*o.import.loss) : std::string();
          },
          [](CompileOptions &o, const std::string &text) {
            ::pmc::LossSpec spec;
            std::string error;
            if (!::pmc::parseLossSpec(text, spec, error))
              throw nb::value_error(error.c_str());
            o.import.loss = spec;
          })
      .def_prop_rw(
          "train_initializers",
          [](const CompileOptions &o) { return o.import.trainInitializers; },
          [](CompileOptions &o, bool on) { o.import.trainInitializers = on; })
      .def_prop_rw(
          "frozen", [](const CompileOptions &o) { return o.import.frozen; },
          [](CompileOptions &o, const std::set<std::string> &names) {
            o.import.frozen = names;
          })
      .def(
          "set_train",
          [](CompileOptions &o, const std::string &optimizer, double momentum,
             double dampening, bool nesterov, double beta1, double beta2, double eps,
             double weightDecay, double gradClip, int zero, double lossScale,
             int64_t growthInterval) {
            o.train = {true, optimizer, momentum, dampening, nesterov, beta1,
                       beta2, eps, weightDecay, gradClip, zero};
            o.train.lossScale = lossScale;
            o.train.lossScaleGrowthInterval = growthInterval;
          },
          "optimizer"_a, "momentum"_a = 0.0, "dampening"_a = 0.0, "nesterov"_a = false,
          "beta1"_a = 0.9, "beta2"_a = 0.999, "eps"_a = 1e-8, "weight_decay"_a = 0.0,
          "grad_clip"_a = 0.0, "zero"_a = -1, "loss_scale"_a = -1.0,
          "loss_scale_growth_interval"_a = 2000,
          "Compiles a train step (pmc-train-step) with this optimizer.")
      .def("bind", &bindInput, "name"_a, "value"_a,
           "Specializes input `name` to the constant `value` (an array, copied).");
  m.def("compile", &compile, "model_path"_a, "bundle_path"_a, "options"_a,
        "Compiles the model at model_path (.onnx, or .mlir in the pmc dialect) "
        "into the bundle bundle_path. Raises CompileError with the diagnostics.");
  m.def("plan", &planModel, "model_path"_a, "options"_a,
        "Runs only the planner (pmc-opt compile --emit plan) and returns the plan "
        "JSON text. Raises CompileError with the diagnostics.");
  m.def("import_model", &importModel, "model_path"_a, "options"_a,
        "Imports a model (input_shapes and bound inputs of `options`) and returns "
        "it as pmc-dialect MLIR text. Raises CompileError with the diagnostics.");
}
