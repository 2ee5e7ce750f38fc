/**
 * The fine-tuning job queue: a work-queue stream with one subject per base model, and one
 * durable pull consumer per base model that the workers of that model share. A worker holds a
 * job with explicit acks and heartbeats (`working()`); when it dies the heartbeats stop, and
 * after `ack_wait` JetStream hands the job to another worker. The consumer delivers a job once
 * more than the attempts allowed, so that a job whose last worker died is still seen by a worker,
 * which marks it failed instead of leaving it running for ever.
 *
 * @module
 */
import {
  AckPolicy,
  type Consumer,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import { RETRIED_CALL_TIMEOUT_MS, retryUnanswered } from "./kv_cas.ts";
import { QUEUE_STREAM, queueSubject, workersConsumer } from "./names.ts";

/** Settings of the workers' consumer. */
export interface QueueOptions {
  /** How long a job stays with a silent worker before it is redelivered, in ms. Default 4000. */
  ackWaitMs?: number;
  /** Attempts at a job before it is given up. Default 3. */
  maxAttempts?: number;
}

/** A job taken from the queue; the holder must heartbeat, then ack or term it. */
export interface QueuedJob {
  /** The job's id. */
  jobId: string;
  /** Which delivery this is (1 for the first). */
  delivery: number;
  /** Whether every attempt allowed was used: the holder must fail the job, not run it. */
  exhausted: boolean;
  /** Stops the heartbeats and removes the job from the queue. */
  ack(): Promise<void>;
  /** Stops the heartbeats without acking (the job will be redelivered after ack_wait). */
  abandon(): void;
}

const MS = 1_000_000; // nanoseconds per millisecond

/**
 * Queues job `jobId` for the workers of `modelId`, once per `queuing` (deduplicated by the job
 * id and `queuing`: its first queuing has none, a resumed job names its attempt).
 */
export async function enqueueJob(
  js: JetStreamClient,
  modelId: string,
  jobId: string,
  queuing?: string,
): Promise<void> {
  const msgID = queuing === undefined ? jobId : `${jobId}:${queuing}`;
  await retryUnanswered(() =>
    js.publish(queueSubject(modelId), JSON.stringify({ jobId }), {
      msgID,
      timeout: RETRIED_CALL_TIMEOUT_MS,
    })
  );
}

/**
 * How many jobs of `modelId` wait in the queue, not yet handed to a worker: the workers'
 * consumer's pending count, or, before any worker opened it, every job on the model's subject.
 */
export async function queueDepth(jsm: JetStreamManager, modelId: string): Promise<number> {
  try {
    return (await jsm.consumers.info(QUEUE_STREAM, workersConsumer(modelId))).num_pending;
  } catch (e) {
    if (!(e instanceof JetStreamApiError && e.code === JetStreamApiCodes.ConsumerNotFound)) throw e;
  }
  const subject = queueSubject(modelId);
  const info = await jsm.streams.info(QUEUE_STREAM, { subjects_filter: subject });
  return info.state.subjects?.[subject] ?? 0;
}

/** A worker's end of the queue of base model `modelId`. */
export class JobQueue {
  readonly #consumer: Consumer;
  readonly #ackWaitMs: number;
  readonly #maxAttempts: number;

  private constructor(consumer: Consumer, ackWaitMs: number, maxAttempts: number) {
    this.#consumer = consumer;
    this.#ackWaitMs = ackWaitMs;
    this.#maxAttempts = maxAttempts;
  }

  /** Opens (creating if needed) the shared consumer of `modelId`'s workers. */
  static async open(
    js: JetStreamClient,
    jsm: JetStreamManager,
    modelId: string,
    options: QueueOptions = {},
  ): Promise<JobQueue> {
    const ackWaitMs = options.ackWaitMs ?? 4000;
    const maxAttempts = options.maxAttempts ?? 3;
    const durable = workersConsumer(modelId);
    await jsm.consumers.add(QUEUE_STREAM, {
      durable_name: durable,
      filter_subject: queueSubject(modelId),
      ack_policy: AckPolicy.Explicit,
      ack_wait: ackWaitMs * MS,
      max_deliver: maxAttempts + 1,
    });
    return new JobQueue(await js.consumers.get(QUEUE_STREAM, durable), ackWaitMs, maxAttempts);
  }

  /** Waits up to `waitMs` for a job; null when none came. Heartbeats start at once. */
  async next(waitMs: number): Promise<QueuedJob | null> {
    const msg = await this.#consumer.next({ expires: Math.max(waitMs, 1000) });
    if (!msg) return null;
    return this.#hold(msg);
  }

  #hold(msg: JsMsg): QueuedJob {
    const timer = setInterval(() => msg.working(), Math.max(100, this.#ackWaitMs / 4));
    const { jobId } = msg.json<{ jobId: string }>();
    const delivery = msg.info.deliveryCount;
    return {
      jobId,
      delivery,
      exhausted: delivery > this.#maxAttempts,
      ack: async () => {
        clearInterval(timer);
        await msg.ackAck();
      },
      abandon: () => clearInterval(timer),
    };
  }
}
