/**
 * The adapter slots of a batch engine, as a least-recently-used cache (vLLM's `--max-loras`):
 * an adapter is uploaded into a slot when a request first needs it, stays while requests use
 * it, and the least recently used idle one is replaced when a new one needs room. A request
 * that finds every slot in use waits for one to become idle. An adapter is known by its
 * weights: one replaced under the same name (new weights) is uploaded again.
 *
 * @module
 */
import type { LoraWeights } from "../lora/lora_weights.ts";

interface Slot {
  weights: LoraWeights | null; // null: free
  name: string;
  users: number;
  lastUsed: number;
}

/** Slots of adapters resident on the GPU, filled on demand, least recently used evicted. */
export class AdapterSlots {
  readonly #slots: Slot[];
  readonly #upload: (slot: number, weights: LoraWeights) => void;
  readonly #waiters: (() => void)[] = [];
  #clock = 0;

  /** `capacity` slots; `upload` writes an adapter into one. */
  constructor(capacity: number, upload: (slot: number, weights: LoraWeights) => void) {
    this.#slots = Array.from({ length: capacity }, () => ({
      weights: null,
      name: "",
      users: 0,
      lastUsed: 0,
    }));
    this.#upload = upload;
  }

  /** Names of the adapters resident now, most recently used first. */
  get resident(): string[] {
    return this.#slots.filter((s) => s.weights && s.name !== "")
      .sort((a, b) => b.lastUsed - a.lastUsed)
      .map((s) => s.name);
  }

  /**
   * The slot holding `weights` (uploaded under `name` if it is not resident), held until
   * {@linkcode release}; waits while every slot is in use.
   */
  async acquire(name: string, weights: LoraWeights, signal?: AbortSignal): Promise<number> {
    if (this.#slots.length === 0) {
      throw new RangeError(`Adapter ${name} cannot be applied: --max-loras is 0`);
    }
    while (true) {
      signal?.throwIfAborted();
      const index = this.#find(weights);
      if (index >= 0) {
        const slot = this.#slots[index];
        if (slot.weights !== weights) {
          this.#upload(index, weights);
          for (const other of this.#slots) if (other.name === name) other.name = ""; // replaced
          Object.assign(slot, { weights, name });
        }
        slot.users += 1;
        slot.lastUsed = ++this.#clock;
        return index;
      }
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  /** Releases a slot taken by {@linkcode acquire}. */
  release(index: number): void {
    const slot = this.#slots[index];
    slot.users -= 1;
    if (slot.users === 0) this.#waiters.splice(0).forEach((wake) => wake());
  }

  /** The slot of these weights, else a free idle one, else the least recently used idle one, else −1. */
  #find(weights: LoraWeights): number {
    const resident = this.#slots.findIndex((s) => s.weights === weights && s.name !== "");
    if (resident >= 0) return resident;
    const idle = [...this.#slots.keys()].filter((i) => this.#slots[i].users === 0);
    const free = idle.find((i) => this.#slots[i].name === "");
    if (free !== undefined) return free;
    return idle.reduce(
      (best, i) => best < 0 || this.#slots[i].lastUsed < this.#slots[best].lastUsed ? i : best,
      -1,
    );
  }
}
