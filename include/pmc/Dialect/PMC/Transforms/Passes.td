//===- Passes.td - passes over the pmc dialect ------------------*- tablegen -*-===//
#ifndef PMC_DIALECT_PMC_TRANSFORMS_PASSES_TD
#define PMC_DIALECT_PMC_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def PMCOutlineKernels : Pass<"pmc-outline-kernels", "ModuleOp"> {
  let summary = "Splits the program into kernels and the commands the runtime runs itself";
  let description = [{
    Walks the entry function in program order. Operators the runtime executes as
    library calls (`pmc.matmul` on float types, `pmc.conv`) and constants stay in
    the entry function; every maximal run of other operators between them is
    outlined into a private function `@kernel_N`, called with `func.call`. Splat
    constants are cloned into the kernel that uses them; other constants are
    passed as arguments (they are weights). `pmc.transfer` stays in the entry
    function too, and a run never mixes ops of different `pmc.stage`s: the
    kernel call carries the stage of its ops (docs/design/pipeline.md).

    Matmul epilogues (`fold-epilogues`, on by default): when a float matmul's
    only user is an add of a bias along the last dim (shape `[N]` or
    `[1, ..., 1, N]`), and/or the next op is `pmc.relu` or `pmc.gelu`, all in
    the same stage, those ops stay in the entry function right after the
    matmul, which gets `pmc.epilogue = "bias" | "relu" | "gelu" | "bias_relu"
    | "bias_gelu"`; the bundle has one `matmul` command for them
    (docs/design/bundle.md). For `target=cpu` the ONNX erf GELU pattern
    `0.5 * x * (1 + erf(x / sqrt(2)))` becomes a `pmc.gelu` folded the same
    way; for `target=cuda` only tanh-approximated GELU is folded (cuBLASLt's
    GELU epilogue is the tanh form) and an erf GELU stays in a kernel.
    ```mlir
    %y = pmc.matmul %x, %w {pmc.epilogue = "bias_gelu"} : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
    %z = pmc.add %y, %b : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
    %g = pmc.gelu %z : tensor<4x8xf32>
    ```

    Before:
    ```mlir
    func.func @main(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
      %w = pmc.constant dense_resource<w> : tensor<8x8xf32>
      %y = pmc.matmul %x, %w : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
      %r = pmc.exp %y : tensor<4x8xf32>
      %e = pmc.tanh %r : tensor<4x8xf32>
      return %e : tensor<4x8xf32>
    }
    ```
    After:
    ```mlir
    func.func @main(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
      %w = pmc.constant dense_resource<w> : tensor<8x8xf32>
      %y = pmc.matmul %x, %w : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
      %e = call @kernel_0(%y) : (tensor<4x8xf32>) -> tensor<4x8xf32>
      return %e : tensor<4x8xf32>
    }
    func.func private @kernel_0(%a: tensor<4x8xf32>) -> tensor<4x8xf32> {
      %r = pmc.exp %a : tensor<4x8xf32>
      %e = pmc.tanh %r : tensor<4x8xf32>
      return %e : tensor<4x8xf32>
    }
    ```
  }];
  let dependentDialects = ["::mlir::func::FuncDialect"];
  let options = [
    Option<"target", "target", "std::string", /*default=*/"\"cpu\"",
           "runtime target, cpu or cuda (which GELU epilogues it has)">,
    Option<"foldEpilogues", "fold-epilogues", "bool", /*default=*/"true",
           "fold bias adds and ReLU/GELU into the matmul commands">
  ];
}

