// BGMV expand (Punica / S-LoRA): the LoRA up product of a batch whose rows use different
// adapters, added to the base product's output. Row r uses adapter slot adapter[r] of B
// stacked over slots (slot −1: y row left as it is):
// y[r, o] += scale[slot]·Σ_j u[r, j]·B[slot, o, j]. A slot of rank below R is zero-padded.
// Dimensions: N rows, OUT output features, R the slots' padded rank, NS adapter slots.
// One invocation per (o, r).

struct Params { N: u32, OUT: u32, R: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> u: array<f32>;           // (N, R)
@group(0) @binding(2) var<storage, read> b: array<f32>;           // (NS, OUT, R)
@group(0) @binding(3) var<storage, read> adapter: array<i32>;     // (N) slot per row, −1 none
@group(0) @binding(4) var<storage, read> scale: array<f32>;       // (NS) alpha/r of each slot
@group(0) @binding(5) var<storage, read_write> y: array<f32>;     // (N, OUT)

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let o = gid.x;
  let r = gid.y + gid.z * 65535u;
  if (o >= p.OUT || r >= p.N) { return; }
  let slot = adapter[r];
  if (slot < 0) { return; }
  let ub = r * p.R;
  let bb = (u32(slot) * p.OUT + o) * p.R;
  var sum = 0.0;
  for (var j = 0u; j < p.R; j++) { sum += u[ub + j] * b[bb + j]; }
  y[r * p.OUT + o] += scale[slot] * sum;
}
