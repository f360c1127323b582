//===- BundleEmitter.h - the outlined program as a bundle -------*- C++ -*-===//
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

/// Builds the manifest, `rank<R>.program` and the `w/<N>` weight sections from
/// the entry function `@main` of `module`, which pmc-outline-kernels has split
/// into kernel calls, library calls (matmul, conv), views (reshape) and
/// constants. `kernelLibrary` becomes the `kernels.cpu` section. Graph input
/// and output names come from the `pmc.name` argument/result attributes.
/// With a module attribute `pmc.mesh` (a partitioned, SPMD @main whose
/// shapes are local), there is one program per rank: collectives become
/// commands, `pmc.shard` of a `pmc.constant` becomes per-rank weight sections
/// (sliced here; ranks holding the same block share one), manifest shapes
/// are global and `pmc.sharding` argument/result attributes become the
/// manifest's `sharding` (docs/design/parallel.md).
/// Emits an error naming the op and returns failure when @main holds
/// something the runtime cannot execute.
mlir::FailureOr<BundleImage> buildBundleImage(mlir::ModuleOp module,
                                              std::string kernelLibrary,
                                              const BundleOptions &options);

/// Writes `image` to `path` with pmc::bundle::BundleWriter. Returns false and
/// sets `error` on failure.
bool writeBundleImage(const BundleImage &image, const std::string &path,
                      std::string &error);

} // namespace pmc

#endif // PMC_TARGET_BUNDLEEMITTER_H
