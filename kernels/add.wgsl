// Scaled in-place add (residual connections, gradient accumulation): y += alpha · x.
// Dimensions: N elements.

struct Params { n: u32, alpha: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;           // (N)
@group(0) @binding(2) var<storage, read_write> y: array<f32>;     // (N)

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * 65535u * 256u;
  if (i >= p.n) { return; }
  y[i] += p.alpha * x[i];
}
