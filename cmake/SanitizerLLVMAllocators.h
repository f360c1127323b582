//===- SanitizerLLVMAllocators.h - ASan builds against uninstrumented LLVM/MLIR ===//
//
// Force-included (-include) into the compiler-side sources of a
// PMC_SANITIZE=address build. LLVM's headers poison and unpoison the memory
// of their bump allocators when the includer is built with ASan
// (LLVM_ADDRESS_SANITIZER_BUILD), but Debian's libMLIR/libLLVM are not: an
// allocator whose slab was poisoned by pmc's inline copy of
// BumpPtrAllocator::Allocate hands out memory that libMLIR's copy never
// unpoisons, and the next StringAttr::get is a false "use-after-poison".
// Both sides now agree: no manual poisoning (ASan still checks everything
// else in pmc's code).
//
#ifndef PMC_CMAKE_SANITIZERLLVMALLOCATORS_H
#define PMC_CMAKE_SANITIZERLLVMALLOCATORS_H
#ifdef __cplusplus
#include "llvm/Support/Compiler.h"
#undef LLVM_ADDRESS_SANITIZER_BUILD
#define LLVM_ADDRESS_SANITIZER_BUILD 0
#undef __asan_poison_memory_region
#undef __asan_unpoison_memory_region
#define __asan_poison_memory_region(p, size) ((void)(p), (void)(size))
#define __asan_unpoison_memory_region(p, size) ((void)(p), (void)(size))
#endif
#endif // PMC_CMAKE_SANITIZERLLVMALLOCATORS_H
