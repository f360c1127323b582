//===- ExplainSVG.cpp - a plan JSON as an SVG devices x stages picture ----===//
#include "pmc/Parallel/Planner.h"

#include "llvm/Support/Error.h"
#include "llvm/Support/FormatVariadic.h"

#include <nlohmann/json.hpp>

using namespace mlir;
using namespace mlir::pmc;
using json = nlohmann::ordered_json;

namespace {

llvm::Error missing(llvm::StringRef field) {
  return llvm::createStringError("plan JSON: missing or invalid field '%s'",
                                 field.str().c_str());
}

std::string escape(llvm::StringRef text) {
  std::string out;
  for (char ch : text) {
    if (ch == '<')
      out += "&lt;";
    else if (ch == '>')
      out += "&gt;";
    else if (ch == '&')
      out += "&amp;";
    else if (ch == '"')
      out += "&quot;";
    else
      out += ch;
  }
  return out;
}

std::string megabytes(double bytes) {
  if (bytes >= 1e9)
    return llvm::formatv("{0:F2} GB", bytes / 1e9);
  return llvm::formatv("{0:F1} MB", bytes / 1e6);
}

int64_t axis(const json &mesh, const char *name) {
  auto it = mesh.find(name);
  return it != mesh.end() && it->is_number_integer() ? it->get<int64_t>() : 1;
}

} // namespace

llvm::Expected<std::string> mlir::pmc::planJSONToSVG(llvm::StringRef planJSON) {
  json plan = json::parse(planJSON.begin(), planJSON.end(), nullptr,
                          /*allow_exceptions=*/false);
  if (plan.is_discarded() || !plan.is_object())
    return llvm::createStringError("plan JSON: not a JSON object");
  auto stagesIt = plan.find("stage_plans");
  if (stagesIt == plan.end() || !stagesIt->is_array() || stagesIt->empty())
    return missing("stage_plans");
  auto meshIt = plan.find("mesh");
  if (meshIt == plan.end() || !meshIt->is_object())
    return missing("mesh");
  int64_t dp = axis(*meshIt, "dp"), tp = axis(*meshIt, "tp");
  int64_t perStage = dp * tp;
  const json &stages = *stagesIt;
  int64_t numStages = static_cast<int64_t>(stages.size());
  // Draw at most 16 devices per stage; more are summarized.
  int64_t shown = std::min<int64_t>(perStage, 16);
  const int cellW = 130, cellH = 78, gapY = 46, left = 20, top = 64, infoW = 300;
  int width = left + shown * cellW + 20 + infoW;
  int height = top + numStages * (cellH + gapY) + 20;

  std::string svg;
  llvm::raw_string_ostream os(svg);
  os << llvm::formatv("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" "
                      "height=\"{1}\" font-family=\"sans-serif\" font-size=\"11\">\n",
                      width, height);
  os << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  std::string meshText;
  for (auto [name, size] : meshIt->items())
    meshText += (meshText.empty() ? "" : " x ") + name + "=" + std::to_string(size.get<int64_t>());
  os << llvm::formatv("<text x=\"{0}\" y=\"22\" font-size=\"15\" font-weight=\"bold\">"
                      "{1} devices: {2}</text>\n",
                      left, plan.value("devices", 0), escape(meshText));
  os << llvm::formatv("<text x=\"{0}\" y=\"42\">{1} stage(s), {2} microbatch(es), schedule "
                      "{3}, bubble {4:F1}%, predicted step {5:F3} ms</text>\n",
                      left, numStages, plan.value("microbatches", 1),
                      escape(plan.value("schedule", std::string("none"))),
                      plan.value("bubble_fraction", 0.0) * 100,
                      plan.contains("predicted")
                          ? plan["predicted"].value("step_time_s", 0.0) * 1e3
                          : 0.0);
  for (int64_t s = 0; s < numStages; ++s) {
    const json &stage = stages[s];
    if (!stage.is_object() || !stage.contains("layers") || !stage["layers"].is_array() ||
        stage["layers"].size() != 2)
      return missing("stage_plans[" + std::to_string(s) + "].layers");
    int y = top + s * (cellH + gapY);
    int64_t first = stage["layers"][0].get<int64_t>(), last = stage["layers"][1].get<int64_t>();
    double weights = stage.value("weight_bytes", 0.0);
    double memory = stage.value("memory_per_device_bytes", 0.0);
    for (int64_t d = 0; d < shown; ++d) {
      int x = left + d * cellW;
      int64_t rank = s * perStage + d;
      const char *fill = s % 2 ? "#dbe8f6" : "#e3f2df";
      os << llvm::formatv("<rect x=\"{0}\" y=\"{1}\" width=\"{2}\" height=\"{3}\" rx=\"6\" "
                          "fill=\"{4}\" stroke=\"#555\"/>\n",
                          x + 4, y, cellW - 8, cellH, fill);
      std::string coords;
      if (dp > 1)
        coords += " dp" + std::to_string(d / tp);
      if (tp > 1)
        coords += " tp" + std::to_string(d % tp);
      os << llvm::formatv("<text x=\"{0}\" y=\"{1}\" font-weight=\"bold\">rank {2}{3}</text>\n",
                          x + 12, y + 16, rank, escape(coords));
      os << llvm::formatv("<text x=\"{0}\" y=\"{1}\">layers {2}-{3}</text>\n", x + 12, y + 32,
                          first, last);
      os << llvm::formatv("<text x=\"{0}\" y=\"{1}\">weights {2}</text>\n", x + 12, y + 47,
                          megabytes(weights));
      os << llvm::formatv("<text x=\"{0}\" y=\"{1}\">memory {2}</text>\n", x + 12, y + 62,
                          megabytes(memory));
    }
    int infoX = left + shown * cellW + 12;
    os << llvm::formatv("<text x=\"{0}\" y=\"{1}\" font-weight=\"bold\">stage {2}{3}</text>\n",
                        infoX, y + 16, s,
                        shown < perStage ? " (" + std::to_string(perStage) + " devices, " +
                                               std::to_string(shown) + " drawn)"
                                         : std::string());
    os << llvm::formatv("<text x=\"{0}\" y=\"{1}\">{2} collectives per microbatch "
                        "(over {3})</text>\n",
                        infoX, y + 34, stage.value("collectives", 0),
                        tp > 1 ? "tp" : (dp > 1 ? "dp" : "none"));
    os << llvm::formatv("<text x=\"{0}\" y=\"{1}\">step {2:F3} ms per microbatch</text>\n",
                        infoX, y + 52, stage.value("step_time_s", 0.0) * 1e3);
    if (s + 1 < numStages) {
      int yArrow = y + cellH + 4;
      for (int64_t d = 0; d < shown; ++d) {
        int x = left + d * cellW + cellW / 2;
        os << llvm::formatv("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" "
                            "stroke=\"#c0392b\" stroke-width=\"2\"/>\n"
                            "<polygon points=\"{3},{2} {4},{2} {0},{5}\" fill=\"#c0392b\"/>\n",
                            x, yArrow, yArrow + gapY - 16, x - 5, x + 5, yArrow + gapY - 9);
      }
      os << llvm::formatv("<text x=\"{0}\" y=\"{1}\" fill=\"#c0392b\">send/recv {2} per "
                          "device per microbatch ({3:F3} ms)</text>\n",
                          infoX, yArrow + gapY / 2, megabytes(stage.value("send_bytes", 0.0)),
                          stage.value("send_s", 0.0) * 1e3);
    }
  }
  os << "</svg>\n";
  return svg;
}
