// Transposition of a stored matrix: dst (C, R) = src (R, C)ᵀ, element for element (no
// conversion). 16-bit elements (bf16, f16) are packed two per word, element 2i in the low half;
// 32-bit elements (f32) one per word. Each invocation writes one word of dst. Dimensions: R
// rows and C columns of src.

struct Params {
  rows: u32,  // R
  cols: u32,  // C
  half: u32,  // 1: 16-bit elements, two per word; 0: 32-bit
  words: u32, // words of dst
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;         // (R, C)
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;   // (C, R)

// The bits of dst element e (16 or 32 of them): src element (e % R, e / R).
fn element(e: u32) -> u32 {
  let i = (e % p.rows) * p.cols + e / p.rows;
  if (p.half == 0u) { return src[i]; }
  return (src[i >> 1u] >> (16u * (i & 1u))) & 0xffffu;
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let w = gid.x + gid.y * 65535u * 256u;
  if (w >= p.words) { return; }
  if (p.half == 0u) {
    dst[w] = element(w);
    return;
  }
  let n = p.rows * p.cols;
  let lo = element(2u * w);
  let hi = select(0u, element(2u * w + 1u), 2u * w + 1u < n);
  dst[w] = lo | (hi << 16u);
}
