// RUN: pmc-opt %s --split-input-file --pmc-copies-to-linalg | FileCheck %s --check-prefix=COPY
// RUN: pmc-opt %s --split-input-file --pmc-expand-bf16-conversions | FileCheck %s --check-prefix=BF16
// RUN: pmc-opt %s --split-input-file --pmc-add-kernel-wrappers | FileCheck %s --check-prefix=WRAP
// RUN: pmc-opt %s --split-input-file --pmc-test-launch-vectorization="bytes=16" 2>&1 | FileCheck %s --check-prefix=VECTOR

// COPY-LABEL: func.func @strided_copy
// COPY-NOT: memref.copy
// COPY: linalg.copy ins(%{{.*}} : memref<4xf32, strided<[2]>>) outs(%{{.*}} : memref<4xf32>)
func.func @strided_copy(%a: memref<4xf32, strided<[2]>>, %b: memref<4xf32>) {
  memref.copy %a, %b : memref<4xf32, strided<[2]>> to memref<4xf32>
  return
}

// -----

// No call to __truncsfbf2 / __extendbfsf2 is left: integer arithmetic.
// BF16-LABEL: func.func @to_bf16
// BF16-NOT: arith.truncf
// BF16: arith.bitcast
func.func @to_bf16(%x: f32) -> bf16 {
  %y = arith.truncf %x : f32 to bf16
  return %y : bf16
}

// -----

// Integer <-> bf16 conversions go through f32 (LLVM would call __truncsfbf2
// for the f32 -> bf16 step of an i1 -> bf16 cast: a one-hot of labels).
// BF16-LABEL: func.func @integer_bf16
// BF16-NOT: i1 to bf16
// BF16: arith.uitofp %{{.*}} : i1 to f32
// BF16-NOT: to vector<4xbf16>
// BF16: arith.sitofp %{{.*}} : vector<4xi32> to vector<4xf32>
// BF16-NOT: bf16 to i64
// BF16: arith.fptosi %{{.*}} : f32 to i64
// BF16: return
func.func @integer_bf16(%b: i1, %v: vector<4xi32>, %h: bf16) -> (bf16, vector<4xbf16>, i64) {
  %x = arith.uitofp %b : i1 to bf16
  %y = arith.sitofp %v : vector<4xi32> to vector<4xbf16>
  %z = arith.fptosi %h : bf16 to i64
  return %x, %y, %z : bf16, vector<4xbf16>, i64
}

// -----

// WRAP: llvm.func internal @kernel_0_impl(%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr)
// WRAP: llvm.func @kernel_0(%[[ARGS:.*]]: !llvm.ptr) {
// WRAP:   %[[S0:.*]] = llvm.getelementptr %[[ARGS]][0]
// WRAP:   %[[P0:.*]] = llvm.load %[[S0]] : !llvm.ptr -> !llvm.ptr
// WRAP:   %[[S1:.*]] = llvm.getelementptr %[[ARGS]][1]
// WRAP:   %[[P1:.*]] = llvm.load %[[S1]] : !llvm.ptr -> !llvm.ptr
// WRAP:   llvm.call @kernel_0_impl(%[[P0]], %[[P1]])
llvm.func @kernel_0_impl(%a: !llvm.ptr, %b: !llvm.ptr) {
  llvm.return
}

// -----

// An elementwise scf.parallel loop over f32 takes 16-byte vector accesses.
// VECTOR: remark: launch vectorization (cpu test hook): 1 of 1 parallel loops vectorized in kernel_0_impl
// VECTOR: vector.load %{{.*}} {alignment = 16 : i64} : memref<64xf32>, vector<4xf32>
// VECTOR: math.exp %{{.*}} : vector<4xf32>
// VECTOR: vector.store %{{.*}} {alignment = 16 : i64} : memref<64xf32>, vector<4xf32>
func.func @kernel_0_impl(%a: memref<64xf32>, %b: memref<64xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  scf.parallel (%i) = (%c0) to (%c64) step (%c1) {
    %x = memref.load %a[%i] : memref<64xf32>
    %y = math.exp %x : f32
    memref.store %y, %b[%i] : memref<64xf32>
    scf.reduce
  }
  return
}
