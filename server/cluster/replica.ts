/**
 * A cluster replica's background work, beside its HTTP app: it mirrors the cluster's adapters
 * into its adapters folder (where the engine loads them on first use) and swaps a resident
 * adapter when a new revision is published, takes generations routed to it for the adapters it
 * holds (and the fallback subject), and announces itself in the replica registry.
 *
 * @module
 */
import type { ServerEngine } from "../engine.ts";
import { AdapterMirror } from "./adapter_mirror.ts";
import { AdapterRouter } from "./adapter_router.ts";
import { AdapterStore } from "./adapter_store.ts";
import type { Cluster } from "./jetstream_setup.ts";
import { ReplicaRegistry } from "./replica_registry.ts";
import { serveRouted } from "./routed_generation.ts";

/** Settings of {@linkcode startReplica}. */
export interface ReplicaOptions {
  /** This replica's id in the registry and in `X-Served-By`. */
  replicaId: string;
  /** Where its HTTP API listens (announced in the registry). */
  url: string;
  /** Generations it serves at once before it stops taking routed ones. */
  capacity: number;
  /** How long a routed generation may take, in ms. */
  timeoutMs: number;
  /** How long a registry entry lives without a refresh (the cluster's), in ms. */
  registryTtlMs: number;
  /** Receives problems that concern no request. */
  warn: (message: string) => void;
}

/** A started replica: its router (for the generation middleware) and its stop. */
export interface Replica {
  /** Routes generations to the replicas holding their adapters. */
  router: AdapterRouter;
  /** Leaves the cluster: stops routing, mirroring and announcing. */
  stop(): Promise<void>;
}

/** How often the replica re-subscribes to the adapters it holds, in ms. */
const RESIDENT_SYNC_MS = 250;

/**
 * Joins the cluster as a replica of `engine` (once it is ready), serving routed generations
 * through `fetch` (its app).
 */
export async function startReplica(
  cluster: Cluster,
  engine: ServerEngine,
  fetch: (request: Request) => Response | Promise<Response>,
  options: ReplicaOptions,
): Promise<Replica> {
  await engine.ready;
  const adapters = engine.adapters;
  const mirror = new AdapterMirror(new AdapterStore(cluster.adapterIndex, cluster.adapterFiles), {
    dir: adapters.adaptersDir,
    // A resident adapter is reloaded in a turn of its own: requests under way keep the weights
    // they started with, later ones get the new revision.
    onNewRevision: async (name) => {
      if (adapters.loaded().some((a) => a.name === name)) await adapters.load(name);
    },
    warn: options.warn,
  });
  await mirror.start();
  const resident = () => adapters.loaded().map((a) => a.name);
  const serve = serveRouted(engine, fetch);
  const router: AdapterRouter = new AdapterRouter(cluster.nc, {
    replicaId: options.replicaId,
    capacity: options.capacity,
    timeoutMs: options.timeoutMs,
    handle: async (adapter, body) => {
      try {
        return await serve(adapter, body);
      } finally {
        router.setResident(resident()); // an adapter loaded for it is taken from now on
      }
    },
  });
  router.setResident(resident());
  const sync = setInterval(() => router.setResident(resident()), RESIDENT_SYNC_MS);
  const stopAnnouncing = await new ReplicaRegistry(cluster.replicas).keepAnnouncing(
    () => ({
      id: options.replicaId,
      url: options.url,
      resident: resident(),
      queueDepth: engine.load.waiting,
      load: router.load,
    }),
    options.registryTtlMs / 3,
    options.warn,
  );
  return {
    router,
    async stop() {
      clearInterval(sync);
      router.close();
      mirror.stop();
      await stopAnnouncing();
    },
  };
}
