//===- KernelPasses.cpp - the passes of kernel code generation ------------===//
//
// pmc-prepare-kernels, pmc-copies-to-linalg, pmc-expand-bf16-conversions and
// pmc-add-kernel-wrappers (include/pmc/Target/Passes.td says what each does).
//
#include "pmc/Target/Passes.h"

#include "KernelWrappers.h"
#include "pmc/Dialect/PMC/IR/PMCOps.h"
#include "pmc/Target/CPU.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/TypeUtilities.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::pmc {
#define GEN_PASS_DEF_PMCPREPAREKERNELS
#define GEN_PASS_DEF_PMCCOPIESTOLINALG
#define GEN_PASS_DEF_PMCDISTINCTKERNELRESULTS
#define GEN_PASS_DEF_PMCEXPANDBFLOAT16CONVERSIONS
#define GEN_PASS_DEF_PMCADDKERNELWRAPPERS
#include "pmc/Target/Passes.h.inc"
} // namespace mlir::pmc

using namespace mlir;

/// memref.copy between buffers with non-identity layouts would become a call
/// into MLIR's C runner library; the kernels must not depend on it, so every
/// copy becomes a linalg.copy (plain loops).
void ::pmc::copiesToLinalg(ModuleOp module) {
  SmallVector<memref::CopyOp> copies;
  module.walk([&](memref::CopyOp copy) { copies.push_back(copy); });
  for (memref::CopyOp copy : copies) {
    OpBuilder builder(copy);
    linalg::CopyOp::create(builder, copy.getLoc(), copy.getSource(),
                           copy.getTarget());
    copy.erase();
  }
}

/// A kernel's zero-element operands and results hold no data, but a memref such
/// as `memref<4x0xf32>` has no bare-pointer form, so the kernel would not lower.
/// Such arguments are replaced inside the body by empty constants, such results
/// become `tensor<0xT>`: the exported entry point still takes one pointer each.
void ::pmc::dropZeroSizeSignatures(func::FuncOp func) {
  auto isEmpty = [](Type t) {
    auto tensor = dyn_cast<RankedTensorType>(t);
    return tensor && tensor.hasStaticShape() && tensor.getNumElements() == 0 &&
           tensor.getRank() != 1;
  };
  auto flatType = [](RankedTensorType t) {
    Type element = t.getElementType();
    if (auto integer = dyn_cast<IntegerType>(element))
      element = IntegerType::get(t.getContext(), integer.getWidth());
    return RankedTensorType::get({0}, element);
  };
  FunctionType type = func.getFunctionType();
  if (!llvm::any_of(type.getInputs(), isEmpty) &&
      !llvm::any_of(type.getResults(), isEmpty))
    return;
  Block &entry = func.getBody().front();
  OpBuilder builder(func.getContext());
  builder.setInsertionPointToStart(&entry);
  SmallVector<Type> inputs(type.getInputs()), results(type.getResults());
  for (auto [i, arg] : llvm::enumerate(entry.getArguments())) {
    auto argType = dyn_cast<RankedTensorType>(arg.getType());
    if (!isEmpty(argType))
      continue;
    Value empty = mlir::pmc::ConstantOp::create(
        builder, func.getLoc(), DenseElementsAttr::get(argType, ArrayRef<Attribute>{}));
    arg.replaceAllUsesWith(empty);
    inputs[i] = flatType(argType);
    arg.setType(inputs[i]);
  }
  for (auto [i, result] : llvm::enumerate(results)) {
    auto resultType = dyn_cast<RankedTensorType>(result);
    if (!isEmpty(resultType))
      continue;
    result = flatType(resultType);
    func.walk([&](func::ReturnOp ret) {
      OpBuilder b(ret);
      auto flat = cast<RankedTensorType>(result);
      ret->setOperand(i, arith::ConstantOp::create(
                             b, ret.getLoc(), flat,
                             DenseElementsAttr::get(flat, ArrayRef<Attribute>{})));
    });
  }
  func.setFunctionType(FunctionType::get(func.getContext(), inputs, results));
}

/// The suffix pmc-prepare-kernels{target=cpu} gives a kernel whose exported
/// wrapper takes its name.
static constexpr llvm::StringLiteral kImplSuffix = "_impl";

