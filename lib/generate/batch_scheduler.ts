/**
 * Continuous batching: many generations share one batched model, and requests join and leave
 * between steps. Each step the scheduler collects one decode row from every running sequence
 * that wants a token, then fills the rest of the step's rows with prefill chunks of sequences
 * that are starting (in arrival order), so running streams keep flowing while a new prompt is
 * prefilled, and a new request's first token waits for its own chunks, not for others to end.
 * A sequence holds a KV-cache slot from its first chunk until it is closed; requests beyond
 * the slots wait in a queue.
 *
 * Each sequence is a {@linkcode TokenSampler}, so the generation loop (`streamTokens`) runs on
 * it unchanged: stop strings, EOS, detokenizing and aborts work as for one sequence, and a
 * greedy sequence gets the same tokens as alone. When no prompt is waiting to be prefilled, up to
 * {@linkcode DECODE_CHAIN} decode steps are chained in one submit (one readback), each row's
 * sampled id feeding its next step on the GPU; tokens a sequence has not asked for yet wait in
 * its buffer.
 *
 * @module
 */
import type { ResolvedSampling } from "./sampling.ts";
import { DECODE_CHAIN, type TokenSampler } from "./generate.ts";
import type { TokenLogprob } from "../ops/logprobs.ts";
import type { StepOutput, StepScore } from "../model/batch_step.ts";

/** One token row of a step (`GpuBatchEngine`'s). */
export interface BatchRow {
  /** Token id. */
  id: number;
  /** KV-cache slot of its sequence. */
  slot: number;
  /** Its position in the sequence. */
  position: number;
  /** Adapter slot of its sequence, −1 for none. */
  adapter: number;
}

/** One token to sample in a step. */
export interface BatchSample {
  /** The row whose logits are sampled. */
  row: number;
  /** KV-cache slot of the sequence. */
  slot: number;
  /** Its sampling settings. */
  sampling: ResolvedSampling;
  /** Index of the token among the sequence's generated ones. */
  step: number;
  /** Top logprobs to return with the sampled id; absent: none. */
  logprobs?: number;
}

/** Which logprobs a sequence returns: top-k counts, absent for none. */
export interface SequenceLogprobs {
  /** Of each generated token, with this many top alternatives. */
  tokens?: number;
  /** Of each prompt token after the first (scored while prefilling), with this many. */
  prompt?: number;
}

/** What the scheduler drives: a model that runs a batch step (`GpuBatchEngine`). */
export interface BatchStepper {
  /** Sizes: sequences per step, rows per step, context per sequence. */
  readonly sizes: { maxBatch: number; stepTokens: number; maxContext: number };
  /** Marks a sequence's prompt ids as seen, for the penalties. */
  startSequence(slot: number, promptIds: number[]): void;
  /** Copies the first `length` cached positions of slot `from` to slot `to`. */
  copyPrefix(from: number, to: number, length: number): void;
  /**
   * Runs the rows and returns one sampled id per sample (with logprobs where asked) and the
   * logprobs of each score; with `chain` > 1 (decode rows only, each sampled in row order, no
   * scores), `chain` steps, step k's ids at [k·samples, (k + 1)·samples).
   */
  step(
    rows: BatchRow[],
    samples: BatchSample[],
    chain: number,
    scores: StepScore[],
  ): Promise<StepOutput>;
}

/** Counters of the scheduler, for metrics. */
export interface BatchStats {
  /** Sequences holding a cache slot. */
  running: number;
  /** Sequences waiting for a slot. */
  waiting: number;
  /** Steps run. */
  steps: number;
  /** Rows run in all steps. */
  rows: number;
  /** Sequences sampled in all steps (batch occupancy = sampled / steps). */
  sampled: number;
  /** Prompt positions copied from another sequence's cache instead of prefilled. */
  sharedRows: number;
}

interface Pending {
  count: number;
  tokens: number[];
  resolve: (ids: number[]) => void;
  reject: (error: unknown) => void;
}

/**
 * One generation in a {@linkcode BatchScheduler}: a {@linkcode TokenSampler} whose calls wait
 * for the batch steps that produce their tokens. Close it when the generation ends.
 */
