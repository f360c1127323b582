//===- KernelCommand.cpp - call a generated kernel of the library ----------===//

#include "BuiltinCommands.h"
#include "../Json.h"
#include "pmc/Runtime/KernelLibrary.h"

namespace pmc::runtime {

namespace {

/// {"op": "kernel", "symbol": s, "inputs": [ids], "outputs": [ids]}:
/// calls `void s(void **args)` with the inputs' then the outputs' pointers.
class KernelCommand : public Command {
public:
  KernelCommand(const nlohmann::json &o, int index) : Command(index) {
    symbol = json::getString(o, "symbol", where());
    inputs = json::getIdList(o, "inputs", where());
    outputs = json::getIdList(o, "outputs", where());
  }
  std::string_view op() const override { return "kernel"; }
  std::vector<int> reads() const override { return inputs; }
  std::vector<int> writes() const override { return outputs; }

  void validate(const ValidateContext &ctx) override {
    for (size_t i = 0; i < inputs.size(); ++i)
      operand(ctx, inputs[i], "inputs[" + std::to_string(i) + "]");
    for (size_t i = 0; i < outputs.size(); ++i)
      operand(ctx, outputs[i], "outputs[" + std::to_string(i) + "]");
    if (!ctx.kernels)
      fail("calls kernel '" + symbol + "' but the bundle has no kernel library");
    fn = ctx.kernels->lookup(symbol);
    if (!fn)
      fail("symbol '" + symbol + "' is not defined in the kernel library (section '" +
           ctx.kernels->section() + "')");
  }

  void execute(const ExecContext &ctx) const override {
    std::vector<void *> args;
    args.reserve(inputs.size() + outputs.size());
    for (int id : inputs)
      args.push_back(ctx.buffers[id]);
    for (int id : outputs)
      args.push_back(ctx.buffers[id]);
    fn(args.data());
  }

private:
  std::string symbol;
  std::vector<int> inputs, outputs;
  KernelFn fn = nullptr;
};

} // namespace

std::unique_ptr<Command> makeKernelCommand(const nlohmann::json &object, int index) {
  return std::make_unique<KernelCommand>(object, index);
}

} // namespace pmc::runtime
