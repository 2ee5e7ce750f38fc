// Shared by kernels whose 256-invocation workgroups reduce a value across the workgroup.
// Included with `//!include reduce`; kernels/_reduce_subgroups.wgsl defines the same functions
// with subgroup operations, for the kernels' subgroup variants. Call them in uniform control
// flow.

var<workgroup> reduce_scratch: array<f32, 256>;
var<workgroup> reduce_scratch_l: array<f32, 256>;  // (256) Σexp of workgroup_max_sum

// The sum of `value` over the 256 invocations (a tree in a fixed order, so deterministic),
// returned to every invocation.
fn workgroup_sum(li: u32, value: f32) -> f32 {
  reduce_scratch[li] = value;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (li < s) { reduce_scratch[li] += reduce_scratch[li + s]; }
    workgroupBarrier();
  }
  let total = reduce_scratch[0];
  workgroupBarrier();
  return total;
}

// Merges two (max m, Σ exp(x − m)) pairs of an online softmax.
fn merge_max_sum(m1: f32, l1: f32, m2: f32, l2: f32) -> vec2<f32> {
  let m = max(m1, m2);
  return vec2<f32>(m, l1 * exp(m1 - m) + l2 * exp(m2 - m));
}

// The (max, Σ exp(x − max)) of the 256 invocations' pairs (m, l), merged in a tree in a fixed
// order, returned to every invocation.
fn workgroup_max_sum(li: u32, m: f32, l: f32) -> vec2<f32> {
  reduce_scratch[li] = m;
  reduce_scratch_l[li] = l;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (li < s) {
      let ml = merge_max_sum(reduce_scratch[li], reduce_scratch_l[li], reduce_scratch[li + s],
        reduce_scratch_l[li + s]);
      reduce_scratch[li] = ml.x;
      reduce_scratch_l[li] = ml.y;
    }
    workgroupBarrier();
  }
  let total = vec2<f32>(reduce_scratch[0], reduce_scratch_l[0]);
  workgroupBarrier();
  return total;
}
