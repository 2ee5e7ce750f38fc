// Inference's RoPE and KV-cache append in one dispatch: rotates the new queries in place, and
// writes the new keys, rotated, and the new values into the cache rows of their positions, in
// the cache's element type (KV_DTYPE: f32, or f16 two per u32 word, element 2i in the low half).
// Row t is the token at absolute position pos_offset + t; rotate-half convention (element i
// pairs with i + HD/2). An invocation rotates two consecutive pairs (j0, j0 + 1) of one head,
// so that with f16 each of its writes fills whole words (HD a multiple of 4 there).
// With ROW_TABLE = 1 (batched decode), each row is a token of its own sequence: row t's
// position and cache slot come from row_table[t] = (slot, position), and its cache row is
// slot·S + position, where the caches hold B sequences of S rows; pos_offset is added to every
// row's position (the step of a chain of batched decode steps).
// Dimensions: T rows, QH query heads, KVH kv heads, HD head dim, S cache rows per sequence,
// B sequences, P table positions.

override KV_DTYPE: u32 = 0u;  // 0 f32, 2 f16
override ROW_TABLE: u32 = 0u;  // 1: per-row (slot, position) from row_table

struct Params { T: u32, q_heads: u32, kv_heads: u32, HD: u32, pos_offset: u32, S: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> q: array<f32>;      // (T, QH, HD)
@group(0) @binding(2) var<storage, read> k_new: array<f32>;        // (T, KVH, HD)
@group(0) @binding(3) var<storage, read> v_new: array<f32>;        // (T, KVH, HD)
@group(0) @binding(4) var<storage, read_write> k_cache: array<u32>; // (B, S, KVH, HD) in KV_DTYPE
@group(0) @binding(5) var<storage, read_write> v_cache: array<u32>; // (B, S, KVH, HD) in KV_DTYPE
@group(0) @binding(6) var<storage, read> cos_t: array<f32>;        // (P, HD/2)
@group(0) @binding(7) var<storage, read> sin_t: array<f32>;        // (P, HD/2)
@group(0) @binding(8) var<storage, read> row_table: array<u32>;    // (T, 2) slot, position; ROW_TABLE

// Writes x to elements i and i + 1 of a cache (i even when f16).
fn store_pair(is_k: bool, i: u32, x: vec2<f32>) {
  if (KV_DTYPE == 2u) {
    if (is_k) { k_cache[i / 2u] = pack2x16float(x); } else { v_cache[i / 2u] = pack2x16float(x); }
    return;
  }
  if (is_k) {
    k_cache[i] = bitcast<u32>(x.x);
    k_cache[i + 1u] = bitcast<u32>(x.y);
  } else {
    v_cache[i] = bitcast<u32>(x.x);
    v_cache[i + 1u] = bitcast<u32>(x.y);
  }
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let half = p.HD / 2u;
  let per_head = (half + 1u) / 2u;  // invocations per head
  let t = gid.y;
  if (gid.x >= (p.q_heads + p.kv_heads) * per_head || t >= p.T) { return; }
  let head = gid.x / per_head;
  let j0 = 2u * (gid.x % per_head);
  let both = j0 + 1u < half;  // false only for the last pair of an odd half (f32 only)
  var pos = p.pos_offset + t;
  var cache_row = pos;
  if (ROW_TABLE == 1u) {
    pos = row_table[2u * t + 1u] + p.pos_offset;
    cache_row = row_table[2u * t] * p.S + pos;
  }
  let ci = pos * half + j0;
  let c = vec2(cos_t[ci], select(0.0, cos_t[ci + 1u], both));
  let s = vec2(sin_t[ci], select(0.0, sin_t[ci + 1u], both));
  if (head < p.q_heads) {
    let base = (t * p.q_heads + head) * p.HD + j0;
    let x1 = vec2(q[base], select(0.0, q[base + 1u], both));
    let x2 = vec2(q[base + half], select(0.0, q[base + half + 1u], both));
    q[base] = x1.x * c.x - x2.x * s.x;
    q[base + half] = x2.x * c.x + x1.x * s.x;
    if (both) {
      q[base + 1u] = x1.y * c.y - x2.y * s.y;
      q[base + half + 1u] = x2.y * c.y + x1.y * s.y;
    }
    return;
  }
  let kvh = head - p.q_heads;
  let src = (t * p.kv_heads + kvh) * p.HD + j0;
  let dst = (cache_row * p.kv_heads + kvh) * p.HD + j0;
  let x1 = vec2(k_new[src], select(0.0, k_new[src + 1u], both));
  let x2 = vec2(k_new[src + half], select(0.0, k_new[src + half + 1u], both));
  let v1 = vec2(v_new[src], select(0.0, v_new[src + 1u], both));
  let v2 = vec2(v_new[src + half], select(0.0, v_new[src + half + 1u], both));
  let r1 = x1 * c - x2 * s;
  let r2 = x2 * c + x1 * s;
  if (both) {
    store_pair(true, dst, r1);
    store_pair(true, dst + half, r2);
    store_pair(false, dst, v1);
    store_pair(false, dst + half, v2);
  } else {  // f32 only: one element of each half
    k_cache[dst] = bitcast<u32>(r1.x);
    k_cache[dst + half] = bitcast<u32>(r2.x);
    v_cache[dst] = bitcast<u32>(v1.x);
    v_cache[dst + half] = bitcast<u32>(v2.x);
  }
}
