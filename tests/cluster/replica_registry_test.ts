/**
 * The replica registry over a real nats-server: replicas that keep announcing stay listed, one
 * that stops (as if killed) vanishes within the TTL, and one that stops cleanly goes at once.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type ReplicaInfo, ReplicaRegistry } from "../../server/cluster/replica_registry.ts";
import { natsTest } from "./_nats_test_server.ts";
import { withCluster } from "./_cluster_fixture.ts";

const TTL_MS = 1000;

const info = (id: string, resident: string[] = []): ReplicaInfo => ({
  id,
  url: `http://127.0.0.1/${id}`,
  resident,
  queueDepth: 0,
  load: 0,
});

natsTest(
  "a replica that stops announcing vanishes within the TTL",
  () =>
    withCluster(async (cluster) => {
      const registry = new ReplicaRegistry(cluster.replicas);
      const warn = (m: string) => assert.fail(m);
      const stopA = await registry.keepAnnouncing(() => info("a", ["x"]), TTL_MS / 3, warn);
      const stopB = await registry.keepAnnouncing(() => info("b"), TTL_MS / 3, warn);
      await registry.announce(info("dead")); // announced once, never refreshed
      assert.deepEqual((await registry.list()).map((r) => r.id), ["a", "b", "dead"]);
      const start = Date.now();
      while ((await registry.list()).some((r) => r.id === "dead")) {
        assert.ok(Date.now() - start < 3 * TTL_MS, "the dead replica is still listed");
        await new Promise((r) => setTimeout(r, 20));
      }
      console.log(
        `a silent replica vanished ${Date.now() - start} ms after it was seen (TTL ${TTL_MS} ms)`,
      );
      assert.deepEqual(await registry.list(), [info("a", ["x"]), info("b")], "the live ones stay");
      await stopB();
      assert.deepEqual((await registry.list()).map((r) => r.id), ["a"]);
      await stopA();
    }, { replicaTtlMs: TTL_MS }),
);
