import assert from "node:assert/strict";
import { assertClose } from "../../tests/_assert_close.ts";
import { learningRateAt, type LrScheduler } from "./lr_schedule.ts";

// Hugging Face's `lr_lambda`s (transformers/optimization.py), written out independently: the
// multiplier of the base learning rate at 0-based optimizer step `s`.
const warmup = (s: number, w: number) => s / Math.max(1, w);
const HF: Record<LrScheduler, (s: number, total: number, w: number) => number> = {
  // get_constant_schedule_with_warmup
  constant: (s, _total, w) => (s < w ? warmup(s, w) : 1),
  // get_linear_schedule_with_warmup
  linear: (
    s,
    total,
    w,
  ) => (s < w ? warmup(s, w) : Math.max(0, (total - s) / Math.max(1, total - w))),
  // get_cosine_schedule_with_warmup, num_cycles 0.5
  cosine: (s, total, w) => {
    if (s < w) return warmup(s, w);
    const progress = (s - w) / Math.max(1, total - w);
    return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * 0.5 * 2 * progress)));
  },
};

for (const scheduler of ["constant", "linear", "cosine"] as const) {
  Deno.test(`${scheduler} schedule with and without warmup follows Hugging Face`, () => {
    const baseLr = 3e-4;
    for (const [total, w] of [[10, 0], [10, 3], [7, 1], [5, 5], [1, 0]]) {
      const steps = Array.from({ length: total + 2 }, (_, s) => s); // also past the end
      const actual = steps.map((s) => learningRateAt(scheduler, baseLr, s, total, w));
      const expected = steps.map((s) => baseLr * HF[scheduler](s, total, w));
      assertClose(actual, expected, {
        atol: 1e-15,
        rtol: 1e-12,
        label: `${scheduler} ${total}/${w}`,
      });
    }
  });
}

Deno.test("warmup starts at 0 and reaches the base rate when it ends", () => {
  assert.equal(learningRateAt("linear", 1e-3, 0, 10, 4), 0);
  assert.equal(learningRateAt("cosine", 1e-3, 2, 10, 4), 0.5e-3);
  assert.equal(learningRateAt("constant", 1e-3, 4, 10, 4), 1e-3);
  assert.equal(learningRateAt("cosine", 1e-3, 4, 10, 4), 1e-3);
});

Deno.test("linear and cosine decay reach 0 at the last step", () => {
  for (const scheduler of ["linear", "cosine"] as const) {
    assert.equal(learningRateAt(scheduler, 1e-3, 10, 10, 2), 0);
  }
  assert.equal(learningRateAt("linear", 1e-3, 12, 10, 2), 0);
});

Deno.test("an unknown scheduler is refused by name", () => {
  assert.throws(
    () => learningRateAt("step" as LrScheduler, 1e-3, 5, 10, 0),
    /Unknown scheduler "step": expected constant, linear or cosine/,
  );
});
