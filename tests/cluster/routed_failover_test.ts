/**
 * A routed generation whose replica is killed mid-request (issue 17 follow-up), with real
 * processes: one nats-server and two replicas on the tiny fixture. r2 alone holds the adapter;
 * a long request sent to r1 is routed to r2, which is killed with SIGKILL while it generates.
 * r1 notices the silence and routes the request once more (to itself, through the fallback), and
 * the client gets the exact greedy text. The time from the kill to the answer is printed.
 *
 * @module
 */
import assert from "node:assert/strict";
import { findAdapter } from "../../lib/gpu/device.ts";
import { loadFixtureModel, randomAdapter } from "../../server/_test_fixture.ts";
import { ReplicaRegistry } from "../../server/cluster/replica_registry.ts";
import { natsTest } from "./_nats_test_server.ts";
import {
  complete,
  expectedText,
  poll,
  publishAdapter,
  startTestCluster,
} from "./_cluster_scenarios.ts";

const gpuMissing = (await findAdapter()) === null && Deno.env.get("REQUIRE_GPU") !== "1";

/** Tokens of the long request: enough that it is still generating when r2 is killed. */
const LONG_TOKENS = 200;

natsTest(
  "a routed request whose replica is killed mid-generation is answered by another",
  async () => {
    const model = await loadFixtureModel("webgpu");
    const c = await startTestCluster({ replicas: 2, workers: 0 });
    try {
      const [r1, r2] = c.replicas;
      const weights = randomAdapter(model.config, 7);
      await publishAdapter(c, model, "long", weights);
      await poll("r2 to serve long", async () => {
        const answer = await complete(r2.url(), "long", true);
        return answer.status === 200 ? answer : null;
      });
      const expected = await expectedText(model, weights, LONG_TOKENS);
      const answer = complete(r1.url(), "long", false, LONG_TOKENS);
      const registry = new ReplicaRegistry(c.client.replicas);
      await poll("r2 to serve the routed request", async () => {
        const replicas = await registry.list();
        return replicas.find((r) => r.id === "r2" && r.load > 0) ?? null;
      });
      await r2.kill();
      const killedAt = performance.now();
      const { status, text, servedBy } = await answer;
      const ms = Math.round(performance.now() - killedAt);
      assert.deepEqual({ status, servedBy, text }, { status: 200, servedBy: "r1", text: expected });
      console.log(`answered by r1 ${ms} ms after r2 was killed (${text.length} characters)`);
    } finally {
      await c.kill();
      model.dispose();
      await Deno.remove(c.root, { recursive: true });
    }
  },
  gpuMissing,
);
