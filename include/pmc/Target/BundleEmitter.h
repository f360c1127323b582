//===- BundleEmitter.h - the pmcrt programs as a bundle --------*- C++ -*-===//
#ifndef PMC_TARGET_BUNDLEEMITTER_H
#define PMC_TARGET_BUNDLEEMITTER_H

#include "pmc/Target/CUDA.h"

#include "mlir/IR/BuiltinOps.h"

#include <string>
#include <vector>

namespace pmc {

/// What goes into the manifest besides the program itself.
struct BundleOptions {
  std::string target = "cpu";
  /// 1, or the device count the module's pmc.mesh must have.
  int devices = 1;
  /// Target cuda: the PTX sections and the launches that replace each kernel
  /// call (`kernelLibrary` is then unused). Must outlive buildBundleImage.
  const CUDAKernels *cuda = nullptr;
};

/// The sections of a bundle before they are written (docs/design/bundle.md).
/// A section either owns its bytes or refers to bytes that the module owns
/// (weights), so the module must outlive the image.
struct BundleImage {
  struct Section {
    std::string name;
    std::string owned;
    const void *data = nullptr;
    size_t size = 0;
  };
  std::vector<Section> sections;

  /// The bytes of the section called `name`, or an empty string.
  std::string sectionBytes(const std::string &name) const;
};

/// Serializes a module that pmc-lower-to-runtime-program has lowered: each
/// `pmcrt.program` becomes the `rank<R>.program` of each of its ranks (buffer
/// ids in the order of the buffer ops; a sharded `pmcrt.weight` names each
/// rank's block `w/<N>/r<R>`, sliced here, ranks holding the same block
/// sharing one), `@main`'s signature the manifest (names from `pmc.name`,
/// global shapes and `sharding` from `pmc.sharding` under the module's
/// `pmc.mesh`, the pipeline from `pmc.pipeline`; docs/design/bundle.md).
/// `kernelLibrary` becomes the `kernels.cpu` section; with `options.cuda`
/// each `pmcrt.kernel` becomes the launches of its kernel.
/// Emits an error naming the op and returns failure on a module that is not
/// lowered or that the bundle cannot hold.
mlir::FailureOr<BundleImage> buildBundleImage(mlir::ModuleOp module,
                                              std::string kernelLibrary,
                                              const BundleOptions &options);

/// Writes `image` to `path` with pmc::bundle::BundleWriter. Returns false and
/// sets `error` on failure.
bool writeBundleImage(const BundleImage &image, const std::string &path,
                      std::string &error);

} // namespace pmc

#endif // PMC_TARGET_BUNDLEEMITTER_H
