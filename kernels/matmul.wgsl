// General tiled matrix product: C = alpha·op(A)·op(B) (+ C when accumulating).
// Dimensions: M rows of C, N columns of C, K the reduced dimension.
//   A: f32 activations, (M, K) with row stride lda, or stored transposed (K, M) when A_TRANS = 1.
//   B: f32 / bf16 / f16 words (B_DTYPE), stored (N, K) like a Linear weight when B_TRANS = 1
//      (y = x·Wᵀ), or (K, N) when B_TRANS = 0 (dx = dy·W).
//   C: f32, (M, N) with row stride ldc.
// Offsets are in elements. Each 16×16 workgroup computes a 64×64 tile, 4×4 per thread.
//!include packed

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

const BM = 64u;
const BN = 64u;
const BK = 16u;
var<workgroup> a_tile: array<f32, 1024>;  // (BK, BM)
var<workgroup> b_tile: array<f32, 1024>;  // (BK, BN)

fn load_a(m: u32, k: u32) -> f32 {
  if (m >= p.M || k >= p.K) { return 0.0; }
  if (A_TRANS == 1u) { return a[p.a_off + k * p.lda + m]; }
  return a[p.a_off + m * p.lda + k];
}

fn load_b(n: u32, k: u32) -> f32 {
  if (n >= p.N || k >= p.K) { return 0.0; }
  var i: u32;
  if (B_TRANS == 1u) { i = p.b_off + n * p.ldb + k; } else { i = p.b_off + k * p.ldb + n; }
  return packed_value(b[packed_word(i, B_DTYPE)], i, B_DTYPE);
}

@compute @workgroup_size(16, 16)
fn main(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
) {
  let row0 = wg.y * BM;
  let col0 = wg.x * BN;
  var acc: array<f32, 16>;
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    for (var e = li; e < BK * BM; e += 256u) {
      // Consecutive threads read consecutive addresses of the stored layout.
      var kk: u32; var mm: u32;
      if (A_TRANS == 1u) { kk = e / BM; mm = e % BM; } else { mm = e / BK; kk = e % BK; }
      a_tile[kk * BM + mm] = load_a(row0 + mm, k0 + kk);
      var nn: u32;
      if (B_TRANS == 1u) { nn = e / BK; kk = e % BK; } else { kk = e / BN; nn = e % BN; }
      b_tile[kk * BN + nn] = load_b(col0 + nn, k0 + kk);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      var av: array<f32, 4>;
      var bv: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) {
        av[i] = a_tile[kk * BM + lid.y + 16u * i];
        bv[i] = b_tile[kk * BN + lid.x + 16u * i];
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
          acc[i * 4u + j] = fma(av[i], bv[j], acc[i * 4u + j]);
        }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let m = row0 + lid.y + 16u * i;
    if (m >= p.M) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let n = col0 + lid.x + 16u * j;
      if (n >= p.N) { continue; }
      let idx = p.c_off + m * p.ldc + n;
      var v = p.alpha * acc[i * 4u + j];
      if (p.accumulate == 1u) { v += c[idx]; }
      c[idx] = v;
    }
  }
}
