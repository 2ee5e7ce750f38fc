/**
 * Batched inference on WebGPU for continuous batching: one step runs N token rows that belong
 * to up to B sequences (decode tokens of running sequences and prefill chunks of new ones)
 * through the decoder stack at once, so every weight is read once per step, not once per
 * sequence. Each row carries its own KV-cache slot and position (a row table read by the RoPE
 * append and attention kernels) and its own LoRA adapter slot (the BGMV kernels); the last row
 * of each sequence that needs a token is gathered, projected to logits and sampled on the GPU
 * with that sequence's settings. One submit and one readback per step.
 *
 * Dimensions: N token rows, B sequences (cache slots), S context per sequence, D hidden,
 * V vocab, NS adapter slots, R their padded rank, W words of a logprobs record.
 *
 * @module
 */
import type { Gpu } from "../gpu/device.ts";
import { CommandRecorder, type GpuCounters } from "../gpu/recorder.ts";
import { type Allocated, allocatePlan, destroyAllocated } from "../gpu/buffer_plan.ts";
import type { ModelConfig } from "./config.ts";
import type { GpuWeights } from "./gpu_weights.ts";
import { type BatchPlan, type BatchSizes, planBatch } from "./batch_plan.ts";
import { ropeTables } from "./rope_frequencies.ts";
import { resolveKvCacheDtype, resolveMaxContext } from "./engine.ts";
import { loraKey, type Projection, PROJECTIONS } from "./names.ts";
import { projectionFeatures as features } from "./shapes.ts";
import { recordEmbedding } from "../ops/embedding.ts";
import { recordLinear } from "../ops/matmul.ts";
import { recordHeadNorms, recordRmsnorm } from "../ops/rmsnorm.ts";
import { recordSwiglu } from "../ops/swiglu.ts";
import { recordBiasAdd } from "../ops/bias_add.ts";
import { recordRopeKvAppend } from "../ops/rope.ts";
import { recordAttention } from "../ops/attention.ts";
import { promptSeenCounts, recordSample } from "../ops/sample.ts";
import { decodeLogprobRecord, LOGPROB_RECORD_WORDS, recordLogprobs } from "../ops/logprobs.ts";
import { padLoraToRank, recordBgmvExpand, recordBgmvShrink } from "../ops/bgmv.ts";
import type { LoraWeights } from "../lora/lora_weights.ts";
import { loraScaleOf } from "../lora/lora_config.ts";
import type { KvCacheDtype } from "../ops/rope.ts";
import { MAX_CHAINED_STEPS } from "./inference_plan.ts";
import type { StepOutput, StepRow, StepSample, StepScore } from "./batch_step.ts";

/** Sizes of a batch engine; defaults as documented. */
export interface GpuBatchEngineOptions {
  /** B, sequences decoded together. Default 16. */
  maxBatch?: number;
  /** N, token rows per step (decode tokens plus prefill chunks). Default max(B, 256). */
  stepTokens?: number;
  /** S, context per sequence. Default as `resolveMaxContext`. */
  maxContext?: number;
  /** KV-cache element type. Default f32. */
  kvCacheDtype?: KvCacheDtype;
  /** NS, adapters resident at once. Default 0 (no LoRA). */
  maxLoras?: number;
  /** R, the largest adapter rank. Default 16. */
  maxLoraRank?: number;
}

/** Default sequences per batch (vLLM's --max-num-seqs is larger; this is a small device). */
export const DEFAULT_MAX_BATCH = 16;
/** Default padded adapter rank (vLLM's --max-lora-rank default). */
export const DEFAULT_MAX_LORA_RANK = 16;
const DEFAULT_STEP_TOKENS = 256;

/** The model's forward over a batch of rows from many sequences, with per-row adapters. */
export class GpuBatchEngine {
  /** The model's configuration. */
  readonly config: ModelConfig;
  /** The sizes of its buffers. */
  readonly sizes: Readonly<BatchSizes>;
  readonly #gpu: Gpu;
  readonly #weights: GpuWeights;
  readonly #rec: CommandRecorder;
  #t: Allocated<BatchPlan> | null;

