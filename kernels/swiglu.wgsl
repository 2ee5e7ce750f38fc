// SwiGLU, forward: h = silu(g) · u, with silu(g) = g / (1 + exp(-g)). Dimensions: N elements.

struct Params { n: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> g: array<f32>;           // (N)
@group(0) @binding(2) var<storage, read> u: array<f32>;           // (N)
@group(0) @binding(3) var<storage, read_write> h: array<f32>;     // (N)

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * 65535u * 256u;
  if (i >= p.n) { return; }
  let x = g[i];
  h[i] = x / (1.0 + exp(-x)) * u[i];
}
