//===- CompilerModule.cpp - pmc._compiler: compile models from Python ------===//
//
//   from pmc import _compiler
//   _compiler.compile("mlp.onnx", "mlp.pmc", "cpu", 1, {"x": [1, 128]})
//   _compiler.compile("mlp.onnx", "mlp4.pmc", "cpu", 4, {}, mesh="dp=2,tp=2",
//                     shards=["fc1_w_0=tp", "x=dp"])
//   text = _compiler.import_model("mlp.onnx", {})    # the pmc dialect
//
// Failures raise pmc._compiler.CompileError (a RuntimeError) whose message is
// the compiler's diagnostics (`file:line:col: error: ...`).
//
#include "pmc/Driver/Compiler.h"

#include <nanobind/nanobind.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

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

using ShapeMap = std::map<std::string, std::vector<int64_t>>;

using BindMap = std::map<std::string, std::string>;

pmc::ImportOptions importOptions(const ShapeMap &inputShapes, const BindMap &bind) {
  pmc::ImportOptions options;
  std::vector<std::string> bindings;
  for (const auto &[name, path] : bind)
    bindings.push_back(name + "=" + path);
  std::string error;
  if (!pmc::parseBindings(bindings, options, error))
    throw CompileError(error);
  for (const auto &[name, shape] : inputShapes) {
    for (int64_t d : shape)
      if (d < 0)
        throw CompileError("input_shapes['" + name +
                           "']: dimensions must be non-negative");
    options.inputShapes[name] = shape;
  }
  return options;
}

void compile(const std::string &modelPath, const std::string &bundlePath,
             const std::string &target, int devices, const ShapeMap &inputShapes,
             const std::string &cpu, const BindMap &bind, const std::string &mesh,
             const std::vector<std::string> &shards, const std::string &plan,
             const std::string &deviceSpec, const std::string &dtype, int stages,
             int microbatches, const std::string &schedule) {
  pmc::CompileOptions options;
  options.target = target;
  options.devices = devices;
  options.dtype = dtype;
  options.plan = plan;
  options.deviceSpec = deviceSpec;
  options.stages = stages;
  options.microbatches = microbatches;
  options.schedule = schedule;
  std::string error;
  if ((!mesh.empty() && !pmc::parseMesh(mesh, options, error)) ||
      !pmc::parseShardings(shards, options, error))
    throw CompileError(error);
  options.import = importOptions(inputShapes, bind);
  options.cpu.cpu = cpu;
  std::string diagnostics;
  bool ok;
  {
    nb::gil_scoped_release release;
    ok = pmc::compileModelFile(modelPath, bundlePath, options, diagnostics);
  }
  if (!ok)
    throw CompileError(message(diagnostics, "compilation of '" + modelPath + "' failed"));
}

std::string planModel(const std::string &modelPath, int devices, const std::string &target,
                      const std::string &deviceSpec, const ShapeMap &inputShapes,
                      const BindMap &bind) {
  pmc::CompileOptions options;
  options.target = target;
  options.devices = devices;
  options.deviceSpec = deviceSpec;
  options.import = importOptions(inputShapes, bind);
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

std::string importModel(const std::string &modelPath, const ShapeMap &inputShapes,
                        const BindMap &bind) {
  pmc::ImportOptions options = importOptions(inputShapes, bind);
  std::string text, diagnostics;
  bool ok;
  {
    nb::gil_scoped_release release;
    ok = pmc::importModelToText(modelPath, options, text, diagnostics);
  }
  if (!ok)
    throw CompileError(message(diagnostics, "import of '" + modelPath + "' failed"));
  return text;
}
} // namespace

NB_MODULE(_compiler, m) {
  m.doc() = "pmc's compiler: ONNX or pmc-dialect .mlir models to bundles";
  nb::exception<CompileError>(m, "CompileError", PyExc_RuntimeError);
  m.def("compile", &compile, "model_path"_a, "bundle_path"_a, "target"_a = "cpu",
        "devices"_a = 1, "input_shapes"_a = ShapeMap(), "cpu"_a = "host", "bind"_a = BindMap(),
        "mesh"_a = "", "shards"_a = std::vector<std::string>(), "plan"_a = "auto",
        "device_spec"_a = "", "dtype"_a = "fp32", "stages"_a = 0, "microbatches"_a = 1,
        "schedule"_a = "1f1b",
        "Compiles the model at model_path (.onnx, or .mlir in the pmc dialect) "
        "into the bundle bundle_path. input_shapes maps dynamic inputs to static "
        "shapes, e.g. {'x': [1, 128]}; cpu is the LLVM CPU the kernels target "
        "('host' or e.g. 'x86-64-v2'); bind maps inputs to .npy files whose values "
        "replace them; mesh ('dp=2,tp=2') and shards (['w_fc=,tp', 'x=dp']) are "
        "pmc-opt's --mesh and --shard; plan ('auto' or 'default') and device_spec "
        "are --plan and --device-spec; dtype ('fp32', 'bf16' or 'fp16') is --dtype; "
        "stages, microbatches and schedule ('gpipe' or '1f1b') are --stages, "
        "--microbatches and --schedule (a pipeline, docs/design/pipeline.md). Raises "
        "CompileError with the diagnostics.");
  m.def("plan", &planModel, "model_path"_a, "devices"_a, "target"_a = "cpu",
        "device_spec"_a = "", "input_shapes"_a = ShapeMap(), "bind"_a = BindMap(),
        "Runs only the planner (pmc-opt compile --emit plan) and returns the plan "
        "JSON text. Raises CompileError with the diagnostics.");
  m.def("import_model", &importModel, "model_path"_a, "input_shapes"_a = ShapeMap(),
        "bind"_a = BindMap(),
        "Imports a model and returns it as pmc-dialect MLIR text. Raises "
        "CompileError with the diagnostics.");
}
