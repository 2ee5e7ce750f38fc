/**
 * Next-token sampling from logits with Hugging Face `generate` semantics, in order:
 * repetition penalty (prompt and generated ids), OpenAI's presence and frequency penalties
 * (generated ids, as vLLM), temperature, min-p, top-k, top-p, then a draw from the seeded
 * {@linkcode Rng}.
 *
 * Dimension letters: V vocab.
 *
 * @module
 */
import { checkSeed } from "../util/seed.ts";
import type { Rng } from "../util/rng.ts";

/** How to pick the next token. */
export interface SamplingOptions {
  /** Divides the logits; 0 picks the argmax (greedy). Default 1. */
  temperature?: number;
  /** Keeps the k most likely tokens (and any tied with the k-th); 0 keeps all. Default 0. */
  topK?: number;
  /** Keeps the smallest most-likely set whose probability reaches p, in (0, 1]. Default 1. */
  topP?: number;
  /** Divides positive / multiplies negative logits of tokens already seen; 1 is off. Default 1. */
  repetitionPenalty?: number;
  /** Subtracted once from the logit of every id generated so far, in [−2, 2]. Default 0. */
  presencePenalty?: number;
  /** Subtracted from each logit times its id's count among the generated ids, in [−2, 2]. Default 0. */
  frequencyPenalty?: number;
  /** Keeps the ids whose probability (after temperature) is at least p times the largest, in [0, 1]. Default 0. */
  minP?: number;
  /** Seed of the random stream used by the generation loop; random when absent. */
  seed?: number;
}

/** Bins per nat of log-probability when locating a top-k / top-p boundary. */
const BINS_PER_NAT = 16;
/** Bins in all: 64 nats; the last bin also holds every less likely token. */
const BINS = 64 * BINS_PER_NAT;
/** The bin mark of a -Infinity logit, which is never kept. */
const NO_BIN = 0xffff;
const binCount = new Float64Array(BINS); // (BINS) ids per bin, scratch reused by every call
const binMass = new Float64Array(BINS); // (BINS) weight per bin, scratch reused by every call

/** The sampling options with their defaults filled in. */
export type ResolvedSampling = Required<Omit<SamplingOptions, "seed">> & { seed: number };

/**
 * Fills in the defaults (temperature 1, top-k off, top-p 1, no penalty, a random seed when
 * none is given) and throws unless every option is in range.
 */
export function resolveSampling(options: SamplingOptions): ResolvedSampling {
  const resolved = withDefaults(options);
  const seed = options.seed ?? crypto.getRandomValues(new Uint32Array(1))[0];
  checkSeed(seed, "Sampling seed");
  return { ...resolved, seed };
}

/** The options other than the seed, defaults filled in, checked. */
function withDefaults(options: SamplingOptions): Omit<ResolvedSampling, "seed"> {
  const {
    temperature = 1,
    topK = 0,
    topP = 1,
    repetitionPenalty = 1,
    presencePenalty = 0,
    frequencyPenalty = 0,
    minP = 0,
  } = options;
  checkOptions(temperature, topK, topP, repetitionPenalty);
  for (const [name, value] of [["Presence", presencePenalty], ["Frequency", frequencyPenalty]]) {
    if (!(typeof value === "number" && value >= -2 && value <= 2)) {
      throw new RangeError(`${name} penalty must be in [-2, 2], got ${value}`);
    }
  }
  if (!(minP >= 0 && minP <= 1)) throw new RangeError(`Min-p must be in [0, 1], got ${minP}`);
  return { temperature, topK, topP, repetitionPenalty, presencePenalty, frequencyPenalty, minP };
}

/** Throws unless the sampling options are in range. */
function checkOptions(temperature: number, topK: number, topP: number, penalty: number): void {
  if (!(Number.isFinite(temperature) && temperature >= 0)) {
    throw new RangeError(`Temperature must be a finite number ≥ 0, got ${temperature}`);
  }
  if (!(Number.isInteger(topK) && topK >= 0)) {
    throw new RangeError(`Top-k must be an integer ≥ 0, got ${topK}`);
  }
  if (!(topP > 0 && topP <= 1)) throw new RangeError(`Top-p must be in (0, 1], got ${topP}`);
  if (!(Number.isFinite(penalty) && penalty > 0)) {
    throw new RangeError(`Repetition penalty must be a finite number > 0, got ${penalty}`);
  }
}

