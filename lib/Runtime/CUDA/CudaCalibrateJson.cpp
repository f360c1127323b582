//===- CudaCalibrateJson.cpp - a GPU's measurements as device-spec JSON ----===//

#include "pmc/Runtime/CUDA/CudaCalibrate.h"

#include <nlohmann/json.hpp>

namespace pmc::runtime::cuda {

std::string cudaCalibrationJson(const CudaDeviceCalibration &c) {
  nlohmann::json peaks = nlohmann::json::object();
  nlohmann::json notes = nlohmann::json::object();
  double f32 = 0;
  for (const CudaGemmPeak &g : c.gemms) {
    if (g.flops > 0)
      peaks[g.dtype] = g.flops;
    if (!g.note.empty())
      notes[g.dtype] = g.note;
    if (g.dtype == "f32")
      f32 = g.flops;
  }
  nlohmann::json out = {{"name", c.deviceName},
                        {"peak_flops", peaks},
                        {"vector_flops", f32},
                        {"memory_bandwidth", c.memoryBandwidth},
                        {"memory_bytes", c.memoryBytes},
                        {"launch_overhead", c.launchOverhead},
                        {"device", {{"index", c.device}, {"name", c.deviceName}}}};
  if (!notes.empty())
    out["notes"] = notes;
  return out.dump(2) + "\n";
}

} // namespace pmc::runtime::cuda
