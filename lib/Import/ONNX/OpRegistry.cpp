//===- OpRegistry.cpp - ONNX operator importers by (op type, since opset) --===//
#include "OpRegistry.h"
#include "ImporterImpl.h"

#include <algorithm>

using namespace ::pmc::onnx_import;

void OpImporterRegistry::add(llvm::StringRef opType, int64_t sinceOpset, OpImportFn fn,
                             OperandKinds operands) {
  auto &versions = entries[opType];
  auto at = std::upper_bound(versions.begin(), versions.end(), sinceOpset,
                             [](int64_t since, const auto &e) { return since < e.sinceOpset; });
  versions.insert(at, {sinceOpset, std::move(fn), operands});
}

const OpImporter *OpImporterRegistry::lookup(llvm::StringRef opType, int64_t opset,
                                             int64_t &firstSince) const {
  firstSince = 0;
  auto it = entries.find(opType);
  if (it == entries.end())
    return nullptr;
  const auto &versions = it->second;
  firstSince = versions.front().sinceOpset;
  const OpImporter *found = nullptr;
  for (const OpImporter &entry : versions)
    if (entry.sinceOpset <= opset)
      found = &entry;
  return found;
}

std::vector<std::string> OpImporterRegistry::opTypes() const {
  std::vector<std::string> names;
  for (const auto &entry : entries)
    names.push_back(entry.getKey().str());
  std::sort(names.begin(), names.end());
  return names;
}

const OpImporterRegistry &(::pmc::onnx_import::opImporters)() {
  static const OpImporterRegistry registry = [] {
    OpImporterRegistry r;
    NodeImporter::registerImporters(r);
    return r;
  }();
  return registry;
}
