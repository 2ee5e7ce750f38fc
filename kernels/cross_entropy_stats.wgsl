// Fused softmax cross-entropy, step 2 of 4, once per vocabulary chunk: folds the chunk's
// columns into each row's running max m and sum of exp(logit − m) (an online softmax), and
// captures the logit of the row's target when the target falls in the chunk.
// Column c of the chunk is vocabulary id vocab_offset + c. One workgroup per row.
// Dimensions: R rows, C = vocab_count columns of the chunk, LD ≥ C the row stride of logits.
//!include reduce

struct Params { rows: u32, ld: u32, vocab_offset: u32, vocab_count: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;       // (R, LD), C columns used
@group(0) @binding(2) var<storage, read> targets: array<i32>;      // (R), −100 = ignored
@group(0) @binding(3) var<storage, read_write> stats: array<f32>;  // (R, 4) max, Σexp, target logit, loss

const WG = 256u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let r = wg.x + wg.y * 65535u;
  if (r >= p.rows) { return; }
  let base = r * p.ld;
  var m = -3.0e38;
  var l = 0.0;
  for (var c = li; c < p.vocab_count; c += WG) {
    let x = logits[base + c];
    if (x > m) {
      l = l * exp(m - x) + 1.0;
      m = x;
    } else {
      l += exp(x - m);
    }
  }
  let row = workgroup_max_sum(li, m, l);
  if (li != 0u) { return; }
  let ml = merge_max_sum(stats[r * 4u], stats[r * 4u + 1u], row.x, row.y);
  stats[r * 4u] = ml.x;
  stats[r * 4u + 1u] = ml.y;
  let tgt = targets[r];
  if (tgt >= 0 && u32(tgt) >= p.vocab_offset && u32(tgt) - p.vocab_offset < p.vocab_count) {
    stats[r * 4u + 2u] = logits[base + u32(tgt) - p.vocab_offset];
  }
}
