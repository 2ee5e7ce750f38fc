import assert from "node:assert/strict";
import { HubError } from "./hub_error.ts";
import { withRetry } from "./retry.ts";

const flaky = (failures: Error[]) => {
  let calls = 0;
  return {
    task: (attempt: number) => {
      calls++;
      assert.equal(attempt, calls);
      const error = failures.shift();
      return error ? Promise.reject(error) : Promise.resolve("ok");
    },
    calls: () => calls,
  };
};
const network = () => new HubError("network", "Connection reset");

Deno.test("withRetry doubles the delay up to the cap", async () => {
  const delays: number[] = [];
  const seen: number[] = [];
  const { task, calls } = flaky([network(), network(), network(), network()]);
  const result = await withRetry(
    task,
    {
      attempts: 5,
      baseDelayMs: 100,
      maxDelayMs: 300,
      sleep: (ms) => (delays.push(ms), Promise.resolve()),
    },
    (attempt) => seen.push(attempt),
  );
  assert.equal(result, "ok");
  assert.equal(calls(), 5);
  assert.deepEqual(delays, [100, 200, 300, 300]);
  assert.deepEqual(seen, [1, 2, 3, 4]);
});

Deno.test("withRetry rethrows the last error when the attempts run out", async () => {
  const last = new HubError("http", "HTTP 503", { status: 503, retryable: true });
  const { task, calls } = flaky([network(), network(), last]);
  await assert.rejects(
    withRetry(task, { attempts: 3, sleep: () => Promise.resolve() }),
    (e) => e === last,
  );
  assert.equal(calls(), 3);
});

Deno.test("withRetry does not retry errors that cannot go away", async () => {
  for (const error of [new HubError("auth", "HTTP 401"), new TypeError("x is undefined")]) {
    const { task, calls } = flaky([error]);
    await assert.rejects(withRetry(task, { sleep: () => Promise.resolve() }), (e) => e === error);
    assert.equal(calls(), 1);
  }
});

Deno.test("withRetry rejects a bad attempt count", async () => {
  await assert.rejects(withRetry(() => Promise.resolve(1), { attempts: 0 }), /got 0/);
});
