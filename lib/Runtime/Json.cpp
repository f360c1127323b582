//===- Json.cpp - checked access to JSON fields -----------------------------===//

#include "Json.h"

namespace pmc::runtime::json {

namespace {
[[noreturn]] void bad(const std::string &where, const char *key, const std::string &what) {
  throw RuntimeError(where + ": field '" + key + "' " + what);
}
} // namespace

json parse(std::string_view text, const std::string &what) {
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::exception &e) {
    throw RuntimeError((what.empty() ? "" : what + ": ") + "invalid JSON: " + e.what());
  }
}

const json &field(const json &object, const char *key, const std::string &where) {
  if (!object.is_object())
    throw RuntimeError(where + ": expected a JSON object, got " +
                       std::string(object.type_name()));
  auto it = object.find(key);
  if (it == object.end())
    throw RuntimeError(where + ": missing field '" + key + "'");
  return *it;
}

int64_t getInt(const json &object, const char *key, const std::string &where) {
  const json &v = field(object, key, where);
  if (!v.is_number_integer())
    bad(where, key, "must be an integer, got " + v.dump());
  return v.get<int64_t>();
}

int64_t getIntOr(const json &object, const char *key, int64_t fallback,
                 const std::string &where) {
  if (object.is_object() && !object.contains(key))
    return fallback;
  return getInt(object, key, where);
}

bool getBoolOr(const json &object, const char *key, bool fallback,
               const std::string &where) {
  if (object.is_object() && !object.contains(key))
    return fallback;
  const json &v = field(object, key, where);
  if (!v.is_boolean())
    bad(where, key, "must be true or false, got " + v.dump());
  return v.get<bool>();
}

std::string getString(const json &object, const char *key, const std::string &where) {
  const json &v = field(object, key, where);
  if (!v.is_string())
    bad(where, key, "must be a string, got " + v.dump());
  return v.get<std::string>();
}

std::vector<int64_t> getIntList(const json &object, const char *key,
                                const std::string &where) {
  const json &v = field(object, key, where);
  if (!v.is_array())
    bad(where, key, "must be a list of integers, got " + v.dump());
  std::vector<int64_t> out;
  for (const json &e : v) {
    if (!e.is_number_integer())
      bad(where, key, "must be a list of integers, got " + v.dump());
    out.push_back(e.get<int64_t>());
  }
  return out;
}

std::vector<int64_t> getShape(const json &object, const char *key,
                              const std::string &where) {
  std::vector<int64_t> shape = getIntList(object, key, where);
  for (int64_t d : shape)
    if (d < 0)
      bad(where, key, "has a negative dimension: " + field(object, key, where).dump());
  return shape;
}

namespace {
int checkedId(int64_t v, const char *key, const std::string &where) {
  if (v < -1 || v > 0x7fffffff)
    bad(where, key, "holds " + std::to_string(v) + ", which is not a buffer id");
  return static_cast<int>(v);
}
} // namespace

int getId(const json &object, const char *key, const std::string &where) {
  return checkedId(getInt(object, key, where), key, where);
}

int getIdOr(const json &object, const char *key, int fallback, const std::string &where) {
  return checkedId(getIntOr(object, key, fallback, where), key, where);
}

std::vector<int> getIdList(const json &object, const char *key, const std::string &where) {
  std::vector<int> ids;
  for (int64_t v : getIntList(object, key, where))
    ids.push_back(checkedId(v, key, where));
  return ids;
}

DType getDType(const json &object, const char *key, const std::string &where) {
  std::string name = getString(object, key, where);
  std::optional<DType> dtype = dtypeFromName(name);
  if (!dtype)
    bad(where, key, "names an unknown dtype '" + name + "'");
  return *dtype;
}

} // namespace pmc::runtime::json
