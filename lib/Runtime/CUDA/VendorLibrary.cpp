//===- VendorLibrary.cpp - dlopen of NVIDIA's libraries --------------------===//
#include "pmc/Runtime/CUDA/VendorLibrary.h"

#include <dlfcn.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(leak_sanitizer)
#include <sanitizer/lsan_interface.h>
#define PMC_HAS_LSAN 1
#endif
#endif

void *pmc::runtime::cuda::openVendorLibrary(const char *name) {
#ifdef PMC_HAS_LSAN
  __lsan::ScopedDisabler loading;
#endif
  return dlopen(name, RTLD_NOW | RTLD_LOCAL);
}
