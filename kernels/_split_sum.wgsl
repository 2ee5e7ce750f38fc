// How kernels/matmul_vec4.wgsl adds its split partial blocks: the tree of
// kernels/_split_tree.wgsl. Included with `//!include split_sum`; the subgroup variant includes
// kernels/_split_sum_subgroups.wgsl instead.

// See split_sum_tree.
fn split_sum(acc: ptr<function, array<f32, ACC>>, li: u32, s: u32) -> bool {
  return split_sum_tree(acc, li, s);
}
