//===- PoolWindows.cpp - facts about the windows of pmc pooling ops --------===//
#include "pmc/Dialect/PMC/IR/PoolWindows.h"

#include <algorithm>

using namespace mlir;

SmallVector<double> mlir::pmc::avgPoolDivisors(AvgPoolOp op) {
  auto inputType = cast<RankedTensorType>(op.getInput().getType());
  auto outputType = cast<RankedTensorType>(op.getType());
  ArrayRef<int64_t> kernel = op.getKernelShape(), strides = op.getStrides(),
                    pads = op.getPads(), dilations = op.getDilations();
  const int64_t k = kernel.size();
  const bool includePad = op.getCountIncludePad();
  // The counts are separable: per spatial dim, then multiplied.
  SmallVector<SmallVector<int64_t>> counts(k);
  for (int64_t i = 0; i < k; ++i) {
    int64_t size = inputType.getDimSize(2 + i);
    int64_t lo = includePad ? -pads[i] : 0;
    int64_t hi = includePad ? size + pads[k + i] : size;
    for (int64_t o = 0; o < outputType.getDimSize(2 + i); ++o) {
      int64_t c = 0;
      for (int64_t w = 0; w < kernel[i]; ++w) {
        int64_t p = o * strides[i] - pads[i] + w * dilations[i];
        c += p >= lo && p < hi;
      }
      counts[i].push_back(std::max<int64_t>(c, 1));
    }
  }
  ArrayRef<int64_t> spatial = outputType.getShape().drop_front(2);
  int64_t total = 1;
  for (int64_t s : spatial)
    total *= s;
  SmallVector<double> divisors(total);
  for (int64_t flat = 0; flat < total; ++flat) {
    int64_t rest = flat;
    double d = 1;
    for (int64_t i = k - 1; i >= 0; --i) {
      d *= counts[i][rest % spatial[i]];
      rest /= spatial[i];
    }
    divisors[flat] = d;
  }
  return divisors;
}
