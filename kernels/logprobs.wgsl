// Log-probabilities of one row of logits, as vLLM's raw logprobs: log_softmax of the logits as
// the model gives them (before penalties, temperature, top-k / top-p). Writes the logprob of
// one target id and the top_k largest logprobs with their ids, in descending order, the lowest
// id first on ties. The target id is read from tokens[target_index] (the sampler wrote it
// there, or the host for a prompt token), so only the record is read back, not the logits.
// One workgroup per row. Record at tokens[record_off..]:
//   [0] target logprob (f32 bits), [1, 1 + top_k) top ids, [1 + MAX_TOP, 1 + MAX_TOP + top_k)
//   their logprobs (f32 bits).
// Dimensions: V vocab, K top_k (≤ MAX_TOP).

//!include reduce

struct Params {
  V: u32,
  logits_off: u32,
  target_index: u32,
  record_off: u32,
  top_k: u32,
}

const MAX_TOP = 20u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;       // (V) at logits_off
@group(0) @binding(2) var<storage, read_write> tokens: array<u32>; // target id and the record (1 + 2·MAX_TOP)

const WG = 256u;
var<workgroup> red_f: array<f32, 256>;
var<workgroup> red_u: array<u32, 256>; // keys
var<workgroup> red_i: array<u32, 256>; // ids

// Order-preserving map of f32 to u32: a < b ⇔ key(a) < key(b).
fn key(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

// Whether (ka, ia) comes before (kb, ib) in descending value, ascending id order.
fn before(ka: u32, ia: u32, kb: u32, ib: u32) -> bool {
  return ka > kb || (ka == kb && ia < ib);
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) li: u32) {
  let V = p.V;
  // log Σ exp: the maximum first, then the sum of exp(l − max).
  var m = -3.4e38;
  for (var i = li; i < V; i += WG) { m = max(m, logits[p.logits_off + i]); }
  red_f[li] = m;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) { red_f[li] = max(red_f[li], red_f[li + s]); }
    workgroupBarrier();
  }
  let top = red_f[0];
  workgroupBarrier();
  var part = 0.0;
  for (var i = li; i < V; i += WG) { part += exp(logits[p.logits_off + i] - top); }
  let lse = top + log(workgroup_sum(li, part));
  if (li == 0u) {
    let id = tokens[p.target_index];
    var lp = bitcast<f32>(0x7fc00000u); // NaN when the sampler found no token
    if (id < V) { lp = logits[p.logits_off + id] - lse; }
    tokens[p.record_off] = bitcast<u32>(lp);
  }
  // Top-k by k passes: each finds the first (value, id) after the previous pick.
  var prev_k = 0xffffffffu;
  var prev_i = 0xffffffffu;
  for (var t = 0u; t < p.top_k; t++) {
    var best_k = 0u;
    var best_i = 0xffffffffu;
    for (var i = li; i < V; i += WG) {
      let k = key(logits[p.logits_off + i]);
      let after = t == 0u || before(prev_k, prev_i, k, i);
      if (after && (best_i == 0xffffffffu || before(k, i, best_k, best_i))) {
        best_k = k;
        best_i = i;
      }
    }
    red_u[li] = best_k;
    red_i[li] = best_i;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
      if (li < s) {
        let ok = red_u[li + s];
        let oi = red_i[li + s];
        let mi = red_i[li];
        if (oi != 0xffffffffu && (mi == 0xffffffffu || before(ok, oi, red_u[li], mi))) {
          red_u[li] = ok;
          red_i[li] = oi;
        }
      }
      workgroupBarrier();
    }
    prev_k = red_u[0];
    prev_i = red_i[0];
    workgroupBarrier();
    if (li == 0u) {
      tokens[p.record_off + 1u + t] = prev_i;
      var lp = bitcast<f32>(0x7fc00000u);
      if (prev_i < V) { lp = logits[p.logits_off + prev_i] - lse; }
      tokens[p.record_off + 1u + MAX_TOP + t] = bitcast<u32>(lp);
    }
  }
}
