/**
 * Where HTTP/1.1 requests begin and end in the bytes a client sends, without buffering them:
 * {@linkcode RequestFraming} is fed each chunk as it passes through and says whether the
 * connection is waiting for a request's head, reading its body, or idle between requests.
 * Bodies are framed by `Content-Length` or `Transfer-Encoding: chunked` (RFC 9112 §6).
 *
 * @module
 */

/** What the connection is doing now. */
export type FramingPhase = "idle" | "head" | "body";

/** The longest request head accepted, in bytes; a longer one is refused. */
export const MAX_HEAD_BYTES = 64 << 10;

const CR = 13, LF = 10;

/** Malformed framing: the connection must be closed. */
export class FramingError extends Error {
  /** Makes the error. */
  constructor(message: string) {
    super(message);
    this.name = "FramingError";
  }
}

type BodyState =
  | { kind: "length"; left: number }
  | { kind: "chunk-size"; line: string }
  | { kind: "chunk-data"; left: number }
  | { kind: "chunk-crlf"; left: number }
  | { kind: "trailers"; line: string };

/** Tracks the requests of one connection from the bytes the client sends. */
export class RequestFraming {
  #phase: FramingPhase = "idle";
  #head: number[] = []; // bytes of the head so far (latin-1)
  #body: BodyState | null = null;

  /** Whether it waits for a head (`idle`: none begun), or reads a head or a body. */
  get phase(): FramingPhase {
    return this.#phase;
  }

  /** Takes the next bytes from the client; throws a {@linkcode FramingError} when malformed. */
  feed(bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length;) {
      if (this.#phase === "body") i = this.#bodyBytes(bytes, i);
      else i = this.#headByte(bytes[i], i);
    }
  }

  #headByte(byte: number, i: number): number {
    if (this.#phase === "idle") {
      if (byte === CR || byte === LF) return i + 1; // blank lines between requests
      this.#phase = "head";
    }
    this.#head.push(byte);
    if (this.#head.length > MAX_HEAD_BYTES) {
      throw new FramingError(`Request head over ${MAX_HEAD_BYTES} bytes`);
    }
    const n = this.#head.length;
    if (byte === LF && this.#head[n - 2] === CR && this.#head[n - 3] === LF) {
      this.#startBody(String.fromCharCode(...this.#head));
      this.#head = [];
    }
    return i + 1;
  }

  #startBody(head: string): void {
    let length = 0, chunked = false;
    for (const line of head.split("\r\n").slice(1)) {
      const at = line.indexOf(":");
      if (at < 0) continue;
      const name = line.slice(0, at).trim().toLowerCase();
      const value = line.slice(at + 1).trim();
      if (name === "transfer-encoding") chunked = /(^|,)\s*chunked\s*$/i.test(value);
      if (name === "content-length") {
        if (!/^\d{1,15}$/.test(value)) throw new FramingError("Invalid Content-Length");
        length = Number(value);
      }
    }
    if (chunked) this.#body = { kind: "chunk-size", line: "" };
    else if (length > 0) this.#body = { kind: "length", left: length };
    else this.#body = null;
    this.#phase = this.#body ? "body" : "idle";
  }

  /** Consumes body bytes from `i`; returns where it stopped. */
  #bodyBytes(bytes: Uint8Array, i: number): number {
    const state = this.#body!;
    switch (state.kind) {
      case "length":
      case "chunk-data": {
        const take = Math.min(state.left, bytes.length - i);
        state.left -= take;
        if (state.left === 0) {
          if (state.kind === "length") this.#end();
          else this.#body = { kind: "chunk-crlf", left: 2 };
        }
        return i + take;
      }
      case "chunk-crlf":
        if (--state.left === 0) this.#body = { kind: "chunk-size", line: "" };
        return i + 1;
      case "chunk-size":
      case "trailers": {
        const byte = bytes[i];
        if (byte !== LF) {
          if (state.line.length > 4096) throw new FramingError("Chunk line too long");
          state.line += String.fromCharCode(byte);
          return i + 1;
        }
        const line = state.line.replace(/\r$/, "");
        if (state.kind === "trailers") {
          if (line === "") this.#end();
          else state.line = "";
          return i + 1;
        }
        const size = parseInt(line.split(";")[0].trim(), 16);
        if (!Number.isFinite(size) || size < 0) throw new FramingError("Invalid chunk size");
        this.#body = size === 0
          ? { kind: "trailers", line: "" }
          : { kind: "chunk-data", left: size };
        return i + 1;
      }
    }
  }

  #end(): void {
    this.#body = null;
    this.#phase = "idle";
  }
}