  /** Allocates the plan of `options` for `weights`. */
  constructor(
    gpu: Gpu,
    config: ModelConfig,
    weights: GpuWeights,
    options: GpuBatchEngineOptions = {},
  ) {
    const maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
    this.sizes = {
      maxBatch,
      stepTokens: options.stepTokens ?? Math.max(maxBatch, DEFAULT_STEP_TOKENS),
      maxContext: resolveMaxContext(config, options.maxContext),
      kvCacheDtype: resolveKvCacheDtype(options.kvCacheDtype),
      maxLoras: options.maxLoras ?? 0,
      maxLoraRank: options.maxLoraRank ?? DEFAULT_MAX_LORA_RANK,
    };
    if (this.sizes.kvCacheDtype === "f16" && config.headDim % 4 !== 0) {
      throw new RangeError(
        `An f16 KV cache needs a head dim that is a multiple of 4, got ${config.headDim}`,
      );
    }
    this.config = config;
    this.#gpu = gpu;
    this.#weights = weights;
    const plan = planBatch(config, this.sizes);
    for (
      const spec of [
        plan.logits,
        ...(plan.lora?.stacks.flatMap((s) => Object.values(s).flatMap((p) => [p.a, p.b])) ?? []),
      ]
    ) {
      const bytes = spec.shape.reduce((a, b) => a * b, 4);
      if (bytes > gpu.maxBindingBytes) {
        throw new RangeError(
          `${spec.name} [${spec.shape}] needs ${bytes} bytes, over the device's binding limit of ` +
            `${gpu.maxBindingBytes}: lower maxBatch, maxLoras or maxLoraRank`,
        );
      }
    }
    this.#t = allocatePlan(gpu, plan);
    const { cos, sin } = ropeTables(config, this.sizes.maxContext);
    this.#t.rope.cos.write(new Uint8Array(cos.buffer));
    this.#t.rope.sin.write(new Uint8Array(sin.buffer));
    this.#rec = new CommandRecorder(gpu);
  }

  /** GPU traffic counters (submits, dispatches, readbacks). */
  get counters(): GpuCounters {
    return this.#rec.counters;
  }

  /**
   * Uploads `weights` into adapter slot `slot`, zero-padded to the slots' rank; projections it
   * does not adapt get zeros, so nothing of a previous occupant remains.
   */
  loadAdapter(slot: number, weights: LoraWeights): void {
    const lora = this.#buffers.lora;
    const { maxLoras: NS, maxLoraRank: R } = this.sizes;
    if (!lora) throw new RangeError("This batch engine has no adapter slots (maxLoras 0)");
    if (!(Number.isInteger(slot) && slot >= 0 && slot < NS)) {
      throw new RangeError(`Adapter slot ${slot} is outside [0, ${NS})`);
    }
    const rank = weights.config.r;
    if (rank > R) {
      throw new RangeError(
        `Adapter rank ${rank} exceeds the maximum LoRA rank ${R} (--max-lora-rank)`,
      );
    }
    const queue = this.#gpu.device.queue,
      targets = new Set<Projection>(weights.config.targetModules);
    lora.stacks.forEach((stacks, l) => {
      for (const p of PROJECTIONS) {
        const dims = features(this.config, p);
        const get = (m: "A" | "B") => {
          const values = weights.tensors.get(loraKey(l, p, m));
          if (!values) throw new Error(`Adapter is missing ${loraKey(l, p, m)}`);
          return values;
        };
        const padded = targets.has(p)
          ? padLoraToRank({ a: get("A"), b: get("B"), rank }, R, dims)
          : { a: new Float32Array(R * dims.inFeatures), b: new Float32Array(dims.outFeatures * R) };
        queue.writeBuffer(stacks[p].a.buffer, slot * padded.a.byteLength, padded.a);
        queue.writeBuffer(stacks[p].b.buffer, slot * padded.b.byteLength, padded.b);
      }
    });
    queue.writeBuffer(lora.scale.buffer, slot * 4, new Float32Array([loraScaleOf(weights.config)]));
  }

  /** Starts a sequence in cache slot `slot`: its seen counts become the prompt's ids. */
  startSequence(slot: number, promptIds: number[]): void {
    const V = this.config.vocabSize;
    const seen = promptSeenCounts(promptIds, V); // (V)
    this.#gpu.device.queue.writeBuffer(this.#buffers.seen.buffer, slot * V * 4, seen);
  }

