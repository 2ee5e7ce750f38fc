/**
 * The page side of `browser_tuning.ts`, bundled for the browser: fresh devices, each tuned with
 * a forced measurement (no cache).
 *
 * @module
 */
import { acquireGpu } from "../lib/gpu/device.ts";
import { type MatmulTuning, tuneMatmul } from "../lib/ops/matmul_tuning.ts";

/** What one fresh tuning chose and measured. */
export type BrowserTuning = Pick<MatmulTuning, "adapterName" | "choice" | "reductions">;

/** Tunes `runs` fresh devices one after another. */
export async function tuneFreshDevices(runs: number): Promise<BrowserTuning[]> {
  const results: BrowserTuning[] = [];
  for (let i = 0; i < runs; i++) {
    const gpu = await acquireGpu();
    const { adapterName, choice, reductions } = await tuneMatmul(gpu, { force: true, cache: null });
    results.push({ adapterName, choice, reductions });
    gpu.device.destroy();
  }
  return results;
}
