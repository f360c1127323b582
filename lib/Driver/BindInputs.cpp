//===- BindInputs.cpp - `--bind name=value.npy`: inputs specialized to values ===//
//
// Compiled with exceptions: the .npy reader (PMCSupport, shared with the
// runtime) reports problems as exceptions, which end here as error strings.
//
#include "Commands.h"
#include "pmc/Driver/Compiler.h"

#include "pmc/Support/Npy.h"

#include <exception>

bool pmc::parseBindings(const std::vector<std::string> &values,
                        ImportOptions &options, std::string &error) {
  for (const std::string &value : values) {
    size_t eq = value.find('=');
    if (eq == 0 || eq == std::string::npos || eq + 1 == value.size()) {
      error = "--bind expects name=value.npy, got '" + value + "'";
      return false;
    }
    std::string name = value.substr(0, eq), path = value.substr(eq + 1);
    try {
      options.boundInputs[name] = npy::readNpy(path);
    } catch (const std::exception &e) {
      error = "--bind " + name + ": " + e.what();
      return false;
    }
  }
  return true;
}
