// Causal grouped-query attention backward, part 2 of 2 (training case: S = T, no position
// offset), after part 1 has stored delta. Per key row j of kv head g, summing over the query
// heads h of the group and the queries t ≥ j, with p = exp(q_t·k_j/√HD − lse[t]):
// dv_j = Σ p · dO_t and dk_j = Σ p · (dO_t·v_j − delta[t]) · q_t / √HD.
// One workgroup per (key j, kv head g, sequence b); queries in tiles of 64: each thread scores
// one query of the tile, then accumulates output dims. No atomics: every row has one writer.
// Dimensions: B sequences, T tokens, H heads, KV kv heads, HD ≤ 128.

struct Params { T: u32, H: u32, KV: u32, HD: u32, scale: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;          // (B, T, H, HD)
@group(0) @binding(2) var<storage, read> k: array<f32>;          // (B, T, KV, HD)
@group(0) @binding(3) var<storage, read> v: array<f32>;          // (B, T, KV, HD)
@group(0) @binding(4) var<storage, read> lse: array<f32>;        // (B, H, T) from the forward
@group(0) @binding(5) var<storage, read> d_o: array<f32>;        // (B, T, H, HD)
@group(0) @binding(6) var<storage, read> delta: array<f32>;      // (B, H, T) from part 1
@group(0) @binding(7) var<storage, read_write> dk: array<f32>;   // (B, T, KV, HD)
@group(0) @binding(8) var<storage, read_write> dv: array<f32>;   // (B, T, KV, HD)

const WG = 64u;
var<workgroup> k_row: array<f32, 128>;  // (HD)
var<workgroup> v_row: array<f32, 128>;  // (HD)
var<workgroup> probs: array<f32, 64>;   // (WG) p of the tile
var<workgroup> ds: array<f32, 64>;      // (WG) dS of the tile

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let j = wg.x;
  let g = wg.y;
  let b = wg.z;
  let group_size = p.H / p.KV;
  let kv_base = ((b * p.T + j) * p.KV + g) * p.HD;
  for (var d = li; d < p.HD; d += WG) {
    k_row[d] = k[kv_base + d];
    v_row[d] = v[kv_base + d];
  }
  workgroupBarrier();
  var dk0 = 0.0;
  var dk1 = 0.0;
  var dv0 = 0.0;
  var dv1 = 0.0;
  for (var h = g * group_size; h < (g + 1u) * group_size; h++) {
    let stat_base = (b * p.H + h) * p.T;
    for (var t0 = j; t0 < p.T; t0 += WG) {
      let t = t0 + li;
      var pt = 0.0;
      var dst = 0.0;
      if (t < p.T) {
        let qb = ((b * p.T + t) * p.H + h) * p.HD;
        var s = 0.0;
        var dp = 0.0;
        for (var d = 0u; d < p.HD; d++) {
          s = fma(q[qb + d], k_row[d], s);
          dp = fma(d_o[qb + d], v_row[d], dp);
        }
        pt = exp(s * p.scale - lse[stat_base + t]);
        dst = pt * (dp - delta[stat_base + t]);
      }
      probs[li] = pt;
      ds[li] = dst;
      workgroupBarrier();
      let count = min(WG, p.T - t0);
      for (var i = 0u; i < count; i++) {
        let qb = ((b * p.T + t0 + i) * p.H + h) * p.HD;
        if (li < p.HD) {
          dv0 = fma(probs[i], d_o[qb + li], dv0);
          dk0 = fma(ds[i], q[qb + li], dk0);
        }
        if (li + WG < p.HD) {
          dv1 = fma(probs[i], d_o[qb + li + WG], dv1);
          dk1 = fma(ds[i], q[qb + li + WG], dk1);
        }
      }
      workgroupBarrier();
    }
  }
  if (li < p.HD) {
    dk[kv_base + li] = dk0 * p.scale;
    dv[kv_base + li] = dv0;
  }
  if (li + WG < p.HD) {
    dk[kv_base + li + WG] = dk1 * p.scale;
    dv[kv_base + li + WG] = dv1;
  }
}
