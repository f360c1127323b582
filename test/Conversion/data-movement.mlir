// RUN: pmc-opt %s --pmc-convert-to-linalg --split-input-file | FileCheck %s

// CHECK-LABEL: func.func @transpose
// CHECK: %[[E:.*]] = tensor.empty() : tensor<4x2x3xf32>
// CHECK: linalg.transpose ins(%{{.*}} : tensor<2x3x4xf32>) outs(%[[E]] : tensor<4x2x3xf32>) permutation = [2, 0, 1]
func.func @transpose(%x: tensor<2x3x4xf32>) -> tensor<4x2x3xf32> {
  %0 = pmc.transpose %x {perm = array<i64: 2, 0, 1>} : (tensor<2x3x4xf32>) -> tensor<4x2x3xf32>
  return %0 : tensor<4x2x3xf32>
}

// -----

// Reshape collapses to rank 1 and expands to the result shape.
// CHECK-LABEL: func.func @reshape
// CHECK: %[[F:.*]] = tensor.collapse_shape %{{.*}} {{\[\[}}0, 1]] : tensor<2x6xf32> into tensor<12xf32>
// CHECK: tensor.expand_shape %[[F]] {{\[\[}}0, 1, 2]] output_shape [3, 2, 2] : tensor<12xf32> into tensor<3x2x2xf32>
func.func @reshape(%x: tensor<2x6xf32>) -> tensor<3x2x2xf32> {
  %0 = pmc.reshape %x : tensor<2x6xf32> to tensor<3x2x2xf32>
  return %0 : tensor<3x2x2xf32>
}

// -----

// Concat inserts each input at its offset along the axis.
// CHECK-LABEL: func.func @concat
// CHECK: %[[E:.*]] = tensor.empty() : tensor<2x5xf32>
// CHECK: %[[A:.*]] = tensor.insert_slice %{{.*}} into %[[E]][0, 0] [2, 2] [1, 1]
// CHECK: tensor.insert_slice %{{.*}} into %[[A]][0, 2] [2, 3] [1, 1]
func.func @concat(%x: tensor<2x2xf32>, %y: tensor<2x3xf32>) -> tensor<2x5xf32> {
  %0 = pmc.concat %x, %y {axis = 1 : i64} : (tensor<2x2xf32>, tensor<2x3xf32>) -> tensor<2x5xf32>
  return %0 : tensor<2x5xf32>
}

// -----

// Positive steps: one strided extract_slice.
// CHECK-LABEL: func.func @slice_forward
// CHECK: tensor.extract_slice %{{.*}}[1, 0] [2, 2] [1, 2] : tensor<4x4xf32> to tensor<2x2xf32>
func.func @slice_forward(%x: tensor<4x4xf32>) -> tensor<2x2xf32> {
  %0 = pmc.slice %x {starts = array<i64: 1, 0>, steps = array<i64: 1, 2>} : tensor<4x4xf32> to tensor<2x2xf32>
  return %0 : tensor<2x2xf32>
}

// -----

// A negative step reads input[start + i * step] with tensor.extract.
// CHECK-LABEL: func.func @slice_backward
// CHECK: linalg.generic
// CHECK: %[[I:.*]] = linalg.index 1 : index
// CHECK: %[[STEP:.*]] = arith.constant -1 : index
// CHECK: %[[START:.*]] = arith.constant 3 : index
// CHECK: %[[MUL:.*]] = arith.muli %[[I]], %[[STEP]]
// CHECK: %[[POS:.*]] = arith.addi %[[START]], %[[MUL]]
// CHECK: tensor.extract %{{.*}}[%{{.*}}, %[[POS]]] : tensor<4x4xf32>
func.func @slice_backward(%x: tensor<4x4xf32>) -> tensor<4x2xf32> {
  %0 = pmc.slice %x {starts = array<i64: 0, 3>, steps = array<i64: 1, -1>} : tensor<4x4xf32> to tensor<4x2xf32>
  return %0 : tensor<4x2xf32>
}

// -----

// Gather reads the indices through the indexing map and the data with
// tensor.extract; negative indices wrap by the axis size.
// CHECK-DAG: #[[IDX:.*]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-LABEL: func.func @gather
// CHECK: linalg.generic {indexing_maps = [#[[IDX]], #{{.*}}]
// CHECK: ^bb0(%[[ID:.*]]: i64, %{{.*}}: f32):
// CHECK: %[[RAW:.*]] = arith.index_cast %[[ID]] : i64 to index
// CHECK: arith.cmpi slt, %[[RAW]]
// CHECK: arith.addi %[[RAW]], %{{.*}} : index
// CHECK: %[[COL:.*]] = linalg.index 2 : index
// CHECK: tensor.extract %{{.*}}[%{{.*}}, %[[COL]]] : tensor<100x16xf32>
func.func @gather(%table: tensor<100x16xf32>, %ids: tensor<2x5xi64>) -> tensor<2x5x16xf32> {
  %0 = pmc.gather %table, %ids {axis = 0 : i64} : (tensor<100x16xf32>, tensor<2x5xi64>) -> tensor<2x5x16xf32>
  return %0 : tensor<2x5x16xf32>
}

// -----

// Broadcast (ONNX Expand) is an elementwise copy with a broadcast map.
// CHECK: #[[B:.*]] = affine_map<(d0, d1) -> (0, d1)>
// CHECK-LABEL: func.func @broadcast
// CHECK: linalg.generic {indexing_maps = [#[[B]], #{{.*}}]
// CHECK-NEXT: ^bb0(%[[IN:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: linalg.yield %[[IN]] : f32
func.func @broadcast(%x: tensor<1x4xf32>) -> tensor<3x4xf32> {
  %0 = pmc.broadcast %x : tensor<1x4xf32> to tensor<3x4xf32>
  return %0 : tensor<3x4xf32>
}
