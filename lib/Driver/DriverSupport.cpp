//===- DriverSupport.cpp - option parsing shared by the subcommands --------===//
#include "Commands.h"
#include "pmc/Driver/Compiler.h"

#include "pmc/Driver/Driver.h"
#include "mlir/IR/DialectRegistry.h"
#include "llvm/ADT/StringExtras.h"

bool pmc::parseInputShapes(const std::vector<std::string> &values,
                           ImportOptions &options, std::string &error) {
  for (const std::string &value : values) {
    llvm::SmallVector<llvm::StringRef> items;
    llvm::StringRef(value).split(items, ',', -1, /*KeepEmpty=*/false);
    for (llvm::StringRef item : items) {
      auto [name, dims] = item.split('=');
      if (name.empty() || !item.contains('=')) {
        error = "--input-shape expects name=DIMxDIM... (name= for a scalar), got '" +
                item.str() + "'";
        return false;
      }
      std::vector<int64_t> shape;
      llvm::SmallVector<llvm::StringRef> parts;
      if (!dims.empty()) // "name=" is a scalar (rank 0)
        dims.split(parts, 'x');
      for (llvm::StringRef part : parts) {
        int64_t dim;
        if (part.getAsInteger(10, dim) || dim < 0) {
          error = "--input-shape '" + item.str() + "': '" + part.str() +
                  "' is not a non-negative dimension";
          return false;
        }
        shape.push_back(dim);
      }
      options.inputShapes[name.str()] = std::move(shape);
    }
  }
  return true;
}

bool pmc::parseSequenceInputs(const std::vector<std::string> &lengths,
                              const std::vector<std::string> &absent,
                              ImportOptions &options, std::string &error) {
  for (const std::string &value : lengths) {
    llvm::SmallVector<llvm::StringRef> items;
    llvm::StringRef(value).split(items, ',', -1, /*KeepEmpty=*/false);
    for (llvm::StringRef item : items) {
      auto [name, count] = item.split('=');
      int64_t length;
      if (name.empty() || count.getAsInteger(10, length) || length < 0) {
        error = "--sequence-length expects name=N (N >= 0), got '" + item.str() + "'";
        return false;
      }
      options.sequenceLengths[name.str()] = length;
    }
  }
  for (const std::string &name : absent)
    options.absentInputs.insert(name);
  return true;
}

void pmc::prepareDriverContext(mlir::MLIRContext &context) {
  mlir::DialectRegistry registry;
  registerPMCDialects(registry);
  context.appendDialectRegistry(registry);
  context.loadAllAvailableDialects();
}
