import assert from "node:assert/strict";
import { join } from "node:path";
import { ApiError } from "../server/errors.ts";
import { type FineTuningJob, JobStore } from "../server/job_store.ts";
import { isSafeName, resolveInside } from "../server/safe_path.ts";
import { sampleJob, tempDir } from "../server/_test_fixture.ts";

const job = (id: string, status: FineTuningJob["status"], created_at: number) =>
  sampleJob(id, { status, created_at });

Deno.test("job store: jobs and events persist; interrupted jobs fail naming their last checkpoint", async () => {
  const dir = join(await tempDir(), ".jobs");
  const store = await JobStore.open(dir);
  await store.create(job("ftjob-done", "queued", 100));
  await store.update("ftjob-done", { status: "succeeded", fine_tuned_model: "mine" });
  await store.create(job("ftjob-running", "running", 200));
  await store.update("ftjob-running", { last_checkpoint: ".jobs/ftjob-running/checkpoint-2" });
  await store.addEvent("ftjob-running", "info", "Step 2/3: training loss=1.0000", {
    step: 2,
    train_loss: 1,
  });
  await store.create(job("ftjob-queued", "queued", 300));
  const heard: string[] = [];
  const stop = store.subscribe(
    "ftjob-queued",
    (event, j) => heard.push(`${j.status}: ${event.message}`),
  );
  await store.addEvent("ftjob-queued", "info", "Created");
  stop();
  await store.addEvent("ftjob-queued", "info", "Not heard");
  assert.deepEqual(heard, ["queued: Created"]);
  assert.deepEqual(store.list().map((j) => j.id), ["ftjob-queued", "ftjob-running", "ftjob-done"]);

  // The job file holds the job; its events are appended one JSON line each beside it.
  const stored = JSON.parse(await Deno.readTextFile(join(dir, "ftjob-running.json")));
  assert.deepEqual(Object.keys(stored), ["job"]);
  const lines = (await Deno.readTextFile(join(dir, "ftjob-running.events.jsonl"))).split("\n");
  assert.deepEqual(lines.map((l) => l && JSON.parse(l).message), [
    "Step 2/3: training loss=1.0000",
    "",
  ]);
  // A write cut short by a crash leaves a partial last line: it is skipped with a warning.
  await Deno.writeTextFile(join(dir, "ftjob-done.events.jsonl"), '{"object":"fine_tuning.job.ev', {
    append: true,
  });

  // Garbage beside the job files is skipped with a warning, not fatal.
  await Deno.writeTextFile(join(dir, "ftjob-broken.json"), "{ not json");
  await Deno.writeTextFile(
    join(dir, "ftjob-other.json"),
    JSON.stringify({ job: job("ftjob-x", "queued", 1), events: [] }),
  );
  const warnings: string[] = [];
  const reopened = await JobStore.open(dir, (m) => warnings.push(m));
  assert.equal(warnings.length, 3, warnings.join("\n"));
  assert.ok(warnings.some((w) => w.includes("ftjob-broken.json")));
  assert.ok(warnings.some((w) => /partial last line .*ftjob-done\.events\.jsonl/.test(w)));
  assert.deepEqual(reopened.events("ftjob-done"), []);

  assert.equal(reopened.get("ftjob-done")?.status, "succeeded");
  assert.equal(reopened.get("ftjob-done")?.fine_tuned_model, "mine");
  const running = reopened.get("ftjob-running")!;
  assert.equal(running.status, "failed");
  assert.equal(running.error?.code, "interrupted");
  assert.match(running.error!.message, /last checkpoint \.jobs\/ftjob-running\/checkpoint-2/);
  assert.ok(running.finished_at !== null);
  const events = reopened.events("ftjob-running");
  assert.equal(events[0].data?.train_loss, 1);
  assert.equal(events.at(-1)?.level, "error");
  assert.match(reopened.get("ftjob-queued")!.error!.message, /no checkpoint was saved/);
  assert.equal(reopened.events("ftjob-queued").length, 3);

  // A third start changes nothing more: the failed jobs stay as they are.
  const again = await JobStore.open(dir, () => {});
  assert.deepEqual(again.get("ftjob-running"), running);
});

