//===- Json.h - checked access to JSON fields (internal) ---------*- C++ -*-===//
//
// Every getter throws RuntimeError("<where>: field '<key>' ...") so messages
// about manifests and programs name the object and the field at fault.
//
#ifndef PMC_LIB_RUNTIME_JSON_H
#define PMC_LIB_RUNTIME_JSON_H

#include "pmc/Runtime/Error.h"
#include "pmc/Support/HostTensor.h"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace pmc::runtime::json {

using nlohmann::json;

/// Parses `text`; `what` names it in the error ("rank0.program").
json parse(std::string_view text, const std::string &what);
/// `object[key]`; throws when `object` is not an object or lacks `key`.
const json &field(const json &object, const char *key, const std::string &where);
int64_t getInt(const json &object, const char *key, const std::string &where);
int64_t getIntOr(const json &object, const char *key, int64_t fallback,
                 const std::string &where);
bool getBoolOr(const json &object, const char *key, bool fallback,
               const std::string &where);
std::string getString(const json &object, const char *key, const std::string &where);
std::vector<int64_t> getIntList(const json &object, const char *key,
                                const std::string &where);
/// A list of non-negative dimensions.
std::vector<int64_t> getShape(const json &object, const char *key,
                              const std::string &where);
/// A buffer id: an integer in [-1, 2^31) (-1 means "none" where allowed;
/// the command checks that an id names a buffer).
int getId(const json &object, const char *key, const std::string &where);
int getIdOr(const json &object, const char *key, int fallback, const std::string &where);
std::vector<int> getIdList(const json &object, const char *key, const std::string &where);
DType getDType(const json &object, const char *key, const std::string &where);

} // namespace pmc::runtime::json

#endif // PMC_LIB_RUNTIME_JSON_H