export class BatchSequence implements TokenSampler {
  /** Tokens sampled per call: one, so text streams token by token. */
  readonly decodeChain = 1;
  /** Context of the sequence. */
  readonly maxContext: number;
  /** Adapter slot, −1 for none. */
  readonly adapter: number;
  /** The most tokens it will ask for (its caller's maxTokens), when known. */
  readonly maxTokens: number;
  /** The logprobs it returns. */
  readonly logprobs: SequenceLogprobs;
  /** Logprobs of the sampled tokens, by index, where `logprobs.tokens` asks for them. */
  readonly tokenLogprobs: (TokenLogprob | null)[] = [];
  /** Logprobs of the prompt tokens, by position (the first has none: null). */
  readonly promptLogprobs: (TokenLogprob | null)[] = [null];
  readonly #scheduler: BatchScheduler;
  /** KV-cache slot, −1 until admitted. */
  slot = -1;
  /** Prompt ids; prefilled[0..prefilled) are in the cache. */
  prompt: number[] = [];
  /** Prompt ids already in the cache. */
  prefilled = 0;
  /** Next position to write. */
  position = 0;
  /** The last sampled id (the next decode row's input). */
  last = -1;
  /** Tokens sampled so far. */
  produced = 0;
  /** Tokens sampled but not asked for yet (a chain ran ahead of the caller). */
  buffer: number[] = [];
  /** Sampling settings. */
  sampling: ResolvedSampling | null = null;
  /** The call waiting for tokens. */
  pending: Pending | null = null;
  /** Closed: its slot is free. */
  closed = false;
  /**
   * A sequence with the same prompt whose cache it copies instead of prefilling (all but the
   * last prompt position, which it runs itself to sample); null once copied or given up.
   */
  prefixSource: BatchSequence | null;

  /** Use {@linkcode BatchScheduler.open}. */
  constructor(
    scheduler: BatchScheduler,
    adapter: number,
    maxContext: number,
    maxTokens: number,
    logprobs: SequenceLogprobs,
    prefixSource: BatchSequence | null,
  ) {
    this.#scheduler = scheduler;
    this.logprobs = logprobs;
    this.prefixSource = prefixSource;
    this.adapter = adapter;
    this.maxContext = maxContext;
    this.maxTokens = maxTokens;
  }

  /** Tokens it may still sample: within its maxTokens and its context. */
  get remaining(): number {
    return Math.min(this.maxTokens, this.maxContext - this.prompt.length) - this.produced;
  }

  /** Queues the prompt and resolves with the first sampled id. */
  async prefillSample(
    ids: number[],
    sampling: ResolvedSampling,
    signal?: AbortSignal,
  ): Promise<number> {
    if (this.sampling) throw new Error("A batch sequence is prefilled once");
    if (ids.length === 0) throw new RangeError("Prompt is empty: at least one token is needed");
    if (ids.length >= this.maxContext) {
      throw new RangeError(
        `Prompt of ${ids.length} tokens leaves no room in the context of ${this.maxContext}`,
      );
    }
    this.prompt = ids;
    this.sampling = sampling;
    const [id] = await this.#wait(1, signal);
    return id;
  }

  /** Resolves with the next `count` sampled ids; `firstStep` must follow the ids so far. */
  decodeSample(
    count: number,
    _sampling: ResolvedSampling,
    firstStep: number,
    signal?: AbortSignal,
  ): Promise<number[]> {
    const given = this.produced - this.buffer.length;
    if (firstStep !== given) {
      throw new RangeError(`Decode step ${firstStep} does not follow the ${given} tokens given`);
    }
    if (this.buffer.length >= count) return Promise.resolve(this.buffer.splice(0, count));
    return this.#wait(count, signal);
  }

  /** Frees its slot; a waiting call is rejected. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pending?.reject(new Error("The batch sequence is closed"));
    this.pending = null;
    this.#scheduler.release(this);
  }

  #wait(count: number, signal?: AbortSignal): Promise<number[]> {
    signal?.throwIfAborted();
    if (this.closed) throw new Error("The batch sequence is closed");
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.pending = null;
        reject(signal!.reason);
        this.close(); // a client that goes away frees its row at once
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      const done = () => signal?.removeEventListener("abort", onAbort);
      this.pending = {
        count,
        tokens: this.buffer.splice(0), // what a chain sampled ahead comes first
        resolve: (ids) => (done(), resolve(ids)),
        reject: (e) => (done(), reject(e)),
      };
      this.#scheduler.wake(this);
    });
  }
}

/** Runs the batch steps of every open {@linkcode BatchSequence}. */
export class BatchScheduler {
  readonly #model: BatchStepper;
  readonly #running: BatchSequence[] = []; // holding a slot, in admission order
  readonly #waiting: BatchSequence[] = []; // prompt given, no slot yet
  readonly #freeSlots: number[];
  #looping = false;
  readonly #stats = { steps: 0, rows: 0, sampled: 0, sharedRows: 0 };

