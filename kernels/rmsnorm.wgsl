// RMSNorm, Hugging Face Llama semantics in f32: y = x · rsqrt(mean(x²) + eps) · w.
// Also stores rstd per row for the backward pass. One workgroup per row.
// Dimensions: R rows, D hidden.
//!include packed
//!include reduce

override W_DTYPE: u32 = 1u;

struct Params { rows: u32, D: u32, eps: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;           // (R, D)
@group(0) @binding(2) var<storage, read> w: array<u32>;           // (D), packed
@group(0) @binding(3) var<storage, read_write> y: array<f32>;     // (R, D)
@group(0) @binding(4) var<storage, read_write> rstd: array<f32>;  // (R)

const WG = 256u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let r = wg.x + wg.y * 65535u;
  if (r >= p.rows) { return; }
  let base = r * p.D;
  var sum = 0.0;
  for (var d = li; d < p.D; d += WG) {
    let v = x[base + d];
    sum = fma(v, v, sum);
  }
  let total = workgroup_sum(li, sum);
  let inv = inverseSqrt(total / f32(p.D) + p.eps);
  for (var d = li; d < p.D; d += WG) {
    y[base + d] = x[base + d] * inv * packed_value(w[packed_word(d, W_DTYPE)], d, W_DTYPE);
  }
  if (li == 0u) { rstd[r] = inv; }
}
