import assert from "node:assert/strict";
import { GpuScheduler, QueueFullError } from "../server/gpu_scheduler.ts";

/** Lets every pending promise callback run. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

Deno.test("scheduler: turns are granted one at a time, first come first served", async () => {
  const scheduler = new GpuScheduler(8);
  const log: string[] = [];
  let inside = 0;
  const work = (name: string, kind: "request" | "background") =>
    scheduler.run(kind, async () => {
      inside++;
      assert.equal(inside, 1, `${name} ran while another turn was held`);
      log.push(name);
      await settle();
      inside--;
    });
  await Promise.all([
    work("a", "request"),
    work("b", "background"),
    work("c", "request"),
    work("d", "request"),
  ]);
  assert.deepEqual(log, ["a", "b", "c", "d"]);
  assert.equal(scheduler.requests, 0);
  assert.equal(scheduler.waiting, 0);
});

Deno.test("scheduler: requests beyond maxQueue are refused, background work is not counted", async () => {
  const scheduler = new GpuScheduler(2);
  const first = await scheduler.acquire("request");
  const second = scheduler.acquire("request");
  await assert.rejects(scheduler.acquire("request"), QueueFullError);
  const background = scheduler.acquire("background"); // not bounded
  assert.equal(scheduler.requests, 2);
  first();
  first(); // a second release does nothing
  (await second)();
  (await background)();
  assert.equal(scheduler.requests, 0);
  (await scheduler.acquire("request"))();
  assert.throws(() => new GpuScheduler(0), /maxQueue 0 must be a positive integer/);
});

Deno.test("scheduler: an aborted waiter leaves the queue and frees its place", async () => {
  const scheduler = new GpuScheduler(2);
  const held = await scheduler.acquire("request");
  const abort = new AbortController();
  const waiting = scheduler.acquire("request", abort.signal);
  assert.equal(scheduler.waiting, 1);
  abort.abort(new Error("Client went away"));
  await assert.rejects(waiting, /Client went away/);
  assert.equal(scheduler.waiting, 0);
  assert.equal(scheduler.requests, 1);
  const next = scheduler.acquire("request"); // the freed place is usable
  held();
  (await next)();
  await assert.rejects(scheduler.acquire("request", AbortSignal.abort(new Error("Gone"))), /Gone/);
  assert.equal(scheduler.requests, 0);
});

Deno.test("scheduler: training yields between steps, so requests wait for at most one step", async () => {
  // A training loop takes one background turn per step; requests arrive while it runs, some
  // in bursts and some one by one. Each request must be served before training's next step
  // after its arrival, and training must still finish all its steps (not starved).
  const scheduler = new GpuScheduler(64);
  const log: string[] = [];
  const steps = 12;
  const training = (async () => {
    for (let step = 1; step <= steps; step++) {
      await scheduler.run("background", async () => {
        log.push(`step ${step}`);
        await settle(); // the step's GPU work; requests arrive meanwhile
      });
    }
  })();
  const requests: Promise<void>[] = [];
  const arrivals = new Map<string, number>(); // request → training steps logged at arrival
  const request = (name: string) => {
    arrivals.set(name, log.filter((e) => e.startsWith("step")).length);
    requests.push(scheduler.run("request", async () => {
      log.push(name);
      await settle();
    }));
  };
  for (let round = 0; round < 6; round++) {
    await settle();
    for (let i = 0; i < (round % 2 === 0 ? 4 : 1); i++) request(`r${round}.${i}`);
  }
  await Promise.all([training, ...requests]);
  assert.equal(log.filter((e) => e.startsWith("step")).length, steps);
  for (const [name, stepsBefore] of arrivals) {
    const stepsAtService = log.slice(0, log.indexOf(name)).filter((e) =>
      e.startsWith("step")
    ).length;
    assert.ok(
      stepsAtService <= stepsBefore + 1,
      `${name} arrived after ${stepsBefore} steps but ran after ${stepsAtService}: ${
        log.join(", ")
      }`,
    );
  }
  // Training was not starved either: it made progress between the bursts.
  const firstRequest = log.findIndex((e) => e.startsWith("r"));
  const lastRequest = log.findLastIndex((e) => e.startsWith("r"));
  assert.ok(log.slice(firstRequest, lastRequest).some((e) => e.startsWith("step")), log.join(", "));
});
