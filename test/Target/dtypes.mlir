// RUN: pmc-opt compile %s -o %t.pmc
// RUN: %python %S/Inputs/dtypes_check.py pmc-run %t.pmc %t

// Kernels over every element kind: f16 computed in f32, unsigned integer
// arithmetic, signed division truncating toward zero, bool logic, f64, casts,
// and bf16 (compiled and run; checked through its f32 cast).

func.func @main(%h: tensor<4xf16> {pmc.name = "h"}, %u: tensor<4xui8> {pmc.name = "u"},
                %i: tensor<4xi32> {pmc.name = "i"}, %b: tensor<4xi1> {pmc.name = "b"},
                %d: tensor<2x2xf64> {pmc.name = "d"})
    -> (tensor<4xf16> {pmc.name = "h_out"}, tensor<4xui8> {pmc.name = "u_out"},
        tensor<4xi32> {pmc.name = "i_out"}, tensor<4xi1> {pmc.name = "b_out"},
        tensor<2xf64> {pmc.name = "d_out"}, tensor<4xf32> {pmc.name = "bf_out"},
        tensor<4xi64> {pmc.name = "cast_out"}) {
  // f16: exp(h) * 2
  %two = pmc.constant dense<2.0> : tensor<4xf16>
  %he = pmc.exp %h : tensor<4xf16>
  %h1 = pmc.mul %he, %two : (tensor<4xf16>, tensor<4xf16>) -> tensor<4xf16>
  // ui8: max(u / 3, 7) - u % nothing; 200 / 3 = 66 unsigned
  %three = pmc.constant dense<3> : tensor<4xui8>
  %seven = pmc.constant dense<7> : tensor<4xui8>
  %ud = pmc.div %u, %three : (tensor<4xui8>, tensor<4xui8>) -> tensor<4xui8>
  %u1 = pmc.max %ud, %seven : (tensor<4xui8>, tensor<4xui8>) -> tensor<4xui8>
  // i32: i / -4 truncates toward zero, then abs
  %m4 = pmc.constant dense<-4> : tensor<4xi32>
  %id = pmc.div %i, %m4 : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi32>
  %i1 = pmc.abs %id : tensor<4xi32>
  // bool: xor(b, i > 0)
  %zero = pmc.constant dense<0> : tensor<4xi32>
  %pos = pmc.greater %i, %zero : (tensor<4xi32>, tensor<4xi32>) -> tensor<4xi1>
  %b1 = pmc.xor %b, %pos : (tensor<4xi1>, tensor<4xi1>) -> tensor<4xi1>
  // f64: row sums of sqrt(d)
  %ds = pmc.sqrt %d : tensor<2x2xf64>
  %d1 = pmc.reduce_sum %ds {axes = array<i64: 1>} : (tensor<2x2xf64>) -> tensor<2xf64>
  // bf16 round trip of h (exact for these values)
  %bf = pmc.cast %h : tensor<4xf16> to tensor<4xbf16>
  %bfn = pmc.neg %bf : tensor<4xbf16>
  %bf1 = pmc.cast %bfn : tensor<4xbf16> to tensor<4xf32>
  // casts: f16 -> i64 truncates toward zero
  %c = pmc.cast %h : tensor<4xf16> to tensor<4xi64>
  return %h1, %u1, %i1, %b1, %d1, %bf1, %c
      : tensor<4xf16>, tensor<4xui8>, tensor<4xi32>, tensor<4xi1>, tensor<2xf64>, tensor<4xf32>, tensor<4xi64>
}
