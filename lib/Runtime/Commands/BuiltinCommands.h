//===- BuiltinCommands.h - built-in command factories (internal) ---------===//
#ifndef PMC_LIB_RUNTIME_COMMANDS_BUILTINCOMMANDS_H
#define PMC_LIB_RUNTIME_COMMANDS_BUILTINCOMMANDS_H

#include "pmc/Runtime/Command.h"

#include <map>
#include <string>

namespace pmc::runtime {

std::unique_ptr<Command> makeKernelCommand(const nlohmann::json &object, int index);
std::unique_ptr<Command> makeMatmulCommand(const nlohmann::json &object, int index);
std::unique_ptr<Command> makeConvCommand(const nlohmann::json &object, int index);
std::unique_ptr<Command> makeCopyCommand(const nlohmann::json &object, int index);

/// Adds all_reduce, all_gather, reduce_scatter, all_to_all and shard.
void registerCollectiveCommands(std::map<std::string, CommandFactory> &factories);

/// Adds send and recv (pipeline transfers).
void registerTransferCommands(std::map<std::string, CommandFactory> &factories);

/// Adds the built-in commands (kernel, matmul, conv, copy, collectives,
/// send/recv).
inline void registerBuiltinCommands(std::map<std::string, CommandFactory> &factories) {
  factories["kernel"] = makeKernelCommand;
  factories["matmul"] = makeMatmulCommand;
  factories["conv"] = makeConvCommand;
  factories["copy"] = makeCopyCommand;
  registerCollectiveCommands(factories);
  registerTransferCommands(factories);
}

} // namespace pmc::runtime

#endif // PMC_LIB_RUNTIME_COMMANDS_BUILTINCOMMANDS_H
