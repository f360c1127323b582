//===- AffineGridImporter.cpp - AffineGrid as a product with the base grid -===//
//
// AffineGrid (opset 20) maps the normalized coordinates of every output
// position through theta: with the base grid B of rows (x_w, y_h, 1) (or
// (x_w, y_h, z_d, 1) in 3-D), grid[n] = B · theta[n]ᵀ. The size is a
// constant, so B is one:
//
//   %g = pmc.matmul %B, %theta {transpose_b}
//       : (tensor<20x3xf32>, tensor<2x2x3xf32>) -> tensor<2x20x2xf32>
//
//===----------------------------------------------------------------------===//
#include "ImporterImpl.h"
#include "OpRegistry.h"

using namespace mlir;
using namespace ::pmc::onnx_import;

void NodeImporter::registerAffineGridImporters(OpImporterRegistry &r) {
  r.add("AffineGrid", 20, [](NodeImporter &n) { return n.importAffineGrid(); });
}

LogicalResult NodeImporter::importAffineGrid() {
  if (failed(requireInputs(2)))
    return failure();
  Value theta = input(0);
  auto size = constInts(1, "size");
  if (failed(size))
    return failure();
  const bool alignCorners = getInt("align_corners", 0) != 0;
  if (size->size() != 4 && size->size() != 5)
    return error() << "size must be [N, C, H, W] or [N, C, D, H, W], it has "
                   << size->size() << " entries";
  const int64_t spatialRank = size->size() - 2;
  ArrayRef<int64_t> thetaShape = shapeOf(theta);
  if (!isa<FloatType>(elementOf(theta)) || thetaShape.size() != 3 ||
      thetaShape[0] != (*size)[0] || thetaShape[1] != spatialRank ||
      thetaShape[2] != spatialRank + 1)
    return error() << "theta must be float [N, " << spatialRank << ", "
                   << spatialRank + 1 << "] with N = size[0], it is " << theta.getType();
  SmallVector<int64_t> spatial(size->begin() + 2, size->end());
  for (int64_t s : spatial)
    if (s < 1)
      return error() << "size has a spatial dim " << s;
  const int64_t positions = product(spatial);
  if (positions * (spatialRank + 1) > kMaxFoldedElements)
    return error() << "a grid of " << positions << " positions is too large to fold";
  // Coordinates along a dim of n points, as the reference's np.arange.
  auto coordinate = [&](int64_t i, int64_t n) {
    if (alignCorners)
      return n == 1 ? -1.0 : -1.0 + double(i) * (2.0 / double(n - 1));
    double step = 2.0 / double(n);
    return (-1.0 + step / 2) + double(i) * step;
  };
  // Rows in output order (d, h, w); columns x (from w), y (from h), z, 1.
  std::vector<double> base;
  base.reserve(positions * (spatialRank + 1));
  for (int64_t p = 0; p < positions; ++p) {
    SmallVector<int64_t> index(spatialRank);
    for (int64_t d = spatialRank - 1, rest = p; d >= 0; --d) {
      index[d] = rest % spatial[d];
      rest /= spatial[d];
    }
    for (int64_t d = spatialRank - 1; d >= 0; --d)
      base.push_back(coordinate(index[d], spatial[d]));
    base.push_back(1.0);
  }
  TRY(baseGrid, floatConstant({positions, spatialRank + 1}, base, elementOf(theta)));
  TRY(grid, inferred<mlir::pmc::MatMulOp>({baseGrid, theta},
                                          {b.getNamedAttr("transpose_b", b.getUnitAttr())}));
  SmallVector<int64_t> outShape{(*size)[0]};
  outShape.append(spatial.begin(), spatial.end());
  outShape.push_back(spatialRank);
  return setOutput(0, reshape(grid, outShape));
}
