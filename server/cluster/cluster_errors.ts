/**
 * NATS failures as API errors: a call to the cluster that failed because NATS could not answer
 * (the connection closed or is reconnecting, a request timed out or found no responders, a
 * JetStream API call failed) is the cluster's trouble, not the client's, and not a bug of the
 * server: it answers 503 `cluster_unavailable` with a `Retry-After`, never 500. The errors are
 * recognised by the classes of `@nats-io/nats-core` and `@nats-io/jetstream`, anywhere on the
 * error's `cause` chain.
 *
 * @module
 */
import { errors } from "@nats-io/transport-node";
import { jserrors } from "@nats-io/jetstream/internal";
import { ApiError } from "../errors.ts";

/** How long a client should wait before retrying a call the cluster could not answer, in s. */
export const CLUSTER_RETRY_AFTER_SECONDS = 2;

/** The error classes that mean NATS or JetStream could not answer. */
const UNAVAILABLE: readonly (new (...args: never[]) => Error)[] = [
  errors.ClosedConnectionError,
  errors.ConnectionError,
  errors.DrainingConnectionError,
  errors.NoRespondersError,
  errors.RequestError,
  errors.TimeoutError,
  jserrors.JetStreamError,
  jserrors.JetStreamApiError,
  jserrors.JetStreamNotEnabled,
];

/**
 * Whether `error` says a request got no answer: a timeout (the node it went to died, or it is
 * slow), or no responders (a stream with no leader while its replicas elect one).
 */
export function isUnanswered(error: unknown): boolean {
  for (let e = error; e instanceof Error; e = e.cause) {
    if (e instanceof errors.TimeoutError || e instanceof errors.NoRespondersError) return true;
  }
  return false;
}

/** The NATS error on `error`'s cause chain that says the cluster could not answer, or null. */
export function natsFailure(error: unknown): Error | null {
  for (let e = error; e instanceof Error; e = e.cause) {
    if (UNAVAILABLE.some((type) => e instanceof type)) return e;
  }
  return null;
}

/**
 * A 503 `cluster_unavailable` {@linkcode ApiError} (with a `Retry-After`) for a NATS failure,
 * or null when `error` is not one.
 */
export function clusterUnavailable(error: unknown): ApiError | null {
  const failure = natsFailure(error);
  if (!failure) return null;
  return new ApiError(503, `The cluster could not answer: ${failure.message}; retry later`, {
    code: "cluster_unavailable",
    retryAfterSeconds: CLUSTER_RETRY_AFTER_SECONDS,
  });
}
