// How the subgroup variant of kernels/matmul_vec4.wgsl adds its split partial blocks. When
// the whole workgroup splits K for one column group (SPLIT = WG: the GEMV of decode), each
// subgroup adds its acc with subgroupAdd, the first invocation of each subgroup leaves the sums
// in `partial` at its own index (the others leave 0), and every subgroup adds those WG slots,
// each invocation a strided share. No subgroup size or layout is assumed (the size and an
// invocation's place in its subgroup are counted with subgroup operations). With SPLIT < WG a
// subgroup may span column groups: the tree of kernels/_split_tree.wgsl.

// Adds the acc of the SPLIT invocations sharing this invocation's column group (`s` its share
// of K); returns true for the one that then holds the sum in acc (s = 0). Call it in uniform
// control flow.
fn split_sum(acc: ptr<function, array<f32, ACC>>, li: u32, s: u32) -> bool {
  if (SPLIT != WG) { return split_sum_tree(acc, li, s); }
  let size = subgroupAdd(1u);
  let lane = subgroupExclusiveAdd(1u);
  for (var e = 0u; e < ACC; e++) {
    let sum = subgroupAdd((*acc)[e]);
    partial[e * WG + li] = select(0.0, sum, lane == 0u);
  }
  workgroupBarrier();
  for (var e = 0u; e < ACC; e++) {
    var share = 0.0;
    for (var i = lane; i < WG; i += size) { share += partial[e * WG + i]; }
    (*acc)[e] = subgroupAdd(share);
  }
  return s == 0u;
}
