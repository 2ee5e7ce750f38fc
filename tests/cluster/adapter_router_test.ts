/**
 * Routing over a real nats-server with three replicas (one connection each): a request goes to
 * a replica holding its adapter, an adapter nobody holds goes to one replica that loads it, a
 * replica at capacity takes no new work, failures come back as errors, and with Zipf traffic
 * over 10 adapters nearly every request lands where its adapter is resident (issue 17, "done
 * when" 6).
 *
 * @module
 */
import assert from "node:assert/strict";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  AdapterRouter,
  ReplicaLostError,
  RoutingError,
} from "../../server/cluster/adapter_router.ts";
import { natsTest, startNatsServer } from "./_nats_test_server.ts";

const text = (s: string) => new TextEncoder().encode(s);

/** A replica with an LRU of `slots` adapters, counting its loads and resident hits. */
class FakeReplica {
  readonly lru: string[] = []; // least recently used first
  loads = 0;
  hits = 0;
  served = 0;
  gate: Promise<void> | null = null;
  readonly router: AdapterRouter;

  constructor(readonly nc: NatsConnection, readonly id: string, slots: number, capacity = 8) {
    this.router = new AdapterRouter(nc, {
      replicaId: id,
      capacity,
      timeoutMs: 5000,
      handle: async (adapter, body) => {
        if (adapter === "broken") throw new Error("adapter broken\nfailed to load");
        this.served++;
        const at = this.lru.indexOf(adapter);
        if (at >= 0) {
          this.hits++;
          this.lru.splice(at, 1);
        } else {
          this.loads++;
          if (this.lru.length === slots) this.lru.shift();
        }
        this.lru.push(adapter);
        this.router.setResident(this.lru);
        await this.gate;
        return text(`${id}:${adapter}:${new TextDecoder().decode(body)}`);
      },
    });
    this.router.setResident([]);
  }
}

async function withReplicas(
  fn: (replicas: FakeReplica[]) => Promise<void>,
  slots = 4,
  capacity = 8,
): Promise<void> {
  const server = await startNatsServer();
  const replicas: FakeReplica[] = [];
  try {
    for (const id of ["r1", "r2", "r3"]) {
      replicas.push(new FakeReplica(await connect({ servers: server.url }), id, slots, capacity));
    }
    await Promise.all(replicas.map((r) => r.nc.flush()));
    await fn(replicas);
  } finally {
    for (const r of replicas) await r.nc.close();
    await server.stop();
  }
}

natsTest(
  "a request goes to a replica holding its adapter; others load on demand",
  () =>
    withReplicas(async (replicas) => {
      const [r1, r2, r3] = replicas;
      r2.lru.push("a");
      r2.router.setResident(["a"]);
      await r2.nc.flush();
      for (const from of replicas) {
        const answer = await from.router.route("a", text("hi"));
        assert.deepEqual([answer.replica, new TextDecoder().decode(answer.body)], [
          "r2",
          "r2:a:hi",
        ]);
      }
      assert.equal(r2.hits, 3);
      const first = await r1.router.route("b", text("x")); // nobody holds b: one replica loads it
      await Promise.all(replicas.map((r) => r.nc.flush()));
      const again = await r3.router.route("b", text("y"));
      assert.equal(again.replica, first.replica, "b stays where it was loaded");
      assert.equal(replicas.reduce((n, r) => n + r.loads, 0), 1);
      await assert.rejects(r1.router.route("broken", text("")), /adapter broken failed to load/);
    }),
);

natsTest(
  "a replica at capacity takes no new work; with none free the request fails",
  () =>
    withReplicas(
      async (replicas) => {
        const [r1] = replicas;
        const gates: (() => void)[] = [];
        for (const r of replicas) r.gate = new Promise((resolve) => gates.push(resolve));
        const busy = [];
        const load = () => replicas.reduce((n, r) => n + r.router.load, 0);
        for (let i = 0; i < 3; i++) {
          // One at a time, so each unsubscription reaches the server before the next request.
          busy.push(r1.router.route(`busy-${i}`, text("")));
          while (load() !== i + 1) await new Promise((r) => setTimeout(r, 5));
          await Promise.all(replicas.map((r) => r.nc.flush()));
        }
        await assert.rejects(r1.router.route("more", text("")), RoutingError);
        gates.forEach((open) => open());
        const served = (await Promise.all(busy)).map((a) => a.replica).sort();
        assert.deepEqual(served, ["r1", "r2", "r3"], "each replica took exactly one");
      },
      4,
      1,
    ),
);

