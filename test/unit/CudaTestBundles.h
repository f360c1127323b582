//===- CudaTestBundles.h - small cuda bundles for the CUDA unit tests ------===//
#ifndef PMC_TEST_UNIT_CUDATESTBUNDLES_H
#define PMC_TEST_UNIT_CUDATESTBUNDLES_H

#include "TestUtil.h"

namespace pmc::test {

/// Two entries checked with `ptxas -arch=sm_80` and `-arch=sm_90`:
/// row_max(h[4x16], s[4]): s[r] = max_j h[r, j] (4 threads);
/// scale(h, s, y[4x16]): y[i] = h[i] - s[i / 16] (64 threads).
inline const char *kTestPtx = R"PTX(.version 7.0
.target sm_80
.address_size 64

.visible .entry row_max(.param .u64 h, .param .u64 s)
{
  .reg .pred %p<3>;
  .reg .b32 %r<6>;
  .reg .f32 %f<4>;
  .reg .b64 %rd<8>;
  ld.param.u64 %rd1, [h];
  ld.param.u64 %rd2, [s];
  cvta.to.global.u64 %rd1, %rd1;
  cvta.to.global.u64 %rd2, %rd2;
  mov.u32 %r1, %tid.x;
  setp.ge.u32 %p1, %r1, 4;
  @%p1 bra END;
  mul.lo.u32 %r2, %r1, 16;
  mul.wide.u32 %rd3, %r2, 4;
  add.s64 %rd3, %rd1, %rd3;
  ld.global.f32 %f1, [%rd3];
  mov.u32 %r3, 1;
LOOP:
  setp.ge.u32 %p2, %r3, 16;
  @%p2 bra STORE;
  mul.wide.u32 %rd4, %r3, 4;
  add.s64 %rd5, %rd3, %rd4;
  ld.global.f32 %f2, [%rd5];
  max.f32 %f1, %f1, %f2;
  add.u32 %r3, %r3, 1;
  bra LOOP;
STORE:
  mul.wide.u32 %rd6, %r1, 4;
  add.s64 %rd7, %rd2, %rd6;
  st.global.f32 [%rd7], %f1;
END:
  ret;
}

.visible .entry scale(.param .u64 h, .param .u64 s, .param .u64 y)
{
  .reg .pred %p<2>;
  .reg .b32 %r<4>;
  .reg .f32 %f<4>;
  .reg .b64 %rd<10>;
  ld.param.u64 %rd1, [h];
  ld.param.u64 %rd2, [s];
  ld.param.u64 %rd3, [y];
  cvta.to.global.u64 %rd1, %rd1;
  cvta.to.global.u64 %rd2, %rd2;
  cvta.to.global.u64 %rd3, %rd3;
  mov.u32 %r1, %tid.x;
  setp.ge.u32 %p1, %r1, 64;
  @%p1 bra END;
  mul.wide.u32 %rd4, %r1, 4;
  add.s64 %rd5, %rd1, %rd4;
  ld.global.f32 %f1, [%rd5];
  shr.u32 %r2, %r1, 4;
  mul.wide.u32 %rd6, %r2, 4;
  add.s64 %rd7, %rd2, %rd6;
  ld.global.f32 %f2, [%rd7];
  sub.f32 %f3, %f1, %f2;
  add.s64 %rd8, %rd3, %rd4;
  st.global.f32 [%rd8], %f3;
END:
  ret;
}
)PTX";

/// A manifest for a cuda bundle on `devices` ranks over mesh `tp`.
inline json cudaManifest(const json &inputs, const json &outputs, int devices = 1,
                         bool ptx = true) {
  json m = manifest(inputs, outputs, false);
  m["target"] = "cuda";
  m["cuda"] = {{"ptx", json::array()}, {"kernel_abi", "bare-pointer"}, {"producer", "tests"}};
  if (ptx)
    m["cuda"]["ptx"].push_back({{"chip", "sm_80"}, {"section", "kernels.ptx.sm_80"}});
  if (devices > 1) {
    m["devices"] = devices;
    m["mesh"] = {{"axes", {{{"name", "tp"}, {"size", devices}}}}};
    m["ranks"] = json::array();
    for (int r = 0; r < devices; ++r)
      m["ranks"].push_back({{"rank", r}, {"program", "rank" + std::to_string(r) + ".program"}});
  }
  return m;
}

/// y = h - rowmax(h) with h = x[4x8] · w[8x16]: a matmul, then two launches
/// of one kernel sharing a scratch buffer.
inline json cudaProgram() {
  return {{"rank", 0},
          {"buffers",
           {{{"id", 0}, {"dtype", "float32"}, {"shape", {4, 8}}, {"kind", "input"}, {"input", 0}},
            {{"id", 1}, {"dtype", "float32"}, {"shape", {8, 16}}, {"kind", "weight"}, {"section", "w/0"}},
            {{"id", 2}, {"dtype", "float32"}, {"shape", {4, 16}}, {"kind", "temp"}},
            {{"id", 3}, {"dtype", "float32"}, {"shape", {4}}, {"kind", "scratch"}},
            {{"id", 4}, {"dtype", "float32"}, {"shape", {4, 16}}, {"kind", "temp"}}}},
          {"commands",
           {{{"op", "matmul"}, {"a", 0}, {"b", 1}, {"c", 2}, {"trans_a", false}, {"trans_b", false}},
            {{"op", "launch"}, {"kernel", "kernel_0"}, {"function", "row_max"}, {"grid", {1, 1, 1}},
             {"block", {4, 1, 1}}, {"shared_bytes", 0}, {"args", {2, 3}}, {"writes", {3}}},
            {{"op", "launch"}, {"kernel", "kernel_0"}, {"function", "scale"}, {"grid", {1, 1, 1}},
             {"block", {64, 1, 1}}, {"shared_bytes", 0}, {"args", {2, 3, 4}}, {"writes", {4}}}}},
          {"outputs", {4}}};
}

/// Writes the bundle of cudaProgram() (after `edit`) with weight `w`.
inline std::string writeCudaBundle(const TempDir &dir, const std::string &name,
                                   const HostTensor &w, json program = cudaProgram(),
                                   json man = cudaManifest(spec("x", "float32", {4, 8}),
                                                           spec("y", "float32", {4, 16}))) {
  return writeBundle(dir, name, man, program, "",
                     {{"kernels.ptx.sm_80", kTestPtx}, {"w/0", bytesOf(w)}});
}

} // namespace pmc::test

#endif // PMC_TEST_UNIT_CUDATESTBUNDLES_H
