// Fused softmax cross-entropy, step 3 of 4, after every chunk: the loss of each row,
// log Σexp − target logit = m + log(l) − x_target, or 0 for an ignored row (target < 0).
// Dimensions: R rows.

struct Params { rows: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> targets: array<i32>;      // (R), −100 = ignored
@group(0) @binding(2) var<storage, read_write> stats: array<f32>;  // (R, 4) max, Σexp, target logit, loss

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = gid.x + gid.y * 65535u * 256u;
  if (r >= p.rows) { return; }
  var loss = 0.0;
  if (targets[r] >= 0) { loss = stats[r * 4u] + log(stats[r * 4u + 1u]) - stats[r * 4u + 2u]; }
  stats[r * 4u + 3u] = loss;
}
