//===- Command.h - one step of a rank program -------------------*- C++ -*-===//
//
// Every command (kernel, matmul, conv, copy, the collectives) is a small
// class: parsed from its JSON object, validated against the buffer table
// before anything runs, then executed on the buffers' data pointers.
//
#ifndef PMC_RUNTIME_COMMAND_H
#define PMC_RUNTIME_COMMAND_H

#include "pmc/Runtime/Buffer.h"

#include <nlohmann/json_fwd.hpp>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace pmc::runtime {

class Communicator;
class KernelLibrary;
struct Mesh;
struct PipelineSpec;

/// What a command may look at while validating.
struct ValidateContext {
  const std::vector<BufferDesc> &buffers;
  /// The kernel library, or null when the bundle has none.
  const KernelLibrary *kernels;
  /// The bundle's mesh and the rank whose program this is (collectives
  /// derive their groups from them).
  const Mesh &mesh;
  int rank = 0;
  /// The manifest's pipeline (send/recv need one), or null.
  const PipelineSpec *pipeline = nullptr;
};

/// What a command gets while executing.
struct ExecContext {
  /// Data pointers of every buffer, by id; 64-byte aligned.
  void *const *buffers;
  /// Scratch memory of at least the command's scratchBytes(), 64-byte aligned.
  void *scratch;
  /// This rank's communicator (collectives and messages).
  Communicator &comm;
  /// Pipeline bundles: the microbatch this step runs (send/recv derive their
  /// wire tags from it); 0 otherwise.
  int64_t microbatch = 0;
};

class Command {
public:
  explicit Command(int index) : index(index) {}
  virtual ~Command();

  /// The "op" of the JSON object: "matmul", "kernel", ...
  virtual std::string_view op() const = 0;
  /// Buffers the command reads and writes (for liveness and validation).
  virtual std::vector<int> reads() const = 0;
  virtual std::vector<int> writes() const = 0;
  /// Checks operands (existence, dtypes, shapes, sizes, symbols) and caches
  /// what execute() needs. Throws RuntimeError naming the command.
  virtual void validate(const ValidateContext &ctx) = 0;
  /// Scratch memory execute() needs (valid after validate()).
  virtual size_t scratchBytes() const { return 0; }
  /// Runs the command. Only called after a successful validate().
  virtual void execute(const ExecContext &ctx) const = 0;

  /// "command 3 (matmul)", the prefix of every message about this command.
  std::string where() const;
  /// Throws RuntimeError("<where()>: <message>").
  [[noreturn]] void fail(const std::string &message) const;
  /// The buffer `id` named by operand `operand`, checked to exist.
  const BufferDesc &operand(const ValidateContext &ctx, int id,
                            const std::string &operand) const;

  /// Position in the command list.
  const int index;
};

/// Builds a command from its JSON object; throws RuntimeError naming the
/// command and the field at fault.
using CommandFactory =
    std::function<std::unique_ptr<Command>(const nlohmann::json &, int index)>;

/// Registers the factory of commands whose "op" is `op` (the built-in ones are
/// registered already; collectives and device executors add theirs).
void registerCommand(const std::string &op, CommandFactory factory);
/// The "op" of every collective command (all_reduce, ..., shard), in the
/// order they are registered: what a plan summary counts as communication.
const std::vector<std::string> &collectiveCommandOps();
/// Parses one command object, dispatching on its "op".
std::unique_ptr<Command> parseCommand(const nlohmann::json &object, int index);

} // namespace pmc::runtime

#endif // PMC_RUNTIME_COMMAND_H
