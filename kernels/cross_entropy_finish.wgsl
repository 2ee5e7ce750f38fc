// Fused softmax cross-entropy, step 3 of 4, after every chunk: the loss of each row,
// log Σexp − target logit = m + log(l) − x_target, or 0 for an ignored row (target < 0), and
// their scaled sum added to one slot of a running total, which stays on the GPU until it is
// read: loss_sum[slot] = (0 when RESET, else loss_sum[slot]) + scale·Σ losses. One workgroup
// strides over the rows and sums them in a fixed order, so the total is deterministic.
// Dimensions: R rows, S slots.

//!include reduce

struct Params { rows: u32, slot: u32, reset: u32, scale: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> targets: array<i32>;         // (R), −100 = ignored
@group(0) @binding(2) var<storage, read_write> stats: array<f32>;     // (R, 4) max, Σexp, target logit, loss
@group(0) @binding(3) var<storage, read_write> loss_sum: array<f32>;  // (S) running totals

const WG = 256u;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) li: u32) {
  var sum = 0.0;
  for (var r = li; r < p.rows; r += WG) {
    var loss = 0.0;
    if (targets[r] >= 0) { loss = stats[r * 4u] + log(stats[r * 4u + 1u]) - stats[r * 4u + 2u]; }
    stats[r * 4u + 3u] = loss;
    sum += loss;
  }
  let total = workgroup_sum(li, sum);
  if (li == 0u) {
    loss_sum[p.slot] = select(loss_sum[p.slot], 0.0, p.reset == 1u) + p.scale * total;
  }
}
