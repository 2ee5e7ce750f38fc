// Register-blocked matrix product without workgroup memory: C = alpha·op(A)·op(B) (+ C); the
// layouts of A, B and C and the parameters are in kernels/_matmul_io.wgsl.
// A workgroup owns TM rows of C. Each invocation computes a TM×TN
// block of them (TN consecutive columns of its own: 4 when B is read as (N, K), 8 when B is read
// as (K, N), so that one 16-byte word of a 16-bit B row is all used) in registers, over every SPLIT-th block
// of KB values of k; with SPLIT > 1 the SPLIT invocations of a column group add their partial
// blocks in workgroup memory at the end (kernels/_split_sum.wgsl; in subgroups in the subgroup
// variant, kernels/_split_sum_subgroups.wgsl), otherwise no invocation shares data with another.
// TM = 4, SPLIT = 1 is the register-blocked matmul; TM = 1 is a GEMV for decode (M ≤ 4 rows),
// with SPLIT = WG when invocations should read a weight row side by side.
// With VEC = 1 (a_off and lda multiples of 4, b_off and ldb multiples of 4 words, and both
// buffers a whole number of 16-byte words long) whole blocks are read as vec4 words through a4
// and b4; otherwise, and for the last partial block, element by element through a and b (the
// same buffers: a vec4 view cannot reach the tail of a buffer not a multiple of 16 bytes long).
// With NORM each block of A adds its rows' Σ A² to acc[NORM_AT + i] before it is scaled by g.
//!include packed
//!include matmul_io

override VEC: u32 = 1u;
override WG: u32 = 8u;     // invocations per workgroup, at most 64
override SPLIT: u32 = 1u;  // invocations sharing a column group along K; divides WG
override TM: u32 = 4u;     // rows per workgroup: 1, 2 or 4

@group(0) @binding(4) var<storage, read> a4: array<vec4<f32>>;   // A as 16-byte words
@group(0) @binding(5) var<storage, read> b4: array<vec4<u32>>;   // B as 16-byte words

override TN: u32 = 4u;  // columns per invocation: 4 with B_TRANS, 8 without
const NORM_AT = 32u;    // acc[NORM_AT + i]: Σ A² of row i (NORM)
const ACC = 36u;        // (TM, TN) products, then (TM) Σ A²
const KB = 8u;  // values of k per step

// A block (TM, KB), each row as two vec4: k0..k0+3 and k0+4..k0+7; and a B block: with
// B_TRANS, (TN, KB) in the same way, else (KB, TN) as B (K, N) stores it, row kk as two vec4
// (columns n0..n0+3 and n0+4..n0+7), so that the product is vec4 multiply-adds with no
// transposition.
struct Blocks {
  a: array<vec4<f32>, 8>,   // (TM, 2)
  b: array<vec4<f32>, 16>,  // (TN = 4, 2) with B_TRANS, else (KB, 2)
}

// The 8 consecutive elements of B starting at element i (a multiple of 8), as two vec4.
fn load_b8(i: u32) -> array<vec4<f32>, 2> {
  if (B_DTYPE == 0u) {
    return array(bitcast<vec4<f32>>(b4[i >> 2u]), bitcast<vec4<f32>>(b4[(i >> 2u) + 1u]));
  }
  return unpack8(b4[i >> 3u], B_DTYPE);
}

// The 8 bf16 (dtype 1) or f16 (2) values of 4 words, element 2i in the low half of word i.
fn unpack8(w: vec4<u32>, dtype: u32) -> array<vec4<f32>, 2> {
  if (dtype == 1u) {
    let even = bitcast<vec4<f32>>(w << vec4(16u));
    let odd = bitcast<vec4<f32>>(w & vec4(0xffff0000u));
    return array(vec4(even.x, odd.x, even.y, odd.y), vec4(even.z, odd.z, even.w, odd.w));
  }
  return array(
    vec4(unpack2x16float(w.x), unpack2x16float(w.y)),
    vec4(unpack2x16float(w.z), unpack2x16float(w.w)),
  );
}

// The blocks at k0 read as vec4 words (VEC = 1, k0 + KB ≤ K).
fn load_vec4(m0: u32, n0: u32, k0: u32) -> Blocks {
  var blk: Blocks;
  if (A_TRANS == 0u) {
    for (var i = 0u; i < TM; i++) {
      let at = (p.a_off + min(m0 + i, p.M - 1u) * p.lda + k0) >> 2u;
      blk.a[2u * i] = a4[at];
      blk.a[2u * i + 1u] = a4[at + 1u];
      if (SWIGLU == 1u) {
        blk.a[2u * i] = swiglu4(blk.a[2u * i], at << 2u);
        blk.a[2u * i + 1u] = swiglu4(blk.a[2u * i + 1u], (at + 1u) << 2u);
      }
    }
  } else if (TM == 4u) {
    for (var kk = 0u; kk < KB; kk++) {
      let rows = a4[(p.a_off + (k0 + kk) * p.lda + m0) >> 2u];  // A(m0..m0+3, k0+kk)
      for (var i = 0u; i < TM; i++) { blk.a[2u * i + kk / 4u][kk % 4u] = rows[i]; }
    }
  } else {
    for (var kk = 0u; kk < KB; kk++) {
      for (var i = 0u; i < TM; i++) {
        blk.a[2u * i + kk / 4u][kk % 4u] = a[p.a_off + (k0 + kk) * p.lda + min(m0 + i, p.M - 1u)];
      }
    }
  }
  if (B_TRANS == 1u) {
    for (var j = 0u; j < TN; j++) {
      let col = load_b8(p.b_off + min(n0 + j, p.N - 1u) * p.ldb + k0);
      blk.b[2u * j] = col[0];
      blk.b[2u * j + 1u] = col[1];
    }
  } else {
    for (var kk = 0u; kk < KB; kk++) {
      let row = load_b8(p.b_off + (k0 + kk) * p.ldb + n0);  // B(k0+kk, n0..n0+7)
      blk.b[2u * kk] = row[0];
      blk.b[2u * kk + 1u] = row[1];
    }
  }
  return blk;
}

