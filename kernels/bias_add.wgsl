// Bias add: y[r, c] += b[c], after a projection whose family has a bias (Qwen2's q, k, v).
// The bias is frozen, so its backward is the identity on dy. Dimensions: R rows, N columns.

struct Params { rows: u32, n: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> b: array<f32>;         // (N)
@group(0) @binding(2) var<storage, read_write> y: array<f32>;   // (R, N)

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * 65535u * 256u;
  if (i >= p.rows * p.n) { return; }
  y[i] = y[i] + b[i % p.n];
}
