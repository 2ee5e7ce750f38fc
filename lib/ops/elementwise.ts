/**
 * Element-wise kernels: SwiGLU (`kernels/swiglu.wgsl`) and the scaled add used by residuals
 * and gradient accumulation (`kernels/add.wgsl`). Dimensions: N elements.
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

/** y(N) += alpha · x(N). */
export function recordAdd(
  rec: CommandRecorder,
  x: GPUBuffer,
  y: GPUBuffer,
  n: number,
  alpha = 1,
): void {
  rec.dispatch({
    kernel: "add",
    params: new ParamWriter().u32(n).f32(alpha).bytes(),
    buffers: [x, y],
    workgroups: grid1d(n, 256),
  });
}
