/**
 * Measures the cluster's "done when" figures of issue 17 with real processes on the tiny
 * fixture (nats-server, three replicas and two workers as separate `server/main.ts` processes;
 * the restart with two replicas and one worker), prints them, and writes them as the `cluster`
 * block of BENCHMARKS.md:
 *
 *   deno run -A benchmarks/cluster.ts [--jobs 3] [--revisions 10] [--requests 300]
 *
 * - a trained adapter: ms from its publication until each other replica serves it;
 * - revisions: ms from each publication until each replica serves it (p50, p95, max);
 * - Zipf traffic over 10 adapters: the share served where the adapter was resident, and loads
 *   per adapter per minute, after warm-up;
 * - a replica killed with SIGKILL: failed requests to the others in the first second and after,
 *   and ms until the adapter only it held is served by another (the failover delay);
 * - a whole restart: ms until the running job resumes, and until both jobs have finished.
 *
 * It needs nats-server and a WebGPU adapter (lavapipe will do).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { loadFixtureModel } from "../server/_test_fixture.ts";
import {
  quantile,
  replicaKill,
  revisionReach,
  startTestCluster,
  trainedAdapterReach,
  wholeRestart,
  zipfNames,
  zipfTraffic,
} from "../tests/cluster/_cluster_scenarios.ts";
import { writeReportBlock } from "./_report_blocks.ts";
import { markdownTable } from "./_table.ts";

const flags = parseArgs({
  args: Deno.args,
  options: {
    jobs: { type: "string", default: "3" },
    revisions: { type: "string", default: "10" },
    requests: { type: "string", default: "300" },
  },
}).values;
const jobs = Number(flags.jobs);
const revisions = Number(flags.revisions);
const requests = Number(flags.requests);
const command = "deno run -A benchmarks/cluster.ts" +
  (Deno.args.length ? ` ${Deno.args.join(" ")}` : "");

const ms = (x: number) => `${Math.round(x)} ms`;
const spread = (xs: number[]) =>
  `p50 ${ms(quantile(xs, 0.5))}, p95 ${ms(quantile(xs, 0.95))}, max ${ms(Math.max(...xs))} ` +
  `(${xs.length} samples)`;
const loadAtStart = Deno.loadavg().map((x) => x.toFixed(2)).join(", ");

const model = await loadFixtureModel("webgpu");
const rows: string[][] = [];
const c = await startTestCluster({
  replicas: 3,
  workers: 2,
  workerFlags: ["--checkpoint-every", "2"],
});
try {
  const served: number[] = [];
  for (let i = 0; i < jobs; i++) {
    const reach = await trainedAdapterReach(c, `bench-${i}`);
    if (reach.job.status !== "succeeded") throw new Error(`Job failed: ${reach.job.error}`);
    served.push(...reach.served.map((s) => s.ms));
  }
  rows.push([
    "2. adapter trained through replica A, served by B and C (4-step jobs)",
    `${spread(served)} after its publication`,
  ]);
  const reaches = await revisionReach(c, model, "bench-rev", revisions, 11);
  rows.push([
    "3. a new revision served by every replica",
    `${spread(reaches.flatMap((r) => r.ms))} after its publication`,
  ]);
  const zipf = await zipfTraffic(c, model, 10, requests, 5);
  rows.push([
    `6. Zipf traffic (exponent 1.1), 10 adapters, ${zipf.requests} requests after warm-up`,
    `${(100 * zipf.resident / zipf.requests).toFixed(1)}% where resident; ` +
    `${(zipf.loads / 10 / zipf.minutes).toFixed(2)} loads per adapter per minute ` +
    `(${zipf.loads} loads in ${(zipf.minutes * 60).toFixed(1)} s); ${zipf.failures} failed`,
  ]);
  const kill = await replicaKill(c, model, zipfNames(4), 5000);
  const early = kill.requests.filter((r) => r.at < 1000);
  const late = kill.requests.filter((r) => r.at >= 1000);
  rows.push([
    "4. a replica killed with SIGKILL, requests to the other two",
    `${early.filter((r) => !r.ok).length} of ${early.length} failed in the first second, ` +
    `${late.filter((r) => !r.ok).length} of ${late.length} after; failover delay (the killed ` +
    `replica's adapter served by another) ${ms(kill.soloServedMs)}`,
  ]);
} finally {
  await c.kill();
  await Deno.remove(c.root, { recursive: true });
}
const restart = await wholeRestart(model, 30);
rows.push([
  "7. whole restart (NATS, 2 replicas, 1 worker) mid-job, with a job queued",
  `running job resumed ${ms(restart.resumedMs)} after the restart began (starting NATS and the ` +
  `processes, then the 2 s ack wait), both jobs finished after ${ms(restart.finishedMs)}; ` +
  `${restart.jobsAfter.length} jobs and the adapter kept`,
]);
model.dispose();

const cpu = (await Deno.readTextFile("/proc/cpuinfo").catch(() => ""))
  .match(/^model name\s*:\s*(.+)$/m)?.[1] ?? `${Deno.build.os} ${Deno.build.arch}`;
const markdown = [
  "## Cluster (NATS JetStream)",
  "",
  markdownTable(["issue 17, done when", "measured"], rows),
  "",
  `Command: \`${command}\`. Machine: ${cpu}, nproc ${navigator.hardwareConcurrency}, WebGPU on ` +
  `lavapipe; nats-server, replicas and workers all on it; load average ${loadAtStart} at the ` +
  `start, ${Deno.loadavg().map((x) => x.toFixed(2)).join(", ")} at the end. The worker ` +
  "failover (done when 1) and the NATS node kill (5) print their timings in " +
  "tests/cluster/worker_failover_test.ts and nats_node_kill_test.ts.",
].join("\n");
console.log(markdown);
await writeReportBlock("BENCHMARKS.md", "cluster", markdown);
