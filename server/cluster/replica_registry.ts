/**
 * The registry of live replicas: each replica refreshes its entry in a KV bucket whose entries
 * expire (the bucket's TTL), with its address, resident adapters, queue depth and load. A
 * replica that dies stops refreshing, and its entry vanishes within the TTL.
 *
 * @module
 */
import type { KV } from "@nats-io/kv";
import { getJson } from "./kv_cas.ts";
import { currentKeys } from "./kv_keys.ts";
import { token } from "./names.ts";

/** What a replica says about itself. */
export interface ReplicaInfo {
  /** Its unique id. */
  id: string;
  /** Where its HTTP API listens. */
  url: string;
  /** The adapters its model holds. */
  resident: string[];
  /** Requests waiting for its GPU. */
  queueDepth: number;
  /** Requests it is serving. */
  load: number;
}

/** The replicas bucket. */
export class ReplicaRegistry {
  readonly #kv: KV;

  /** Wraps the replicas bucket (made with a TTL by `openCluster`). */
  constructor(kv: KV) {
    this.#kv = kv;
  }

  /** Writes (or refreshes) the entry of replica `info.id`. */
  async announce(info: ReplicaInfo): Promise<void> {
    await this.#kv.put(token(info.id), JSON.stringify(info));
  }

  /**
   * Announces `describe()` now and every `everyMs` after (a third of the TTL keeps it alive);
   * the returned function stops and removes the entry.
   */
  async keepAnnouncing(
    describe: () => ReplicaInfo,
    everyMs: number,
    warn: (message: string) => void,
  ): Promise<() => Promise<void>> {
    await this.announce(describe());
    const timer = setInterval(() => {
      this.announce(describe()).catch((e) => warn(`Replica announcement failed: ${e.message}`));
    }, everyMs);
    return async () => {
      clearInterval(timer);
      await this.#kv.delete(token(describe().id));
    };
  }

  /**
   * The live replicas, sorted by id: the entries of the keys at the call (see `kv_keys.ts`;
   * every replica rewrites its entry all the time, which can hold `KV.keys()` up).
   */
  async list(): Promise<ReplicaInfo[]> {
    const replicas: ReplicaInfo[] = [];
    for (const key of await currentKeys(this.#kv)) {
      const entry = await getJson<ReplicaInfo>(this.#kv, key);
      if (entry) replicas.push(entry.value);
    }
    return replicas.sort((a, b) => a.id.localeCompare(b.id));
  }
}
