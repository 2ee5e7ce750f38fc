/**
 * Routing a generation to a replica that holds its adapter, with NATS itself: each replica
 * subscribes, in one queue group, to the subject of every adapter it holds and to a fallback
 * subject. The replica that receives the HTTP call requests the adapter's subject (NATS picks one
 * of its holders); with no holder it requests the fallback, whose taker loads the adapter. A
 * replica at capacity drops its subscriptions, so it takes no new work until it has room.
 *
 * @module
 */
import {
  headers,
  type Msg,
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

const ADAPTER = "Adapter";
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

  /** Routes a request for `adapter` to a replica that holds it, or to any with room. */
  async route(adapter: string, body: Uint8Array): Promise<RoutedAnswer> {
    const h = headers();
    h.set(ADAPTER, adapter);
    const opts = { timeout: this.#options.timeoutMs, headers: h };
    let answer: Msg;
    try {
      answer = await this.#nc.request(adapterSubject(adapter), body, opts);
    } catch (e) {
      if (!(e instanceof RequestError && e.isNoResponders())) throw e;
      try {
        answer = await this.#nc.request(FALLBACK_SUBJECT, body, opts);
      } catch (e) {
        if (!(e instanceof RequestError && e.isNoResponders())) throw e;
        throw new RoutingError("No replica has room for this request; retry later");
      }
    }
    const failed = answer.headers?.get(FAILED);
    if (failed) throw new RoutingError(failed);
    return { body: answer.data, replica: answer.headers?.get(REPLICA) ?? "" };
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
    try {
      const adapter = msg.headers?.get(ADAPTER) ?? "";
      msg.respond(await this.#options.handle(adapter, msg.data), { headers: h });
    } catch (e) {
      h.set(FAILED, (e as Error).message.replace(/[\r\n]+/g, " "));
      msg.respond(new Uint8Array(), { headers: h });
    } finally {
      this.#load--;
      this.#sync();
    }
  }
}
