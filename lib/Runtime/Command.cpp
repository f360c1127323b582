//===- Command.cpp - the command base class and the command registry -------===//

#include "pmc/Runtime/Command.h"
#include "Commands/BuiltinCommands.h"
#include "Json.h"

#include <map>
#include <mutex>

namespace pmc::runtime {

Command::~Command() = default;

std::string Command::where() const {
  return "command " + std::to_string(index) + " (" + std::string(op()) + ")";
}

void Command::fail(const std::string &message) const {
  throw RuntimeError(where() + ": " + message);
}

const BufferDesc &Command::operand(const ValidateContext &ctx, int id,
                                   const std::string &name) const {
  if (id < 0 || id >= static_cast<int>(ctx.buffers.size()))
    fail("operand '" + name + "' refers to buffer " + std::to_string(id) +
         ", which does not exist (the program has " +
         std::to_string(ctx.buffers.size()) + " buffers)");
  return ctx.buffers[id];
}

namespace {
struct Registry {
  std::mutex mutex;
  std::map<std::string, CommandFactory> factories;
};
Registry &registry() {
  static Registry *r = [] {
    auto *reg = new Registry();
    registerBuiltinCommands(reg->factories);
    return reg;
  }();
  return *r;
}
} // namespace

void registerCommand(const std::string &op, CommandFactory factory) {
  Registry &r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.factories[op] = std::move(factory);
}

std::unique_ptr<Command> parseCommand(const nlohmann::json &object, int index) {
  std::string where = "command " + std::to_string(index);
  std::string op = json::getString(object, "op", where);
  CommandFactory factory;
  {
    Registry &r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    auto it = r.factories.find(op);
    if (it == r.factories.end()) {
      std::string known;
      for (const auto &[name, f] : r.factories)
        known += (known.empty() ? "" : ", ") + name;
      throw RuntimeError(where + ": unknown op '" + op + "' (known: " + known + ")");
    }
    factory = it->second;
  }
  return factory(object, index);
}

} // namespace pmc::runtime
