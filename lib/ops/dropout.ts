/**
 * Inverted dropout with a counter-based mask (`kernels/dropout.wgsl`), bit-identical to
 * `lib/reference/dropout.ts`. Dimensions: N elements.
 *
 * @module
 */
import type { CommandRecorder } from "../gpu/recorder.ts";
import { ParamWriter } from "../gpu/params.ts";
import { checkDropoutArgs, dropoutScale, dropoutThreshold } from "../util/dropout_mask.ts";
import { grid1d } from "./_grid.ts";

/** Arguments of {@linkcode recordDropout}. */
export interface DropoutArgs {
  /** Input (N), f32. */
  x: GPUBuffer;
  /** Output (N), f32; a different buffer from x. */
  y: GPUBuffer;
  /** Elements. */
  n: number;
  /** Drop probability in [0, 1). */
  p: number;
  /** Mask seed, a 32-bit unsigned integer. */
  seed: number;
  /** Add to y instead of overwriting it. */
  accumulate?: boolean;
}

/**
 * y (+)= x · mask / (1 − p). The mask depends only on (seed, element index): the backward
 * pass records the same call on the gradient.
 */
export function recordDropout(rec: CommandRecorder, args: DropoutArgs): void {
  checkDropoutArgs(args.p, args.seed);
  rec.dispatch({
    kernel: "dropout",
    params: new ParamWriter()
      .u32(args.n).u32(args.seed).u32(dropoutThreshold(args.p)).f32(dropoutScale(args.p))
      .u32(args.accumulate ? 1 : 0)
      .bytes(),
    buffers: [args.x, args.y],
    workgroups: grid1d(args.n, 256),
  });
}
