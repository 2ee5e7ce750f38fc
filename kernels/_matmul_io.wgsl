// Shared by kernels/matmul.wgsl and kernels/matmul_vec4.wgsl, included where a kernel says
// `//!include matmul_io` (after `//!include packed`): the layout constants, the parameters
// lib/ops/matmul.ts writes, the bindings of A, B and C, and their element reads and writes.
// Dimensions: M rows of C, N columns of C, K the reduced dimension.
//   A: f32 activations, (M, K) with row stride lda, or stored transposed (K, M) when A_TRANS = 1.
//   B: f32 / bf16 / f16 words (B_DTYPE), stored (N, K) like a Linear weight when B_TRANS = 1
//      (y = x·Wᵀ), or (K, N) when B_TRANS = 0 (dx = dy·W).
//   C: f32, (M, N) with row stride ldc.
// Offsets are in elements. Fusions, off by default:
//   NORM = 1: RMSNorm on A's load (A not transposed): the product uses A(m, k)·g(k)·inv_rms(m),
//     with inv_rms(m) = 1/sqrt(mean over k of A(m, k)² + eps). The kernels scale B (tiled) or
//     A (vec4) by g as they load it, add up each row's Σ A² from the values they multiply
//     anyway, and scale the product by inv_rms at the end: the normalised A is never written.
//   SWIGLU = 1 (A not transposed, not with NORM): A(m, k) is silu(a)·up, with a the stored A
//     (the gate) and up a second (M, K) buffer of the same layout, read as the kernels load A:
//     a down projection's input silu(gate)·up is never written.
//   NORM's g and SWIGLU's up share binding 6 (pro_words: g packed, or up as f32 bits).
//   EPILOGUE, what store_c makes of a value z = alpha·product before it is stored:
//     0: z.
//     1, LoRA: z + ep_scale·Σ_r U(m, r)·L(ep_off + n, r), with U = x·Aᵀ computed beforehand and
//        L the adapter's B, whose rows go with C's columns.
//     2, cross-entropy gradient (C a chunk of logits whose column n is vocabulary id ep_off + n):
//        ep_scale·(exp(z − max_m)/Σexp_m − [n + ep_off = target_m]) from the row statistics of
//        lib/ops/cross_entropy.ts, or 0 for an ignored row (target < 0). The logits are never
//        stored: the LM-head product writes their gradient directly.
//   Its inputs share bindings 7 and 8: ep_f32 holds U (M, R) or the statistics (M, 4), and
//   ep_words holds L (ep_off + N, R) as f32 bits or the targets (M) as i32 bits.
// Bindings a kernel does not use under its constants still need a buffer bound (any readable
// one); lib/ops/matmul.ts binds A there.

override A_TRANS: u32 = 0u;
override B_TRANS: u32 = 1u;
override B_DTYPE: u32 = 0u;
override NORM: u32 = 0u;
override G_DTYPE: u32 = 0u;  // element type of g
override SWIGLU: u32 = 0u;
override EPILOGUE: u32 = 0u;

struct Params {
  M: u32, N: u32, K: u32,
  lda: u32, ldb: u32, ldc: u32,
  a_off: u32, b_off: u32, c_off: u32,
  alpha: f32,
  accumulate: u32,
  eps: f32,       // NORM
  rank: u32,      // EPILOGUE 1: R
  ep_scale: f32,  // EPILOGUE 1: LoRA scale; 2: loss scale
  ep_off: u32,    // EPILOGUE 1: first row of L; 2: vocabulary id of column 0
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;        // (M, K) or (K, M)
@group(0) @binding(2) var<storage, read> b: array<u32>;        // (N, K) or (K, N), packed
@group(0) @binding(3) var<storage, read_write> c: array<f32>;  // (M, N)
@group(0) @binding(6) var<storage, read> pro_words: array<u32>; // (K) g packed, or (M, K) up
@group(0) @binding(7) var<storage, read> ep_f32: array<f32>;   // (M, R) U or (M, 4) statistics
@group(0) @binding(8) var<storage, read> ep_words: array<u32>; // (ep_off + N, R) L or (M) targets

// A(m, k), 0 outside the matrix.
fn load_a(m: u32, k: u32) -> f32 {
  if (m >= p.M || k >= p.K) { return 0.0; }
  var i: u32;
  if (A_TRANS == 1u) { i = p.a_off + k * p.lda + m; } else { i = p.a_off + m * p.lda + k; }
  if (SWIGLU == 1u) { return silu(a[i]) * bitcast<f32>(pro_words[i]); }
  return a[i];
}

// SiLU, as kernels/swiglu.wgsl computes it.
fn silu(x: f32) -> f32 {
  return x / (1.0 + exp(-x));
}

// silu(gate)·up for the 4 elements of A at element i (SWIGLU), gate as loaded from A.
fn swiglu4(gate: vec4<f32>, i: u32) -> vec4<f32> {
  let up = vec4(
    bitcast<f32>(pro_words[i]), bitcast<f32>(pro_words[i + 1u]),
    bitcast<f32>(pro_words[i + 2u]), bitcast<f32>(pro_words[i + 3u]),
  );
  return gate / (1.0 + exp(-gate)) * up;
}

// op(B)(k, n), 0 outside the matrix.
fn load_b(n: u32, k: u32) -> f32 {
  if (n >= p.N || k >= p.K) { return 0.0; }
  var i: u32;
  if (B_TRANS == 1u) { i = p.b_off + n * p.ldb + k; } else { i = p.b_off + k * p.ldb + n; }
  return packed_value(b[packed_word(i, B_DTYPE)], i, B_DTYPE);
}

// g(k), 0 outside the matrix (NORM).
fn norm_weight(k: u32) -> f32 {
  if (k >= p.K) { return 0.0; }
  return packed_value(pro_words[packed_word(k, G_DTYPE)], k, G_DTYPE);
}

// What the product of a row is scaled by: inv_rms from the row's Σ A² when NORM, else 1.
fn row_scale(sum_sq: f32) -> f32 {
  if (NORM == 0u) { return 1.0; }
  return inverseSqrt(sum_sq / f32(p.K) + p.eps);
}

// C(m, n) = the EPILOGUE of alpha·product (+ C(m, n) when accumulating); nothing outside the
// matrix.
fn store_c(m: u32, n: u32, product: f32) {
  if (m >= p.M || n >= p.N) { return; }
  let idx = p.c_off + m * p.ldc + n;
  var v = p.alpha * product;
  if (EPILOGUE == 1u) {
    var branch = 0.0;
    for (var r = 0u; r < p.rank; r++) {
      branch = fma(ep_f32[m * p.rank + r], bitcast<f32>(ep_words[(p.ep_off + n) * p.rank + r]), branch);
    }
    v += p.ep_scale * branch;
  } else if (EPILOGUE == 2u) {
    let label = bitcast<i32>(ep_words[m]);
    if (label < 0) {
      v = 0.0;
    } else {
      let prob = exp(v - ep_f32[m * 4u]) / ep_f32[m * 4u + 1u];
      v = p.ep_scale * (prob - select(0.0, 1.0, u32(label) == p.ep_off + n));
    }
  }
  if (p.accumulate == 1u) { v += c[idx]; }
  c[idx] = v;
}
