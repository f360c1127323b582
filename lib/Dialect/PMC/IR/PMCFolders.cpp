//===- PMCFolders.cpp - folders of pmc operators ---------------------------===//
//
// Identity folds, and constant evaluation of small tensors (the shape
// arithmetic of exported models): this is what makes `createOrFold` in the
// importer turn Shape -> Gather -> Concat -> Reshape chains into static shapes.
// Results over kMaxFoldElements elements are never materialized (splats of any
// size are), so weights are not duplicated into folded copies.
//
#include "pmc/Dialect/PMC/IR/PMCOps.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/ADT/APSInt.h"

#include <cmath>

using namespace mlir;
using namespace mlir::pmc;

/// The largest non-splat tensor a folder creates or reads element by element.
static constexpr int64_t kMaxFoldElements = 4096;

namespace {
/// A callback computing one result element from operand elements, or null
/// when the element cannot be folded (division by zero, NaN to int, ...).
using ElementFn = function_ref<Attribute(ArrayRef<Attribute>)>;
} // namespace

static DenseElementsAttr dense(Attribute a) {
  return dyn_cast_or_null<DenseElementsAttr>(a);
}

static bool isSmall(ShapedType type) {
  return type.hasStaticShape() && type.getNumElements() <= kMaxFoldElements;
}

/// Index into an operand of shape `in` that numpy broadcasting reads for the
/// row-major position `linear` of a result of shape `out`.
static int64_t broadcastSource(int64_t linear, ArrayRef<int64_t> out,
                               ArrayRef<int64_t> in) {
  int64_t index = 0, stride = 1;
  int64_t k = (int64_t)in.size() - 1;
  for (int64_t d = (int64_t)out.size() - 1; d >= 0; --d, --k) {
    int64_t coord = linear % out[d];
    linear /= out[d];
    if (k < 0)
      continue;
    if (in[k] != 1)
      index += coord * stride;
    stride *= in[k];
  }
  return index;
}

/// Evaluates an elementwise op with numpy broadcasting over constant operands.
static Attribute foldElementwise(ArrayRef<Attribute> operands, Type resultType,
                                 ElementFn fn) {
  SmallVector<DenseElementsAttr> values;
  for (Attribute a : operands) {
    DenseElementsAttr d = dense(a);
    if (!d)
      return {};
    values.push_back(d);
  }
  auto type = cast<RankedTensorType>(resultType);
  if (llvm::all_of(values, [](DenseElementsAttr d) { return d.isSplat(); })) {
    SmallVector<Attribute> args;
    for (DenseElementsAttr d : values)
      args.push_back(d.getSplatValue<Attribute>());
    Attribute r = fn(args);
    return r ? DenseElementsAttr::get(type, r) : Attribute();
  }
  if (!isSmall(type))
    return {};
  SmallVector<SmallVector<Attribute>> elements;
  for (DenseElementsAttr d : values)
    elements.emplace_back(d.getValues<Attribute>());
  SmallVector<Attribute> result;
  SmallVector<Attribute> args(values.size());
  for (int64_t i = 0, e = type.getNumElements(); i < e; ++i) {
    for (auto [k, d] : llvm::enumerate(values))
      args[k] = elements[k][broadcastSource(i, type.getShape(), d.getType().getShape())];
    Attribute r = fn(args);
    if (!r)
      return {};
    result.push_back(r);
  }
  return DenseElementsAttr::get(type, result);
}

static bool isUnsigned(Type t) { return t.isUnsignedInteger(); }

/// Folds an arithmetic op given one function on integers and one on floats.
static Attribute foldArith(ArrayRef<Attribute> operands, Type resultType,
                           function_ref<std::optional<APInt>(const APInt &, const APInt &, bool)> intFn,
                           function_ref<std::optional<APFloat>(const APFloat &, const APFloat &)> floatFn) {
  return foldElementwise(operands, resultType, [&](ArrayRef<Attribute> args) -> Attribute {
    if (auto l = dyn_cast<IntegerAttr>(args[0])) {
      auto r = dyn_cast<IntegerAttr>(args[1]);
      if (!r || !intFn)
        return {};
      auto v = intFn(l.getValue(), r.getValue(), isUnsigned(l.getType()));
      return v ? IntegerAttr::get(l.getType(), *v) : Attribute();
    }
    if (auto l = dyn_cast<FloatAttr>(args[0])) {
      auto r = dyn_cast<FloatAttr>(args[1]);
      if (!r || !floatFn)
        return {};
      auto v = floatFn(l.getValue(), r.getValue());
      return v ? FloatAttr::get(l.getType(), *v) : Attribute();
    }
    return {};
  });
}

