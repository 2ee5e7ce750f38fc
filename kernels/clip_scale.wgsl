// The global-norm clipping factor, PyTorch's clip_grad_norm_, without a readback:
// grad_scale[0] = min(1, max_norm / (√sum_sq + 1e-6)), or 1 when max_norm ≤ 0.
// Dimensions: none (one thread).

struct Params { max_norm: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> sum_sq: array<f32>;          // (1)
@group(0) @binding(2) var<storage, read_write> grad_scale: array<f32>; // (1)

@compute @workgroup_size(1)
fn main() {
  var s = 1.0;
  if (p.max_norm > 0.0) { s = min(1.0, p.max_norm / (sqrt(sum_sq[0]) + 1e-6)); }
  grad_scale[0] = s;
}
