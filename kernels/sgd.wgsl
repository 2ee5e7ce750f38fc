// SGD step without momentum, PyTorch semantics, in place, f32:
// param ← param − lr · (grad · grad_scale + weight_decay · param).
// Dimensions: N elements of one parameter tensor.

struct Params { n: u32, lr: f32, weight_decay: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;  // (N)
@group(0) @binding(2) var<storage, read> grad: array<f32>;         // (N)
@group(0) @binding(3) var<storage, read> grad_scale: array<f32>;   // (1)

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * 65535u * 256u;
  if (i >= p.n) { return; }
  let w = param[i];
  param[i] = w - p.lr * (grad[i] * grad_scale[0] + p.weight_decay * w);
}