/// Folds a comparison to an i1 tensor.
static Attribute foldCompare(ArrayRef<Attribute> operands, Type resultType,
                             function_ref<bool(int)> fromOrder) {
  Type i1 = IntegerType::get(resultType.getContext(), 1);
  return foldElementwise(operands, resultType, [&](ArrayRef<Attribute> args) -> Attribute {
    int order;
    if (auto l = dyn_cast<IntegerAttr>(args[0])) {
      auto r = dyn_cast<IntegerAttr>(args[1]);
      if (!r)
        return {};
      const APInt &a = l.getValue(), &b = r.getValue();
      bool u = isUnsigned(l.getType()) || l.getType().isInteger(1);
      order = a == b ? 0 : (u ? a.ult(b) : a.slt(b)) ? -1 : 1;
    } else if (auto l = dyn_cast<FloatAttr>(args[0])) {
      auto r = dyn_cast<FloatAttr>(args[1]);
      if (!r)
        return {};
      APFloat::cmpResult c = l.getValue().compare(r.getValue());
      if (c == APFloat::cmpUnordered)
        return IntegerAttr::get(i1, 0); // every comparison with NaN is false
      order = c == APFloat::cmpLessThan ? -1 : c == APFloat::cmpEqual ? 0 : 1;
    } else {
      return {};
    }
    return IntegerAttr::get(i1, fromOrder(order) ? 1 : 0);
  });
}

static Attribute foldLogic(ArrayRef<Attribute> operands, Type resultType,
                           function_ref<bool(bool, bool)> fn) {
  return foldElementwise(operands, resultType, [&](ArrayRef<Attribute> args) -> Attribute {
    auto l = dyn_cast<IntegerAttr>(args[0]), r = dyn_cast<IntegerAttr>(args[1]);
    if (!l || !r)
      return {};
    return IntegerAttr::get(l.getType(), fn(!l.getValue().isZero(), !r.getValue().isZero()));
  });
}

OpFoldResult ConstantOp::fold(FoldAdaptor) { return getValue(); }

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

OpFoldResult NegOp::fold(FoldAdaptor adaptor) {
  return foldElementwise(adaptor.getOperands(), getType(), [](ArrayRef<Attribute> a) -> Attribute {
    if (auto i = dyn_cast<IntegerAttr>(a[0]))
      return IntegerAttr::get(i.getType(), -i.getValue());
    if (auto f = dyn_cast<FloatAttr>(a[0]))
      return FloatAttr::get(f.getType(), -f.getValue());
    return {};
  });
}

OpFoldResult NotOp::fold(FoldAdaptor adaptor) {
  return foldElementwise(adaptor.getOperands(), getType(), [](ArrayRef<Attribute> a) -> Attribute {
    if (auto i = dyn_cast<IntegerAttr>(a[0]))
      return IntegerAttr::get(i.getType(), i.getValue().isZero() ? 1 : 0);
    return {};
  });
}

OpFoldResult AbsOp::fold(FoldAdaptor adaptor) {
  return foldElementwise(adaptor.getOperands(), getType(), [](ArrayRef<Attribute> a) -> Attribute {
    if (auto i = dyn_cast<IntegerAttr>(a[0]))
      return isUnsigned(i.getType()) ? i : IntegerAttr::get(i.getType(), i.getValue().abs());
    if (auto f = dyn_cast<FloatAttr>(a[0]))
      return FloatAttr::get(f.getType(), abs(f.getValue()));
    return {};
  });
}

