//===- CopyCommand.cpp - copy the bytes of one buffer into another ---------===//

#include "BuiltinCommands.h"
#include "../Json.h"

#include <cstring>

namespace pmc::runtime {

namespace {

/// {"op": "copy", "from": id, "to": id}: same byte size, any dtypes.
class CopyCommand : public Command {
public:
  CopyCommand(const nlohmann::json &o, int index) : Command(index) {
    from = json::getId(o, "from", where());
    to = json::getId(o, "to", where());
  }
  std::string_view op() const override { return "copy"; }
  std::vector<int> reads() const override { return {from}; }
  std::vector<int> writes() const override { return {to}; }

  void validate(const ValidateContext &ctx) override {
    const BufferDesc &src = operand(ctx, from, "from");
    const BufferDesc &dst = operand(ctx, to, "to");
    if (src.bytes != dst.bytes)
      fail("'from' " + src.describe() + " holds " + std::to_string(src.bytes) +
           " bytes but 'to' " + dst.describe() + " holds " + std::to_string(dst.bytes));
    bytes = src.bytes;
  }

  void execute(const ExecContext &ctx) const override {
    if (bytes)
      std::memcpy(ctx.buffers[to], ctx.buffers[from], bytes);
  }

private:
  int from = 0, to = 0;
  size_t bytes = 0;
};

} // namespace

std::unique_ptr<Command> makeCopyCommand(const nlohmann::json &object, int index) {
  return std::make_unique<CopyCommand>(object, index);
}

} // namespace pmc::runtime
