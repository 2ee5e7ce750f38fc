import assert from "node:assert/strict";
import { AdapterSlots } from "./adapter_slots.ts";
import { resolveLoraConfig } from "../lora/lora_config.ts";
import type { LoraWeights } from "../lora/lora_weights.ts";

const weights = (): LoraWeights => ({ config: resolveLoraConfig({ r: 2 }), tensors: new Map() });

Deno.test("adapter slots: resident adapters are reused, the least recently used idle one is replaced, a full set waits", async () => {
  const uploads: [number, LoraWeights][] = [];
  const slots = new AdapterSlots(2, (slot, w) => uploads.push([slot, w]));
  const [a, b, c] = [weights(), weights(), weights()];
  const sa = await slots.acquire("a", a);
  const sb = await slots.acquire("b", b);
  assert.notEqual(sa, sb);
  assert.equal(await slots.acquire("a", a), sa); // resident: no upload
  assert.equal(uploads.length, 2);
  slots.release(sa);
  slots.release(sa);
  let cSlot = -1;
  const waiting = slots.acquire("c", c).then((s) => (cSlot = s)); // a is idle: replaced at once
  await waiting;
  assert.equal(cSlot, sa);
  assert.deepEqual(slots.resident.sort(), ["b", "c"]);
  const d = weights();
  let dSlot = -1;
  const blocked = slots.acquire("d", d).then((s) => (dSlot = s)); // b and c are in use
  await new Promise((r) => setTimeout(r, 1));
  assert.equal(dSlot, -1);
  slots.release(sb);
  await blocked;
  assert.equal(dSlot, sb);
  assert.equal(uploads.length, 4);
});

Deno.test("adapter slots: an adapter replaced under its name is uploaded again, and no slots refuses clearly", async () => {
  const uploads: number[] = [];
  const slots = new AdapterSlots(2, (slot) => uploads.push(slot));
  const a = weights();
  slots.release(await slots.acquire("a", a));
  const replaced = weights();
  slots.release(await slots.acquire("a", replaced));
  assert.equal(uploads.length, 2);
  assert.deepEqual(slots.resident, ["a"]);
  await assert.rejects(new AdapterSlots(0, () => {}).acquire("a", a), /--max-loras is 0/);
});