  /**
   * Copies the first `length` positions of cache slot `from` to slot `to`, every layer's keys
   * and values, on the GPU (one submit, no readback): several sequences with the same prompt
   * (OpenAI's `n`) prefill it once. The copy goes through a scratch slot (`kvScratch`).
   */
  copyPrefix(from: number, to: number, length: number): void {
    const { maxBatch: B, maxContext: S, kvCacheDtype } = this.sizes;
    const inRange = (v: number, end: number) => Number.isInteger(v) && v >= 0 && v < end;
    if (!inRange(from, B) || !inRange(to, B) || from === to) {
      throw new RangeError(`Cache slots ${from} → ${to} must be two different slots in [0, ${B})`);
    }
    if (!(Number.isInteger(length) && length >= 1 && length <= S)) {
      throw new RangeError(`Prefix length ${length} must be in [1, ${S}]`);
    }
    const row = this.config.numKvHeads * this.config.headDim * (kvCacheDtype === "f16" ? 2 : 4); // bytes of (KV·HD)
    const { kvCache, kvScratch } = this.#buffers, size = length * row;
    for (const cache of kvCache) {
      for (const t of [cache.k, cache.v]) { // (B, S, KV·HD); a buffer cannot copy to itself
        this.#rec.copy(t.buffer, from * S * row, kvScratch.buffer, 0, size); // scratch = t[from, :length]
        this.#rec.copy(kvScratch.buffer, 0, t.buffer, to * S * row, size); // t[to, :length] = scratch
      }
    }
    this.#rec.submit();
  }

