/**
 * A local stand-in for the Hugging Face and ModelScope hubs, for download tests. It serves
 * both hubs' listing and file endpoints on 127.0.0.1 (port 0), plus a "CDN" on a second port
 * that LFS files redirect to (another origin, so credentials must not follow). Faults can be
 * queued per file: cut the connection, ignore a Range request, corrupt the bytes, or answer a
 * status. Every request is recorded.
 *
 * @module
 */

import { createHash } from "node:crypto";

/** One repository served by the mock. */
export interface MockRepo {
  /** Files by repository path. */
  files: Record<string, Uint8Array>;
  /** Paths served as LFS files: listed with their sha256 and redirected to the CDN. */
  lfs?: string[];
  /** A token the repository requires (HF `Authorization: Bearer`, ModelScope cookie). */
  token?: string;
}

/** A queued misbehaviour for the next request that serves a file's bytes. */
export type Fault =
  /** Send only `after` bytes of the body (Content-Length still announces all), then close. */
  | { kind: "cut"; after: number }
  /** Answer 200 with the whole file even when a Range was asked for. */
  | { kind: "ignore_range" }
  /** Serve the file with one byte changed (its sha256 no longer matches). */
  | { kind: "corrupt" }
  /** Serve the file with `extra` more bytes than listed. */
  | { kind: "grow"; extra: number }
  /** Answer this status with no body. */
  | { kind: "status"; status: number };

/** One request the mock received. */
export interface RecordedRequest {
  /** Which server answered. */
  server: "hub" | "cdn";
  /** Path and query. */
  path: string;
  /** The Range header. */
  range: string | null;
  /** The Authorization header. */
  authorization: string | null;
  /** The Cookie header. */
  cookie: string | null;
  /** The repository path whose bytes the response carried, if it did. */
  served?: string;
}

/** Options of {@linkcode MockHub.start}. */
export interface MockHubOptions {
  /** Entries per page of the Hugging Face tree listing (paged with `Link`). Default 1000. */
  pageSize?: number;
  /** List LFS files without `lfs.oid`, so only `X-Linked-Etag` carries the sha256. */
  hideListedSha?: boolean;
  /** Redirect ModelScope file downloads to the CDN too. */
  modelScopeRedirect?: boolean;
  /** Omit `Sha256` from the ModelScope listing. */
  hideModelScopeSha?: boolean;
}

/** The lower-case hex sha256 of bytes. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** The folders that hold a repository's files (each file's parent, not their ancestors). */
function directories(repo: MockRepo): string[] {
  const paths = Object.keys(repo.files).filter((p) => p.includes("/"));
  return [...new Set(paths.map((p) => p.slice(0, p.lastIndexOf("/"))))];
}

/** A running mock of both hubs. */
export class MockHub {
  /** Base URL of the hub (both protocols). */
  readonly url: string;
  /** Base URL of the CDN (another port). */
  readonly cdnUrl: string;
  /** Every request, in order. */
  readonly requests: RecordedRequest[] = [];
  readonly #repos: Record<string, MockRepo>;
  readonly #options: MockHubOptions;
  readonly #faults = new Map<string, Fault[]>();
  readonly #servers: Deno.HttpServer<Deno.NetAddr>[];

