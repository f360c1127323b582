//===- CudaPlanning.h - the pure decisions of the CUDA executor -*- C++ -*-===//
//
// Everything the CUDA executor decides without a GPU, kept apart so that it
// is unit-tested on machines without one: which PTX module a device loads,
// how a row-major matmul maps onto column-major cuBLASLt, the kernel
// parameter array of the bare-pointer ABI, the copies of a `shard`, which
// commands wait for which collectives, and whether a program may be
// captured as a CUDA graph.
//
#ifndef PMC_RUNTIME_CUDA_CUDAPLANNING_H
#define PMC_RUNTIME_CUDA_CUDAPLANNING_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace pmc::runtime::cuda {

//===----------------------------------------------------------------------===//
// PTX chip selection
//===----------------------------------------------------------------------===//

/// A PTX target chip, "sm_90" or "sm_90a": the compute capability as
/// major * 10 + minor (sm_100 -> 100) and whether it is architecture
/// specific ('a': runs only on exactly that capability) or family specific
/// ('f': runs on that major version at or above the minor).
struct Chip {
  int capability = 0;
  bool archSpecific = false;
  bool familySpecific = false;
};
/// Parses "sm_<digits>[a|f]"; throws RuntimeError naming `chip` otherwise.
Chip parseChip(const std::string &chip);

/// Index in `chips` of the module a device of compute capability
/// `major`.`minor` loads: the newest chip not above the device (an 'a' chip
/// only on exactly its capability). Throws RuntimeError listing the chips
/// when none fits ("the bundle has PTX for sm_90 only; this GPU (...) has
/// compute capability 8.6 ...").
size_t selectPtxChip(const std::vector<std::string> &chips, int major, int minor,
                     const std::string &deviceName = "this GPU");

//===----------------------------------------------------------------------===//
// Row-major matmul on cuBLASLt
//===----------------------------------------------------------------------===//

/// One cuBLASLt operand layout (column-major; `ld` = leading dimension).
struct LtLayout {
  uint64_t rows = 0, cols = 0;
  int64_t ld = 0;
  /// Elements between consecutive batch matrices (0: one matrix for all).
  int64_t batchStride = 0;
};

/// How `c = op(a) · op(b)` on dense row-major buffers (numpy batch
/// broadcasting) runs as column-major cuBLASLt. A row-major [r, c] buffer
/// read column-major is its transpose, so cuBLASLt computes
/// c^T = op(b)^T · op(a)^T: its operand A is pmc's `b`, its B is pmc's `a`,
/// transA = trans_b, transB = trans_a, and D is c^T ([n, m], ld n).
struct LtMatmulPlan {
  int64_t m = 0, n = 0, k = 0;
  /// cuBLASLt's transposes of its A (= pmc b) and B (= pmc a).
  bool transA = false, transB = false;
  LtLayout layoutA, layoutB, layoutD;
  /// Matrices of c.
  int64_t batches = 1;
  /// True: one call with batch count `batches` and the layouts' strides.
  /// False: one call per batch at element offsets offsetsA/B (into pmc's
  /// b and a) and i * m * n (into c).
  bool strided = true;
  std::vector<int64_t> offsetsA, offsetsB;
};

/// Plans a matmul from the buffers' shapes. Throws RuntimeError with the
/// reason (rank < 2, contraction mismatch, batch dims that do not
/// broadcast, a wrong `c` shape).
LtMatmulPlan planLtMatmul(const std::vector<int64_t> &a, const std::vector<int64_t> &b,
                          const std::vector<int64_t> &c, bool transA, bool transB);

/// cuBLASLt's epilogues a matmul step uses; the values are those of
/// cublasLtEpilogue_t (checked where cublasLt.h is included).
enum class LtEpilogue : int {
  Default = 1,
  Relu = 2,
  Bias = 4,
  ReluBias = 6,
  Gelu = 32,
  GeluBias = 36,
};

/// The bundle's `bias` / `activation` of a matmul as a cuBLASLt epilogue.
/// cuBLASLt adds its bias vector to every column of D; D is c^T, so its rows
/// are c's last dim: the bias has `biasLength = n` elements, and with
/// `biasBatchStride = 0` every batch matrix shares it.
struct LtEpiloguePlan {
  LtEpilogue epilogue = LtEpilogue::Default;
  bool hasBias() const {
    return epilogue == LtEpilogue::Bias || epilogue == LtEpilogue::ReluBias ||
           epilogue == LtEpilogue::GeluBias;
  }
  int64_t biasLength = 0;
  int64_t biasBatchStride = 0;
};

