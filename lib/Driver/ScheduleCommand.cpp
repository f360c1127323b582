//===- ScheduleCommand.cpp - `pmc-opt schedule`: a pipeline schedule shown -===//
//
// Builds a pipeline schedule (pmc/Schedule/PipelineSchedule.h), plays it on
// stage times given in the command line (Timeline.h) and prints what the
// planner would see: each rank's actions, the step time, the bubble fraction
// and the activations each rank holds at its peak, next to the closed forms;
// --svg draws the timeline.
//
//   pmc-opt schedule --schedule zb-h1 --stages 4 --microbatches 8 --svg zb.svg
//   rank 0: F0 send F0>r1 F1 send F1>r1 ... W7
//   ...
//   step 27 (F 1, B 1, W 1 per microbatch and stage), bubble 11.1% (closed form 11.1%)
//   peak activations per rank (microbatches): 4 4 4 4 (closed form 4)
//
// Compiled with exceptions: the schedule library reports errors as such.
//
#include "Commands.h"

#include "pmc/Schedule/PipelineSchedule.h"
#include "pmc/Schedule/Timeline.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>

namespace cl = llvm::cl;
using namespace pmc::schedule;

int pmc::runScheduleCommand(int argc, char **argv) {
  cl::opt<std::string> kindName("schedule",
                                cl::desc("gpipe, 1f1b (default), interleaved or zb-h1"),
                                cl::init("1f1b"));
  cl::opt<int64_t> ranks("stages", cl::desc("Pipeline ranks (stages, or with "
                                            "--virtual-stages ranks of v stages each)"),
                         cl::Required);
  cl::opt<int64_t> microbatches("microbatches", cl::desc("Microbatches (default: --stages)"),
                                cl::init(0));
  cl::opt<int64_t> virtualStages(
      "virtual-stages", cl::desc("Stages per rank (interleaved; default 2 there, else 1)"),
      cl::init(0));
  cl::opt<std::string> times(
      "times",
      cl::desc("Seconds of one microbatch on one rank's share of the model: forward, "
               "backward (input gradient) and weight gradient, as F,B,W (default 1,1,1); "
               "a chunk of an interleaved rank takes 1/v of them; schedules that do not "
               "split the backward run B and W as one"),
      cl::value_desc("F,B,W"), cl::init("1,1,1"));
  cl::opt<double> transfer("transfer",
                           cl::desc("Seconds for an activation or gradient to reach the next "
                                    "rank (default 0)"),
                           cl::init(0));
  cl::opt<bool> inference("inference", cl::desc("Forwards only"), cl::init(false));
  cl::opt<std::string> svgPath("svg", cl::desc("Write the timeline as an SVG picture"),
                               cl::value_desc("file.svg"), cl::init(""));
  cl::ParseCommandLineOptions(argc, argv,
                              "pmc-opt schedule: a pipeline schedule's actions and timeline\n");

  auto fail = [&](const llvm::Twine &message) {
    llvm::errs() << "error: " << message << "\n";
    return 1;
  };
  std::optional<ScheduleKind> kind = parseScheduleKind(kindName);
  if (!kind)
    return fail("--schedule " + kindName + ": expected " + scheduleKindChoices());
  int64_t v = virtualStages ? virtualStages.getValue()
                            : (*kind == ScheduleKind::Interleaved ? 2 : 1);
  int64_t m = microbatches ? microbatches.getValue() : ranks.getValue();
  llvm::SmallVector<llvm::StringRef> parts;
  llvm::StringRef(times).split(parts, ',');
  double f = 0, b = 0, w = 0;
  if (parts.size() != 3 || !llvm::to_float(parts[0].trim(), f) ||
      !llvm::to_float(parts[1].trim(), b) || !llvm::to_float(parts[2].trim(), w) || f < 0 ||
      b < 0 || w < 0)
    return fail("--times " + times + ": expected three non-negative numbers F,B,W");
  if (transfer < 0)
    return fail("--transfer must not be negative");

  try {
    PipelineSchedule schedule = PipelineSchedule::create(*kind, ranks, m, v, !inference);
    const double share = 1.0 / static_cast<double>(v);
    Timeline timeline = simulate(
        schedule, StageTimes::uniform(schedule.stages(), f * share, b * share,
                                      inference ? 0 : w * share, transfer));
    llvm::raw_ostream &os = llvm::outs();
    for (int64_t r = 0; r < schedule.ranks(); ++r)
      os << "rank " << r << ": " << PipelineSchedule::toString(schedule.actions(r), v > 1)
         << "\n";
    os << llvm::format("step %g (F %g", timeline.stepSeconds, f);
    if (!inference)
      os << llvm::format(", B %g, W %g", b, w);
    os << " per microbatch and rank";
    if (transfer > 0)
      os << llvm::format(", transfer %g", transfer.getValue());
    os << llvm::format("), bubble %.1f%%", 100 * timeline.bubbleFraction);
    if (!inference)
      os << llvm::format(" (closed form %.1f%%)",
                         100 * bubbleFraction(*kind, ranks, m, v, f, b, w));
    os << "\n";
    if (!inference) { // a forward-only pipeline keeps no activations
      os << "peak activations per rank (microbatches):";
      for (int64_t chunks : timeline.peakInFlight)
        os << " " << llvm::format("%g", static_cast<double>(chunks) * share);
      os << llvm::format(" (closed form %g)\n", inFlightMicrobatches(*kind, ranks, m, v));
    }
    if (!svgPath.empty()) {
      std::error_code ec;
      llvm::raw_fd_ostream file(svgPath, ec, llvm::sys::fs::OF_Text);
      if (ec)
        return fail("--svg " + svgPath + ": " + ec.message());
      file << renderTimelineSVG(schedule, timeline);
    }
  } catch (const ScheduleError &e) {
    return fail(e.what());
  }
  return 0;
}