  private constructor(repos: Record<string, MockRepo>, options: MockHubOptions) {
    this.#repos = repos;
    this.#options = options;
    const listen = (handler: (req: Request) => Promise<Response> | Response) =>
      Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
    const hub = listen((req) => this.#hub(req));
    const cdn = listen((req) => this.#cdn(req));
    this.#servers = [hub, cdn];
    this.url = `http://127.0.0.1:${hub.addr.port}`;
    this.cdnUrl = `http://127.0.0.1:${cdn.addr.port}`;
  }

  /** Starts the hub and CDN servers. */
  static start(repos: Record<string, MockRepo>, options: MockHubOptions = {}): MockHub {
    return new MockHub(repos, options);
  }

  /** Queues faults for the next requests for the bytes of `path` (any repository). */
  fault(path: string, ...faults: Fault[]): void {
    this.#faults.set(path, [...(this.#faults.get(path) ?? []), ...faults]);
  }

  /** The requests answered with (possibly faulty) bytes of `path`, not listings or redirects. */
  byteRequests(path: string): RecordedRequest[] {
    return this.requests.filter((r) => r.served === path);
  }

  /** Stops both servers. */
  async close(): Promise<void> {
    await Promise.all(this.#servers.map((s) => s.shutdown()));
  }

  #record(server: "hub" | "cdn", req: Request): URL {
    const url = new URL(req.url);
    this.requests.push({
      server,
      path: url.pathname + url.search,
      range: req.headers.get("range"),
      authorization: req.headers.get("authorization"),
      cookie: req.headers.get("cookie"),
    });
    return url;
  }

  #hub(req: Request): Response {
    const url = this.#record("hub", req);
    const p = url.pathname;
    let m = /^\/api\/models\/([^/]+\/[^/]+)\/tree\/([^/]+)$/.exec(p);
    if (m) return this.#hfTree(req, m[1], url);
    m = /^\/api\/v1\/models\/([^/]+\/[^/]+)\/repo\/files$/.exec(p);
    if (m) return this.#msList(req, m[1]);
    m = /^\/api\/v1\/models\/([^/]+\/[^/]+)\/repo$/.exec(p);
    if (m) return this.#msFile(req, m[1], url.searchParams.get("FilePath") ?? "");
    m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(p);
    if (m) return this.#hfResolve(req, m[1], decodeURIComponent(m[3]));
    return new Response("no route", { status: 404 });
  }

  #cdn(req: Request): Response {
    const url = this.#record("cdn", req);
    const m = /^\/([^/]+\/[^/]+)\/(.+)$/.exec(url.pathname);
    const bytes = m ? this.#repos[m[1]]?.files[decodeURIComponent(m[2])] : undefined;
    if (!m || bytes === undefined) return new Response("no such object", { status: 404 });
    return this.#serveBytes(req, decodeURIComponent(m[2]), bytes);
  }

