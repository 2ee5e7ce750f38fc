// The functions of kernels/_reduce.wgsl over subgroups, for the subgroup variants of the
// kernels that include it (the source gets `enable subgroups;` first). A subgroup reduces its
// values with one subgroup operation; the first invocation of each subgroup leaves the result in
// workgroup memory at its own index (the others leave the identity), and every subgroup then
// reduces those 256 slots, each invocation a strided share of them. No subgroup size or layout
// is assumed: any size the adapter picks (4 to 128) divides the 256 invocations, and the size
// and an invocation's place in its subgroup are counted with subgroup operations. Call them in
// uniform control flow.

var<workgroup> reduce_scratch: array<f32, 256>;    // (256) a subgroup's result at its leader's index
var<workgroup> reduce_scratch_l: array<f32, 256>;  // (256) Σexp of workgroup_max_sum

// The invocations of this subgroup, and this invocation's place among them.
fn subgroup_place() -> vec2<u32> {
  return vec2<u32>(subgroupAdd(1u), subgroupExclusiveAdd(1u));
}

// The sum of `value` over the 256 invocations, returned to every invocation.
fn workgroup_sum(li: u32, value: f32) -> f32 {
  let place = subgroup_place();
  let partial = subgroupAdd(value);
  reduce_scratch[li] = select(0.0, partial, place.y == 0u);
  workgroupBarrier();
  var share = 0.0;
  for (var i = place.y; i < 256u; i += place.x) { share += reduce_scratch[i]; }
  let total = subgroupAdd(share);
  workgroupBarrier();
  return total;
}

// Merges two (max m, Σ exp(x − m)) pairs of an online softmax.
fn merge_max_sum(m1: f32, l1: f32, m2: f32, l2: f32) -> vec2<f32> {
  let m = max(m1, m2);
  return vec2<f32>(m, l1 * exp(m1 - m) + l2 * exp(m2 - m));
}

// The (max, Σ exp(x − max)) of a subgroup's pairs (m, l).
fn subgroup_max_sum(m: f32, l: f32) -> vec2<f32> {
  let top = subgroupMax(m);
  return vec2<f32>(top, subgroupAdd(l * exp(m - top)));
}

// The (max, Σ exp(x − max)) of the 256 invocations' pairs (m, l), returned to every invocation.
fn workgroup_max_sum(li: u32, m: f32, l: f32) -> vec2<f32> {
  let place = subgroup_place();
  let partial = subgroup_max_sum(m, l);
  let leader = place.y == 0u;
  reduce_scratch[li] = select(-3.0e38, partial.x, leader);
  reduce_scratch_l[li] = select(0.0, partial.y, leader);
  workgroupBarrier();
  var share = vec2<f32>(-3.0e38, 0.0);
  for (var i = place.y; i < 256u; i += place.x) {
    share = merge_max_sum(share.x, share.y, reduce_scratch[i], reduce_scratch_l[i]);
  }
  let total = subgroup_max_sum(share.x, share.y);
  workgroupBarrier();
  return total;
}
