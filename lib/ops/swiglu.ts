/**
 * SwiGLU forward as a kernel of its own (`kernels/swiglu.wgsl`); products can also apply it as
 * they load their input (`swigluUp` in `recordMatmul`). Dimensions: N elements.
 *
 * @module
 */
import type { CommandRecorder } from "../gpu/recorder.ts";
import { ParamWriter } from "../gpu/params.ts";
import { grid1d } from "./_grid.ts";

/** h(N) = silu(g(N)) · u(N). */
export function recordSwiglu(
  rec: CommandRecorder,
  g: GPUBuffer,
  u: GPUBuffer,
  h: GPUBuffer,
  n: number,
): void {
  rec.dispatch({
    kernel: "swiglu",
    params: new ParamWriter().u32(n).bytes(),
    buffers: [g, u, h],
    workgroups: grid1d(n, 256),
  });
}
