// Embedding gather from one row-chunk of the table: out[r, :] = table[ids[r] - row_start, :]
// for the rows whose id falls in [row_start, row_start + row_count); other rows are left for
// the other chunks. Dimensions: R rows (B·T tokens), D hidden.
//!include packed

override DTYPE: u32 = 1u;

struct Params { rows: u32, D: u32, row_start: u32, row_count: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;        // (R)
@group(0) @binding(2) var<storage, read> table: array<u32>;      // (row_count, D), packed
@group(0) @binding(3) var<storage, read_write> out: array<f32>;  // (R, D)

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let d = gid.x;
  let r = gid.y;
  if (d >= p.D || r >= p.rows) { return; }
  let id = ids[r];
  if (id < p.row_start || id >= p.row_start + p.row_count) { return; }
  let i = (id - p.row_start) * p.D + d;
  out[r * p.D + d] = packed_value(table[packed_word(i, DTYPE)], i, DTYPE);
}
