//===- ConvertPrecision.cpp - run weights and compute in bf16 or f16 ------===//
#include "pmc/Dialect/PMC/IR/PMCDialect.h"
#include "pmc/Dialect/PMC/IR/PMCOps.h"
#include "pmc/Dialect/PMC/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/APFloat.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/Support/Debug.h"

#include <cstring>

#define DEBUG_TYPE "pmc-convert-precision"

namespace mlir::pmc {
#define GEN_PASS_DEF_PMCCONVERTPRECISION
#include "pmc/Dialect/PMC/Transforms/Passes.h.inc"
} // namespace mlir::pmc

using namespace mlir;
using namespace mlir::pmc;

/// True for ops declared PMC_KeepsF32 (PMCInterfaces.td), and for ops marked
/// `pmc.keep_f32` (a train step's optimizer update and gradient sums: fp32
/// master weights and optimizer state): they run on f32 operands.
static bool keepsF32(Operation *op) {
  return op->hasTrait<mlir::pmc::KeepsF32>() || op->hasAttr("pmc.keep_f32");
}

static bool isF32Tensor(Type type) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  return tensor && tensor.getElementType().isF32();
}

static RankedTensorType withElement(Type type, Type element) {
  return cast<RankedTensorType>(type).clone(element);
}

/// Rounds `value` to the 16-bit `semantics` (nearest even) and appends the
/// little-endian bytes to `out`.
static void appendNarrow(const APFloat &value, const llvm::fltSemantics &semantics,
                         std::vector<char> &out) {
  APFloat narrow = value;
  bool losesInfo = false;
  narrow.convert(semantics, APFloat::rmNearestTiesToEven, &losesInfo);
  uint16_t bits = static_cast<uint16_t>(narrow.bitcastToAPInt().getZExtValue());
  out.push_back(static_cast<char>(bits & 0xff));
  out.push_back(static_cast<char>(bits >> 8));
}

/// The value of the f32 constant `op` in `element` (bf16 or f16), or null
/// after an error on `op`.
static ElementsAttr narrowConstant(ConstantOp op, FloatType element) {
  auto type = withElement(op.getType(), element);
  const llvm::fltSemantics &semantics = element.getFloatSemantics();
  Attribute value = op.getValue();
  if (auto dense = dyn_cast<DenseElementsAttr>(value)) {
    if (dense.isSplat()) {
      APFloat splat = dense.getSplatValue<APFloat>();
      bool losesInfo = false;
      splat.convert(semantics, APFloat::rmNearestTiesToEven, &losesInfo);
      return DenseElementsAttr::get(type, splat);
    }
    std::vector<char> bytes;
    bytes.reserve(2 * dense.getNumElements());
    for (APFloat v : dense.getValues<APFloat>())
      appendNarrow(v, semantics, bytes);
    return DenseElementsAttr::getFromRawBuffer(type, bytes);
  }
  if (auto resource = dyn_cast<DenseResourceElementsAttr>(value)) {
    AsmResourceBlob *blob = resource.getRawHandle().getBlob();
    if (!blob) {
      op.emitOpError("refers to a dense resource whose bytes are missing "
                     "(elided?): cannot convert the weight to ")
          << element;
      return {};
    }
    ArrayRef<char> data = blob->getData();
    int64_t count = type.getNumElements();
    if (data.size() != static_cast<size_t>(count) * 4) {
      op.emitOpError() << "holds " << data.size() << " bytes, expected "
                       << count * 4 << " for " << op.getType();
      return {};
    }
    std::vector<char> bytes;
    bytes.reserve(2 * count);
    for (int64_t i = 0; i < count; ++i) {
      float f;
      std::memcpy(&f, data.data() + 4 * i, 4);
      appendNarrow(APFloat(f), semantics, bytes);
    }
    std::string name = (resource.getRawHandle().getKey() + "." +
                        (element.isBF16() ? "bf16" : "f16"))
                           .str();
    return DenseResourceElementsAttr::get(
        type, name,
        HeapAsmResourceBlob::allocateAndCopyWithAlign(bytes, alignof(uint16_t)));
  }
  op.emitOpError() << "has a value that cannot be converted to " << element << ": "
                   << value;
  return {};
}

namespace {
struct ConvertPrecision
    : mlir::pmc::impl::PMCConvertPrecisionBase<ConvertPrecision> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *context = module.getContext();
    FloatType element;
    if (dtype == "bf16")
      element = BFloat16Type::get(context);
    else if (dtype == "f16" || dtype == "fp16")
      element = Float16Type::get(context);
    if (!element) {
      module.emitError() << "pmc-convert-precision: dtype '" << dtype
                         << "' is not supported (expected bf16 or f16)";
      return signalPassFailure();
    }
    for (auto func : module.getOps<func::FuncOp>()) {
      if (func.isExternal())
        continue;
      if (failed(convertFunction(func, element)))
        return signalPassFailure();
    }
  }

