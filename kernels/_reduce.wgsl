// Shared by kernels whose 256-invocation workgroups sum a value across the workgroup.
// Included with `//!include reduce`. Call workgroup_sum in uniform control flow.

var<workgroup> reduce_scratch: array<f32, 256>;

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
