import assert from "node:assert/strict";
import { assertClose } from "../../tests/_assert_close.ts";
import { Rng } from "../util/rng.ts";
import { ropeTables } from "../model/rope_frequencies.ts";
import { assertGradient, dot, randomArray } from "./_grad_check.ts";
import { ropeBackward, ropeForward } from "./rope.ts";

const config = { headDim: 6, ropeTheta: 10, ropeScaling: null };
const { cos, sin } = ropeTables(config, 16); // (16, 3) each

/** Hugging Face's formula, literally: q·cat(cos, cos) + rotate_half(q)·cat(sin, sin). */
function hfRope(x: Float64Array, t: number, nh: number, hd: number, offset: number): Float64Array {
  const half = hd / 2;
  const out = new Float64Array(x.length);
  for (let i = 0; i < t; i++) {
    for (let h = 0; h < nh; h++) {
      const base = (i * nh + h) * hd;
      for (let d = 0; d < hd; d++) {
        const c = cos[(offset + i) * half + (d % half)], s = sin[(offset + i) * half + (d % half)];
        const rotated = d < half ? -x[base + d + half] : x[base + d - half];
        out[base + d] = x[base + d] * c + rotated * s;
      }
    }
  }
  return out;
}

Deno.test("ropeForward matches Hugging Face's rotate_half formula at an offset", () => {
  const rng = new Rng(5);
  const [t, nh, hd, offset] = [3, 2, 6, 4];
  const x = randomArray(rng, t * nh * hd); // (T, NH, HD)
  const expected = hfRope(x, t, nh, hd, offset);
  ropeForward(x, cos, sin, t, nh, hd, offset);
  assertClose(x, expected, { atol: 1e-12 });
});

Deno.test("ropeForward at an offset equals the matching rows of a longer sequence", () => {
  const rng = new Rng(6);
  const [t, nh, hd, offset] = [5, 3, 6, 2];
  const full = randomArray(rng, (offset + t) * nh * hd); // (offset + T, NH, HD)
  const tail = full.slice(offset * nh * hd); // (T, NH, HD)
  ropeForward(full, cos, sin, offset + t, nh, hd, 0);
  ropeForward(tail, cos, sin, t, nh, hd, offset);
  assertClose(tail, full.subarray(offset * nh * hd), { atol: 1e-12 });
});

Deno.test("ropeBackward matches finite differences and inverts ropeForward", () => {
  const rng = new Rng(7);
  const [t, nh, hd, offset] = [4, 3, 6, 5];
  const x = randomArray(rng, t * nh * hd); // (T, NH, HD)
  const dy = randomArray(rng, t * nh * hd); // (T, NH, HD)
  const dx = dy.slice();
  ropeBackward(dx, cos, sin, t, nh, hd, offset);
  const loss = () => {
    const y = x.slice();
    ropeForward(y, cos, sin, t, nh, hd, offset);
    return dot(y, dy);
  };
  assertGradient(loss, x, dx, "rope dx");
  const roundTrip = x.slice();
  ropeForward(roundTrip, cos, sin, t, nh, hd, offset);
  assert.ok(Math.abs(roundTrip[7] - x[7]) > 1e-3, "the rotation must move x");
  ropeBackward(roundTrip, cos, sin, t, nh, hd, offset);
  assertClose(roundTrip, x, { atol: 1e-12 });
});

Deno.test("rope rejects tables that do not cover the positions, and bad shapes", () => {
  const x = new Float32Array(2 * 6);
  assert.throws(() => ropeForward(x, cos, sin, 2, 1, 6, 15), /do not cover positions up to 16/);
  assert.throws(() => ropeForward(x, cos, sin, 2, 1, 6, -1), /Position offset -1/);
  assert.throws(() => ropeForward(x, cos, sin, 3, 1, 6, 0), /rope x \(T, NH, HD\) has 12/);
  assert.throws(() => ropeForward(x, cos, sin, 2, 2, 3, 0), /Head dimension 3 must be even/);
});