def PMCConvertPrecision : Pass<"pmc-convert-precision", "ModuleOp"> {
  let summary = "Runs weights and compute in bf16 or f16, keeping numerically sensitive ops in f32";
  let description = [{
    Lowers the precision of every function with a body (`--dtype bf16|fp16`):

    - f32 weights (`pmc.constant`) are converted to the target type (round to
      nearest even), so the bundle stores them at half the size; a
      `dense_resource` weight gets a new resource blob of the narrow type;
    - every other op producing an f32 tensor produces the target type instead,
      so element-wise math, matmuls, convolutions and the collectives the
      partitioner inserts afterwards run on (and move) half-size data;
    - the signature stays f32: arguments are cast to the target type on entry
      and results back to f32 on exit, so feeds and outputs do not change;
    - ops whose numerics need the range and precision of f32 keep it: their
      narrow operands are cast to f32 (or the f32 value a cast came from is
      used directly) and their results are cast back to the target type.
      These are the reductions (`pmc.reduce_sum`, `reduce_mean`, `reduce_prod`,
      `reduce_max`, `reduce_min`), `pmc.softmax`, `pmc.log_softmax`,
      `pmc.layer_norm` (its mean and variance) and `pmc.cumsum`;
    - integer, bool and f64 tensors are untouched; ops of other dialects see
      f32 operands and results.

    Before:
    ```mlir
    func.func @main(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
      %w = pmc.constant dense<1.0> : tensor<8x8xf32>
      %y = pmc.matmul %x, %w : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
      %s = pmc.softmax %y {axis = 1 : i64} : tensor<4x8xf32>
      return %s : tensor<4x8xf32>
    }
    ```
    After `--pmc-convert-precision=dtype=bf16`:
    ```mlir
    func.func @main(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
      %xb = pmc.cast %x : tensor<4x8xf32> to tensor<4x8xbf16>
      %w = pmc.constant dense<1.0> : tensor<8x8xbf16>
      %y = pmc.matmul %xb, %w : (tensor<4x8xbf16>, tensor<8x8xbf16>) -> tensor<4x8xbf16>
      %y32 = pmc.cast %y : tensor<4x8xbf16> to tensor<4x8xf32>
      %s32 = pmc.softmax %y32 {axis = 1 : i64} : tensor<4x8xf32>
      %s = pmc.cast %s32 : tensor<4x8xf32> to tensor<4x8xbf16>
      %r = pmc.cast %s : tensor<4x8xbf16> to tensor<4x8xf32>
      return %r : tensor<4x8xf32>
    }
    ```
    Run it before partitioning so that collectives move the narrow type.
  }];
  let options = [
    Option<"dtype", "dtype", "std::string", /*default=*/"\"bf16\"",
           "Target floating-point type: bf16 or f16">,
    Option<"typesOnly", "types-only", "bool", /*default=*/"false",
           "Convert the types only: weights become zeros of the narrow type "
           "without reading their bytes (for planning, which needs shapes and "
           "types alone; the module is not meant to be compiled)">,
  ];
  let dependentDialects = ["::mlir::pmc::PMCDialect"];
}

def PMCAutodiff : Pass<"pmc-autodiff", "ModuleOp"> {
  let summary = "appends the gradients of the loss w.r.t. the float arguments";
  let description = [{
    Reverse-mode differentiation of `@main` on tensors, from the gradient rules
    the ops declare (GradientOpInterface, lib/Dialect/PMC/IR/Gradients.cpp).
    The loss is result `loss-index` (its elements are summed: the seed
    gradient is ones); the gradient is taken with respect to every float
    argument, and appended as a result named `<argument name>.grad`.

    - Activity analysis: only ops on a path from a differentiated argument to
      the loss get backward ops; integer, bool and shape operands get none.
    - Fan-out: the gradients of a value used several times are summed.
    - Broadcast operands' gradients are summed over the broadcast axes.
    - An active op without a gradient rule is an error naming it.

    Before:
    ```mlir
    func.func @main(%x: tensor<2x3xf32> {pmc.name = "x"}) -> tensor<f32> {
      %t = pmc.tanh %x : tensor<2x3xf32>
      %l = pmc.reduce_sum %t {axes = array<i64: 0, 1>} : (tensor<2x3xf32>) -> tensor<f32>
      return %l : tensor<f32>
    }
    ```
    After `--pmc-autodiff`:
    ```mlir
    func.func @main(%x: tensor<2x3xf32> {pmc.name = "x"})
        -> (tensor<f32>, tensor<2x3xf32> {pmc.name = "x.grad"}) {
      %t = pmc.tanh %x : tensor<2x3xf32>
      %l = pmc.reduce_sum %t {axes = array<i64: 0, 1>} : (tensor<2x3xf32>) -> tensor<f32>
      %seed = pmc.constant dense<1.0> : tensor<f32>
      %g1 = pmc.reshape %seed : tensor<f32> to tensor<1x1xf32>
      %g2 = pmc.broadcast %g1 : tensor<1x1xf32> to tensor<2x3xf32>
      %one = pmc.constant dense<1.0> : tensor<f32>
      %tt = pmc.mul %t, %t : ...
      %d = pmc.sub %one, %tt : ...
      %dx = pmc.mul %g2, %d : ...
      return %l, %dx : tensor<f32>, tensor<2x3xf32>
    }
    ```
  }];
  let options = [
    Option<"lossIndex", "loss-index", "unsigned", /*default=*/"0",
           "The result of @main that is the loss">,
  ];
  let dependentDialects = ["::mlir::pmc::PMCDialect"];
}

