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
import { natsTest, type NatsTestServer, startNatsCluster } from "./_nats_test_server.ts";
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
 * Increments job `id`'s counter in a loop while `kill()` runs after 1 s, for `ms`. Returns the
 * count of writes, when the kill was (`Date.now()`), and how long after it the first write that
 * began after it was acknowledged.
 */
async function writeThrough(
  records: JobRecords,
  id: string,
  kill: () => Promise<void>,
  ms: number,
): Promise<{ writes: number; killedAt: number; resumedMs: number }> {
  let writes = 0, killedAt = Infinity, resumedMs = NaN;
  const end = Date.now() + ms;
  const killed = new Promise((r) => setTimeout(r, 1000)).then(() => {
    killedAt = Date.now();
    return kill();
  });
  while (Date.now() < end) {
    const began = Date.now();
    await records.write(id, 1, (job) => ({ trained_tokens: (job.trained_tokens ?? 0) + 1 }));
    writes++;
    if (began >= killedAt && Number.isNaN(resumedMs)) resumedMs = Date.now() - killedAt;
  }
  await killed;
  return { writes, killedAt, resumedMs };
}

/** When a node of `nodes` logged that it leads stream `stream`, after `since` (ms since epoch). */
function leaderElectedAt(nodes: NatsTestServer[], stream: string, since: number): number {
  const times = nodes.flatMap((n) =>
    n.log().split("\n").filter((line) => line.includes(`new stream leader for '$G > ${stream}'`))
      .map((line) => {
        const [, y, mo, d, h, mi, s, us] = /(\d+)\/(\d+)\/(\d+) (\d+):(\d+):(\d+)\.(\d+)/
          .exec(line)!.map(Number);
        return new Date(y, mo - 1, d, h, mi, s, us / 1000).getTime();
      })
  );
  return Math.min(...times.filter((t) => t >= since));
}

/**
 * The bucket's leader is made another node than the one the client is connected to (by asking
 * it to step down when it is the same): killing the client's node then tests the client alone.
 */
async function leaderAwayFromClient(cluster: Cluster, stream: string): Promise<string> {
  const own = cluster.nc.info!.server_name;
  let leader = (await cluster.jsm.streams.info(stream)).cluster!.leader!;
  if (leader === own) {
    await cluster.nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.${stream}`);
    while (leader === own || !leader) {
      await new Promise((r) => setTimeout(r, 50));
      leader = (await cluster.jsm.streams.info(stream).catch(() => null))?.cluster?.leader ?? "";
    }
  }
  return leader;
}

const CASES = {
  "the client's node (a follower)": (_leader: string, own: string) => own,
  "the bucket's leader node": (leader: string) => leader,
};

for (const [role, pick] of Object.entries(CASES)) {
  natsTest(`job writes go on after ${role} dies, and none is lost`, async () => {
    const nodes = await startNatsCluster();
    const cluster = await openWhenReady(nodes.map((n) => n.url));
    try {
      const records = new JobRecords(cluster.jobs);
      await records.create(queuedJob("ftjob-ha"));
      await records.claim("ftjob-ha", "w");
      const stream = `KV_${JOBS_BUCKET}`;
      const leader = await leaderAwayFromClient(cluster, stream);
      const victim = nodes.find((n) => n.name === pick(leader, cluster.nc.info!.server_name))!;
      const killsLeader = victim.name === leader;
      const { writes, killedAt, resumedMs } = await writeThrough(
        records,
        "ftjob-ha",
        victim.kill,
        killsLeader ? 12_000 : 4000,
      );
      const elected = killsLeader
        ? `; the new leader was elected ${
          leaderElectedAt(nodes, stream, killedAt) - killedAt
        } ms after`
        : "";
      console.log(
        `${victim.name} killed: writes resumed ${resumedMs} ms after the kill${elected} ` +
          `(${writes} writes)`,
      );
      assert.equal((await records.get("ftjob-ha"))?.job.trained_tokens, writes, "no write lost");
      assert.ok(!Number.isNaN(resumedMs), "writes resumed");
    } finally {
      await cluster.close().catch(() => {});
      for (const n of nodes) await n.stop();
    }
  });
}
