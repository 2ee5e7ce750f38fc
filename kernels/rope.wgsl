// Rotary position embedding, rotate-half convention (element i pairs with i + HD/2), in place,
// on the queries and the keys of the same rows in one dispatch. Row r of each buffer (after its
// row offset) is token t = r % T of its sequence, at absolute position pos_offset + t: in
// decode the keys are the rows a projection just appended to the KV cache. SIGN = 1 rotates
// forward; SIGN = -1 applies the inverse rotation (backward, on the gradients).
// Dimensions: R rows, QH query heads and KH key heads per row, HD head dim, P table positions.

override SIGN: f32 = 1.0;

struct Params {
  rows: u32, T: u32, q_heads: u32, k_heads: u32, HD: u32, pos_offset: u32,
  q_row_off: u32, k_row_off: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> q: array<f32>;  // (R, QH, HD)
@group(0) @binding(2) var<storage, read_write> k: array<f32>;  // (R, KH, HD)
@group(0) @binding(3) var<storage, read> cos_t: array<f32>;    // (P, HD/2)
@group(0) @binding(4) var<storage, read> sin_t: array<f32>;    // (P, HD/2)

// The pair (x1, x2) rotated by the angle whose cosine and sine are c and s.
fn rotate(x1: f32, x2: f32, c: f32, s: f32) -> vec2<f32> {
  return vec2(x1 * c - x2 * s, x2 * c + x1 * s);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let half = p.HD / 2u;
  let i = gid.x;  // pair i of a row: query heads first, then key heads
  let r = gid.y + gid.z * 65535u;
  if (i >= (p.q_heads + p.k_heads) * half || r >= p.rows) { return; }
  let head = i / half;
  let j = i % half;
  let pos = p.pos_offset + r % p.T;
  let c = cos_t[pos * half + j];
  let s = SIGN * sin_t[pos * half + j];
  if (head < p.q_heads) {
    let base = (p.q_row_off + r) * p.q_heads * p.HD + head * p.HD + j;
    let y = rotate(q[base], q[base + half], c, s);
    q[base] = y.x;
    q[base + half] = y.y;
  } else {
    let base = (p.k_row_off + r) * p.k_heads * p.HD + (head - p.q_heads) * p.HD + j;
    let y = rotate(k[base], k[base + half], c, s);
    k[base] = y.x;
    k[base + half] = y.y;
  }
}