  /**
   * Runs `rows` through the model (appending their keys and values to their sequences' caches)
   * and samples one token per entry of `samples`; returns the sampled ids in that order
   * (0xffffffff where the logits were not finite), with their logprobs where asked, and the
   * logprobs of each of `scores` (prompt tokens). With `chain` > 1 (decode rows only, each
   * sampled, no scores), runs `chain` steps in one submit, each row's sampled id feeding its
   * next step on the GPU; returns step k's ids at [k·samples.length, (k + 1)·samples.length).
   * Logprobs are computed on the GPU and come back in the same readback as the ids.
   */
  async step(
    rows: StepRow[],
    samples: StepSample[],
    chain = 1,
    scores: StepScore[] = [],
  ): Promise<StepOutput> {
    this.#check(rows, samples, chain, scores);
    const t = this.#buffers, c = this.config, w = this.#weights, rec = this.#rec;
    const n = rows.length, S = this.sizes.maxContext, queue = this.#gpu.device.queue;
    queue.writeBuffer(t.ids.buffer, 0, new Uint32Array(rows.map((r) => r.id)));
    queue.writeBuffer(
      t.rowTable.buffer,
      0,
      new Uint32Array(rows.flatMap((r) => [r.slot, r.position])),
    );
    const adapted = rows.some((r) => r.adapter >= 0);
    if (adapted) {
      queue.writeBuffer(
        t.lora!.adapterIndex.buffer,
        0,
        new Int32Array(rows.map((r) => r.adapter)),
      );
    }
    const m = samples.length, V = c.vocabSize, W = LOGPROB_RECORD_WORDS;
    const logitRows = [...samples, ...scores].map((s) => s.row);
    if (logitRows.length > 0) { // an empty write panics Deno's WebGPU queue
      queue.writeBuffer(t.logitRows.buffer, 0, new Uint32Array(logitRows));
    }
    // Read back: `entries` ids (sampled, then the scores' targets), then a record for each.
    const entries = chain * m + scores.length;
    if (scores.length > 0) {
      queue.writeBuffer(
        t.sampled.buffer,
        chain * m * 4,
        new Uint32Array(scores.map((s) => s.target)),
      );
    }
    const withLogprobs = scores.length > 0 || samples.some((s) => s.logprobs !== undefined);

    const b = (tensor: { buffer: GPUBuffer }) => tensor.buffer;
    const x = b(t.x), norm = b(t.norm), q = b(t.q), kNew = b(t.kNew), vNew = b(t.vNew);
    const project = (
      l: number,
      p: Projection,
      input: GPUBuffer,
      y: GPUBuffer,
      accumulate = false,
    ) => {
      recordLinear(rec, input, y, { weight: w.layers[l].projections[p], rows: n, accumulate }); // y (+)= input·Wᵀ
      if (adapted) {
        const lora = t.lora!, stack = lora.stacks[l][p], dims = features(c, p);
        const common = {
          adapterIndex: lora.adapterIndex.buffer,
          rows: n,
          rank: this.sizes.maxLoraRank,
          u: lora.u.buffer,
        };
        recordBgmvShrink(rec, {
          ...common,
          x: input,
          a: stack.a.buffer,
          inFeatures: dims.inFeatures,
        }); // u = input·A[slot]ᵀ
        recordBgmvExpand(rec, {
          ...common,
          b: stack.b.buffer,
          scale: lora.scale.buffer,
          y,
          outFeatures: dims.outFeatures,
        }); // y += s·u·B[slot]ᵀ
      }
      const bias = w.layers[l].biases[p];
      if (bias) recordBiasAdd(rec, { bias: bias.buffer, y, rows: n, n: bias.shape[0] }); // y += b
    };
    const rmsnorm = (weight: GpuWeights["finalNorm"]) =>
      recordRmsnorm(rec, { x, weight, y: norm, rstd: b(t.rstd), rows: n, eps: c.rmsNormEps }); // norm = rmsnorm(x)

    const forward = (step: number) => {
      recordEmbedding(rec, b(t.ids), w.embed, x, n); // x = embed[ids]
      for (let l = 0; l < c.numLayers; l++) {
        const layer = w.layers[l], cache = t.kvCache[l], qk = t.qkNorm;
        rmsnorm(layer.inputNorm);
        project(l, "q_proj", norm, qk ? b(qk.qRaw) : q);
        project(l, "k_proj", norm, qk ? b(qk.kRaw) : kNew);
        project(l, "v_proj", norm, vNew);
        if (qk && layer.qkNorm) {
          recordHeadNorms(rec, {
            q: { raw: b(qk.qRaw), normed: q },
            k: { raw: b(qk.kRaw), normed: kNew },
            rstd: { q: b(qk.rstd), k: b(qk.rstd) },
            weights: layer.qkNorm,
            tokens: n,
            heads: c.numHeads,
            kvHeads: c.numKvHeads,
            eps: c.rmsNormEps,
          }); // Qwen3: q, k' = rmsnorm of each head
        }
        recordRopeKvAppend(rec, {
          q,
          kNew,
          vNew,
          kCache: b(cache.k),
          vCache: b(cache.v),
          cacheDtype: this.sizes.kvCacheDtype,
          cos: b(t.rope.cos),
          sin: b(t.rope.sin),
          T: n,
          qHeads: c.numHeads,
          kvHeads: c.numKvHeads,
          headDim: c.headDim,
          positionOffset: step,
          rowTable: { buffer: b(t.rowTable), cacheRows: S },
        }); // rotate q; cache[slot, pos] = rope(k'), v' per row
        recordAttention(rec, {
          q,
          k: b(cache.k),
          v: b(cache.v),
          out: b(t.attn),
          lse: b(t.lse),
          batch: n,
          T: 1,
          S,
          heads: c.numHeads,
          kvHeads: c.numKvHeads,
          headDim: c.headDim,
          positionOffset: step,
          kvDtype: this.sizes.kvCacheDtype,
          rowTable: b(t.rowTable),
        }); // each row attends to its own sequence's keys up to its position
        project(l, "o_proj", b(t.attn), x, true); // x += attn·Woᵀ
        rmsnorm(layer.postAttentionNorm);
        project(l, "gate_proj", norm, b(t.gate));
        project(l, "up_proj", norm, b(t.up));
        recordSwiglu(rec, b(t.gate), b(t.up), b(t.hidden), n * c.intermediateSize); // h = silu(gate)·up
        project(l, "down_proj", b(t.hidden), x, true); // x += h·Wdᵀ
      }
    };
    const logprobs = (index: number, row: number, topK: number) =>
      recordLogprobs(rec, {
        logits: b(t.logits),
        logitsOffset: row * V,
        tokens: b(t.sampled),
        targetIndex: index,
        recordOffset: entries + index * W,
        topK,
        vocabSize: V,
      }); // record[index] = log_softmax(logits[row])[sampled[index]] and its top-k
    const sample = (step: number) => {
      const rowsOut = m + scores.length;
      recordEmbedding(rec, b(t.logitRows), t.x, b(t.xLast), rowsOut); // xLast = x[logitRows]
      recordLinear(rec, b(t.xLast), b(t.logits), {
        weight: w.lmHead,
        rows: rowsOut,
        norm: { weight: w.finalNorm, eps: c.rmsNormEps },
      }); // logits = rmsnorm(xLast)·Eᵀ
      scores.forEach((s, j) => logprobs(chain * m + j, m + j, s.logprobs));
      samples.forEach((s, i) => {
        recordSample(rec, {
          ...s.sampling,
          logits: b(t.logits),
          logitsOffset: i * V,
          seen: b(t.seen),
          seenOffset: s.slot * V,
          tokens: b(t.sampled),
          outIndex: step * m + i,
          ids: b(t.ids),
          idsIndex: s.row, // a chained step's input: the same row, one position on
          vocabSize: V,
          step: s.step + step,
        });
        if (s.logprobs !== undefined) logprobs(step * m + i, i, s.logprobs);
      });
    };
    try {
      for (let step = 0; step < chain; step++) {
        forward(step); // rows at their positions + step
        if (entries > 0) sample(step);
      }
    } catch (e) {
      rec.prepare(); // drop the partly recorded steps
      throw e;
    }
    const words = entries * (withLogprobs ? 1 + W : 1);
    const read = entries > 0 ? rec.read(b(t.sampled), 0, words * 4) : null;
    rec.submit();
    const out = read ? new Uint32Array(await read) : new Uint32Array(0); // (words)
    const recordOf = (index: number, topK: number) =>
      decodeLogprobRecord(out, entries + index * W, topK);
    return {
      ids: [...out.subarray(0, chain * m)],
      logprobs: Array.from({ length: chain * m }, (_, index) => {
        const topK = samples[index % m].logprobs;
        return topK === undefined ? null : recordOf(index, topK);
      }),
      scores: scores.map((s, j) => recordOf(chain * m + j, s.logprobs)),
    };
  }