namespace {
struct PrepareKernels : public mlir::pmc::impl::PMCPrepareKernelsBase<PrepareKernels> {
  using PMCPrepareKernelsBase::PMCPrepareKernelsBase;
  void runOnOperation() override {
    if (target != "cpu" && target != "cuda") {
      getOperation().emitError() << "pmc-prepare-kernels: target '" << target
                                 << "' is not cpu or cuda";
      return signalPassFailure();
    }
    Builder builder(&getContext());
    for (func::FuncOp func :
         llvm::make_early_inc_range(getOperation().getOps<func::FuncOp>())) {
      if (func.getSymName() == mlir::pmc::kEntryFunctionName) {
        func.erase();
        continue;
      }
      if (func.isExternal()) {
        func.emitOpError("is a kernel without a body");
        return signalPassFailure();
      }
      func->setAttr("pmc.kernel_params",
                    builder.getI64IntegerAttr(func.getNumArguments() + func.getNumResults()));
      ::pmc::dropZeroSizeSignatures(func);
      if (target == "cpu")
        func.setSymName((func.getSymName() + kImplSuffix).str());
      func.setPublic();
    }
  }
};

struct DistinctKernelResults
    : public mlir::pmc::impl::PMCDistinctKernelResultsBase<DistinctKernelResults> {
  void runOnOperation() override {
    getOperation().walk([](func::ReturnOp ret) {
      llvm::SmallPtrSet<Value, 8> seen;
      OpBuilder b(ret);
      for (OpOperand &operand : ret->getOpOperands()) {
        Value v = operand.get();
        auto type = dyn_cast<RankedTensorType>(v.getType());
        if (!type || seen.insert(v).second)
          continue;
        Value empty = tensor::EmptyOp::create(b, ret.getLoc(), type.getShape(),
                                              type.getElementType());
        operand.set(linalg::CopyOp::create(b, ret.getLoc(), v, empty).getResult(0));
      }
    });
  }
};

struct CopiesToLinalg : public mlir::pmc::impl::PMCCopiesToLinalgBase<CopiesToLinalg> {
  void runOnOperation() override { ::pmc::copiesToLinalg(getOperation()); }
};

/// bf16 <-> f32 (and, through f32, integer) conversions become integer shifts
/// and the round-to-nearest-even of arith's bf16 expansion: LLVM would
/// otherwise call `__truncsfbf2`, which
/// the C runtime of older compilers (GCC 12) lacks, and the kernel library is
/// linked with no undefined symbols. (f16 conversions are F16C instructions
/// or libgcc's `__truncsfhf2`/`__extendhfsf2`.)
/// `type` (a scalar or vector of bf16) with f32 elements.
static Type withF32Elements(Type type) {
  Type f32 = Float32Type::get(type.getContext());
  if (auto vector = dyn_cast<VectorType>(type))
    return vector.clone(f32);
  return f32;
}

/// Integer <-> bf16 conversions go through f32 (as LLVM itself lowers them,
/// with a `__truncsfbf2` call for the f32 -> bf16 step), so that the bf16
/// step is an arith.truncf / extf the expansion below rewrites.
static void convertIntegerBFloat16ThroughF32(ModuleOp module) {
  SmallVector<Operation *> ops;
  module.walk([&](Operation *op) {
    if ((isa<arith::UIToFPOp, arith::SIToFPOp>(op) &&
         getElementTypeOrSelf(op->getResult(0).getType()).isBF16()) ||
        (isa<arith::FPToUIOp, arith::FPToSIOp>(op) &&
         getElementTypeOrSelf(op->getOperand(0).getType()).isBF16()))
      ops.push_back(op);
  });
  for (Operation *op : ops) {
    OpBuilder b(op);
    Location loc = op->getLoc();
    Value in = op->getOperand(0);
    Value out;
    if (isa<arith::UIToFPOp, arith::SIToFPOp>(op)) {
      Type f32 = withF32Elements(op->getResult(0).getType());
      Value wide = isa<arith::UIToFPOp>(op) ? arith::UIToFPOp::create(b, loc, f32, in).getResult()
                                            : arith::SIToFPOp::create(b, loc, f32, in).getResult();
      out = arith::TruncFOp::create(b, loc, op->getResult(0).getType(), wide);
    } else {
      Value wide = arith::ExtFOp::create(b, loc, withF32Elements(in.getType()), in);
      Type result = op->getResult(0).getType();
      out = isa<arith::FPToUIOp>(op) ? arith::FPToUIOp::create(b, loc, result, wide).getResult()
                                     : arith::FPToSIOp::create(b, loc, result, wide).getResult();
    }
    op->getResult(0).replaceAllUsesWith(out);
    op->erase();
  }
}

LogicalResult expandBFloat16Conversions(ModuleOp module) {
  convertIntegerBFloat16ThroughF32(module);
  bool any = false;
  module.walk([&](Operation *op) {
    if (isa<arith::ExtFOp, arith::TruncFOp>(op) &&
        (getElementTypeOrSelf(op->getOperand(0).getType()).isBF16() ||
         getElementTypeOrSelf(op->getResult(0).getType()).isBF16()))
      any = true;
  });
  if (!any)
    return success();
  RewritePatternSet patterns(module.getContext());
  arith::populateExpandBFloat16Patterns(patterns);
  return applyPatternsGreedily(module, std::move(patterns));
}

struct ExpandBFloat16Conversions
    : public mlir::pmc::impl::PMCExpandBFloat16ConversionsBase<ExpandBFloat16Conversions> {
  void runOnOperation() override {
    if (failed(expandBFloat16Conversions(getOperation()))) {
      getOperation().emitError("expanding the bf16 conversions of the kernels failed");
      signalPassFailure();
    }
  }
};

struct AddKernelWrappers
    : public mlir::pmc::impl::PMCAddKernelWrappersBase<AddKernelWrappers> {
  void runOnOperation() override {
    std::vector<std::pair<std::string, std::string>> kernels;
    for (auto func : getOperation().getOps<LLVM::LLVMFuncOp>())
      if (func.getSymName().ends_with(kImplSuffix) && !func.isExternal())
        kernels.emplace_back(func.getSymName().str(),
                             func.getSymName().drop_back(kImplSuffix.size()).str());
    if (failed(::pmc::addKernelWrappers(getOperation(), kernels)))
      signalPassFailure();
  }
};
} // namespace
