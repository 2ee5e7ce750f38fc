// Combines the partial softmaxes of a split-context attention forward (kernels/attention.wgsl
// with SPLIT = 1) into its output and log-sum-exp. Chunk c of a row holds m_c (max score),
// l_c = Σ exp(score − m_c) and acc_c = Σ exp(score − m_c)·v over its keys; with M = max_c m_c
// and L = Σ_c l_c·exp(m_c − M), the row's output is Σ_c acc_c·exp(m_c − M) / L and its lse
// M + log L. A chunk the row sees no key of has m_c = −3e38 and l_c = 0, so its weight is 0;
// chunk 0 holds key 0, which every row sees, so M is finite.
// Dimensions: B sequences, T queries, H heads, HD head dim, NC chunks.
// One workgroup per row (b, t, h); invocation i owns output elements i, i + 64, ... Each
// invocation recomputes M, L and the weights exp(m_c − M) from the same NC values: little next
// to its NC reads per element, and no workgroup memory or barrier.

struct Params {
  T: u32, H: u32, HD: u32,
  chunks: u32,  // NC
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> part: array<f32>;        // (B, T, H, NC, HD + 2)
@group(0) @binding(2) var<storage, read_write> o: array<f32>;     // (B, T, H, HD)
@group(0) @binding(3) var<storage, read_write> lse: array<f32>;   // (B, H, T)

const WG = 64u;
const MASKED = -3.0e38;  // m of a chunk without visible keys (MASKED in attention.wgsl)

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let row = wg.x;  // (b·T + t)·H + h
  let record = p.HD + 2u;
  let base = row * p.chunks * record;
  var m = MASKED;
  for (var c = 0u; c < p.chunks; c++) { m = max(m, part[base + c * record + p.HD]); }
  var l = 0.0;
  for (var c = 0u; c < p.chunks; c++) {
    let at = base + c * record + p.HD;
    l += part[at + 1u] * exp(part[at] - m);
  }
  for (var d = li; d < p.HD; d += WG) {
    var sum = 0.0;
    for (var c = 0u; c < p.chunks; c++) {
      let at = base + c * record;
      sum += part[at + d] * exp(part[at + p.HD] - m);
    }
    o[row * p.HD + d] = sum / l;
  }
  if (li == 0u) {
    let b = row / (p.T * p.H);
    let t = (row / p.H) % p.T;
    lse[(b * p.H + row % p.H) * p.T + t] = m + log(l);
  }
}
