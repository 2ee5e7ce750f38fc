/**
 * Job events in the cluster's FT_EVENTS stream, one subject per job. Each event is published
 * with a message id (`<job>:<key>`, the key being the step for step events), so a worker that
 * resumes a job and re-runs steps after the last checkpoint does not log them twice: JetStream
 * drops the duplicates, which also makes a publish whose answer was lost safe to retry.
 *
 * @module
 */
import { DeliverPolicy, type JetStreamClient } from "@nats-io/jetstream";
import { type JobEvent, type NewJobEvent, randomId } from "../job_store.ts";
import { RETRIED_CALL_TIMEOUT_MS, retryUnanswered } from "./kv_cas.ts";
import { EVENTS_STREAM, eventsSubject } from "./names.ts";

/** A new event in OpenAI's shape: a fresh id, now as its time, "metrics" when it has data. */
export function newEvent(
  level: NewJobEvent["level"],
  message: string,
  data: Record<string, number> | null = null,
): JobEvent {
  return {
    object: "fine_tuning.job.event",
    id: randomId("ftevent-"),
    created_at: Math.floor(Date.now() / 1000),
    level,
    message,
    type: data ? "metrics" : "message",
    data,
  };
}

/** Publishes event `event` of job `jobId`, deduplicated by `key`; false for a duplicate. */
export async function publishJobEvent(
  js: JetStreamClient,
  jobId: string,
  key: string,
  event: JobEvent,
): Promise<boolean> {
  const ack = await retryUnanswered(() =>
    js.publish(eventsSubject(jobId), JSON.stringify(event), {
      msgID: `${jobId}:${key}`,
      timeout: RETRIED_CALL_TIMEOUT_MS,
    })
  );
  return !ack.duplicate;
}

/** Every event of job `jobId`, oldest first. */
export async function readJobEvents(js: JetStreamClient, jobId: string): Promise<JobEvent[]> {
  const consumer = await js.consumers.get(EVENTS_STREAM, {
    filter_subjects: eventsSubject(jobId), // one subject: nats-server 2.9 takes no list
    deliver_policy: DeliverPolicy.All,
  });
  const events: JobEvent[] = [];
  let pending = (await consumer.info(true)).num_pending;
  while (pending > 0) {
    const batch = await consumer.fetch({ max_messages: Math.min(pending, 256), expires: 2000 });
    for await (const m of batch) {
      events.push(m.json<JobEvent>());
      pending = m.info.pending;
    }
  }
  await consumer.delete();
  return events;
}
