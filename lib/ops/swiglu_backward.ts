/**
 * SwiGLU backward (`kernels/swiglu_backward.wgsl`). Dimensions: N elements.
 *
 * @module
 */
import type { CommandRecorder } from "../gpu/recorder.ts";
import { ParamWriter } from "../gpu/params.ts";
import { grid1d } from "./_grid.ts";

/**
 * From h = silu(g)·u and dh: dg(N) = dh·u·silu'(g) and du(N) = dh·silu(g), overwritten.
 * g(N) and u(N) are the forward inputs; dg and du are buffers distinct from the inputs.
 */
export function recordSwigluBackward(
  rec: CommandRecorder,
  g: GPUBuffer,
  u: GPUBuffer,
  dh: GPUBuffer,
  dg: GPUBuffer,
  du: GPUBuffer,
  n: number,
): void {
  rec.dispatch({
    kernel: "swiglu_backward",
    params: new ParamWriter().u32(n).bytes(),
    buffers: [g, u, dh, dg, du],
    workgroups: grid1d(n, 256),
  });
}
