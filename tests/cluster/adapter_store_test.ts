/**
 * Adapters over a real nats-server: revisions round-trip bit for bit, concurrent publications
 * each get their own revision number, and a replica's mirror writes every revision into its
 * local folder and reports the ones that replace a revision it had.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { AdapterStore } from "../../server/cluster/adapter_store.ts";
import { AdapterMirror } from "../../server/cluster/adapter_mirror.ts";
import { natsTest } from "./_nats_test_server.ts";
import { withCluster } from "./_cluster_fixture.ts";

/** Adapter files whose bytes depend on `seed` (300 kB, several object chunks). */
function files(seed: number): Map<string, Uint8Array> {
  const weights = new Uint8Array(300_000).map((_, i) => (i * 31 + seed * 7) % 251);
  return new Map([["adapter_config.json", new TextEncoder().encode(`{"r":${seed}}`)], [
    "adapter_model.safetensors",
    weights,
  ]]);
}

/** Polls `check` every 5 ms until it holds or 5 s pass. */
async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

natsTest(
  "adapter revisions round-trip and concurrent publications all count",
  () =>
    withCluster(async (cluster) => {
      const store = new AdapterStore(cluster.adapterIndex, cluster.adapterFiles);
      assert.equal(await store.get("mine"), null);
      const first = await store.publish("mine", files(1));
      assert.equal(first.revision, 1);
      assert.deepEqual(await store.files((await store.get("mine"))!), files(1));
      const revisions = await Promise.all([2, 3, 4].map((s) => store.publish("mine", files(s))));
      assert.deepEqual(revisions.map((r) => r.revision).sort(), [2, 3, 4]);
      const current = (await store.get("mine"))!;
      assert.equal(current.revision, 4);
      const seed = revisions.find((r) => r.revision === 4)!.manifest;
      assert.deepEqual(current.manifest, seed, "the index names the last publication's files");
      await store.publish("a/b.c", files(9));
      assert.deepEqual(await store.names(), ["a/b.c", "mine"]);
    }),
);

natsTest(
  "a mirror writes each revision locally and reports replacements",
  () =>
    withCluster(async (cluster) => {
      const store = new AdapterStore(cluster.adapterIndex, cluster.adapterFiles);
      await store.publish("early", files(1)); // published before the mirror starts
      const dir = await Deno.makeTempDir();
      const replaced: string[] = [];
      const warnings: string[] = [];
      const mirror = new AdapterMirror(store, {
        dir,
        onNewRevision: (name, revision) =>
          Promise.resolve(void replaced.push(`${name}@${revision}`)),
        warn: (m) => warnings.push(m),
      });
      await mirror.start();
      const weights = (name: string) =>
        Deno.readFile(join(dir, name, "adapter_model.safetensors")).catch(() => null);
      await until(() => mirror.revisionOf("early") === 1, "the existing adapter");
      assert.deepEqual(await weights("early"), files(1).get("adapter_model.safetensors"));

      const start = performance.now();
      await store.publish("early", files(2));
      await until(() => mirror.revisionOf("early") === 2, "the new revision");
      const latency = performance.now() - start;
      assert.deepEqual(await weights("early"), files(2).get("adapter_model.safetensors"));
      assert.deepEqual(replaced, ["early@2"]);
      console.log(`revision 2 mirrored ${latency.toFixed(0)} ms after publish() began`);

      await store.publish("../escape", files(3));
      await until(() => warnings.length > 0, "a warning");
      assert.match(warnings[0], /\.\.\/escape r1: not a safe folder name/);
      mirror.stop();
      await Deno.remove(dir, { recursive: true });
    }),
);
