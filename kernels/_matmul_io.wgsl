// Shared by kernels/matmul.wgsl and kernels/matmul_vec4.wgsl, included where a kernel says
// `//!include matmul_io` (after `//!include packed`): the layout constants, the parameters
// lib/ops/matmul.ts writes, the bindings of A, B and C, and their element reads and writes.
// Dimensions: M rows of C, N columns of C, K the reduced dimension.
//   A: f32 activations, (M, K) with row stride lda, or stored transposed (K, M) when A_TRANS = 1.
//   B: f32 / bf16 / f16 words (B_DTYPE), stored (N, K) like a Linear weight when B_TRANS = 1
//      (y = x·Wᵀ), or (K, N) when B_TRANS = 0 (dx = dy·W).
//   C: f32, (M, N) with row stride ldc.
// Offsets are in elements.

override A_TRANS: u32 = 0u;
override B_TRANS: u32 = 1u;
override B_DTYPE: u32 = 0u;

struct Params {
  M: u32, N: u32, K: u32,
  lda: u32, ldb: u32, ldc: u32,
  a_off: u32, b_off: u32, c_off: u32,
  alpha: f32,
  accumulate: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;        // (M, K) or (K, M)
@group(0) @binding(2) var<storage, read> b: array<u32>;        // (N, K) or (K, N), packed
@group(0) @binding(3) var<storage, read_write> c: array<f32>;  // (M, N)

// A(m, k), 0 outside the matrix.
fn load_a(m: u32, k: u32) -> f32 {
  if (m >= p.M || k >= p.K) { return 0.0; }
  var i: u32;
  if (A_TRANS == 1u) { i = p.a_off + k * p.lda + m; } else { i = p.a_off + m * p.lda + k; }
  return a[i];
}

// op(B)(k, n), 0 outside the matrix.
fn load_b(n: u32, k: u32) -> f32 {
  if (n >= p.N || k >= p.K) { return 0.0; }
  var i: u32;
  if (B_TRANS == 1u) { i = p.b_off + n * p.ldb + k; } else { i = p.b_off + k * p.ldb + n; }
  return packed_value(b[packed_word(i, B_DTYPE)], i, B_DTYPE);
}

// C(m, n) = alpha·product (+ C(m, n) when accumulating); nothing outside the matrix.
fn store_c(m: u32, n: u32, product: f32) {
  if (m >= p.M || n >= p.N) { return; }
  let idx = p.c_off + m * p.ldc + n;
  var v = p.alpha * product;
  if (p.accumulate == 1u) { v += c[idx]; }
  c[idx] = v;
}
