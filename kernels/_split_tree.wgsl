// The SPLIT invocations of a column group of kernels/matmul_vec4.wgsl add their partial blocks
// in a tree in workgroup memory (`partial`, (ACC, WG)). Included with `//!include split_tree`.

// Adds the acc of the SPLIT invocations sharing this invocation's column group (`s` its share
// of K); returns true for the one that then holds the sum in acc (s = 0). Call it in uniform
// control flow.
fn split_sum_tree(acc: ptr<function, array<f32, ACC>>, li: u32, s: u32) -> bool {
  for (var e = 0u; e < ACC; e++) { partial[e * WG + li] = (*acc)[e]; }
  workgroupBarrier();
  for (var stride = SPLIT / 2u; stride > 0u; stride /= 2u) {
    if (s < stride) {
      for (var e = 0u; e < ACC; e++) { partial[e * WG + li] += partial[e * WG + li + stride]; }
    }
    workgroupBarrier();
  }
  if (s != 0u) { return false; }
  for (var e = 0u; e < ACC; e++) { (*acc)[e] = partial[e * WG + li]; }
  return true;
}
