// Fused softmax cross-entropy, step 4 of 4, when the forward kept the logits: turns them, in
// place, into their gradient scale·(softmax − onehot(target)), with softmax = exp(x − m) / l
// from the row's statistics; an ignored row (target < 0) gets 0. The same formula as the
// cross-entropy epilogue of the matmul kernels (`_matmul_io.wgsl`), without recomputing the
// logits. Column c is vocabulary id vocab_offset + c.
// Dimensions: R rows, C = cols columns, LD ≥ C the row stride of logits.

struct Params { rows: u32, cols: u32, ld: u32, vocab_offset: u32, scale: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> logits: array<f32>;  // (R, LD), C columns used
@group(0) @binding(2) var<storage, read> targets: array<i32>;       // (R), −100 = ignored
@group(0) @binding(3) var<storage, read> stats: array<f32>;         // (R, 4) max, Σexp, target logit, loss

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * 65535u * 256u;
  if (i >= p.rows * p.cols) { return; }
  let r = i / p.cols;
  let c = i % p.cols;
  let idx = r * p.ld + c;
  let label = targets[r];
  if (label < 0) {
    logits[idx] = 0.0;
    return;
  }
  let prob = exp(logits[idx] - stats[r * 4u]) / stats[r * 4u + 1u];
  logits[idx] = p.scale * (prob - select(0.0, 1.0, u32(label) == p.vocab_offset + c));
}
