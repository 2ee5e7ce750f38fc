/**
 * Spreads a 1-D count of workgroups over x and y, since a dimension holds at most 65535.
 *
 * @module
 */

/** Workgroups for `items` elements at `perGroup` elements per workgroup; kernels index
 * `gid.x + gid.y · 65535 · perGroup`. */
export function grid1d(items: number, perGroup: number): [number, number] {
  const groups = Math.ceil(items / perGroup);
  return groups <= 65535 ? [groups, 1] : [65535, Math.ceil(groups / 65535)];
}
