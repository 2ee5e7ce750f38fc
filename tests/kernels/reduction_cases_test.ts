// The row reductions' cases (_reduction_cases.ts) on this device: under Deno, lavapipe offers
// no subgroups, so this is the workgroup-memory path; the subgroup path runs the same cases in
// Chromium (tests/browser/library_browser_test.ts).
import assert from "node:assert/strict";
import { assertClose } from "../_assert_close.ts";
import { gpuTest } from "../_gpu.ts";
import { runReductionCases } from "./_reduction_cases.ts";

gpuTest("the row reductions match the references in workgroup memory", async (gpu) => {
  assert.equal(gpu.kernels.matmul.subgroupReductions, false);
  const cases = await runReductionCases(gpu);
  assert.equal(cases.length, 7);
  for (const { label, actual, expected, atol, rtol } of cases) {
    assertClose(actual, expected, { atol, rtol, label });
  }
  const used = new Set(gpu.pipelines.compiled.map((p) => p.kernel));
  assert.ok(![...used].some((k) => k.endsWith("_subgroups")), `no subgroup variant: ${[...used]}`);
});
