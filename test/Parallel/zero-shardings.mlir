// RUN: pmc-opt %s --pmc-train-step="optimizer=adamw" --pmc-apply-shardings="mesh=dp=4 shard=x=dp zero=1" | FileCheck %s --check-prefix=ZERO1
// RUN: pmc-opt %s --pmc-train-step="optimizer=adamw" --pmc-apply-shardings="mesh=dp=4 shard=x=dp zero=2" | FileCheck %s --check-prefix=ZERO2
// RUN: pmc-opt %s --pmc-train-step="optimizer=adamw" --pmc-apply-shardings="mesh=dp=4 shard=x=dp zero=3" | FileCheck %s --check-prefix=ZERO3
// RUN: pmc-opt %s --pmc-train-step="optimizer=adamw" --pmc-apply-shardings="mesh=dp=4 shard=x=dp zero=2" --pmc-sharding-propagation --pmc-partition | FileCheck %s --check-prefix=PART

// ZeRO as shardings over dp (include/pmc/Parallel/TrainingState.h): stage 1
// splits the Adam moments on their first dimension that dp divides (w's 4,
// not 3), stage 2 also the gradient the update reads, stage 3 also the
// parameter; each state update keeps its argument's sharding.

// ZERO1-LABEL: func.func @main(
// ZERO1-SAME: %arg1: tensor<3x4xf32> {pmc.name = "w", pmc.parameter, pmc.sharding = #pmc.sharding<[{}, {}]>}
// ZERO1-SAME: {pmc.name = "w.exp_avg", pmc.optimizer_state = "w", pmc.sharding = #pmc.sharding<[{}, {"dp"}]>}
// ZERO1-SAME: tensor<3x4xf32> {pmc.name = "w", pmc.sharding = #pmc.sharding<[{}, {}]>, pmc.state_update}
// ZERO1: pmc.matmul {{.*}}pmc.gradient_of = "w", pmc.shardings = [#pmc.sharding<[{}, {}]>]

// ZERO2: pmc.matmul {{.*}}pmc.gradient_of = "w", pmc.shardings = [#pmc.sharding<[{}, {"dp"}]>]

// ZERO3-LABEL: func.func @main(
// ZERO3-SAME: %arg1: tensor<3x4xf32> {pmc.name = "w", pmc.parameter, pmc.sharding = #pmc.sharding<[{}, {"dp"}]>}
// ZERO3-SAME: tensor<3x4xf32> {pmc.name = "w", pmc.sharding = #pmc.sharding<[{}, {"dp"}]>, pmc.state_update}

// Stage 2 partitioned: each rank holds and updates a 3x1 slice of the moments
// (the gradient is computed for that slice: here from dY's columns, in the
// zoo's models by a reduce-scatter of the partial sums), then the updated
// steps are all-gathered for the replicated parameter.
// PART-LABEL: func.func @main(
// PART-SAME: %arg4: tensor<3x1xf32> {pmc.name = "w.exp_avg"
// PART: %[[STEP:.*]] = pmc.all_gather %{{.*}} {axes = ["dp"], dim = 1 : i64} : tensor<3x1xf32> to tensor<3x4xf32>
// PART: %[[W:.*]] = pmc.sub %arg1, %[[STEP]]
// PART: return %{{.*}}, %[[W]], %{{.*}}, %{{.*}} : tensor<f32>, tensor<3x4xf32>, tensor<3x1xf32>, tensor<3x1xf32>
func.func @main(%x: tensor<8x3xf32> {pmc.name = "x"},
                %w: tensor<3x4xf32> {pmc.name = "w", pmc.parameter})
    -> (tensor<f32> {pmc.name = "loss"}) {
  %m = pmc.matmul %x, %w : (tensor<8x3xf32>, tensor<3x4xf32>) -> tensor<8x4xf32>
  %l = pmc.reduce_sum %m {axes = array<i64: 0, 1>} : (tensor<8x4xf32>) -> tensor<f32>
  return %l : tensor<f32>
}
