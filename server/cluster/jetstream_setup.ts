/**
 * Connects to NATS and creates (or opens) every stream, KV bucket and object store the cluster
 * uses. Creating is idempotent: the first process makes them, the others open the same ones.
 *
 * @module
 */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  jetstream,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { type ObjectStore, Objm } from "@nats-io/obj";
import { RETRIED_CALL_TIMEOUT_MS, retryUnanswered } from "./kv_cas.ts";
import {
  ADAPTER_FILES_STORE,
  ADAPTER_INDEX_BUCKET,
  CHECKPOINTS_STORE,
  EVENTS_STREAM,
  FILES_STORE,
  IDEMPOTENCY_BUCKET,
  JOBS_BUCKET,
  QUEUE_STREAM,
  REPLICAS_BUCKET,
} from "./names.ts";

/** Settings of {@linkcode openCluster}. */
export interface ClusterOptions {
  /** NATS server URL(s), e.g. `nats://127.0.0.1:4222`. */
  servers: string | string[];
  /** Copies of each stream (1, or 3 on a 3-node cluster). Default 1. */
  replicas?: number;
  /** How long a replica's registry entry lives without a refresh, in ms. Default 3000. */
  replicaTtlMs?: number;
  /** How long a JetStream API call waits for an answer, in ms. Default 2000. */
  apiTimeoutMs?: number;
  /** How long an idempotency key is remembered, in ms. Default 24 h. */
  idempotencyTtlMs?: number;
}

/** A connection and every JetStream resource of the cluster. */
export interface Cluster {
  /** The connection. */
  nc: NatsConnection;
  /** JetStream publishing and consuming. */
  js: JetStreamClient;
  /** JetStream administration. */
  jsm: JetStreamManager;
  /** Job records. */
  jobs: KV;
  /** Idempotency keys of job creation. */
  idempotency: KV;
  /** The adapter index. */
  adapterIndex: KV;
  /** Live replicas. */
  replicas: KV;
  /** Adapter revision files. */
  adapterFiles: ObjectStore;
  /** Training checkpoints. */
  checkpoints: ObjectStore;
  /** Uploaded files. */
  files: ObjectStore;
  /** Drains and closes the connection. */
  close(): Promise<void>;
}

const MS = 1_000_000; // nanoseconds per millisecond

/** How long a replica's registry entry lives without a refresh unless set, in ms. */
export const DEFAULT_REPLICA_TTL_MS = 3000;

/** Connects and ensures every stream, bucket and store exists. */
export async function openCluster(options: ClusterOptions): Promise<Cluster> {
  const nc = await connect({
    servers: options.servers,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 100,
  });
  try {
    // A call whose node died gets no answer: it times out soon, and the caller retries it.
    const timeout = options.apiTimeoutMs ?? 2000;
    const jsm = await jetstreamManager(nc, { timeout });
    const js = jetstream(nc, { timeout });
    const num_replicas = options.replicas ?? 1;
    await ensureStream(jsm, {
      name: QUEUE_STREAM,
      subjects: ["ft.queue.>"],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      num_replicas,
    });
    await ensureStream(jsm, {
      name: EVENTS_STREAM,
      subjects: ["ft.events.>"],
      storage: StorageType.File,
      num_replicas,
      duplicate_window: 3600_000 * MS,
    });
    const kvm = new Kvm(js);
    const objm = new Objm(js);
    const storage = StorageType.File;
    return {
      nc,
      js,
      jsm,
      jobs: await openJobsBucket(nc, kvm, num_replicas),
      idempotency: await kvm.create(IDEMPOTENCY_BUCKET, {
        replicas: num_replicas,
        storage,
        ttl: options.idempotencyTtlMs ?? 24 * 3600_000,
      }),
      adapterIndex: await kvm.create(ADAPTER_INDEX_BUCKET, {
        history: 5,
        replicas: num_replicas,
        storage,
      }),
      replicas: await kvm.create(REPLICAS_BUCKET, {
        replicas: num_replicas,
        storage: StorageType.Memory,
        ttl: options.replicaTtlMs ?? DEFAULT_REPLICA_TTL_MS,
      }),
      adapterFiles: await objm.create(ADAPTER_FILES_STORE, { replicas: num_replicas, storage }),
      checkpoints: await objm.create(CHECKPOINTS_STORE, { replicas: num_replicas, storage }),
      files: await objm.create(FILES_STORE, { replicas: num_replicas, storage }),
      close: () => nc.drain(),
    };
  } catch (e) {
    await nc.close();
    throw e;
  }
}

/**
 * The job records' bucket, created with the other resources' timeout, then opened on a client
 * whose calls wait {@linkcode RETRIED_CALL_TIMEOUT_MS} for an answer: every use of the records
 * is retried while unanswered (see `kv_cas.ts`), so a call lost with a dead node is sent again
 * soon instead of after the API timeout.
 */
async function openJobsBucket(nc: NatsConnection, kvm: Kvm, replicas: number): Promise<KV> {
  await kvm.create(JOBS_BUCKET, { history: 1, replicas, storage: StorageType.File });
  const fast = new Kvm(jetstream(nc, { timeout: RETRIED_CALL_TIMEOUT_MS }));
  return await retryUnanswered(() => fast.open(JOBS_BUCKET));
}

/** Adds a stream, or leaves it be when one of that name exists. */
async function ensureStream(
  jsm: JetStreamManager,
  config: Parameters<JetStreamManager["streams"]["add"]>[0],
): Promise<void> {
  try {
    await jsm.streams.info(config.name!);
  } catch (e) {
    if (!(e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound)) throw e;
    await jsm.streams.add(config);
  }
}
