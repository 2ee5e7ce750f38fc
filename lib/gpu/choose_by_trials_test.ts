// Tests of chooseByTrials against fake timings with noise around Deno's completion floor: the
// choice is the same in every repetition. No assertion depends on how fast anything ran.
import assert from "node:assert/strict";
import { chooseByTrials } from "./choose_by_trials.ts";
import { Rng } from "../util/rng.ts";

type Variant = "gemv" | "gemv_split";
const CANDIDATES: readonly Variant[] = ["gemv", "gemv_split"];

/** Fake timings: each candidate's true seconds, times uniform noise in [1 − spread, 1 + spread]. */
function noisy(rng: Rng, truth: Record<Variant, number>, spread: number) {
  return (c: Variant) => Promise.resolve(truth[c] * (1 - spread + 2 * spread * rng.nextFloat()));
}

Deno.test("candidates within the noise keep the prior in every one of 500 repetitions", async () => {
  // The case: both near 24 ms (the 10 ms floor plus one product), ±20% noise, which
  // made the fastest-single-timing rule pick either at random.
  const rng = new Rng(7);
  const truth = { gemv: 0.024, gemv_split: 0.025 };
  const chosen = new Set<Variant>();
  let naiveFlips = 0;
  for (let i = 0; i < 500; i++) {
    const outcome = await chooseByTrials(CANDIDATES, "gemv", noisy(rng, truth, 0.2));
    chosen.add(outcome.chosen);
    assert.equal(outcome.switched, false);
    const measure = noisy(rng, truth, 0.2);
    if ((await measure("gemv_split")) < (await measure("gemv"))) naiveFlips++;
  }
  assert.deepEqual([...chosen], ["gemv"]);
  assert.ok(naiveFlips > 50, `one timing each flips often (${naiveFlips}/500): the test has teeth`);
});

Deno.test("a challenger clearly faster replaces a slow prior in every one of 500 repetitions", async () => {
  // gemv_split 25× slower than gemv on lavapipe, with ±40% noise.
  const rng = new Rng(11);
  const truth = { gemv: 0.002, gemv_split: 0.05 };
  for (let i = 0; i < 500; i++) {
    const outcome = await chooseByTrials(CANDIDATES, "gemv_split", noisy(rng, truth, 0.4));
    assert.equal(outcome.chosen, "gemv");
    assert.equal(outcome.switched, true);
    assert.ok(outcome.best.gemv < outcome.best.gemv_split);
  }
});

Deno.test("one lucky trial is not enough to switch", async () => {
  // The challenger wins one paired trial by 2× (and so has the best single timing) but loses
  // the others: it needs a majority of wins by the margin.
  const series: Record<Variant, number[]> = {
    gemv: [1, 1, 1, 1, 1],
    gemv_split: [0.5, 1.1, 1.1, 1.1, 1.1],
  };
  const seen: Record<Variant, number> = { gemv: 0, gemv_split: 0 };
  const outcome = await chooseByTrials(
    CANDIDATES,
    "gemv",
    (c) => Promise.resolve(series[c][seen[c]++]),
  );
  assert.equal(outcome.chosen, "gemv");
  assert.deepEqual(outcome.best, { gemv: 1, gemv_split: 0.5 });
  assert.deepEqual(seen, { gemv: 5, gemv_split: 5 }, "five paired trials");
});

Deno.test("chooseByTrials refuses a prior outside the candidates and bad options", async () => {
  const measure = () => Promise.resolve(1);
  await assert.rejects(
    chooseByTrials(CANDIDATES, "tiled" as Variant, measure),
    /prior "tiled" is not one of gemv, gemv_split/,
  );
  await assert.rejects(chooseByTrials(CANDIDATES, "gemv", measure, { wins: 6 }), /Bad trial/);
  await assert.rejects(chooseByTrials(CANDIDATES, "gemv", measure, { margin: 0.5 }), /Bad trial/);
});
