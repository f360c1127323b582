//===- VendorLibrary.h - dlopen of NVIDIA's libraries ------------*- C++ -*-===//
#ifndef PMC_RUNTIME_CUDA_VENDORLIBRARY_H
#define PMC_RUNTIME_CUDA_VENDORLIBRARY_H

namespace pmc::runtime::cuda {

/// dlopen(name, RTLD_NOW | RTLD_LOCAL) of one of NVIDIA's libraries (libcuda,
/// cuBLASLt, cuDNN, NCCL: every dlopen of the CUDA backend goes through it);
/// null with dlerror() set when it does not load. Under LeakSanitizer the
/// allocations a library makes while it loads are not leaks of pmc's: its
/// static initializers keep buffers (a statically linked libstdc++'s 72 KB
/// emergency pool) that LeakSanitizer cannot always trace to the library, so
/// that tools/lsan.supp cannot name them.
void *openVendorLibrary(const char *name);

} // namespace pmc::runtime::cuda

#endif // PMC_RUNTIME_CUDA_VENDORLIBRARY_H
