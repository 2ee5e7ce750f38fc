// RMSNorm backward for the input (the weight is frozen), Hugging Face Llama semantics in f32:
// dx (+)= rstd · (w·dy − x · rstd² · mean(x · w·dy)), with rstd saved by the forward pass.
// One workgroup per row. Dimensions: R rows, D hidden.
//!include packed
//!include reduce

override W_DTYPE: u32 = 1u;

struct Params { rows: u32, D: u32, accumulate: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;          // (R, D) forward input
@group(0) @binding(2) var<storage, read> w: array<u32>;          // (D), packed
@group(0) @binding(3) var<storage, read> rstd: array<f32>;       // (R) from the forward pass
@group(0) @binding(4) var<storage, read> dy: array<f32>;         // (R, D)
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;   // (R, D)

const WG = 256u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let r = wg.x + wg.y * 65535u;
  if (r >= p.rows) { return; }
  let base = r * p.D;
  var dot = 0.0;
  for (var d = li; d < p.D; d += WG) {
    dot = fma(x[base + d], packed_value(w[packed_word(d, W_DTYPE)], d, W_DTYPE) * dy[base + d], dot);
  }
  let total = workgroup_sum(li, dot);
  let inv = rstd[r];
  let k = inv * inv * inv * total / f32(p.D);
  for (var d = li; d < p.D; d += WG) {
    let wd = packed_value(w[packed_word(d, W_DTYPE)], d, W_DTYPE);
    var g = inv * wd * dy[base + d] - k * x[base + d];
    if (p.accumulate == 1u) { g += dx[base + d]; }
    dx[base + d] = g;
  }
}
