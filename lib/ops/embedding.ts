/**
 * Embedding gather (`kernels/embedding.wgsl`), one dispatch per row chunk of the table.
 * Dimensions: R rows (tokens), D hidden.
 *
 * @module
 */
import type { CommandRecorder } from "../gpu/recorder.ts";
import { ParamWriter } from "../gpu/params.ts";
import type { GpuTensor } from "../gpu/tensor.ts";
import { dtypeCode } from "./dtype_code.ts";

/** out(R, D) = table[ids(R)]. Ids must be checked against the vocabulary by the caller. */
export function recordEmbedding(
  rec: CommandRecorder,
  ids: GPUBuffer,
  table: GpuTensor,
  out: GPUBuffer,
  rows: number,
): void {
  const D = table.shape[1];
  for (const chunk of table.chunks) {
    rec.dispatch({
      kernel: "embedding",
      constants: { DTYPE: dtypeCode(table.dtype) },
      params: new ParamWriter().u32(rows).u32(D).u32(chunk.rowStart).u32(chunk.rows).bytes(),
      buffers: [ids, chunk.buffer, out],
      workgroups: [Math.ceil(D / 64), rows],
    });
  }
}
