/**
 * Slow-client guard (slowloris): `Deno.serve` has no read timeouts, so a client that sends a
 * request's head or body a byte at a time holds its connection open for ever, and enough such
 * clients use up the server's sockets. {@linkcode serveGuarded} listens itself and relays each
 * connection to a `Deno.serve` on a private socket, watching the request framing as the bytes
 * pass: a connection that takes longer than `headerTimeoutMs` to send a request head (counted
 * from the connection's start, or from the end of its previous request), or longer than
 * `bodyTimeoutMs` to send a body, is closed. Responses, however slow (event streams), are not
 * limited.
 *
 * @module
 */
import { join } from "node:path";
import { RequestFraming } from "./request_framing.ts";

/** Settings of {@linkcode serveGuarded}. */
export interface GuardedServeOptions {
  /** Address to listen on. */
  hostname: string;
  /** Port to listen on (0 picks a free one). */
  port: number;
  /** Most milliseconds to receive a request head. */
  headerTimeoutMs: number;
  /** Most milliseconds to receive a request body once its head has arrived. */
  bodyTimeoutMs: number;
  /** Called once listening, with the public address. */
  onListen?: (addr: Deno.NetAddr) => void;
}

/** A running guarded server. */
export interface GuardedServer {
  /** The public address. */
  addr: Deno.NetAddr;
  /** Stops accepting, lets requests in flight finish, and closes everything. */
  shutdown(): Promise<void>;
}

/** The private socket the app listens on: a Unix socket, or loopback TCP on Windows. */
async function privateServer(handler: Deno.ServeHandler) {
  if (Deno.build.os === "windows") {
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handler);
    const { port } = server.addr as Deno.NetAddr;
    return {
      server,
      connect: (): Promise<Deno.Conn> => Deno.connect({ hostname: "127.0.0.1", port }),
      cleanup: () => {},
    };
  }
  const dir = await Deno.makeTempDir({ prefix: "webgpu_lora_server_" });
  const path = join(dir, "app.sock");
  // Deno names a request on a Unix socket `http+unix://…` (whose origin is "null"); the client
  // sent plain HTTP to the public port, so the app sees the URL it asked for.
  const server = Deno.serve(
    { path, onListen: () => {} },
    (request, info) =>
      handler(new Request(request.url.replace(/^http\+unix:/, "http:"), request), info),
  );
  return {
    server,
    connect: (): Promise<Deno.Conn> => Deno.connect({ transport: "unix", path }),
    cleanup: () => Deno.remove(dir, { recursive: true }).catch(() => {}),
  };
}

/**
 * Serves `handler` on `hostname:port` behind the slow-client guard.
 *
 * @example
 * ```ts
 * const server = await serveGuarded(
 *   { hostname: "127.0.0.1", port: 8000, headerTimeoutMs: 10_000, bodyTimeoutMs: 30_000 },
 *   app.fetch,
 * );
 * ```
 */
export async function serveGuarded(
  options: GuardedServeOptions,
  handler: Deno.ServeHandler,
): Promise<GuardedServer> {
  const inner = await privateServer(handler);
  const listener = Deno.listen({ hostname: options.hostname, port: options.port });
  const open = new Set<Promise<void>>();
  const accepting = (async () => {
    for await (const client of listener) {
      const relay = relayConnection(client, inner.connect, options);
      open.add(relay);
      relay.finally(() => open.delete(relay));
    }
  })().catch(() => {}); // the listener was closed
  const addr = listener.addr as Deno.NetAddr;
  options.onListen?.(addr);
  return {
    addr,
    async shutdown() {
      listener.close();
      await accepting;
      await inner.server.shutdown(); // requests in flight finish; their relays then end
      await Promise.allSettled(open);
      await inner.cleanup();
    },
  };
}

/** Relays one client connection to the app, closing both ends on a timeout or bad framing. */
async function relayConnection(
  client: Deno.Conn,
  connect: () => Promise<Deno.Conn>,
  options: GuardedServeOptions,
): Promise<void> {
  let upstream: Deno.Conn;
  try {
    upstream = await connect();
  } catch {
    client.close();
    return;
  }
  const framing = new RequestFraming();
  let closed = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const close = () => {
    if (closed) return;
    closed = true;
    clearTimeout(timer);
    for (const conn of [client, upstream]) {
      try {
        conn.close();
      } catch { /* already closed */ }
    }
  };
  // One deadline at a time: for the first head from the start, for a later head from its
  // first byte (between requests a connection may wait, e.g. while an event stream runs), and
  // for a body from the end of its head.
  let armed: "head" | "body" | null = null;
  const arm = (phase: "head" | "body" | null) => {
    if (phase === armed) return;
    armed = phase;
    clearTimeout(timer);
    if (phase !== null) {
      timer = setTimeout(close, phase === "body" ? options.bodyTimeoutMs : options.headerTimeoutMs);
    }
  };
  arm("head");
  const toApp = (async () => {
    const writer = upstream.writable.getWriter();
    for await (const chunk of client.readable) {
      framing.feed(chunk);
      arm(framing.phase === "idle" ? null : framing.phase);
      await writer.write(chunk);
    }
    // The client is done sending: half-close towards the app, which answers, then closes.
    writer.releaseLock();
    await upstream.closeWrite();
  })();
  toApp.catch(close); // bad framing, or a connection that broke
  await upstream.readable.pipeTo(client.writable, { preventClose: true }).catch(() => {});
  close();
}