Deno.test("job store: after a crash mid-append, the restart's event is kept and temporaries go", async () => {
  const dir = join(await tempDir(), ".jobs");
  const store = await JobStore.open(dir);
  await store.create(job("ftjob-crashed", "running", 100));
  await store.addEvent("ftjob-crashed", "info", "Step 1/3", { step: 1 });
  // The crash: half an event line, a temporary job file and half-written checkpoint folders.
  const events = join(dir, "ftjob-crashed.events.jsonl");
  await Deno.writeTextFile(events, '{"object":"fine_tuning.job.event","id":"ftev', {
    append: true,
  });
  const uuid = crypto.randomUUID();
  await Deno.writeTextFile(join(dir, `ftjob-crashed.json.tmp-${uuid}`), "{");
  const checkpoints = join(dir, "ftjob-crashed");
  await Deno.mkdir(join(checkpoints, `.checkpoint-2.tmp-${uuid}`), { recursive: true });
  // Caught between writeFolderAtomic's two renames: the previous folder was moved aside.
  await Deno.mkdir(join(checkpoints, `.checkpoint-1.old-${uuid}`));
  await Deno.writeTextFile(join(checkpoints, `.checkpoint-1.old-${uuid}`, "state"), "step 1");

  const warnings: string[] = [];
  const restarted = await JobStore.open(dir, (m) => warnings.push(m));
  assert.equal(warnings.length, 1, warnings.join("\n"));
  assert.match(warnings[0], /partial last line/);
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
    "ftjob-crashed",
    "ftjob-crashed.events.jsonl",
    "ftjob-crashed.json",
  ]);
  assert.deepEqual([...Deno.readDirSync(checkpoints)].map((e) => e.name), ["checkpoint-1"]);
  assert.equal(await Deno.readTextFile(join(checkpoints, "checkpoint-1", "state")), "step 1");
  assert.equal(restarted.get("ftjob-crashed")?.error?.code, "interrupted");

  // The next start reads the restart's event back, with no warning at all.
  const quiet: string[] = [];
  const again = await JobStore.open(dir, (m) => quiet.push(m));
  assert.deepEqual(quiet, []);
  assert.deepEqual(again.events("ftjob-crashed").map((e) => e.message), [
    "Step 1/3",
    "Interrupted by a server restart; no checkpoint was saved",
  ]);
});

Deno.test("job store: delete removes a finished job's files; prune keeps the newest", async () => {
  const dir = join(await tempDir(), ".jobs");
  const store = await JobStore.open(dir);
  for (let i = 1; i <= 4; i++) {
    await store.create(job(`ftjob-${i}`, i === 1 ? "running" : "succeeded", i));
    await store.addEvent(`ftjob-${i}`, "info", "Created");
    await Deno.mkdir(join(dir, `ftjob-${i}`, "checkpoint-1"), { recursive: true });
  }
  await assert.rejects(store.delete("ftjob-1"), /running; only a finished job can be deleted/);
  // The oldest finished ones go first; the running one stays though it is the oldest.
  assert.deepEqual(await store.prune(2), ["ftjob-2", "ftjob-3"]);
  assert.deepEqual(store.list().map((j) => j.id), ["ftjob-4", "ftjob-1"]);
  assert.deepEqual(await store.prune(1), ["ftjob-4"]);
  assert.deepEqual(await store.prune(1), []);
  const left = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  assert.deepEqual(left, ["ftjob-1", "ftjob-1.events.jsonl", "ftjob-1.json"]);
});

Deno.test("safe paths: names and relative paths stay inside their folder", async () => {
  const root = await tempDir();
  const data = join(root, "data");
  await Deno.mkdir(join(data, "sets"), { recursive: true });
  await Deno.writeTextFile(join(data, "sets", "a.json"), "[]");
  await Deno.writeTextFile(join(root, "secret.json"), "[]");
  await Deno.symlink(join(root, "secret.json"), join(data, "escape.json"));
  await Deno.symlink(join(data, "sets", "a.json"), join(data, "inside.json"));
  await Deno.symlink(root, join(data, "up"));

  assert.equal(
    await resolveInside(data, "sets/a.json", "training_file"),
    await Deno.realPath(join(data, "sets", "a.json")),
  );
  assert.equal(
    await resolveInside(data, "inside.json", "training_file"),
    await Deno.realPath(join(data, "sets", "a.json")),
  );
  for (
    const bad of [
      "../secret.json",
      "sets/../../secret.json",
      "/etc/passwd",
      join(root, "secret.json"),
      "",
      "sets//a.json",
      "./sets/a.json",
      "sets\\a.json",
      "C:secret.json",
      "a.json\0",
      "escape.json",
      "up/secret.json",
      "missing.json",
    ]
  ) {
    await assert.rejects(resolveInside(data, bad, "training_file"), (e: unknown) => {
      assert.ok(e instanceof ApiError, String(e));
      assert.equal(e.status, 400);
      assert.equal(e.param, "training_file");
      assert.match(e.message, /^Invalid training_file /);
      return true;
    }, bad);
  }
  for (const good of ["a", "my-adapter_2", "v1.2", "A".repeat(64)]) {
    assert.ok(isSafeName(good), good);
  }
  for (const bad of ["", ".", "..", ".jobs", "a/b", "a\\b", "-x", "A".repeat(65), "é", "a b"]) {
    assert.ok(!isSafeName(bad), bad);
  }
});
