// Causal grouped-query attention, forward: o = softmax(q·kᵀ/√HD) · v per head, f32.
// Query t of a sequence is at absolute position pos_offset + t and sees keys 0..pos_offset + t
// (keys come from the KV cache or, in training, the same sequence). Head h reads kv head
// h / (H / KV). Stores the log-sum-exp of each row for the backward pass.
// One workgroup per (query t, head h, sequence b); keys are processed in tiles of 64 with an
// online softmax: each thread scores one key of the tile, then accumulates output dims.
// Dimensions: B sequences, T queries, S key slots per sequence, H heads, KV kv heads, HD ≤ 128.

struct Params {
  T: u32, H: u32, KV: u32, HD: u32,
  pos_offset: u32,
  S: u32,
  scale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;            // (B, T, H, HD)
@group(0) @binding(2) var<storage, read> k: array<f32>;            // (B, S, KV, HD)
@group(0) @binding(3) var<storage, read> v: array<f32>;            // (B, S, KV, HD)
@group(0) @binding(4) var<storage, read_write> o: array<f32>;      // (B, T, H, HD)
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;    // (B, H, T)

const WG = 64u;
var<workgroup> q_row: array<f32, 128>;   // (HD)
var<workgroup> probs: array<f32, 64>;    // (WG) scores, then probabilities of the tile
var<workgroup> tile_stat: f32;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let t = wg.x;
  let h = wg.y;
  let b = wg.z;
  let kvh = h / (p.H / p.KV);
  let q_base = ((b * p.T + t) * p.H + h) * p.HD;
  for (var d = li; d < p.HD; d += WG) { q_row[d] = q[q_base + d] * p.scale; }
  workgroupBarrier();
  let last = p.pos_offset + t;  // last visible key
  let kv_row = p.KV * p.HD;
  let kv_base = b * p.S * kv_row + kvh * p.HD;
  var m = -3.0e38;
  var l = 0.0;
  var acc0 = 0.0;
  var acc1 = 0.0;
  for (var j0 = 0u; j0 <= last; j0 += WG) {
    let j = j0 + li;
    var s = -3.0e38;
    if (j <= last) {
      s = 0.0;
      let kb = kv_base + j * kv_row;
      for (var d = 0u; d < p.HD; d++) { s = fma(q_row[d], k[kb + d], s); }
    }
    probs[li] = s;
    workgroupBarrier();
    if (li == 0u) {
      var mx = m;
      for (var i = 0u; i < WG; i++) { mx = max(mx, probs[i]); }
      tile_stat = mx;
    }
    workgroupBarrier();
    let m_new = tile_stat;
    let pj = select(0.0, exp(s - m_new), j <= last);
    workgroupBarrier();
    probs[li] = pj;
    workgroupBarrier();
    let factor = exp(m - m_new);
    var tile_sum = 0.0;
    acc0 *= factor;
    acc1 *= factor;
    let count = min(WG, last + 1u - j0);
    for (var i = 0u; i < count; i++) {
      let pi = probs[i];
      tile_sum += pi;
      let vb = kv_base + (j0 + i) * kv_row;
      if (li < p.HD) { acc0 = fma(pi, v[vb + li], acc0); }
      if (li + WG < p.HD) { acc1 = fma(pi, v[vb + li + WG], acc1); }
    }
    l = l * factor + tile_sum;
    m = m_new;
    workgroupBarrier();
  }
  let o_base = q_base;
  if (li < p.HD) { o[o_base + li] = acc0 / l; }
  if (li + WG < p.HD) { o[o_base + li + WG] = acc1 / l; }
  if (li == 0u) { lse[(b * p.H + h) * p.T + t] = m + log(l); }
}
