//===- KernelWrappers.cpp - exported `void kernel_N(void **)` entry points -===//
#include "KernelWrappers.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"

using namespace mlir;

LogicalResult pmc::addKernelWrappers(
    ModuleOp module, const std::vector<std::pair<std::string, std::string>> &kernels) {
  MLIRContext *context = module.getContext();
  OpBuilder builder(context);
  auto ptr = LLVM::LLVMPointerType::get(context);
  auto voidType = LLVM::LLVMVoidType::get(context);
  for (const auto &[innerName, exportedName] : kernels) {
    auto inner = module.lookupSymbol<LLVM::LLVMFuncOp>(innerName);
    if (!inner)
      return module.emitError() << "kernel '" << exportedName
                                << "' was lost while lowering to LLVM";
    LLVM::LLVMFunctionType innerType = inner.getFunctionType();
    if (!isa<LLVM::LLVMVoidType>(innerType.getReturnType()) ||
        llvm::any_of(innerType.getParams(),
                     [](Type t) { return !isa<LLVM::LLVMPointerType>(t); }))
      return inner.emitError() << "kernel '" << exportedName
                               << "' does not take only buffer pointers after "
                                  "lowering: " << innerType;
    inner.setLinkage(LLVM::Linkage::Internal);

    builder.setInsertionPointToEnd(module.getBody());
    Location loc = inner.getLoc();
    auto wrapper = LLVM::LLVMFuncOp::create(
        builder, loc, exportedName, LLVM::LLVMFunctionType::get(voidType, {ptr}));
    Block *entry = wrapper.addEntryBlock(builder);
    builder.setInsertionPointToStart(entry);
    Value args = entry->getArgument(0);
    SmallVector<Value> pointers;
    for (unsigned i = 0, e = innerType.getNumParams(); i < e; ++i) {
      Value slot = LLVM::GEPOp::create(builder, loc, ptr, ptr, args,
                                       ArrayRef<LLVM::GEPArg>{(int32_t)i});
      pointers.push_back(LLVM::LoadOp::create(builder, loc, ptr, slot));
    }
    LLVM::CallOp::create(builder, loc, inner, pointers);
    LLVM::ReturnOp::create(builder, loc, ValueRange{});
  }
  return success();
}
