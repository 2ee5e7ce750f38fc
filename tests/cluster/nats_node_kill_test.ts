/**
 * A 3-node NATS cluster losing a node (issue 17, "done when" 5): job records are kept on three
 * nodes; a writer keeps updating one job while a node is killed with SIGKILL. Writes stall while
 * JetStream elects a new leader (when the killed node led the bucket) and then go on; no write
 * is lost and none is applied twice (the counter equals the writes acknowledged). The stall is measured and printed, for a follower and a leader.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type Cluster, openCluster } from "../../server/cluster/jetstream_setup.ts";
import { JobRecords } from "../../server/cluster/job_records.ts";
import { JOBS_BUCKET } from "../../server/cluster/names.ts";
import { natsTest, startNatsCluster } from "./_nats_test_server.ts";
import { queuedJob } from "./_cluster_fixture.ts";

/** Opens the cluster once the nodes have elected a JetStream meta leader (within 30 s). */
async function openWhenReady(servers: string[]): Promise<Cluster> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      return await openCluster({ servers, replicas: 3 });
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/**
 * Increments job `id`'s counter in a loop while `kill()` runs after 1 s, for `ms`; returns the
 * longest gap between two acknowledged writes and their count.
 */
async function writeThrough(
  records: JobRecords,
  id: string,
  kill: () => Promise<void>,
  ms: number,
): Promise<{ longestGapMs: number; writes: number }> {
  let writes = 0, last = performance.now(), longestGapMs = 0;
  const end = Date.now() + ms;
  const killed = new Promise((r) => setTimeout(r, 1000)).then(kill);
  while (Date.now() < end) {
    await records.write(id, 1, (job) => ({ trained_tokens: (job.trained_tokens ?? 0) + 1 }));
    writes++;
    const now = performance.now();
    longestGapMs = Math.max(longestGapMs, now - last);
    last = now;
  }
  await killed;
  return { longestGapMs, writes };
}

for (const role of ["follower", "leader"] as const) {
  natsTest(`job writes go on after the bucket's ${role} node dies, and none is lost`, async () => {
    const nodes = await startNatsCluster();
    const cluster = await openWhenReady(nodes.map((n) => n.url));
    try {
      const records = new JobRecords(cluster.jobs);
      await records.create(queuedJob("ftjob-ha"));
      await records.claim("ftjob-ha", "w");
      const leader = (await cluster.jsm.streams.info(`KV_${JOBS_BUCKET}`)).cluster?.leader;
      const victim = nodes.find((n) => (n.name === leader) === (role === "leader"))!;
      const { longestGapMs, writes } = await writeThrough(records, "ftjob-ha", victim.kill, 4000);
      console.log(
        `${role} ${victim.name} killed: longest write stall ${longestGapMs.toFixed(0)} ms ` +
          `(${writes} writes in 4 s)`,
      );
      assert.equal((await records.get("ftjob-ha"))?.job.trained_tokens, writes, "no write lost");
      assert.ok(longestGapMs < 15_000, "writes resumed");
    } finally {
      await cluster.close().catch(() => {});
      for (const n of nodes) await n.stop();
    }
  });
}