OpFoldResult ReluOp::fold(FoldAdaptor adaptor) {
  return foldElementwise(adaptor.getOperands(), getType(), [](ArrayRef<Attribute> a) -> Attribute {
    if (auto i = dyn_cast<IntegerAttr>(a[0]))
      return isUnsigned(i.getType()) || !i.getValue().isNegative()
                 ? i
                 : IntegerAttr::get(i.getType(), 0);
    if (auto f = dyn_cast<FloatAttr>(a[0]))
      return f.getValue().isNegative() && !f.getValue().isNaN()
                 ? FloatAttr::get(f.getType(), 0.0)
                 : f;
    return {};
  });
}

/// Floor or ceiling of a float element.
static Attribute roundElement(Attribute value, llvm::RoundingMode mode) {
  auto f = dyn_cast<FloatAttr>(value);
  if (!f)
    return {};
  APFloat rounded = f.getValue();
  rounded.roundToIntegral(mode);
  return FloatAttr::get(f.getType(), rounded);
}

OpFoldResult FloorOp::fold(FoldAdaptor adaptor) {
  return foldElementwise(adaptor.getOperands(), getType(), [](ArrayRef<Attribute> a) {
    return roundElement(a[0], llvm::RoundingMode::TowardNegative);
  });
}

OpFoldResult CeilOp::fold(FoldAdaptor adaptor) {
  return foldElementwise(adaptor.getOperands(), getType(), [](ArrayRef<Attribute> a) {
    return roundElement(a[0], llvm::RoundingMode::TowardPositive);
  });
}

/// ONNX Cast of one element: float to integer truncates toward zero, anything
/// to bool is `x != 0`.
static Attribute castElement(Attribute value, Type to) {
  if (to.isInteger(1)) {
    if (auto i = dyn_cast<IntegerAttr>(value))
      return IntegerAttr::get(to, !i.getValue().isZero());
    if (auto f = dyn_cast<FloatAttr>(value))
      return IntegerAttr::get(to, !f.getValue().isZero());
    return {};
  }
  if (auto i = dyn_cast<IntegerAttr>(value)) {
    bool fromSigned = !isUnsigned(i.getType()) && !i.getType().isInteger(1);
    if (auto intType = dyn_cast<IntegerType>(to)) {
      unsigned width = intType.getWidth();
      return IntegerAttr::get(to, fromSigned ? i.getValue().sextOrTrunc(width)
                                             : i.getValue().zextOrTrunc(width));
    }
    if (auto floatType = dyn_cast<FloatType>(to)) {
      APFloat f(floatType.getFloatSemantics());
      f.convertFromAPInt(i.getValue(), fromSigned, APFloat::rmNearestTiesToEven);
      return FloatAttr::get(to, f);
    }
    return {};
  }
  if (auto f = dyn_cast<FloatAttr>(value)) {
    if (auto intType = dyn_cast<IntegerType>(to)) {
      APSInt result(intType.getWidth(), isUnsigned(to));
      bool exact;
      if (f.getValue().convertToInteger(result, APFloat::rmTowardZero, &exact) &
          APFloat::opInvalidOp)
        return {}; // NaN or out of range: undefined in ONNX, left to run time
      return IntegerAttr::get(to, result);
    }
    if (auto floatType = dyn_cast<FloatType>(to)) {
      APFloat v = f.getValue();
      bool losesInfo;
      v.convert(floatType.getFloatSemantics(), APFloat::rmNearestTiesToEven, &losesInfo);
      return FloatAttr::get(to, v);
    }
  }
  return {};
}

OpFoldResult CastOp::fold(FoldAdaptor adaptor) {
  if (getInput().getType() == getType())
    return getInput();
  Type to = getType().getElementType();
  return foldElementwise(adaptor.getOperands(), getType(),
                         [&](ArrayRef<Attribute> a) { return castElement(a[0], to); });
}

OpFoldResult AddOp::fold(FoldAdaptor adaptor) {
  return foldArith(adaptor.getOperands(), getType(),
                   [](const APInt &a, const APInt &b, bool) -> std::optional<APInt> { return a + b; },
                   [](const APFloat &a, const APFloat &b) -> std::optional<APFloat> { return a + b; });
}

