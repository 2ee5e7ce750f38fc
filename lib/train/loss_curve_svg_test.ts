import assert from "node:assert/strict";
import { lossCurveSvg } from "./loss_curve_svg.ts";

/** Throws unless every tag is closed in order and attribute values are quoted (a small XML check). */
function assertWellFormed(svg: string): void {
  const stack: string[] = [];
  for (
    const [, close, name, attrs, selfClose] of svg.matchAll(/<(\/?)([a-zA-Z]+)([^>]*?)(\/?)>/g)
  ) {
    assert.match(attrs, /^(\s+[a-zA-Z][a-zA-Z0-9-]*="[^"<>]*")*\s*$/, `attributes of <${name}>`);
    if (close) assert.equal(stack.pop(), name, `</${name}> closes the last open tag`);
    else if (!selfClose) stack.push(name);
  }
  assert.deepEqual(stack, [], "every tag is closed");
  assert.ok(!/&(?!#\d+;|amp;|lt;|gt;|quot;)/.test(svg), "no bare ampersand");
}

/** The (x, y) points of the loss path. */
function pathPoints(svg: string): [number, number][] {
  const d = svg.match(/<path d="([^"]*)"/)![1];
  return [...d.matchAll(/[ML](-?[\d.]+),(-?[\d.]+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
}

/** Loss points at steps 1, 2, 3, ... */
const everyStep = (losses: number[]) => losses.map((loss, i) => ({ step: i + 1, loss }));

Deno.test("the loss curve is a well-formed SVG with one path point per step", () => {
  const losses = [4, 3.5, 2, 2.5, 1];
  const svg = lossCurveSvg(everyStep(losses), { title: "Loss <r=16> & more" });
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" /);
  assertWellFormed(svg);
  assert.ok(svg.includes("Loss &#60;r=16&#62; &#38; more"), "the title is escaped");
  const points = pathPoints(svg);
  assert.equal(points.length, losses.length);
  // x grows with the step; y is highest on the page (smallest) for the largest loss.
  for (let i = 1; i < points.length; i++) assert.ok(points[i][0] > points[i - 1][0]);
  const ys = points.map((p) => p[1]);
  assert.equal(Math.min(...ys), ys[0], "step 1 has the largest loss");
  assert.equal(Math.max(...ys), ys[4], "step 5 has the smallest loss");
  // y is linear in the loss: each point sits at its loss's fraction of the range.
  losses.forEach((loss, i) => {
    const fraction = (ys[4] - ys[i]) / (ys[4] - ys[0]);
    assert.ok(Math.abs(fraction - (loss - 1) / 3) < 1e-3, `step ${i + 1}: ${fraction}`);
  });
  assert.ok(svg.includes(">4.000<") && svg.includes(">1.000<"), "the axis shows the range");
});

Deno.test("validation losses are drawn as points at their steps", () => {
  const svg = lossCurveSvg(everyStep([3, 2, 1, 0.5]), {
    validation: [{ step: 2, loss: 2.2 }, { step: 4, loss: 1.1 }],
  });
  assertWellFormed(svg);
  const circles = [...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)"/g)].map((
    m,
  ) => [Number(m[1]), Number(m[2])]);
  const points = pathPoints(svg);
  assert.equal(circles.length, 2);
  assert.equal(circles[0][0], points[1][0], "at step 2");
  assert.equal(circles[1][0], points[3][0], "at step 4");
  assert.ok(circles[0][1] < points[1][1], "2.2 is drawn above 2 (a greater loss has a smaller y)");
});

Deno.test("a single step or a flat curve still gives finite coordinates", () => {
  for (const losses of [[2.5], [1, 1, 1], []]) {
    const svg = lossCurveSvg(everyStep(losses));
    assertWellFormed(svg);
    assert.ok(!/NaN|Infinity/.test(svg), JSON.stringify(losses));
    assert.equal(pathPoints(svg).length, losses.length);
  }
});

Deno.test("losses logged every few steps are drawn at their steps", () => {
  const logged = [{ step: 10, loss: 3 }, { step: 20, loss: 2 }, { step: 25, loss: 1.5 }];
  const svg = lossCurveSvg(logged, { validation: [{ step: 20, loss: 2.5 }] });
  assertWellFormed(svg);
  const xs = pathPoints(svg).map((p) => p[0]);
  const [left, right] = [56, 640 - 16]; // the plot's x range: step 1 to step 25
  logged.forEach(({ step }, i) => {
    const want = left + ((step - 1) / 24) * (right - left);
    assert.ok(Math.abs(xs[i] - want) < 0.06, `step ${step} at x ${xs[i]}, want ${want}`);
  });
  const circle = Number(svg.match(/<circle cx="([\d.]+)"/)![1]);
  assert.equal(circle, xs[1], "the validation point sits at step 20 like the loss there");
  assert.ok(svg.includes(">25</text>"), "the axis ends at the last step");
});
