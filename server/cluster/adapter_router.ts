/**
 * Routing a generation to a replica that holds its adapter, with NATS itself: each replica
 * subscribes, in one queue group, to the subject of every adapter it holds and to a fallback
 * subject. The replica that receives the HTTP call requests the adapter's subject (NATS picks one
 * of its holders); with no holder it requests the fallback, whose taker loads the adapter. A
 * replica at capacity drops its subscriptions, so it takes no new work until it has room.
 *
 * A replica serving a routed request tells the requester every {@linkcode PROGRESS_EVERY_MS} that
 * it is still at it. A requester that hears nothing for {@linkcode LOST_AFTER_MS} (the replica
 * died, and its subscriptions went with its connection) asks once more, so another replica serves
 * the request; only the final answer reaches the client, so it is never served twice to it.
 *
 * @module
 */
import {
  Empty,
  errors,
  headers,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  RequestError,
  type Subscription,
} from "@nats-io/transport-node";
import { adapterSubject, FALLBACK_SUBJECT, REPLICA_GROUP } from "./names.ts";

/** Serves one routed request on this replica: the adapter's name and the request's bytes. */
export type RoutedHandler = (adapter: string, body: Uint8Array) => Promise<Uint8Array>;

/** Settings of an {@linkcode AdapterRouter}. */
export interface AdapterRouterOptions {
  /** This replica's id (named in each answer). */
  replicaId: string;
  /** Requests this replica serves at once before it stops taking new ones. */
  capacity: number;
  /** How long a routed request may take, in ms. */
  timeoutMs: number;
  /** Serves a request routed here (it may load the adapter first). */
  handle: RoutedHandler;
}

/** A routed request's answer and the replica that served it. */
export interface RoutedAnswer {
  /** The answer's bytes. */
  body: Uint8Array;
  /** The serving replica's id. */
  replica: string;
}

/** Thrown when a routed request failed on the replica that took it, or no replica had room. */
export class RoutingError extends Error {
  /** Makes the error. */
  constructor(message: string) {
    super(message);
    this.name = "RoutingError";
  }
}

/**
 * Thrown when the replica serving a routed request went silent (it died) and so did the one that
 * took the retry.
 */
export class ReplicaLostError extends Error {
  /** Makes the error. */
  constructor(message: string) {
    super(message);
    this.name = "ReplicaLostError";
  }
}

/** How often a replica serving a routed request sends the requester a sign of life, in ms. */
export const PROGRESS_EVERY_MS = 500;
/** How long a requester waits for a sign of life before it counts the replica lost, in ms. */
export const LOST_AFTER_MS = 2000;

const ADAPTER = "Adapter";
const PROGRESS = "Progress";
const REPLICA = "Replica";
const FAILED = "Failed";

/** One replica's end of the routing: its subscriptions and its requests to others. */
export class AdapterRouter {
  readonly #nc: NatsConnection;
  readonly #options: AdapterRouterOptions;
  readonly #subscriptions = new Map<string, Subscription>(); // subject → subscription
  #resident = new Set<string>();
  #load = 0;

  /** Makes a router on `nc`; it takes work once {@linkcode setResident} is called. */
  constructor(nc: NatsConnection, options: AdapterRouterOptions) {
    this.#nc = nc;
    this.#options = options;
  }

  /** Requests being served here now. */
  get load(): number {
    return this.#load;
  }

  /** Subscribes to the subjects of exactly `names` (and the fallback), while there is room. */
  setResident(names: Iterable<string>): void {
    this.#resident = new Set(names);
    this.#sync();
  }

  /**
   * Routes a request for `adapter` to a replica that holds it, or to any with room; if that
   * replica is lost while it serves the request, routes it once more.
   */
  async route(adapter: string, body: Uint8Array): Promise<RoutedAnswer> {
    try {
      return await this.#routeOnce(adapter, body);
    } catch (e) {
      if (!(e instanceof ReplicaLostError)) throw e;
      return await this.#routeOnce(adapter, body);
    }
  }

  /** Requests the adapter's subject, or with no responders the fallback subject. */
  async #routeOnce(adapter: string, body: Uint8Array): Promise<RoutedAnswer> {
    for (const subject of [adapterSubject(adapter), FALLBACK_SUBJECT]) {
      try {
        return await this.#request(subject, adapter, body);
      } catch (e) {
        const noResponders = e instanceof errors.NoRespondersError ||
          (e instanceof RequestError && e.isNoResponders());
        if (!noResponders) throw e;
      }
    }
    throw new RoutingError("No replica has room for this request; retry later");
  }

  /** Sends one request to `subject` and waits for its answer while the replica shows life. */
  async #request(subject: string, adapter: string, body: Uint8Array): Promise<RoutedAnswer> {
    const h = headers();
    h.set(ADAPTER, adapter);
    const deadline = performance.now() + this.#options.timeoutMs;
    const replies = await this.#nc.requestMany(subject, body, {
      strategy: "stall", // ends when the replica is silent for `stall` ms
      maxWait: LOST_AFTER_MS,
      stall: LOST_AFTER_MS,
      headers: h,
    });
    for await (const reply of replies) {
      if (reply.headers?.has(PROGRESS)) {
        if (performance.now() < deadline) continue;
        throw new RoutingError(`No answer within ${this.#options.timeoutMs} ms`);
      }
      const failed = reply.headers?.get(FAILED);
      if (failed) throw new RoutingError(failed);
      return { body: reply.data, replica: reply.headers?.get(REPLICA) ?? "" };
    }
    throw new ReplicaLostError(
      `The replica serving this request went silent for ${LOST_AFTER_MS} ms`,
    );
  }

  /** Drops every subscription. */
  close(): void {
    for (const sub of this.#subscriptions.values()) sub.unsubscribe();
    this.#subscriptions.clear();
  }

  /** Subscribes to what this replica should take now, and drops the rest. */
  #sync(): void {
    const wanted = new Set<string>();
    if (this.#load < this.#options.capacity) {
      wanted.add(FALLBACK_SUBJECT);
      for (const name of this.#resident) wanted.add(adapterSubject(name));
    }
    for (const [subject, sub] of this.#subscriptions) {
      if (!wanted.has(subject)) {
        sub.unsubscribe();
        this.#subscriptions.delete(subject);
      }
    }
    for (const subject of wanted) {
      if (this.#subscriptions.has(subject)) continue;
      const callback = (_: Error | null, msg: Msg) => void this.#serve(msg);
      this.#subscriptions.set(
        subject,
        this.#nc.subscribe(subject, { queue: REPLICA_GROUP, callback }),
      );
    }
  }

  async #serve(msg: Msg): Promise<void> {
    const h = headers();
    h.set(REPLICA, this.#options.replicaId);
    this.#load++;
    this.#sync();
    const progress = headers();
    progress.set(PROGRESS, "1");
    const showLife = () => this.#reply(msg, Empty, progress);
    showLife();
    const lifeSigns = setInterval(showLife, PROGRESS_EVERY_MS);
    try {
      const adapter = msg.headers?.get(ADAPTER) ?? "";
      this.#reply(msg, await this.#options.handle(adapter, msg.data), h);
    } catch (e) {
      h.set(FAILED, (e as Error).message.replace(/[\r\n]+/g, " "));
      this.#reply(msg, Empty, h);
    } finally {
      clearInterval(lifeSigns);
      this.#load--;
      this.#sync();
    }
  }

  /** Answers `msg`, unless this replica's connection is closed (then nobody can be told). */
  #reply(msg: Msg, data: Uint8Array, h: MsgHdrs): void {
    if (!this.#nc.isClosed()) msg.respond(data, { headers: h });
  }
}