OpFoldResult SubOp::fold(FoldAdaptor adaptor) {
  return foldArith(adaptor.getOperands(), getType(),
                   [](const APInt &a, const APInt &b, bool) -> std::optional<APInt> { return a - b; },
                   [](const APFloat &a, const APFloat &b) -> std::optional<APFloat> { return a - b; });
}

OpFoldResult MulOp::fold(FoldAdaptor adaptor) {
  return foldArith(adaptor.getOperands(), getType(),
                   [](const APInt &a, const APInt &b, bool) -> std::optional<APInt> { return a * b; },
                   [](const APFloat &a, const APFloat &b) -> std::optional<APFloat> { return a * b; });
}

OpFoldResult DivOp::fold(FoldAdaptor adaptor) {
  return foldArith(
      adaptor.getOperands(), getType(),
      [](const APInt &a, const APInt &b, bool u) -> std::optional<APInt> {
        if (b.isZero() || (!u && b.isAllOnes() && a.isMinSignedValue()))
          return std::nullopt;
        return u ? a.udiv(b) : a.sdiv(b); // sdiv truncates toward zero
      },
      [](const APFloat &a, const APFloat &b) -> std::optional<APFloat> { return a / b; });
}

/// Integer Mod folds (exported shape arithmetic uses it: `Mod(2, 3)` of
/// torchscript's attention); the runtime's remainder by zero is 0, and so is
/// the folded one.
OpFoldResult ModOp::fold(FoldAdaptor adaptor) {
  bool fmod = getFmod();
  return foldArith(
      adaptor.getOperands(), getType(),
      [fmod](const APInt &a, const APInt &b, bool u) -> std::optional<APInt> {
        if (b.isZero())
          return APInt::getZero(a.getBitWidth());
        if (u)
          return a.urem(b);
        if (b.isAllOnes() && a.isMinSignedValue())
          return APInt::getZero(a.getBitWidth());
        APInt r = a.srem(b); // the dividend's sign
        if (!fmod && !r.isZero() && (r.isNegative() != b.isNegative()))
          r += b; // the divisor's sign
        return r;
      },
      nullptr);
}

OpFoldResult MinOp::fold(FoldAdaptor adaptor) {
  return foldArith(
      adaptor.getOperands(), getType(),
      [](const APInt &a, const APInt &b, bool u) -> std::optional<APInt> {
        return u ? llvm::APIntOps::umin(a, b) : llvm::APIntOps::smin(a, b);
      },
      [](const APFloat &a, const APFloat &b) -> std::optional<APFloat> {
        return minimum(a, b);
      });
}

OpFoldResult MaxOp::fold(FoldAdaptor adaptor) {
  return foldArith(
      adaptor.getOperands(), getType(),
      [](const APInt &a, const APInt &b, bool u) -> std::optional<APInt> {
        return u ? llvm::APIntOps::umax(a, b) : llvm::APIntOps::smax(a, b);
      },
      [](const APFloat &a, const APFloat &b) -> std::optional<APFloat> {
        return maximum(a, b);
      });
}

OpFoldResult PowOp::fold(FoldAdaptor adaptor) {
  // Only same-typed operands fold; a mixed base/exponent stays for run time.
  if (getLhs().getType().getElementType() != getRhs().getType().getElementType())
    return {};
  return foldArith(
      adaptor.getOperands(), getType(),
      [](const APInt &a, const APInt &b, bool u) -> std::optional<APInt> {
        if (!u && b.isNegative())
          return std::nullopt;
        uint64_t n = b.getLimitedValue(64);
        APInt r(a.getBitWidth(), 1);
        for (uint64_t i = 0; i < n; ++i)
          r *= a;
        return r;
      },
      [](const APFloat &a, const APFloat &b) -> std::optional<APFloat> {
        bool losesInfo;
        APFloat r(std::pow(a.convertToDouble(), b.convertToDouble()));
        r.convert(a.getSemantics(), APFloat::rmNearestTiesToEven, &losesInfo);
        return r;
      });
}