/**
 * Returns the logits with the repetition penalty applied once per distinct id of
 * `previousIds`, then the presence and frequency penalties over its ids from `promptLength` on
 * (the generated ones): `l − count·frequency − (count > 0)·presence`, OpenAI's formula.
 */
function penalize(
  logits: Float32Array,
  options: Omit<ResolvedSampling, "seed">,
  previousIds: number[],
  promptLength: number,
): Float32Array {
  const { repetitionPenalty: penalty, presencePenalty, frequencyPenalty } = options;
  if (previousIds.length === 0) return logits;
  if (penalty === 1 && presencePenalty === 0 && frequencyPenalty === 0) return logits;
  const out = logits.slice(); // (V)
  const counts = new Map<number, number>(); // generated id → count
  const seen = new Set<number>();
  previousIds.forEach((id, i) => {
    if (!(Number.isInteger(id) && id >= 0 && id < logits.length)) {
      throw new RangeError(`Previous token id ${id} is outside the logits [0, ${logits.length})`);
    }
    if (i >= promptLength) counts.set(id, (counts.get(id) ?? 0) + 1);
    if (seen.has(id) || penalty === 1) return;
    seen.add(id);
    out[id] = out[id] < 0 ? out[id] * penalty : out[id] / penalty;
  });
  for (const [id, count] of counts) out[id] -= count * frequencyPenalty + presencePenalty;
  return out;
}

/** The index of the largest score, lowest on ties; rejects NaN, +Infinity, all -Infinity. */
function argmax(scores: Float32Array): number {
  let best = -1, bestValue = -Infinity;
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i];
    if (Number.isNaN(s) || s === Infinity) throw new RangeError(`Logit ${i} is ${s}`);
    if (s > bestValue) [best, bestValue] = [i, s];
  }
  if (best < 0) throw new RangeError(`All ${scores.length} logits are -Infinity`);
  return best;
}

/** The sum of `weights` over `ids`. */
function sumWeights(ids: number[], weights: Float64Array): number {
  let sum = 0;
  for (const id of ids) sum += weights[id];
  return sum;
}

/** Sorts ids by descending score, then ascending id: the order top-k and top-p walk in. */
function sortByScore(ids: number[], scores: Float32Array): number[] {
  return ids.sort((a, b) => scores[b] - scores[a] || a - b);
}

/**
 * The ids of the shortest prefix of the vocabulary in {@linkcode sortByScore} order after
 * which `done(count, mass)` holds (with `keepTies`, plus the ids tied with its last one), or
 * every finite id if it never holds. One pass bins the ids by log-probability, so only the bin
 * holding the boundary is sorted; the ids of whole bins come in id order.
 */
function topPrefix(
  scores: Float32Array, // (V)
  weights: Float64Array, // (V)
  logWeight: (id: number) => number,
  done: (count: number, mass: number) => boolean,
  keepTies: boolean,
): number[] {
  const v = scores.length;
  const bins = new Uint16Array(v); // (V) bin of each id
  binCount.fill(0);
  binMass.fill(0);
  for (let i = 0; i < v; i++) {
    if (scores[i] === -Infinity) {
      bins[i] = NO_BIN;
      continue;
    }
    const bin = Math.min(BINS - 1, Math.floor(-logWeight(i) * BINS_PER_NAT));
    bins[i] = bin;
    binCount[bin]++;
    binMass[bin] += weights[i];
  }
  let boundary = 0, count = 0, mass = 0;
  while (boundary < BINS && !done(count + binCount[boundary], mass + binMass[boundary])) {
    count += binCount[boundary];
    mass += binMass[boundary++];
  }
  const ids: number[] = [];
  const edge: number[] = [];
  for (let i = 0; i < v; i++) {
    if (bins[i] < boundary) ids.push(i);
    else if (bins[i] === boundary) edge.push(i);
  }
  sortByScore(edge, scores);
  let j = 0;
  while (j < edge.length && !done(count, mass)) {
    count++;
    mass += weights[edge[j]];
    ids.push(edge[j++]);
  }
  while (keepTies && j > 0 && j < edge.length && scores[edge[j]] === scores[edge[j - 1]]) {
    ids.push(edge[j++]);
  }
  return ids;
}