/// Plans the epilogue of `plan`: `activation` is the bundle's ("none",
/// "relu", "gelu_tanh"; "gelu", the erf form, has no cuBLASLt epilogue —
/// the compiler keeps it in a kernel for cuda), `biasShape` the bias
/// buffer's shape or null. Throws RuntimeError for another activation or a
/// bias that is not [n] or [1, ..., 1, n].
LtEpiloguePlan planLtEpilogue(const LtMatmulPlan &plan, const std::string &activation,
                              const std::vector<int64_t> *biasShape);

//===----------------------------------------------------------------------===//
// Launch arguments (bundle.md, "Argument ABI")
//===----------------------------------------------------------------------===//

/// The `kernelParams` of cuLaunchKernel for a launch: one 64-bit device
/// address per argument, and an array of pointers to them. Movable (the
/// pointers stay valid), not copyable.
class KernelParams {
public:
  /// `args` are buffer ids, `addresses` the device address of every buffer.
  /// Throws RuntimeError when an id has no address.
  KernelParams(const std::vector<int> &args, const std::vector<uint64_t> &addresses);
  KernelParams(KernelParams &&) = default;
  KernelParams &operator=(KernelParams &&) = default;
  KernelParams(const KernelParams &) = delete;
  KernelParams &operator=(const KernelParams &) = delete;

  /// `void *params[] = {&ptr_0, &ptr_1, ...}` (null when there are no args).
  void **params() { return pointers.empty() ? nullptr : pointers.data(); }
  const std::vector<uint64_t> &values() const { return addressValues; }

private:
  std::vector<uint64_t> addressValues;
  std::vector<void *> pointers;
};

//===----------------------------------------------------------------------===//
// Block copies (the `shard` command on device memory)
//===----------------------------------------------------------------------===//

/// One 2-D copy: `height` rows of `widthBytes`, rows `srcPitch` / `dstPitch`
/// bytes apart, starting at the byte offsets.
struct Copy2D {
  size_t srcOffset = 0, dstOffset = 0;
  size_t widthBytes = 0, height = 1;
  size_t srcPitch = 0, dstPitch = 0;
};

/// The copies that move the block of `srcShape` starting at `offsets` with
/// extent `dstShape` into a dense `dstShape` buffer: trailing whole
/// dimensions merge into contiguous rows, the next dimension becomes the
/// rows of a 2-D copy, the rest are enumerated.
std::vector<Copy2D> planBlockCopy(const std::vector<int64_t> &srcShape,
                                  const std::vector<int64_t> &offsets,
                                  const std::vector<int64_t> &dstShape, size_t elementSize);

//===----------------------------------------------------------------------===//
// Streams: collectives on the communication stream
//===----------------------------------------------------------------------===//

/// A byte range of device memory: `space` identifies the allocation (the
/// arena, or one input/weight), [begin, end) the bytes in it.
struct ByteRange {
  int space = 0;
  size_t begin = 0, end = 0;
  bool overlaps(const ByteRange &o) const {
    return space == o.space && begin < o.end && o.begin < end;
  }
};

/// What one command touches, and whether it is a collective.
struct CommandAccess {
  bool collective = false;
  std::vector<ByteRange> reads, writes;
};

/// For each command, the collectives (command indices) whose completion
/// event the compute stream waits for before it. Collectives run in order on
/// the communication stream, each after the compute work enqueued before it;
/// a compute command waits for a pending collective when it reads what the
/// collective writes or touches memory the collective reads or writes
/// (liveness lets the arena reuse a collective's buffers). Waiting for a
/// collective covers every earlier one. The last entry (index
/// `commands.size()`) lists what the end of the program waits for (the
/// output copies and the join of a captured graph).
std::vector<std::vector<int>> planCollectiveWaits(const std::vector<CommandAccess> &commands);

//===----------------------------------------------------------------------===//
// CUDA graphs
//===----------------------------------------------------------------------===//

/// Whether a rank program is captured as a CUDA graph for repeated runs.
struct GraphDecision {
  bool capture = false;
  /// Why not, for --info and logs ("disabled (--no-cuda-graphs)").
  std::string reason;
};

/// Captures when enabled, the program has commands, and none of its
/// collectives needs the host (host-staged collectives synchronize, which a
/// capture forbids).
GraphDecision decideGraphCapture(bool enabled, size_t commandCount, size_t collectiveCount,
                                 bool collectivesCapturable);

} // namespace pmc::runtime::cuda

#endif // PMC_RUNTIME_CUDA_CUDAPLANNING_H
