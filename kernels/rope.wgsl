// Rotary position embedding, rotate-half convention (element i pairs with i + HD/2), in place.
// Row r of the buffer (after row_off) is token t = r % T of its sequence, at absolute position
// pos_offset + t. SIGN = 1 rotates forward; SIGN = -1 applies the inverse rotation (backward).
// Dimensions: R rows, NH heads per row, HD head dim, P table positions.

override SIGN: f32 = 1.0;

struct Params { rows: u32, T: u32, n_heads: u32, HD: u32, pos_offset: u32, row_off: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;  // (R, NH, HD)
@group(0) @binding(2) var<storage, read> cos_t: array<f32>;    // (P, HD/2)
@group(0) @binding(3) var<storage, read> sin_t: array<f32>;    // (P, HD/2)

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let half = p.HD / 2u;
  let i = gid.x;
  let r = gid.y + gid.z * 65535u;
  if (i >= p.n_heads * half || r >= p.rows) { return; }
  let head = i / half;
  let j = i % half;
  let pos = p.pos_offset + r % p.T;
  let c = cos_t[pos * half + j];
  let s = SIGN * sin_t[pos * half + j];
  let base = (p.row_off + r) * p.n_heads * p.HD + head * p.HD;
  let x1 = x[base + j];
  let x2 = x[base + j + half];
  x[base + j] = x1 * c - x2 * s;
  x[base + j + half] = x2 * c + x1 * s;
}