/** The distribution {@linkcode sampleToken} draws from, after every filter. */
export interface SamplingDistribution {
  /** The ids that can be drawn, or null for every id with a finite logit. */
  ids: number[] | null;
  /** (V) unnormalised probabilities by id; only those of `ids` count. */
  weights: Float64Array;
  /** The sum of `weights` over the ids that can be drawn. */
  total: number;
}

/**
 * The distribution of the next token given `logits` (V), with Hugging Face semantics:
 * repetition penalty over `previousIds`, presence and frequency penalties over its ids from
 * `promptLength` on (the generated ones; default none), temperature (0: the argmax alone,
 * lowest id on ties), min-p (vLLM's, before top-k and top-p), top-k with ties kept, then top-p
 * over the top-k distribution renormalised.
 */
export function samplingDistribution(
  logits: Float32Array,
  options: SamplingOptions,
  previousIds: number[],
  promptLength: number = previousIds.length,
): SamplingDistribution {
  const resolved = withDefaults(options);
  const { temperature, topK, topP, minP } = resolved;
  const v = logits.length;
  if (v === 0) throw new RangeError("Logits must not be empty, got length 0");
  let scores = penalize(logits, resolved, previousIds, promptLength); // (V)
  const best = argmax(scores);
  const weights = new Float64Array(v); // (V) probabilities times their sum
  if (temperature === 0) {
    weights[best] = 1;
    return { ids: [best], weights, total: 1 };
  }

  const top = scores[best];
  if (minP > 0) { // ids less likely than minP times the most likely one are never drawn
    const floor = top + temperature * Math.log(minP);
    scores = scores.map((s) => s < floor ? -Infinity : s);
  }
  const logWeight = (id: number) => (scores[id] - top) / temperature;
  let total = 0;
  for (let i = 0; i < v; i++) total += weights[i] = Math.exp(logWeight(i));
  let ids: number[] | null = null;
  if (topK > 0) {
    ids = topPrefix(scores, weights, logWeight, (count) => count >= topK, true);
    total = sumWeights(ids, weights);
  }
  if (topP < 1) {
    const target = topP * total;
    if (ids === null) {
      ids = topPrefix(scores, weights, logWeight, (_, mass) => mass >= target, false);
    } else {
      sortByScore(ids, scores);
      let cumulative = 0, keep = 0;
      while (keep < ids.length && cumulative < target) cumulative += weights[ids[keep++]];
      ids = ids.slice(0, keep);
    }
    total = sumWeights(ids, weights);
  }
  return { ids, weights, total };
}

/**
 * Picks the next token id from `logits` (V) by {@linkcode samplingDistribution} and one draw
 * from `rng` (none when a single id is left, as with greedy `temperature: 0`).
 * `previousIds` (prompt and generated so far) feed the penalties; those from `promptLength` on
 * are the generated ones (presence and frequency penalties).
 *
 * @example
 * ```ts
 * const rng = new Rng(0);
 * sampleToken(new Float32Array([0.1, 2, 0.3]), { temperature: 0 }, rng, []); // 1
 * sampleToken(logits, { temperature: 0.7, topP: 0.9 }, rng, promptIds);
 * ```
 */
export function sampleToken(
  logits: Float32Array,
  options: SamplingOptions,
  rng: Rng,
  previousIds: number[],
  promptLength: number = previousIds.length,
): number {
  const { ids, weights, total } = samplingDistribution(logits, options, previousIds, promptLength);
  if (ids?.length === 1) return ids[0];
  let r = rng.nextFloat() * total;
  const n = ids === null ? weights.length : ids.length;
  let last = -1;
  for (let j = 0; j < n; j++) {
    const id = ids === null ? j : ids[j];
    const w = weights[id];
    if (w === 0) continue;
    if (r < w) return id;
    r -= w;
    last = id;
  }
  return last; // rounding left r at or above the total
}
