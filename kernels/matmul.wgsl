// General tiled matrix product: C = alpha·op(A)·op(B) (+ C when accumulating); the layouts of
// A, B and C and the parameters are in kernels/_matmul_io.wgsl.
// Each 16×16 workgroup computes a 64×64 tile, 4×4 per thread. With NORM, B is scaled by g in
// its tile and each thread adds up Σ A² of its 4 rows from the A values it multiplies.
//!include packed
//!include matmul_io

const BM = 64u;
const BN = 64u;
const BK = 16u;
var<workgroup> a_tile: array<f32, 1024>;  // (BK, BM)
var<workgroup> b_tile: array<f32, 1024>;  // (BK, BN)

@compute @workgroup_size(16, 16)
fn main(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(local_invocation_index) li: u32,
) {
  let row0 = wg.y * BM;
  let col0 = wg.x * BN;
  var acc: array<f32, 16>;
  var sum_sq: array<f32, 4>;  // Σ A² of this thread's rows (NORM)
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    for (var e = li; e < BK * BM; e += 256u) {
      // Consecutive threads read consecutive addresses of the stored layout.
      var kk: u32; var mm: u32;
      if (A_TRANS == 1u) { kk = e / BM; mm = e % BM; } else { mm = e / BK; kk = e % BK; }
      a_tile[kk * BM + mm] = load_a(row0 + mm, k0 + kk);
      var nn: u32;
      if (B_TRANS == 1u) { nn = e / BK; kk = e % BK; } else { kk = e / BN; nn = e % BN; }
      var bv = load_b(col0 + nn, k0 + kk);
      if (NORM == 1u) { bv *= norm_weight(k0 + kk); }
      b_tile[kk * BN + nn] = bv;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      var av: array<f32, 4>;
      var bv: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) {
        av[i] = a_tile[kk * BM + lid.y + 16u * i];
        bv[i] = b_tile[kk * BN + lid.x + 16u * i];
      }
      if (NORM == 1u) {
        for (var i = 0u; i < 4u; i++) { sum_sq[i] = fma(av[i], av[i], sum_sq[i]); }
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
    let scale = row_scale(sum_sq[i]);
    for (var j = 0u; j < 4u; j++) {
      store_c(row0 + lid.y + 16u * i, col0 + lid.x + 16u * j, acc[i * 4u + j] * scale);
    }
  }
}
