// Adds the squared 2-norm of a tensor to a running sum: sum_sq[0] += Σ x². One workgroup
// strides over the tensor and reduces in a fixed order, so the result is deterministic.
// Dimensions: N elements.

//!include reduce

struct Params { n: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;             // (N)
@group(0) @binding(2) var<storage, read_write> sum_sq: array<f32>;  // (1)

const WG = 256u;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) li: u32) {
  var sum = 0.0;
  for (var i = li; i < p.n; i += WG) { sum = fma(x[i], x[i], sum); }
  let total = workgroup_sum(li, sum);
  if (li == 0u) { sum_sq[0] += total; }
}