  /** Frees the planned buffers and the recorder (not the weights). */
  dispose(): void {
    if (this.#t) destroyAllocated(this.#t);
    this.#t = null;
    this.#rec.dispose();
  }

  get #buffers(): Allocated<BatchPlan> {
    if (!this.#t) throw new Error("The batch engine is disposed");
    return this.#t;
  }

  /** Throws unless every row and sample is in range. */
  #check(rows: StepRow[], samples: StepSample[], chain: number, scores: StepScore[]): void {
    const { stepTokens: N, maxBatch: B, maxContext: S, maxLoras: NS } = this.sizes;
    const V = this.config.vocabSize;
    if (rows.length === 0 || rows.length > N) {
      throw new RangeError(`A step takes 1 to ${N} rows, got ${rows.length}`);
    }
    const inRange = (v: number, end: number, start = 0) =>
      Number.isInteger(v) && v >= start && v < end;
    for (const r of rows) {
      if (!inRange(r.id, V)) {
        throw new RangeError(`Token id ${r.id} is outside the vocabulary of ${V}`);
      }
      if (!inRange(r.slot, B)) throw new RangeError(`Cache slot ${r.slot} is outside [0, ${B})`);
      if (!inRange(r.position, S)) {
        throw new RangeError(`Position ${r.position} exceeds the context of ${S}`);
      }
      if (!inRange(r.adapter, NS, -1)) {
        throw new RangeError(`Adapter slot ${r.adapter} is outside [-1, ${NS})`);
      }
    }
    if (samples.length + scores.length > B) {
      throw new RangeError(
        `A step samples and scores at most ${B} rows, got ${samples.length} + ${scores.length}`,
      );
    }
    for (const s of [...samples, ...scores]) {
      if (!inRange(s.row, rows.length)) {
        throw new RangeError(`Sampled row ${s.row} is not a row of the step`);
      }
    }
    for (const s of scores) {
      if (!inRange(s.target, V)) {
        throw new RangeError(`Scored token id ${s.target} is outside the vocabulary of ${V}`);
      }
    }
    if (!inRange(chain, MAX_CHAINED_STEPS + 1, 1)) {
      throw new RangeError(`Chained steps ${chain} must be in [1, ${MAX_CHAINED_STEPS}]`);
    }
    if (chain === 1) return;
    if (scores.length > 0) throw new RangeError("Chained steps score no prompt tokens");
    if (samples.length !== rows.length || samples.some((s, i) => s.row !== i)) {
      throw new RangeError("Chained steps need every row sampled, in row order (decode rows only)");
    }
    const last = Math.max(...rows.map((r) => r.position)) + chain - 1;
    if (last >= S) throw new RangeError(`Position ${last} exceeds the context of ${S}`);
  }
}