def PMCTrainStep : Pass<"pmc-train-step", "ModuleOp"> {
  let summary = "turns @main (result 0 a loss) into one optimizer step";
  let description = [{
    The train step as one program, planned and partitioned like any other:
    forward, the loss (result 0 of @main, its elements summed), the backward
    pass of --pmc-autodiff with respect to the arguments marked
    `pmc.parameter` (ONNX initializers imported as parameters), and the
    optimizer's update, with the semantics of PyTorch's `torch.optim`:

    - `sgd`:   g += wd p; buf = t == 1 ? g : momentum buf + (1 - dampening) g;
               g = nesterov ? g + momentum buf : buf (with momentum); p -= lr g
    - `adam`:  g += wd p; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
               p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    - `adamw`: p *= 1 - lr wd, then Adam's update without the L2 term
    - with `grad-clip` c first: g *= min(1, c / (||g||_2 + 1e-6)), the norm over
      every parameter's gradient
    - with `loss-scale` S0 > 0 (fp16 training), dynamic loss scaling as
      torch.amp.GradScaler: the backward starts from loss * S, the gradients
      are divided by S (before clipping); if any is inf or NaN, no parameter
      or optimizer state changes, S *= backoff and the growth tracker resets;
      else after `loss-scale-growth-interval` such steps in a row S *= growth.
      S and the tracker are state (`pmc.loss_scale`, from S0, and
      `pmc.loss_scale_growth_tracker`, pmc.buffer arguments), and the result
      `pmc.found_inf` (1 or 0, after the loss) tells the runner the step was
      skipped (its next step reuses t).

    New arguments, after the others: `pmc.lr` and `pmc.step` (t, from 1),
    f32 scalars given per step (so that a schedule needs no recompile), then
    the optimizer state of each parameter: `<p>.momentum_buffer` (sgd with
    momentum) or `<p>.exp_avg` and `<p>.exp_avg_sq` (adam, adamw). Results: the
    loss, then the updated parameters and states under the names of their
    arguments, so that a runtime feeds each step's results to the next.

    ```mlir
    // --pmc-train-step=optimizer=sgd
    func.func @main(%x: tensor<4x3xf32> {pmc.name = "x"},
                    %w: tensor<3x2xf32> {pmc.name = "w", pmc.parameter},
                    %lr: tensor<f32> {pmc.name = "pmc.lr"}, %t: tensor<f32> {pmc.name = "pmc.step"})
        -> (tensor<f32> {pmc.name = "loss"}, tensor<3x2xf32> {pmc.name = "w"})
    ```
  }];
  let options = [
    Option<"optimizer", "optimizer", "std::string", /*default=*/"\"sgd\"",
           "sgd, adam or adamw">,
    Option<"momentum", "momentum", "double", /*default=*/"0.0", "SGD momentum">,
    Option<"dampening", "dampening", "double", /*default=*/"0.0", "SGD dampening">,
    Option<"nesterov", "nesterov", "bool", /*default=*/"false", "SGD Nesterov momentum">,
    Option<"beta1", "beta1", "double", /*default=*/"0.9", "Adam beta1">,
    Option<"beta2", "beta2", "double", /*default=*/"0.999", "Adam beta2">,
    Option<"eps", "eps", "double", /*default=*/"1e-8", "Adam epsilon">,
    Option<"weightDecay", "weight-decay", "double", /*default=*/"0.0",
           "L2 penalty (sgd, adam) or decoupled decay (adamw)">,
    Option<"gradClip", "grad-clip", "double", /*default=*/"0.0",
           "Clip the gradients to this global L2 norm first, as "
           "torch.nn.utils.clip_grad_norm_ (0: no clipping)">,
    Option<"lossScale", "loss-scale", "double", /*default=*/"0.0",
           "Dynamic loss scaling from this initial scale (0: none)">,
    Option<"lossScaleGrowthInterval", "loss-scale-growth-interval", "int64_t",
           /*default=*/"2000", "Finite steps in a row before the scale grows">,
    Option<"lossScaleBackoff", "loss-scale-backoff", "double", /*default=*/"0.5",
           "Factor of the scale after a step with inf or NaN gradients">,
    Option<"lossScaleGrowth", "loss-scale-growth", "double", /*default=*/"2.0",
           "Factor of the scale after the growth interval">,
  ];
  let dependentDialects = ["::mlir::pmc::PMCDialect"];
}

#endif // PMC_DIALECT_PMC_TRANSFORMS_PASSES_TD
