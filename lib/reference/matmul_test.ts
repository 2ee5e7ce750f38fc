import assert from "node:assert/strict";
import { assertClose } from "../../tests/_assert_close.ts";
import { Rng } from "../util/rng.ts";
import { randomArray } from "./_grad_check.ts";
import { matmulNN, matmulNT, matmulTN } from "./matmul.ts";

/** Transposes a (rows, cols) row-major matrix. */
function transpose(a: Float64Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = a[i * cols + j];
  return out;
}

Deno.test("matmulNN multiplies a hand-worked example", () => {
  const a = new Float32Array([1, 2, 3, 4, 5, 6]); // (2, 3)
  const b = new Float32Array([7, 8, 9, 10, 11, 12]); // (3, 2)
  const c = matmulNN(a, b, 2, 3, 2);
  assert.ok(c instanceof Float32Array);
  assert.deepEqual(Array.from(c), [58, 64, 139, 154]);
});

Deno.test("matmulNT and matmulTN agree with matmulNN on transposed operands", () => {
  const rng = new Rng(1);
  const [m, k, n] = [3, 7, 5];
  const a = randomArray(rng, m * k); // (M, K)
  const b = randomArray(rng, k * n); // (K, N)
  const expected = matmulNN(a, b, m, k, n);
  assertClose(matmulNT(a, transpose(b, k, n), m, k, n), expected, { atol: 1e-12 });
  assertClose(matmulTN(transpose(a, m, k), b, m, k, n), expected, { atol: 1e-12 });
});

Deno.test("matmul rejects operands of the wrong length and bad dimensions", () => {
  const a = new Float32Array(6);
  assert.throws(() => matmulNT(a, new Float32Array(5), 2, 3, 2), /matmulNT b \(N, K\) has 5/);
  assert.throws(() => matmulNN(a, new Float32Array(6), 3, 3, 2), /matmulNN a \(M, K\) has 6/);
  assert.throws(() => matmulTN(a, a, 0, 3, 2), /Dimension M = 0/);
});