OpFoldResult EqualOp::fold(FoldAdaptor adaptor) {
  return foldCompare(adaptor.getOperands(), getType(), [](int o) { return o == 0; });
}
OpFoldResult LessOp::fold(FoldAdaptor adaptor) {
  return foldCompare(adaptor.getOperands(), getType(), [](int o) { return o < 0; });
}
OpFoldResult LessEqualOp::fold(FoldAdaptor adaptor) {
  return foldCompare(adaptor.getOperands(), getType(), [](int o) { return o <= 0; });
}
OpFoldResult GreaterOp::fold(FoldAdaptor adaptor) {
  return foldCompare(adaptor.getOperands(), getType(), [](int o) { return o > 0; });
}
OpFoldResult GreaterEqualOp::fold(FoldAdaptor adaptor) {
  return foldCompare(adaptor.getOperands(), getType(), [](int o) { return o >= 0; });
}
OpFoldResult AndOp::fold(FoldAdaptor adaptor) {
  return foldLogic(adaptor.getOperands(), getType(), [](bool a, bool b) { return a && b; });
}
OpFoldResult OrOp::fold(FoldAdaptor adaptor) {
  return foldLogic(adaptor.getOperands(), getType(), [](bool a, bool b) { return a || b; });
}
OpFoldResult XorOp::fold(FoldAdaptor adaptor) {
  return foldLogic(adaptor.getOperands(), getType(), [](bool a, bool b) { return a != b; });
}

OpFoldResult WhereOp::fold(FoldAdaptor adaptor) {
  return foldElementwise(adaptor.getOperands(), getType(), [](ArrayRef<Attribute> a) -> Attribute {
    auto c = dyn_cast<IntegerAttr>(a[0]);
    if (!c)
      return {};
    return c.getValue().isZero() ? a[2] : a[1];
  });
}

//===----------------------------------------------------------------------===//
// Data movement
//===----------------------------------------------------------------------===//

/// Builds a result by reading, for each result position, one input position
/// (`source` maps result linear index to input linear index).
static Attribute gatherElements(DenseElementsAttr input, RankedTensorType type,
                                function_ref<int64_t(int64_t)> source) {
  if (input.isSplat())
    return DenseElementsAttr::get(type, input.getSplatValue<Attribute>());
  if (!isSmall(type) || input.getNumElements() > kMaxFoldElements)
    return {};
  SmallVector<Attribute> in(input.getValues<Attribute>());
  SmallVector<Attribute> out;
  for (int64_t i = 0, e = type.getNumElements(); i < e; ++i) {
    int64_t s = source(i);
    if (s < 0 || s >= (int64_t)in.size())
      return {};
    out.push_back(in[s]);
  }
  return DenseElementsAttr::get(type, out);
}

static SmallVector<int64_t> rowMajorStrides(ArrayRef<int64_t> shape) {
  SmallVector<int64_t> strides(shape.size(), 1);
  for (int64_t d = (int64_t)shape.size() - 2; d >= 0; --d)
    strides[d] = strides[d + 1] * shape[d + 1];
  return strides;
}

OpFoldResult TransposeOp::fold(FoldAdaptor adaptor) {
  ArrayRef<int64_t> perm = getPerm();
  bool identity = true;
  for (auto [i, p] : llvm::enumerate(perm))
    identity &= (int64_t)i == p;
  if (identity)
    return getInput();
  DenseElementsAttr input = dense(adaptor.getInput());
  if (!input)
    return {};
  auto type = cast<RankedTensorType>(getType());
  SmallVector<int64_t> inStrides = rowMajorStrides(getInput().getType().getShape());
  return gatherElements(input, type, [&](int64_t linear) {
    int64_t index = 0;
    for (int64_t d = type.getRank() - 1; d >= 0; --d) {
      index += (linear % type.getDimSize(d)) * inStrides[perm[d]];
      linear /= type.getDimSize(d);
    }
    return index;
  });
}

OpFoldResult ReshapeOp::fold(FoldAdaptor adaptor) {
  if (getInput().getType() == getType())
    return getInput();
  // Reshape of a reshape reads the original input.
  if (auto producer = getInput().getDefiningOp<ReshapeOp>()) {
    getInputMutable().assign(producer.getInput());
    return getResult();
  }
  DenseElementsAttr input = dense(adaptor.getInput());
  if (!input || (!input.isSplat() && !isSmall(getType())))
    return {};
  return input.reshape(getType());
}

