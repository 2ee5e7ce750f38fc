// Inverted dropout with a counter-based mask: y (+)= x · keep / (1 − p), where element i is
// dropped when hash(seed, i) < threshold = round(p·2³²). The mask depends only on (seed, i),
// so the backward pass re-applies it to gradients. lib/reference/dropout.ts ports the hash.
// Dimensions: N elements.

//!include hash

struct Params { n: u32, seed: u32, threshold: u32, scale: f32, accumulate: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;         // (N)
@group(0) @binding(2) var<storage, read_write> y: array<f32>;   // (N)

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * 65535u * 256u;
  if (i >= p.n) { return; }
  let hash = hash2(p.seed, i);
  var out = select(x[i] * p.scale, 0.0, hash < p.threshold);
  if (p.accumulate == 1u) { out += y[i]; }
  y[i] = out;
}
