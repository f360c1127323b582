//===- TrainLoop.h - pmc-run --train: steps of a train-step bundle -*- C++ -*-===//
//
//   pmc-run train.pmc --train --inputs batches.npz --steps 100 --save ckpt.pmct
//   pmc-run train.pmc --train --inputs batches.npz --steps 100 --resume ckpt.pmct
//
// The bundle's parameters start at their initial values (or a checkpoint's)
// and stay on the ranks (Session state); each step feeds one batch, pmc.lr
// and pmc.step, and prints a progress line.
//
#ifndef PMC_TOOLS_PMC_RUN_TRAINLOOP_H
#define PMC_TOOLS_PMC_RUN_TRAINLOOP_H

#include "pmc/Runtime/Session.h"

#include <map>
#include <string>

namespace pmc::run {

struct TrainLoopOptions {
  int64_t steps = 1;
  /// pmc.lr; <= 0: the manifest's (`pmc-opt compile --optimizer ...:lr=`).
  double lr = 0;
  /// Training checkpoints (TrainCheckpoint.h: the format of Trainer.save).
  std::string save, resume;
};

/// Runs `options.steps` steps. A feed of an input's shape is the batch of
/// every step; one with an extra leading dimension K holds K batches, step t
/// taking batch (t - 1) mod K. Returns the last step's outputs (on the
/// leader; empty elsewhere). Throws std::runtime_error naming what is wrong.
runtime::NamedOutputs runTrainSteps(runtime::Session &session,
                                    const std::map<std::string, HostTensor> &feeds,
                                    const TrainLoopOptions &options, bool leader);

} // namespace pmc::run

#endif // PMC_TOOLS_PMC_RUN_TRAINLOOP_H