OpFoldResult BroadcastOp::fold(FoldAdaptor adaptor) {
  if (getInput().getType() == getType())
    return getInput();
  DenseElementsAttr input = dense(adaptor.getInput());
  if (!input)
    return {};
  auto type = cast<RankedTensorType>(getType());
  ArrayRef<int64_t> inShape = getInput().getType().getShape();
  return gatherElements(input, type, [&](int64_t linear) {
    return broadcastSource(linear, type.getShape(), inShape);
  });
}

OpFoldResult ConcatOp::fold(FoldAdaptor adaptor) {
  if (getInputs().size() == 1)
    return getInputs().front();
  auto type = cast<RankedTensorType>(getType());
  if (!isSmall(type))
    return {};
  SmallVector<SmallVector<Attribute>> parts;
  for (Attribute a : adaptor.getInputs()) {
    DenseElementsAttr d = dense(a);
    if (!d)
      return {};
    parts.emplace_back(d.getValues<Attribute>());
  }
  int64_t axis = getAxis();
  // Rows are the product of the leading dims; each input contributes a run.
  int64_t rows = 1;
  for (int64_t d = 0; d < axis; ++d)
    rows *= type.getDimSize(d);
  SmallVector<Attribute> out;
  for (int64_t r = 0; r < rows; ++r)
    for (auto [k, v] : llvm::enumerate(getInputs())) {
      int64_t run = cast<RankedTensorType>(v.getType()).getNumElements() / std::max<int64_t>(rows, 1);
      for (int64_t i = 0; i < run; ++i)
        out.push_back(parts[k][r * run + i]);
    }
  return DenseElementsAttr::get(type, out);
}

OpFoldResult SliceOp::fold(FoldAdaptor adaptor) {
  ArrayRef<int64_t> starts = getStarts(), steps = getSteps();
  if (getInput().getType() == getType() &&
      llvm::all_of(starts, [](int64_t s) { return s == 0; }) &&
      llvm::all_of(steps, [](int64_t s) { return s == 1; }))
    return getInput();
  DenseElementsAttr input = dense(adaptor.getInput());
  if (!input)
    return {};
  auto type = cast<RankedTensorType>(getType());
  SmallVector<int64_t> inStrides = rowMajorStrides(getInput().getType().getShape());
  return gatherElements(input, type, [&](int64_t linear) {
    int64_t index = 0;
    for (int64_t d = type.getRank() - 1; d >= 0; --d) {
      index += (starts[d] + (linear % type.getDimSize(d)) * steps[d]) * inStrides[d];
      linear /= type.getDimSize(d);
    }
    return index;
  });
}

OpFoldResult GatherOp::fold(FoldAdaptor adaptor) {
  DenseElementsAttr data = dense(adaptor.getData());
  DenseElementsAttr indices = dense(adaptor.getIndices());
  if (!data || !indices)
    return {};
  auto type = cast<RankedTensorType>(getType());
  if (!isSmall(type) || indices.getNumElements() > kMaxFoldElements)
    return {};
  ArrayRef<int64_t> dataShape = getData().getType().getShape();
  int64_t axis = getAxis(), dim = dataShape[axis];
  int64_t inner = 1;
  for (int64_t d = axis + 1; d < (int64_t)dataShape.size(); ++d)
    inner *= dataShape[d];
  int64_t numIndices = indices.getNumElements();
  SmallVector<int64_t> idx;
  for (const APInt &v : indices.getValues<APInt>()) {
    int64_t i = v.getSExtValue();
    if (i < -dim || i >= dim)
      return {}; // out of range: the verifier of the lowering reports it
    idx.push_back(i < 0 ? i + dim : i);
  }
  return gatherElements(data, type, [&](int64_t linear) {
    int64_t in = linear % inner;
    linear /= inner;
    int64_t k = linear % numIndices;
    int64_t outer = linear / numIndices;
    return (outer * dim + idx[k]) * inner + in;
  });
}