  /** The repository, or an error response for a missing repo or a missing/wrong token. */
  #repo(req: Request, id: string, hub: "hf" | "ms"): MockRepo | Response {
    const repo = this.#repos[id];
    if (repo === undefined) {
      return hub === "hf"
        ? new Response("{}", {
          status: 404,
          headers: { "x-error-message": "Repository not found" },
        })
        : Response.json({ Code: 10010205001, Message: `Model ${id} does not exist` }, {
          status: 404,
        });
    }
    if (repo.token !== undefined) {
      const sent = hub === "hf"
        ? req.headers.get("authorization") === `Bearer ${repo.token}`
        : (req.headers.get("cookie") ?? "").includes(`m_session_id=${repo.token}`);
      if (!sent) {
        return hub === "hf"
          ? new Response("{}", {
            status: 401,
            headers: { "x-error-message": "Access to this model is restricted" },
          })
          : Response.json({ Code: 10010205003, Message: "Unauthorized" }, { status: 401 });
      }
    }
    return repo;
  }

  #hfTree(req: Request, id: string, url: URL): Response {
    const repo = this.#repo(req, id, "hf");
    if (repo instanceof Response) return repo;
    const entries = Object.entries(repo.files).map(([path, bytes]) => ({
      type: "file",
      oid: "0".repeat(40),
      size: bytes.length,
      path,
      ...((repo.lfs ?? []).includes(path) && !this.#options.hideListedSha
        ? { lfs: { oid: sha256Hex(bytes), size: bytes.length, pointerSize: 134 } }
        : {}),
    }));
    const all = [
      ...directories(repo).map((path) => ({ type: "directory", oid: "0", size: 0, path })),
      ...entries,
    ];
    const size = this.#options.pageSize ?? 1000;
    const start = Number(url.searchParams.get("cursor") ?? 0);
    const headers = new Headers();
    if (start + size < all.length) {
      const next = new URL(url);
      next.searchParams.set("cursor", String(start + size));
      headers.set("link", `<${next}>; rel="next"`);
    }
    return Response.json(all.slice(start, start + size), { headers });
  }

  #hfResolve(req: Request, id: string, path: string): Response {
    const repo = this.#repo(req, id, "hf");
    if (repo instanceof Response) return repo;
    const bytes = repo.files[path];
    if (bytes === undefined) {
      return new Response("{}", { status: 404, headers: { "x-error-message": "Entry not found" } });
    }
    if ((repo.lfs ?? []).includes(path)) {
      return new Response(null, {
        status: 302,
        headers: {
          location: `${this.cdnUrl}/${id}/${encodeURIComponent(path)}`,
          "x-linked-etag": `"${sha256Hex(bytes)}"`,
          "x-linked-size": String(bytes.length),
          "x-repo-commit": "0123456789abcdef0123456789abcdef01234567",
          etag: `"${"1".repeat(40)}"`,
        },
      });
    }
    return this.#serveBytes(req, path, bytes, { etag: `"${"2".repeat(40)}"` });
  }

  #msList(req: Request, id: string): Response {
    const repo = this.#repo(req, id, "ms");
    if (repo instanceof Response) return repo;
    const files = Object.entries(repo.files).map(([path, bytes]) => ({
      Name: path.slice(path.lastIndexOf("/") + 1),
      Path: path,
      Size: bytes.length,
      Sha256: this.#options.hideModelScopeSha ? "" : sha256Hex(bytes),
      Type: "blob",
      IsLFS: (repo.lfs ?? []).includes(path),
    }));
    const dirs = directories(repo).map((path) => ({
      Name: path,
      Path: path,
      Size: 0,
      Sha256: "",
      Type: "tree",
    }));
    return Response.json({ Code: 200, Data: { Files: [...dirs, ...files] }, Message: "success" });
  }

  #msFile(req: Request, id: string, path: string): Response {
    const repo = this.#repo(req, id, "ms");
    if (repo instanceof Response) return repo;
    const bytes = repo.files[path];
    if (bytes === undefined) {
      return Response.json({ Code: 10010205002, Message: `File ${path} not found` }, {
        status: 404,
      });
    }
    if (this.#options.modelScopeRedirect) {
      return new Response(null, {
        status: 302,
        headers: { location: `${this.cdnUrl}/${id}/${encodeURIComponent(path)}` },
      });
    }
    return this.#serveBytes(req, path, bytes);
  }

  /** Serves bytes with Range support, applying the next queued fault for `path`. */
  #serveBytes(
    req: Request,
    path: string,
    original: Uint8Array,
    extra: Record<string, string> = {},
  ): Response {
    // Handlers are synchronous, so the last recorded request is the one being answered.
    this.requests[this.requests.length - 1].served = path;
    const fault = this.#faults.get(path)?.shift();
    if (fault?.kind === "status") return new Response(null, { status: fault.status });
    let bytes = original;
    if (fault?.kind === "corrupt") {
      bytes = original.slice();
      bytes[bytes.length >> 1] ^= 0xff;
    } else if (fault?.kind === "grow") {
      bytes = new Uint8Array(original.length + fault.extra);
      bytes.set(original);
    }
    const range = /^bytes=(\d+)-$/.exec(req.headers.get("range") ?? "");
    let status = 200;
    let start = 0;
    const headers = new Headers({ ...extra, "accept-ranges": "bytes" });
    if (range && fault?.kind !== "ignore_range") {
      start = Number(range[1]);
      if (start >= bytes.length) {
        return new Response(null, {
          status: 416,
          headers: { "content-range": `bytes */${bytes.length}` },
        });
      }
      status = 206;
      headers.set("content-range", `bytes ${start}-${bytes.length - 1}/${bytes.length}`);
    }
    const body = bytes.slice(start); // (n) the bytes this response carries
    headers.set("content-length", String(body.length));
    if (fault?.kind === "cut") {
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(body.slice(0, fault.after));
          controller.close(); // shorter than Content-Length: the client sees a broken body
        },
      });
      return new Response(stream, { status, headers });
    }
    return new Response(body, { status, headers });
  }
}
