/**
 * A job's live events as server-sent events, through Hono's `streamSSE`: every event so far,
 * oldest first, then each new one as it comes, then `data: [DONE]` once the job has ended.
 * Events wait in a queue while the client reads slowly (they are small, and a job makes one a
 * step), and the subscription ends when the client goes away.
 *
 * @module
 */
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import { type JobEvent, type JobStore, TERMINAL_STATUSES } from "./job_store.ts";

/** The live event stream of job `id` (which must exist) in `store`. */
export function jobEventStream(c: Context, store: JobStore, id: string): Response {
  return streamSSE(c, async (stream) => {
    const queue: JobEvent[] = [];
    let ended = false;
    let wake: (() => void) | null = null;
    const unsubscribe = store.subscribe(id, (event, job) => {
      queue.push(event);
      ended ||= TERMINAL_STATUSES.includes(job.status);
      wake?.();
    });
    queue.push(...store.events(id)); // in the same tick as subscribing: none is missed
    ended ||= TERMINAL_STATUSES.includes(store.get(id)!.status);
    stream.onAbort(() => wake?.());
    try {
      while (!stream.aborted) {
        for (let event = queue.shift(); event; event = queue.shift()) {
          await stream.writeSSE({ data: JSON.stringify(event) });
        }
        if (ended) {
          await stream.writeSSE({ data: "[DONE]" });
          return;
        }
        await new Promise<void>((resolve) => wake = resolve);
        wake = null;
      }
    } finally {
      unsubscribe();
    }
  });
}
