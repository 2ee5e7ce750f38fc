// Next-token sampling on the GPU, Hugging Face semantics in order: repetition penalty over the
// seen ids, OpenAI's presence and frequency penalties over the generated ids' counts,
// temperature (0 = argmax, lowest id on ties), min-p (ids at least min_p times as likely as
// the best), top-k (ties with the k-th kept), top-p (the smallest most-likely set whose mass
// reaches p of the kept mass; ties at the boundary kept), then one draw by inverse CDF in id
// order with u = hash(seed, step).
// Thresholds are found by bisection over the order-preserving u32 keys of the f32 scores,
// so they are exact. One workgroup; the chosen id goes to tokens[out_index] and ids[ids_index]
// (the next decode step's input), and its count in seen goes up by one.
// Dimensions: V vocab.

//!include hash
//!include reduce

struct Params {
  V: u32,
  temperature: f32,
  top_k: u32,
  top_p: f32,
  penalty: f32,
  seed: u32,
  step: u32,
  out_index: u32,
  logits_off: u32,
  seen_off: u32,
  ids_index: u32,
  presence: f32,
  frequency: f32,
  min_p: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;       // (V) at logits_off
@group(0) @binding(2) var<storage, read_write> seen: array<u32>;   // (V) at seen_off: bit 31 = in the prompt, low bits = times generated
@group(0) @binding(3) var<storage, read_write> tokens: array<u32>; // (N) sampled ids
@group(0) @binding(4) var<storage, read_write> ids: array<u32>;    // (≥1) next step's input id

const WG = 256u;
var<workgroup> red_f: array<f32, 256>;
var<workgroup> red_u: array<u32, 256>;
var<workgroup> chosen: u32;

const IN_PROMPT = 0x80000000u;

fn score(i: u32) -> f32 {
  var l = logits[p.logits_off + i];
  let s = seen[p.seen_off + i];
  if (p.penalty != 1.0 && s != 0u) {
    l = select(l / p.penalty, l * p.penalty, l < 0.0);
  }
  let count = f32(s & ~IN_PROMPT);
  if (count > 0.0) { l -= count * p.frequency + p.presence; }
  return l;
}

// Order-preserving map of f32 to u32: a < b ⇔ key(a) < key(b).
fn key(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

fn sum_u(li: u32, v: u32) -> u32 {
  red_u[li] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) { red_u[li] += red_u[li + s]; }
    workgroupBarrier();
  }
  let total = red_u[0];
  workgroupBarrier();
  return total;
}

// Weight of id i: exp((score − max)/T).
fn weight(i: u32, top: f32) -> f32 {
  return exp((score(i) - top) / p.temperature);
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) li: u32) {
  let V = p.V;
  // Argmax, lowest id on ties: each thread scans ids li, li+WG, ...; the pairs are reduced.
  var best_v = -3.4e38;
  var best_i = 0xffffffffu;
  for (var i = li; i < V; i += WG) {
    let s = score(i);
    if (s > best_v) { best_v = s; best_i = i; }
  }
  red_f[li] = best_v;
  red_u[li] = best_i;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) {
      let ov = red_f[li + s];
      let oi = red_u[li + s];
      if (ov > red_f[li] || (ov == red_f[li] && oi < red_u[li])) {
        red_f[li] = ov;
        red_u[li] = oi;
      }
    }
    workgroupBarrier();
  }
  let top = red_f[0];
  let argmax = red_u[0];
  workgroupBarrier();
  if (p.temperature == 0.0) {
    if (li == 0u) { chosen = argmax; }
  } else {
    // Min-p: keep scores ≥ top + T·ln(min_p), i.e. weights ≥ min_p (a key floor for the rest).
    var floor = 0u;
    if (p.min_p > 0.0) { floor = key(top + p.temperature * log(p.min_p)); }
    // Top-k: the largest key K with count(key ≥ K) ≥ k among the kept (bisection over u32 keys).
    var lo = floor;
    if (p.top_k > 0u && p.top_k < V) {
      var hi = 0xffffffffu;
      for (var it = 0u; it < 32u; it++) {
        let mid = lo + (hi - lo) / 2u + ((hi - lo) & 1u); // ceil, without overflow
        var c = 0u;
        for (var i = li; i < V; i += WG) { c += select(0u, 1u, key(score(i)) >= mid); }
        if (sum_u(li, c) >= p.top_k) { lo = mid; } else { hi = mid - 1u; }
      }
    }
    // Top-p: the largest key ≥ lo whose kept mass reaches top_p of the top-k mass.
    var kmass = 0.0;
    for (var i = li; i < V; i += WG) {
      if (key(score(i)) >= lo) { kmass += weight(i, top); }
    }
    let total_k = workgroup_sum(li, kmass);
    if (p.top_p < 1.0) {
      let goal = p.top_p * total_k;
      var plo = lo;
      var phi = key(top);
      for (var it = 0u; it < 32u; it++) {
        let mid = plo + (phi - plo) / 2u + ((phi - plo) & 1u);
        var m = 0.0;
        for (var i = li; i < V; i += WG) {
          if (key(score(i)) >= mid) { m += weight(i, top); }
        }
        if (workgroup_sum(li, m) >= goal) { plo = mid; } else { phi = mid - 1u; }
      }
      lo = plo;
    }
    // Draw: each thread owns a contiguous block of ids; block masses are scanned in id order.
    let block = (V + WG - 1u) / WG;
    let start = li * block;
    let end = min(start + block, V);
    var bmass = 0.0;
    for (var i = start; i < end; i++) {
      if (key(score(i)) >= lo) { bmass += weight(i, top); }
    }
    red_f[li] = bmass;
    workgroupBarrier();
    if (li == 0u) {
      var acc = 0.0;
      for (var t = 0u; t < WG; t++) {
        let m = red_f[t];
        red_f[t] = acc;
        acc += m;
      }
      red_u[0] = bitcast<u32>(acc);
      chosen = argmax; // if rounding leaves the draw past the last block
    }
    workgroupBarrier();
    let total = bitcast<f32>(red_u[0]);
    let u = f32(hash2(p.seed, p.step) >> 8u) * (1.0 / 16777216.0) * total;
    let before = red_f[li];
    if (u >= before && u < before + bmass) {
      var r = u - before;
      var pick = 0xffffffffu;
      for (var i = start; i < end; i++) {
        if (key(score(i)) < lo) { continue; }
        pick = i;
        let w = weight(i, top);
        if (r < w) { break; }
        r -= w;
      }
      chosen = pick;
    }
    workgroupBarrier();
  }
  workgroupBarrier();
  if (li == 0u) {
    let id = chosen;
    tokens[p.out_index] = id;
    ids[p.ids_index] = id;
    if (id < V) { seen[p.seen_off + id] += 1u; }
  }
}
