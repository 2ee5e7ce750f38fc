/**
 * Server-sent events as OpenAI streams them: each value is one `data: {json}\n\n` event and
 * the stream ends with `data: [DONE]\n\n`. A failure after the stream started is sent as an
 * OpenAI error object, without `[DONE]` (and, unless it is an {@linkcode ApiError}, reported to
 * `onUnexpected`). When the client goes away, `abort` is aborted.
 *
 * Generation streams use this rather than Hono's `streamSSE` (which job events use): each
 * `streamSSE` write waits until the client has read the one before, so a slow reader would hold
 * the model's turn, and every other request with it. Here the producer never waits.
 *
 * @module
 */
import { ApiError } from "./errors.ts";

/** Sends one event. */
export type SendEvent = (value: unknown) => void;

/**
 * A `text/event-stream` response fed by `produce`. Values are sent as soon as they are made
 * (the producer is never held back by a slow reader, so it releases the model promptly).
 */
export function eventStream(
  produce: (send: SendEvent) => Promise<void>,
  abort: AbortController,
  onUnexpected: (error: unknown) => void,
): Response {
  const encoder = new TextEncoder();
  let open = true;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      const send: SendEvent = (value) => {
        if (!open) return;
        const data = typeof value === "string" ? value : JSON.stringify(value);
        controller.enqueue(encoder.encode(`data: ${data}\n\n`));
      };
      produce(send).then(
        () => send("[DONE]"),
        (e) => {
          if (!(e instanceof ApiError)) onUnexpected(e);
          send(
            e instanceof ApiError
              ? e.toBody()
              : new ApiError(500, `Stream failed: ${(e as Error).message}`).toBody(),
          );
        },
      ).finally(() => {
        if (!open) return;
        open = false;
        controller.close();
      });
    },
    cancel() {
      open = false;
      abort.abort();
    },
  });
  return new Response(body, {
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      "x-accel-buffering": "no", // nginx: pass events through unbuffered
    },
  });
}
