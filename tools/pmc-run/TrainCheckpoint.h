//===- TrainCheckpoint.h - the training checkpoint (.pmct) -----*- C++ -*-===//
//
// One format for Trainer.save / pmc.load_training and pmc-run --save /
// --resume (python/pmc/_checkpoint.py writes and reads the same): a zip of
//
//   manifest.json   {"format": "pmc-training-checkpoint", "version": 1,
//                    "step": T, "parameters": [...], "buffers": [...],
//                    "states": [...], "arrays": {name: {"file", "dtype",
//                    "shape"[, "sha256"]}}, ...}
//   arrays/N.npy    every array the manifest lists
//   model.onnx      the forward model (Trainer.save only)
//
// Each member is CRC-32 checked on reading (as bundle sections are); the
// manifest's dtype and shape are checked against each array. Arrays hold
// full (unsharded) values, so a checkpoint loads at any device count.
//
#ifndef PMC_TOOLS_PMC_RUN_TRAINCHECKPOINT_H
#define PMC_TOOLS_PMC_RUN_TRAINCHECKPOINT_H

#include "pmc/Runtime/Session.h"

#include <string>

namespace pmc::run {

/// Writes `session`'s state (every state input, full values) and `step`.
/// Under mpirun every process calls it: the shards are gathered on rank 0
/// (Session::gatherState), which writes the file.
void writeTrainCheckpoint(const std::string &path, runtime::Session &session, int64_t step);
/// Sets `session`'s state from the checkpoint at `path` and returns its
/// step. Throws std::runtime_error naming the file and what is wrong (not a
/// checkpoint, a damaged member, a state the bundle keeps that it lacks).
int64_t readTrainCheckpoint(const std::string &path, runtime::Session &session);

} // namespace pmc::run

#endif // PMC_TOOLS_PMC_RUN_TRAINCHECKPOINT_H
