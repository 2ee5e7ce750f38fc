// Fused softmax cross-entropy, step 4 of 4, once per vocabulary chunk: overwrites the chunk's
// logits with their gradient, scale · (softmax − onehot(target)), from the row statistics;
// rows with an ignored target (< 0) get 0. Column c of the chunk is vocabulary id
// vocab_offset + c. Dimensions: R rows, C = vocab_count columns, LD ≥ C the row stride.

struct Params { rows: u32, ld: u32, vocab_offset: u32, vocab_count: u32, scale: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> logits: array<f32>;  // (R, LD), C columns used
@group(0) @binding(2) var<storage, read> targets: array<i32>;       // (R), −100 = ignored
@group(0) @binding(3) var<storage, read> stats: array<f32>;         // (R, 4) max, Σexp, target logit, loss

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  let r = gid.y + gid.z * 65535u;
  if (c >= p.vocab_count || r >= p.rows) { return; }
  let i = r * p.ld + c;
  let tgt = targets[r];
  if (tgt < 0) {
    logits[i] = 0.0;
    return;
  }
  let prob = exp(logits[i] - stats[r * 4u]) / stats[r * 4u + 1u];
  let onehot = select(0.0, 1.0, u32(tgt) == p.vocab_offset + c);
  logits[i] = p.scale * (prob - onehot);
}
