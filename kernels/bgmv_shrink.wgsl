// BGMV shrink (Punica / S-LoRA): the LoRA down product of a batch whose rows use different
// adapters. Row r uses adapter slot adapter[r] of A stacked over slots (slot −1: no adapter,
// u row 0): u[r, j] = Σ_k x[r, k]·A[slot, j, k]. A slot of rank below R is zero-padded to R,
// so its extra u columns are 0.
// Dimensions: N rows, IN input features, R the slots' padded rank, NS adapter slots.
// One workgroup per (j, r): its 64 invocations stride over k, then sum in workgroup memory.

struct Params { N: u32, IN: u32, R: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;           // (N, IN)
@group(0) @binding(2) var<storage, read> a: array<f32>;           // (NS, R, IN)
@group(0) @binding(3) var<storage, read> adapter: array<i32>;     // (N) slot per row, −1 none
@group(0) @binding(4) var<storage, read_write> u: array<f32>;     // (N, R)

const WG = 64u;
var<workgroup> partial: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let j = wg.x;
  let r = wg.y + wg.z * 65535u;
  if (r >= p.N) { return; }  // uniform per workgroup
  let slot = adapter[r];
  var sum = 0.0;
  if (slot >= 0) {
    let xb = r * p.IN;
    let ab = (u32(slot) * p.R + j) * p.IN;
    for (var k = li; k < p.IN; k += WG) { sum += x[xb + k] * a[ab + k]; }
  }
  partial[li] = sum;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) { partial[li] += partial[li + s]; }
    workgroupBarrier();
  }
  if (li == 0u) { u[r * p.R + j] = partial[0]; }
}