private:
  /// Rewrites the body of `func`; its signature stays as it is.
  LogicalResult convertFunction(func::FuncOp func, FloatType element) {
    OpBuilder builder(func.getContext());
    SmallVector<CastOp> created;
    // The values this pass turned from f32 into the narrow type (tensors that
    // were narrow in the model already are left as they are).
    llvm::DenseSet<Value> narrowed;
    auto castTo = [&](Location loc, Value v, Type to) {
      auto c = CastOp::create(builder, loc, to, v);
      created.push_back(c);
      if (cast<RankedTensorType>(to).getElementType() == element)
        narrowed.insert(c.getResult());
      return c.getResult();
    };
    // A narrow value as f32: the f32 value it was cast from when there is one
    // (no round trip through the narrow type), else a new cast.
    auto widen = [&](Location loc, Value v) -> Value {
      if (auto from = v.getDefiningOp<CastOp>())
        if (from.getInput().getType() == withElement(v.getType(), builder.getF32Type()))
          return from.getInput();
      return castTo(loc, v, withElement(v.getType(), builder.getF32Type()));
    };

    // Arguments: cast to the narrow type on entry.
    Block &entry = func.getBody().front();
    builder.setInsertionPointToStart(&entry);
    for (BlockArgument arg : entry.getArguments()) {
      if (!isF32Tensor(arg.getType()) || arg.use_empty())
        continue;
      Value narrow = castTo(arg.getLoc(), arg, withElement(arg.getType(), element));
      arg.replaceAllUsesExcept(narrow, narrow.getDefiningOp());
    }

    // Ops in order: every f32 result becomes narrow, except at the ops that
    // keep f32 and at ops of other dialects, which get f32 operands.
    SmallVector<Operation *> ops;
    func.walk([&](Operation *op) {
      if (op != func.getOperation())
        ops.push_back(op);
    });
    llvm::SmallPtrSet<Operation *, 16> casts;
    for (CastOp c : created)
      casts.insert(c);
    for (Operation *op : ops) {
      if (casts.contains(op))
        continue;
      if (auto constant = dyn_cast<ConstantOp>(op)) {
        if (!isF32Tensor(constant.getType()))
          continue;
        // A constant only a train step's f32 ops read stays f32 (an optimizer's
        // beta2 = 0.999 would round to 1 in bf16). Weights stay narrow, even
        // those only KeepsF32 ops read (LayerNorm's scale).
        if (!constant->use_empty() &&
            llvm::all_of(constant->getUsers(),
                         [](Operation *user) { return user->hasAttr("pmc.keep_f32"); }))
          continue;
        ElementsAttr value =
            typesOnly ? DenseElementsAttr::get(
                            withElement(constant.getType(), element),
                            APFloat::getZero(element.getFloatSemantics()))
                      : narrowConstant(constant, element);
        if (!value)
          return failure();
        constant.setValueAttr(value);
        constant.getResult().setType(cast<RankedTensorType>(value.getType()));
        narrowed.insert(constant.getResult());
        continue;
      }
      bool pmcOp = isa<PMCDialect>(op->getDialect());
      if (!pmcOp || keepsF32(op)) {
        // f32 in, f32 out, narrow again for the users.
        builder.setInsertionPoint(op);
        for (OpOperand &operand : op->getOpOperands())
          if (narrowed.contains(operand.get()))
            operand.set(widen(op->getLoc(), operand.get()));
        LLVM_DEBUG(llvm::dbgs() << "f32 operands for " << op->getName() << "\n");
        builder.setInsertionPointAfter(op);
        for (OpResult result : op->getResults()) {
          if (!isF32Tensor(result.getType()) || result.use_empty())
            continue;
          Value narrow = castTo(op->getLoc(), result, withElement(result.getType(), element));
          result.replaceAllUsesExcept(narrow, narrow.getDefiningOp());
        }
        continue;
      }
      for (OpResult result : op->getResults()) {
        if (!isF32Tensor(result.getType()))
          continue;
        result.setType(withElement(result.getType(), element));
        narrowed.insert(result);
      }
    }

    // Dead casts (an argument only a kept-f32 op reads, say) go away.
    for (CastOp c : llvm::reverse(created))
      if (c->use_empty())
        c->erase();
    if (failed(verify(func)))
      return func.emitOpError() << "is not valid after converting to " << element
                                << " (an op that does not accept the type?)";
    return success();
  }
};
} // namespace
