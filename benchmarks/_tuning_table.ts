/**
 * The table of the load-time kernel choices (`tuneMatmul`): each candidate's best trial on the
 * tuning shapes and the choice made.
 *
 * @module
 */
import { type MatmulTuning, REDUCTION_SHAPE } from "../lib/ops/matmul_tuning.ts";
import { markdownTable, millis, rate } from "./_table.ts";

/** The tuning table: every candidate's time on the tuning shapes, and the choice. */
export function tuningTable(tuning: MatmulTuning): string {
  const rows = (["small", "large"] as const).map((kind) => {
    const { M, N, K } = tuning.shapes[kind];
    const cells = Object.entries(tuning.timings[kind]).map(([v, s]) =>
      `${v} ${rate((2 * M * N * K) / s! / 1e9)} GFLOP/s`
    );
    return [`${kind} (${M}×${K}→${N}, bf16 W)`, cells.join(", "), tuning.choice[kind]];
  });
  if (tuning.loads) {
    const { M, N, K } = tuning.shapes.small;
    rows.push([
      `decode RMSNorm + product and SwiGLU + product (${M}×${K}→${N})`,
      `fused into the loads ${millis(tuning.loads.fused)} ms, as kernels ${
        millis(tuning.loads.separate)
      } ms`,
      tuning.choice.fuseLoads ? "fused" : "as kernels",
    ]);
  }
  const { rows: normRows, D } = REDUCTION_SHAPE;
  rows.push([
    `row reductions (RMSNorm ${normRows}×${D})`,
    tuning.reductions
      ? `in workgroup memory ${millis(tuning.reductions.workgroup)} ms, in subgroups ${
        millis(tuning.reductions.subgroup)
      } ms`
      : "not measured: the adapter offers no `subgroups`",
    tuning.choice.subgroupReductions ? "in subgroups" : "in workgroup memory",
  ]);
  return markdownTable(["what", "measured", "chosen"], rows);
}
