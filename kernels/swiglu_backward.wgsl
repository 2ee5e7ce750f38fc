// SwiGLU backward: with σ = sigmoid(g) and h = g·σ·u,
// dg = dh · u · σ · (1 + g · (1 − σ)) and du = dh · g · σ. Dimensions: N elements.

struct Params { n: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> g: array<f32>;          // (N) forward gate input
@group(0) @binding(2) var<storage, read> u: array<f32>;          // (N) forward up input
@group(0) @binding(3) var<storage, read> dh: array<f32>;         // (N)
@group(0) @binding(4) var<storage, read_write> dg: array<f32>;   // (N)
@group(0) @binding(5) var<storage, read_write> du: array<f32>;   // (N)

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * 65535u * 256u;
  if (i >= p.n) { return; }
  let x = g[i];
  let s = 1.0 / (1.0 + exp(-x));
  let d = dh[i];
  dg[i] = d * u[i] * s * (1.0 + x * (1.0 - s));
  du[i] = d * x * s;
}
