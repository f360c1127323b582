//===- CommandOperands.h - what a validated command means, for executors --===//
//
// A device executor runs the host runtime's commands (Command.h) its own way
// (cuBLASLt, cuDNN, NCCL). It takes what each command means from the
// validated Command, never from the program JSON a second time: the host
// command is the one parser and the one validation of every command kind.
// Each accessor returns nothing for a command of another kind and is valid
// after Command::validate().
//
#ifndef PMC_LIB_RUNTIME_COMMANDS_COMMANDOPERANDS_H
#define PMC_LIB_RUNTIME_COMMANDS_COMMANDOPERANDS_H

#include "pmc/Runtime/Comm/Communicator.h"
#include "pmc/Runtime/Command.h"

#include <optional>
#include <string>
#include <vector>

namespace pmc::runtime {

/// matmul: c = activation(op(a) · op(b) + bias).
struct MatmulOperands {
  int a = 0, b = 0, c = 0, bias = -1;
  bool transA = false, transB = false;
  /// "none", "relu", "gelu" or "gelu_tanh".
  std::string activation = "none";
};
std::optional<MatmulOperands> matmulOperands(const Command &command);

/// conv: strides, pads and dilations with their defaults filled in.
struct ConvOperands {
  int x = 0, w = 0, bias = -1, y = 0;
  std::vector<int64_t> strides, pads, dilations;
  int64_t group = 1;
};
std::optional<ConvOperands> convOperands(const Command &command);

/// shard: this rank's block of `in` (offsets into its shape).
struct ShardOperands {
  std::vector<int64_t> inShape, offsets, outShape;
  size_t elementSize = 0;
};
std::optional<ShardOperands> shardOperands(const Command &command);

/// all_reduce, all_gather, reduce_scatter, all_to_all: the call of this
/// rank, but for its data pointers.
std::optional<CollectiveCall> collectiveCall(const Command &command);

} // namespace pmc::runtime

#endif // PMC_LIB_RUNTIME_COMMANDS_COMMANDOPERANDS_H
