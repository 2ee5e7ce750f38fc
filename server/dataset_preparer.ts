/**
 * Fine-tuning data prepared in a Worker ({@linkcode DatasetPreparer}): parsing, cleaning and
 * tokenising a large data set takes seconds of CPU, which on the event loop would stop the
 * server answering anything (`/health` included) meanwhile. One worker per preparer, started on
 * first use with the tokenizer's spec, serves the requests in turn.
 *
 * @module
 */
import type { ChatTemplateKwargs, TextTokenizer, TokenizedExample } from "../mod.ts";

/** A job's data to prepare. */
export interface PrepareRequest {
  /** Matches the reply to the request. */
  id: number;
  /** The text of a JSON array or JSONL file of records. */
  text: string;
  /** The data's name in error messages. */
  source: string;
  /** Variables of the chat template, for chat records. */
  chatTemplateKwargs?: Record<string, unknown>;
  /** Longest record in tokens. */
  maxLength: number;
}

/**
 * Examples packed into typed arrays, which a Worker hands over without copying (cloning tens
 * of thousands of small arrays instead would cost the event loop seconds): example `i` is
 * `[offsets[i], offsets[i + 1])` of `inputIds` and `labels`.
 */
export interface PackedExamples {
  /** Every example's token ids, one after another. */
  inputIds: Int32Array;
  /** Every example's labels, aligned with `inputIds`. */
  labels: Int32Array;
  /** Where each example starts, and at the end the total length: examples + 1 entries. */
  offsets: Uint32Array;
}

/** Packs examples for {@linkcode unpackExamples} on the other side of a Worker. */
export function packExamples(examples: TokenizedExample[]): PackedExamples {
  const offsets = new Uint32Array(examples.length + 1);
  examples.forEach((e, i) => offsets[i + 1] = offsets[i] + e.inputIds.length);
  const inputIds = new Int32Array(offsets[examples.length]);
  const labels = new Int32Array(offsets[examples.length]);
  examples.forEach((e, i) => {
    inputIds.set(e.inputIds, offsets[i]);
    labels.set(e.labels, offsets[i]);
  });
  return { inputIds, labels, offsets };
}

/** Tokens unpacked between two yields to the event loop (some milliseconds' work). */
const UNPACK_SLICE = 100_000;

/**
 * The examples {@linkcode packExamples} packed. Millions of tokens take a second or more to
 * unpack into arrays, so it yields to the event loop every {@linkcode UNPACK_SLICE} tokens.
 */
export async function unpackExamples(packed: PackedExamples): Promise<TokenizedExample[]> {
  const { inputIds, labels, offsets } = packed;
  const slice = (from: Int32Array, start: number, end: number) => {
    const out = new Array<number>(end - start);
    for (let j = start; j < end; j++) out[j - start] = from[j]; // Array.from is ~10× slower
    return out;
  };
  const examples: TokenizedExample[] = new Array(offsets.length - 1);
  for (let i = 0, sinceYield = 0; i < examples.length; i++) {
    sinceYield += offsets[i + 1] - offsets[i];
    if (sinceYield > UNPACK_SLICE) {
      sinceYield = 0;
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    examples[i] = {
      inputIds: slice(inputIds, offsets[i], offsets[i + 1]),
      labels: slice(labels, offsets[i], offsets[i + 1]),
    };
  }
  return examples;
}

/** The examples, or why the data cannot be used. */
export type PrepareReply =
  | { id: number; examples: PackedExamples }
  | { id: number; error: string };

/** Bad data: the message says what is wrong, naming the line or record. */
export class InvalidDataError extends Error {
  /** Makes the error. */
  constructor(message: string) {
    super(message);
    this.name = "InvalidDataError";
  }
}

interface Pending {
  resolve: (examples: TokenizedExample[]) => void;
  reject: (error: Error) => void;
}

/** Prepares fine-tuning data off the event loop with one tokenizer. */
export class DatasetPreparer {
  readonly #tokenizer: TextTokenizer;
  readonly #pending = new Map<number, Pending>();
  #worker: Worker | null = null;
  #nextId = 0;

  /** A preparer for `tokenizer` (its worker starts on first use). */
  constructor(tokenizer: TextTokenizer) {
    this.#tokenizer = tokenizer;
  }

  /**
   * The tokenised examples of data set `text` (a JSON array or JSONL of records); throws an
   * {@linkcode InvalidDataError} on bad data, naming `source`.
   */
  prepare(
    text: string,
    options: { source: string; maxLength: number; chatTemplateKwargs?: ChatTemplateKwargs },
  ): Promise<TokenizedExample[]> {
    const id = this.#nextId++;
    const request: PrepareRequest = { id, text, ...options };
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#start().postMessage(request);
    });
  }

  /** Stops the worker; pending requests fail. */
  close(): void {
    this.#worker?.terminate();
    this.#worker = null;
    this.#failAll(new Error("The data preparer was closed"));
  }

  #start(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(new URL("./dataset_worker.ts", import.meta.url), {
      type: "module",
    });
    worker.onmessage = (event: MessageEvent<PrepareReply>) => {
      const reply = event.data;
      const pending = this.#pending.get(reply.id);
      if (!pending) return;
      this.#pending.delete(reply.id);
      if ("error" in reply) pending.reject(new InvalidDataError(reply.error));
      else unpackExamples(reply.examples).then(pending.resolve, pending.reject);
    };
    worker.onerror = (event) => {
      event.preventDefault(); // the server lives on; the next request starts a new worker
      worker.terminate();
      if (this.#worker === worker) this.#worker = null;
      this.#failAll(new Error(`The data preparer failed: ${event.message}`));
    };
    worker.postMessage(this.#tokenizer.spec);
    this.#worker = worker;
    return worker;
  }

  #failAll(error: Error): void {
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }
}
