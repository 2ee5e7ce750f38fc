import { assertClose } from "../../tests/_assert_close.ts";
import { Rng } from "../util/rng.ts";
import { assertGradient, dot, randomArray } from "./_grad_check.ts";
import { swigluBackward, swigluForward } from "./swiglu.ts";

Deno.test("swigluForward is g·sigmoid(g)·u", () => {
  const h = swigluForward(new Float32Array([0, 1, -2, 30]), new Float32Array([5, 2, 3, 0.5]));
  const silu = (g: number) => g / (1 + Math.exp(-g));
  assertClose(h, [0, 2 * silu(1), 3 * silu(-2), 15], { rtol: 1e-7, atol: 0 });
});

Deno.test("swigluBackward's dg and du match finite differences", () => {
  const rng = new Rng(4);
  const n = 3 * 11;
  const g = randomArray(rng, n, 2); // (N, I)
  const u = randomArray(rng, n); // (N, I)
  const dh = randomArray(rng, n); // (N, I)
  const { dg, du } = swigluBackward(dh, g, u);
  const loss = () => dot(swigluForward(g, u), dh);
  assertGradient(loss, g, dg, "swiglu dg");
  assertGradient(loss, u, du, "swiglu du");
});