// The blocks at k0 read element by element, zero outside the matrices.
fn load_scalar(m0: u32, n0: u32, k0: u32) -> Blocks {
  var blk: Blocks;
  for (var kk = 0u; kk < KB; kk++) {
    for (var i = 0u; i < TM; i++) { blk.a[2u * i + kk / 4u][kk % 4u] = load_a(m0 + i, k0 + kk); }
    for (var j = 0u; j < TN; j++) {
      if (B_TRANS == 1u) {
        blk.b[2u * j + kk / 4u][kk % 4u] = load_b(n0 + j, k0 + kk);
      } else {
        blk.b[2u * kk + j / 4u][j % 4u] = load_b(n0 + j, k0 + kk);
      }
    }
  }
  return blk;
}

// NORM: adds the A block's squares to each row's Σ A² (acc[NORM_AT + i]), then scales it by g.
fn normalize(acc: ptr<function, array<f32, ACC>>, blk: ptr<function, Blocks>, k0: u32) {
  var w: array<vec4<f32>, 2>;  // g(k0..k0+7)
  if (G_DTYPE != 0u && k0 + KB <= p.K) {  // 8 values of 16 bits: 4 whole words (k0 % 8 = 0)
    let h = k0 >> 1u;
    w = unpack8(vec4(pro_words[h], pro_words[h + 1u], pro_words[h + 2u], pro_words[h + 3u]), G_DTYPE);
  } else {
    for (var kk = 0u; kk < KB; kk++) { w[kk / 4u][kk % 4u] = norm_weight(k0 + kk); }
  }
  for (var i = 0u; i < TM; i++) {
    let lo = (*blk).a[2u * i];
    let hi = (*blk).a[2u * i + 1u];
    (*acc)[NORM_AT + i] += dot(lo, lo) + dot(hi, hi);
    (*blk).a[2u * i] = lo * w[0];
    (*blk).a[2u * i + 1u] = hi * w[1];
  }
}

// acc(TM, TN) += A block · B block: dot products of rows with B_TRANS, else each row of the
// result as the sum of B's rows scaled by the A row's values.
fn multiply(acc: ptr<function, array<f32, ACC>>, blk: Blocks) {
  for (var i = 0u; i < TM; i++) {
    if (B_TRANS == 1u) {
      for (var j = 0u; j < TN; j++) {
        (*acc)[i * TN + j] += dot(blk.a[2u * i], blk.b[2u * j]) +
          dot(blk.a[2u * i + 1u], blk.b[2u * j + 1u]);
      }
    } else {
      var lo = vec4<f32>();  // columns n0..n0+3
      var hi = vec4<f32>();  // columns n0+4..n0+7
      for (var kk = 0u; kk < KB; kk++) {
        let x = blk.a[2u * i + kk / 4u][kk % 4u];
        lo += x * blk.b[2u * kk];
        hi += x * blk.b[2u * kk + 1u];
      }
      for (var j = 0u; j < 4u; j++) {
        (*acc)[i * TN + j] += lo[j];
        (*acc)[i * TN + 4u + j] += hi[j];
      }
    }
  }
}

var<workgroup> partial: array<f32, 2304>;  // (ACC, WG): acc of every invocation, SPLIT > 1
//!include split_tree
//!include split_sum

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let s = lid.x % SPLIT;  // this invocation's share of K
  let m0 = wg.y * TM;
  let n0 = (wg.x * (WG / SPLIT) + lid.x / SPLIT) * TN;
  var acc: array<f32, ACC>;  // (TM, TN) products, then at NORM_AT (TM) Σ A² of the rows
  let whole = select(0u, p.K / KB * KB, VEC == 1u);  // k below this is read as vec4
  for (var k0 = s * KB; k0 < whole; k0 += SPLIT * KB) {
    var blk = load_vec4(m0, n0, k0);
    if (NORM == 1u) { normalize(&acc, &blk, k0); }
    multiply(&acc, blk);
  }
  for (var k0 = whole + s * KB; k0 < p.K; k0 += SPLIT * KB) {
    var blk = load_scalar(m0, n0, k0);
    if (NORM == 1u) { normalize(&acc, &blk, k0); }
    multiply(&acc, blk);
  }
  if (SPLIT > 1u && !split_sum(&acc, lid.x, s)) { return; }
  // Constant trip counts (no break) let the compiler keep acc in registers.
  for (var i = 0u; i < TM; i++) {
    let scale = row_scale(acc[NORM_AT + i]);
    for (var j = 0u; j < TN; j++) { store_c(m0 + i, n0 + j, acc[i * TN + j] * scale); }
  }
}
