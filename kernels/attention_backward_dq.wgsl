// Causal grouped-query attention backward, part 1 of 2 (training case: S = T, no position
// offset). Per query row: delta = Σ_d dO·O (stored for part 2), then with probabilities
// recomputed from q, k and the forward's log-sum-exp, p_j = exp(q·k_j/√HD − lse),
// dS_j = p_j · (dO·v_j − delta) and dq = Σ_j dS_j · k_j / √HD.
// One workgroup per (query t, head h, sequence b); keys in tiles of 64: each thread scores one
// key of the tile, then accumulates output dims. No atomics: every dq row has one writer.
// Dimensions: B sequences, T tokens, H heads, KV kv heads, HD ≤ 128.

struct Params { T: u32, H: u32, KV: u32, HD: u32, scale: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;            // (B, T, H, HD)
@group(0) @binding(2) var<storage, read> k: array<f32>;            // (B, T, KV, HD)
@group(0) @binding(3) var<storage, read> v: array<f32>;            // (B, T, KV, HD)
@group(0) @binding(4) var<storage, read> o: array<f32>;            // (B, T, H, HD) forward output
@group(0) @binding(5) var<storage, read> lse: array<f32>;          // (B, H, T) from the forward
@group(0) @binding(6) var<storage, read> d_o: array<f32>;          // (B, T, H, HD)
@group(0) @binding(7) var<storage, read_write> dq: array<f32>;     // (B, T, H, HD)
@group(0) @binding(8) var<storage, read_write> delta: array<f32>;  // (B, H, T)

const WG = 64u;
var<workgroup> q_row: array<f32, 128>;   // (HD)
var<workgroup> do_row: array<f32, 128>;  // (HD)
var<workgroup> ds: array<f32, 64>;       // (WG) partial sums of delta, then dS of the tile

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let t = wg.x;
  let h = wg.y;
  let b = wg.z;
  let kvh = h / (p.H / p.KV);
  let q_base = ((b * p.T + t) * p.H + h) * p.HD;
  var part = 0.0;
  for (var d = li; d < p.HD; d += WG) {
    q_row[d] = q[q_base + d];
    let g = d_o[q_base + d];
    do_row[d] = g;
    part = fma(g, o[q_base + d], part);
  }
  ds[li] = part;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) { ds[li] += ds[li + s]; }
    workgroupBarrier();
  }
  let dlt = ds[0];
  let row = (b * p.H + h) * p.T + t;
  let l = lse[row];
  workgroupBarrier();
  if (li == 0u) { delta[row] = dlt; }
  let kv_row = p.KV * p.HD;
  let kv_base = b * p.T * kv_row + kvh * p.HD;
  var acc0 = 0.0;
  var acc1 = 0.0;
  for (var j0 = 0u; j0 <= t; j0 += WG) {
    let j = j0 + li;
    var dsj = 0.0;
    if (j <= t) {
      let kb = kv_base + j * kv_row;
      var s = 0.0;
      var dp = 0.0;
      for (var d = 0u; d < p.HD; d++) {
        s = fma(q_row[d], k[kb + d], s);
        dp = fma(do_row[d], v[kb + d], dp);
      }
      dsj = exp(s * p.scale - l) * (dp - dlt);
    }
    ds[li] = dsj;
    workgroupBarrier();
    let count = min(WG, t + 1u - j0);
    for (var i = 0u; i < count; i++) {
      let kb = kv_base + (j0 + i) * kv_row;
      if (li < p.HD) { acc0 = fma(ds[i], k[kb + li], acc0); }
      if (li + WG < p.HD) { acc1 = fma(ds[i], k[kb + li + WG], acc1); }
    }
    workgroupBarrier();
  }
  if (li < p.HD) { dq[q_base + li] = acc0 * p.scale; }
  if (li + WG < p.HD) { dq[q_base + li + WG] = acc1 * p.scale; }
}
