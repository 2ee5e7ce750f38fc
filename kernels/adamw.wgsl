// AdamW step, PyTorch semantics, in place, f32. With g = grad · grad_scale (the clip factor):
// param ← param · decay − step_size · m / (√v / bc2_sqrt + eps), after
// m ← β1·m + (1 − β1)·g and v ← β2·v + (1 − β2)·g², where decay = 1 − lr·weight_decay,
// step_size = lr / (1 − β1ᵗ) and bc2_sqrt = √(1 − β2ᵗ) come from the host.
// Dimensions: N elements of one parameter tensor.

struct Params { n: u32, beta1: f32, beta2: f32, eps: f32, decay: f32, step_size: f32, bc2_sqrt: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;  // (N)
@group(0) @binding(2) var<storage, read> grad: array<f32>;         // (N)
@group(0) @binding(3) var<storage, read_write> m: array<f32>;      // (N) first moment
@group(0) @binding(4) var<storage, read_write> v: array<f32>;      // (N) second moment
@group(0) @binding(5) var<storage, read> grad_scale: array<f32>;   // (1)

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * 65535u * 256u;
  if (i >= p.n) { return; }
  let g = grad[i] * grad_scale[0];
  let mi = p.beta1 * m[i] + (1.0 - p.beta1) * g;
  let vi = p.beta2 * v[i] + (1.0 - p.beta2) * g * g;
  m[i] = mi;
  v[i] = vi;
  param[i] = param[i] * p.decay - p.step_size * mi / (sqrt(vi) / p.bc2_sqrt + p.eps);
}