/** Waits until one of `replicas` is serving a request, and returns it. */
async function serving(replicas: FakeReplica[]): Promise<FakeReplica> {
  for (;;) {
    const busy = replicas.find((r) => r.router.load > 0);
    if (busy) return busy;
    await new Promise((r) => setTimeout(r, 5));
  }
}

natsTest(
  "a request whose replica dies while serving it is served by another, once",
  () =>
    withReplicas(async (replicas) => {
      const [r1, r2] = replicas;
      let release!: () => void;
      r2.gate = new Promise((resolve) => (release = resolve));
      r2.lru.push("a");
      r2.router.setResident(["a"]);
      await r2.nc.flush();
      const answer = r1.router.route("a", text("hi"));
      await serving([r2]);
      await r2.nc.close(); // its subscriptions and its signs of life end, like a killed process's
      const { replica, body } = await answer;
      assert.notEqual(replica, "r2");
      assert.equal(new TextDecoder().decode(body), `${replica}:a:hi`);
      release();
      assert.equal(r2.served + replicas[0].served + replicas[2].served, 2, "r2's and the retry");
    }),
);

natsTest(
  "a request whose replica dies, and whose retry's replica dies too, fails as lost",
  () =>
    withReplicas(async (replicas) => {
      const [r1, r2, r3] = replicas;
      const gates: (() => void)[] = [];
      for (const r of [r2, r3]) {
        r.gate = new Promise((resolve) => gates.push(resolve));
        r.lru.push("a");
        r.router.setResident(["a"]);
        await r.nc.flush();
      }
      const answer = r1.router.route("a", text("hi"));
      const first = await serving([r2, r3]);
      await first.nc.close();
      await (await serving([r2, r3].filter((r) => r !== first))).nc.close();
      await assert.rejects(answer, ReplicaLostError);
      gates.forEach((open) => open());
    }),
);

natsTest(
  "Zipf traffic over 10 adapters lands where the adapter is resident",
  () =>
    withReplicas(async (replicas) => {
      const adapters = Array.from({ length: 10 }, (_, i) => `ad-${i}`);
      const weights = adapters.map((_, i) => 1 / (i + 1)); // Zipf, s = 1
      const total = weights.reduce((a, b) => a + b);
      let seed = 12345;
      const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
      const pick = () => {
        let u = random() * total;
        return adapters.find((_, i) => (u -= weights[i]) < 0) ?? adapters[9];
      };
      const send = async (n: number) => {
        for (let i = 0; i < n; i++) {
          await replicas[i % 3].router.route(pick(), text(""));
          await replicas[(i + 1) % 3].nc.flush(); // the new subscriptions reach the server
        }
      };
      const start = Date.now();
      await send(200); // warm-up
      for (const r of replicas) [r.hits, r.loads, r.served] = [0, 0, 0];
      await send(600);
      const served = replicas.reduce((n, r) => n + r.served, 0);
      const hits = replicas.reduce((n, r) => n + r.hits, 0);
      const loads = replicas.reduce((n, r) => n + r.loads, 0);
      const minutes = (Date.now() - start) / 60_000;
      console.log(
        `after warm-up: ${hits}/${served} requests (${(100 * hits / served).toFixed(1)}%) ` +
          `landed where the adapter was resident; ${loads} adapter loads in ${
            (minutes * 60).toFixed(1)
          } s`,
      );
      assert.equal(served, 600);
      assert.ok(hits / served >= 0.9, `${hits}/${served} resident`);
      assert.ok(loads < adapters.length, `${loads} loads: fewer than one per adapter`);
    }),
);