  /** Schedules steps of `model`. */
  constructor(model: BatchStepper) {
    this.#model = model;
    this.#freeSlots = Array.from({ length: model.sizes.maxBatch }, (_, i) => i);
  }

  /**
   * A new sequence using adapter slot `adapter` (−1: none) that asks for at most `maxTokens`
   * tokens (its chains never run past them) and returns `logprobs`. With `prefixSource`, an
   * open sequence that will have the same prompt, it copies that one's cached prompt instead
   * of prefilling it (OpenAI's `n`: one prefill for all choices), where it can: the source
   * holds a slot and the prompts match; else it prefills its own.
   */
  open(
    adapter = -1,
    maxTokens = Infinity,
    logprobs: SequenceLogprobs = {},
    prefixSource: BatchSequence | null = null,
  ): BatchSequence {
    const S = this.#model.sizes.maxContext;
    return new BatchSequence(this, adapter, S, maxTokens, logprobs, prefixSource);
  }

  /** Counters for metrics. */
  get stats(): BatchStats {
    return { running: this.#running.length, waiting: this.#waiting.length, ...this.#stats };
  }

  /** Called by a sequence that waits for tokens: queues it if new and runs the loop. */
  wake(seq: BatchSequence): void {
    if (seq.slot < 0 && !this.#waiting.includes(seq)) this.#waiting.push(seq);
    this.#kick();
  }

  /** Runs the step loop unless it runs already. */
  #kick(): void {
    if (this.#looping) return;
    this.#looping = true;
    this.#run().catch((error) => { // #run clears #looping itself when it ends normally
      this.#looping = false;
      for (const seq of [...this.#running, ...this.#waiting]) {
        seq.pending?.reject(error);
        seq.pending = null;
      }
    });
  }

  /** Called by a closing sequence: frees its slot. */
  release(seq: BatchSequence): void {
    const at = this.#running.indexOf(seq);
    if (at >= 0) {
      this.#running.splice(at, 1);
      this.#freeSlots.push(seq.slot);
    }
    const w = this.#waiting.indexOf(seq);
    if (w >= 0) this.#waiting.splice(w, 1);
    if (this.#waiting.length > 0) this.#kick(); // a waiting sequence can take the slot
  }

  async #run(): Promise<void> {
    while (true) {
      this.#admit();
      const plan = this.#plan();
      if (plan.rows.length === 0) {
        this.#looping = false; // before anyone can wake it again
        return;
      }
      let out: StepOutput;
      try {
        const samples = plan.samples.map((s) => s.sample);
        const scores = plan.scores.map((s) => s.score);
        out = await this.#model.step(plan.rows, samples, plan.chain, scores);
      } catch (error) {
        for (const { seq } of plan.advances) {
          seq.pending?.reject(error);
          seq.pending = null;
        }
        continue;
      }
      this.#stats.steps += 1;
      this.#stats.rows += plan.rows.length * plan.chain;
      this.#stats.steps += plan.chain - 1;
      this.#stats.sampled += plan.samples.length * plan.chain;
      for (const { seq, position } of plan.advances) {
        seq.position = position;
        seq.prefilled = Math.max(seq.prefilled, Math.min(position, seq.prompt.length));
      }
      plan.scores.forEach(({ seq, position }, j) => seq.promptLogprobs[position] = out.scores[j]);
      const m = plan.samples.length;
      for (let k = 0; k < plan.chain; k++) {
        plan.samples.forEach(({ seq }, i) => {
          seq.tokenLogprobs.push(out.logprobs[k * m + i]);
          this.#deliver(seq, out.ids[k * m + i]);
        });
      }
      // Let the consumers of the tokens just delivered ask for their next ones before the
      // next step is planned, so that they ride it.
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  }

  /** Gives waiting sequences free slots, in arrival order. */
  #admit(): void {
    while (this.#freeSlots.length > 0) {
      const seq = this.#waiting.shift();
      if (!seq) return;
      seq.slot = this.#freeSlots.shift()!;
      this.#model.startSequence(seq.slot, seq.prompt);
      this.#running.push(seq);
    }
  }

  /**
   * The rows, samples and prompt scores of the next step, and where each sequence in it will
   * stand after it (its next position). Samples and scores share the step's B logits rows.
   */
  #plan(): {
    rows: BatchRow[];
    samples: { seq: BatchSequence; sample: BatchSample }[];
    scores: { seq: BatchSequence; score: StepScore; position: number }[];
    advances: { seq: BatchSequence; position: number }[];
    chain: number;
  } {
    const rows: BatchRow[] = [];
    const samples: { seq: BatchSequence; sample: BatchSample }[] = [];
    const scores: { seq: BatchSequence; score: StepScore; position: number }[] = [];
    const advances: { seq: BatchSequence; position: number }[] = [];
    const want = (seq: BatchSequence) => seq.pending !== null && !seq.closed;
    const sample = (seq: BatchSequence) =>
      samples.push({
        seq,
        sample: {
          row: rows.length - 1,
          slot: seq.slot,
          sampling: seq.sampling!,
          step: seq.produced,
          logprobs: seq.logprobs.tokens,
        },
      });
    for (const seq of this.#running) {
      if (seq.prefilled < seq.prompt.length || !want(seq)) continue;
      rows.push({ id: seq.last, slot: seq.slot, position: seq.position, adapter: seq.adapter });
      advances.push({ seq, position: seq.position + 1 });
      sample(seq);
    }
    const decodeRows = rows.length;
    for (const seq of this.#running) {
      const budget = this.#model.sizes.stepTokens - rows.length;
      if (budget === 0) break;
      if (seq.prefilled >= seq.prompt.length) continue;
      if (seq.prefixSource && !this.#takePrefix(seq)) continue; // its source is prefilling
      const { prompt, prefilled } = seq, scored = seq.logprobs.prompt;
      const logitRows = this.#model.sizes.maxBatch - samples.length - scores.length; // left
      let end = Math.min(prompt.length, prefilled + budget);
      if (scored !== undefined) end = Math.min(end, prefilled + logitRows); // a logits row each
      else if (end === prompt.length && logitRows === 0) end -= 1; // no row left to sample
      if (end <= prefilled) continue;
      for (let i = prefilled; i < end; i++) {
        rows.push({ id: prompt[i], slot: seq.slot, position: i, adapter: seq.adapter });
        if (scored === undefined || i + 1 === prompt.length) continue;
        const score = { row: rows.length - 1, target: prompt[i + 1], logprobs: scored };
        scores.push({ seq, score, position: i + 1 });
      }
      advances.push({ seq, position: end });
      if (end === seq.prompt.length) sample(seq);
    }
    // Chain decode steps when no prompt waits for its chunks (a new one waits one chain at most).
    const prefilling = rows.length > decodeRows ||
      (this.#waiting.length > 0 && this.#freeSlots.length > 0);
    const chain = prefilling || samples.length === 0
      ? 1
      : Math.max(1, Math.min(DECODE_CHAIN, ...samples.map(({ seq }) => seq.remaining)));
    for (const advance of advances) advance.position += chain - 1; // decode rows only when chained
    return { rows, samples, scores, advances, chain };
  }

  /**
   * Copies the cached prompt of `seq`'s prefix source into its slot once the source has
   * prefilled it, all but the last position (which `seq` runs to sample its own first token);
   * gives sharing up where it cannot be done. False while `seq` should wait for the source.
   */
  #takePrefix(seq: BatchSequence): boolean {
    const source = seq.prefixSource!, shared = seq.prompt.length - 1;
    const same = source.prompt.length === seq.prompt.length &&
      source.prompt.every((id, i) => id === seq.prompt[i]);
    if (
      source.closed || source.slot < 0 || !same || shared < 1 ||
      seq.logprobs.prompt !== undefined || source.adapter !== seq.adapter
    ) {
      seq.prefixSource = null; // prefill its own
      return true;
    }
    if (source.prefilled < shared) return false;
    this.#model.copyPrefix(source.slot, seq.slot, shared);
    seq.prefilled = seq.position = shared;
    seq.prefixSource = null;
    this.#stats.sharedRows += shared;
    return true;
  }

  /**
   * Hands a sampled id to its sequence and resolves its call once it has its tokens; ids it has
   * not asked for go to its buffer.
   */
  #deliver(seq: BatchSequence, id: number): void {
    seq.last = id;
    seq.produced += 1;
    const pending = seq.pending;
    if (!pending) {
      seq.buffer.push(id);
      return;
    }
    pending.tokens.push(id);
    if (pending.tokens.length === pending.count) {
      seq.pending = null;
      pending.resolve(pending.tokens);
    }
  }
}
