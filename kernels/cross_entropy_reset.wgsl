// Fused softmax cross-entropy, step 1 of 4: empties the running statistics of every row
// before the vocabulary chunks are folded in. Dimensions: R rows.

struct Params { rows: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> stats: array<f32>;  // (R, 4) max, Σexp, target logit, loss

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = gid.x + gid.y * 65535u * 256u;
  if (r >= p.rows) { return; }
  stats[r * 4u] = -3.0e38;
  stats[r * 4u + 1u] = 0.0;
  stats[r * 4u + 2u] = 0.0;
  stats[r * 4u + 3u] = 0.0;
}
